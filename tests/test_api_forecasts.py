"""Forecasts on containers through the API: fields, the predicted-full filter, the silent fallback."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import timestamp_pb2

from tests.conftest import TENANT, Api, create_container
from tests.errors import assert_error, rpc_error
from wastesvc.v1 import common_pb2, containers_pb2, readings_pb2

RESIDUAL = common_pb2.WASTE_STREAM_RESIDUAL


def _series(
    rate_per_h: float, hours: int, *, start_fill: float = 0.05, ended_hours_ago: float = 0.5
) -> list[readings_pb2.Reading]:
    """Hourly readings of a steady fill, the last one `ended_hours_ago`."""
    end = datetime.now(UTC) - timedelta(hours=ended_hours_ago)
    readings = []
    for k in range(hours):
        stamp = timestamp_pb2.Timestamp()
        stamp.FromDatetime(end - timedelta(hours=hours - 1 - k))
        readings.append(readings_pb2.Reading(measure_time=stamp, fill_fraction=start_fill + rate_per_h * k))
    return readings


async def _ingest(api: Api, container_id: str, readings: Sequence[readings_pb2.Reading]) -> None:
    parent = f"{TENANT}/containers/{container_id}"
    response = await api.readings.BatchCreateReadings(
        readings_pb2.BatchCreateReadingsRequest(
            requests=[readings_pb2.CreateReadingRequest(parent=parent, reading=r) for r in readings]
        )
    )
    assert response.stored_count == len(readings)


async def _get(api: Api, container_id: str) -> containers_pb2.Container:
    return await api.containers.GetContainer(
        containers_pb2.GetContainerRequest(name=f"{TENANT}/containers/{container_id}")
    )


async def test_container_shows_its_forecast(api: Api) -> None:
    """After three days of a steady 1 %/h, the full time lies near the straight line's, with a live sensor."""
    await create_container(api, "c1", stream=RESIDUAL)
    readings = _series(0.01, 72)
    await _ingest(api, "c1", readings)

    forecast = (await _get(api, "c1")).forecast

    last = readings[-1].measure_time.ToDatetime(UTC)
    straight = last + timedelta(hours=(1.0 - readings[-1].fill_fraction) / 0.01)
    assert abs(forecast.predicted_full_time.ToDatetime(UTC) - straight) < timedelta(hours=12)
    assert not forecast.forecast_only
    assert forecast.reliability != containers_pb2.FORECAST_RELIABILITY_UNSPECIFIED
    assert forecast.predicted_fill == pytest.approx(readings[-1].fill_fraction, abs=0.05)
    assert 0.0 <= forecast.overflow_probability_next_service_day <= 1.0


async def test_nearly_full_container_is_likely_to_overflow_by_the_next_service_day(api: Api) -> None:
    """A container at 90 % filling 1 %/h will overflow before the end of the next service day."""
    await create_container(api, "c1", stream=RESIDUAL)
    await _ingest(api, "c1", _series(0.01, 72, start_fill=0.19))

    assert (await _get(api, "c1")).forecast.overflow_probability_next_service_day > 0.9


async def test_container_without_readings_has_no_forecast(api: Api) -> None:
    """No reading yet: the forecast field is absent."""
    await create_container(api, "c1", stream=RESIDUAL)

    assert not (await _get(api, "c1")).HasField("forecast")


async def test_silent_sensor_falls_back_to_forecast_only(api: Api) -> None:
    """A series that stopped two days ago gives a forecast marked forecast_only."""
    await create_container(api, "c1", stream=RESIDUAL)
    await _ingest(api, "c1", _series(0.005, 48, ended_hours_ago=48))

    assert (await _get(api, "c1")).forecast.forecast_only


async def test_list_filters_on_predicted_full_time(api: Api) -> None:
    """`predicted_full_before` keeps the containers forecast full before the time, and pages agree."""
    await create_container(api, "fast", stream=RESIDUAL)
    await create_container(api, "slow", stream=RESIDUAL)
    await create_container(api, "none", stream=RESIDUAL)
    await _ingest(api, "fast", _series(0.012, 48))  # full in about a day
    await _ingest(api, "slow", _series(0.001, 48))  # full in weeks
    limit = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")

    listed = await api.containers.ListContainers(
        containers_pb2.ListContainersRequest(parent=TENANT, filter=f'predicted_full_before = "{limit}"')
    )

    assert [c.name for c in listed.containers] == [f"{TENANT}/containers/fast"]
    assert listed.total_size == 1


async def test_bad_predicted_full_before_is_invalid(api: Api) -> None:
    """A time without an offset is INVALID_ARGUMENT on filter."""
    err = await rpc_error(
        api.containers.ListContainers(
            containers_pb2.ListContainersRequest(parent=TENANT, filter='predicted_full_before = "tomorrow"')
        )
    )

    assert_error(err, grpc.StatusCode.INVALID_ARGUMENT, "filter")
