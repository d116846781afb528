"""Ingest on two servers sharing one database: a container moved, changed or deleted through one of them is
seen by the next reading the other one takes; verified tokens still expire; concurrent batches are all
assessed, on whichever replica."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2, timestamp_pb2

from tests.conftest import TENANT, Api, api_on, create_container, token
from tests.errors import assert_error, assert_item_error, rpc_error
from wastesvc.auth import ROLES, issue_token, load_key
from wastesvc.client import open_channel
from wastesvc.config import Settings
from wastesvc.server import create_server
from wastesvc.v1 import alerts_pb2, alerts_pb2_grpc, common_pb2, containers_pb2, readings_pb2

BY_SENSOR = f"{TENANT}/containers/-"
STORED = common_pb2.ITEM_OUTCOME_STORED


@pytest.fixture
async def other(settings: Settings, api: Api) -> AsyncIterator[Api]:
    """A second server on the same database as `api` (another replica)."""
    service, port = await create_server(settings.listen, settings)
    address = f"127.0.0.1:{port}"
    async with open_channel(address, settings, token(settings)) as channel:
        yield api_on(service, address, channel)
    await service.stop(None)


def _reading(minutes_ago: float, *, sensor_id: str = "", **fields: Any) -> readings_pb2.Reading:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(datetime.now(UTC) - timedelta(minutes=minutes_ago))
    if "distance_mm" not in fields:
        fields.setdefault("fill_fraction", 0.4)
    return readings_pb2.Reading(measure_time=stamp, sensor_id=sensor_id, **fields)


async def _ingest(api: Api, parent: str, reading: readings_pb2.Reading) -> Any:
    response = await api.readings.BatchCreateReadings(
        readings_pb2.BatchCreateReadingsRequest(
            requests=[readings_pb2.CreateReadingRequest(parent=parent, reading=reading)]
        )
    )
    [result] = response.results
    return result


async def _update(api: Api, container_id: str, paths: list[str], **changes: Any) -> None:
    current = await api.containers.GetContainer(
        containers_pb2.GetContainerRequest(name=f"{TENANT}/containers/{container_id}")
    )
    for field, value in changes.items():
        if field == "model":
            current.model.CopyFrom(value)
        else:
            setattr(current, field, value)
    await api.containers.UpdateContainer(
        containers_pb2.UpdateContainerRequest(
            container=current, update_mask=field_mask_pb2.FieldMask(paths=paths)
        )
    )


async def test_a_sensor_moved_on_one_replica_is_followed_by_the_other(api: Api, other: Api) -> None:
    """Readings by sensor go to the container the sensor is fitted to now, whichever server moved it."""
    await create_container(api, "c1", sensor_id="S-1")
    await create_container(api, "c2")
    first = await _ingest(other, BY_SENSOR, _reading(30, sensor_id="S-1"))
    assert (first.outcome, first.name.split("/readings/")[0]) == (STORED, f"{TENANT}/containers/c1")

    await _update(api, "c1", ["sensor_id"], sensor_id="")
    await _update(api, "c2", ["sensor_id"], sensor_id="S-1")
    moved = await _ingest(other, BY_SENSOR, _reading(20, sensor_id="S-1"))

    assert (moved.outcome, moved.name.split("/readings/")[0]) == (STORED, f"{TENANT}/containers/c2")


async def test_a_container_deleted_on_one_replica_is_unknown_to_the_other(api: Api, other: Api) -> None:
    """After a delete through one server, the other refuses the container's readings item by item."""
    await create_container(api, "c1", sensor_id="S-1")
    assert (await _ingest(other, f"{TENANT}/containers/c1", _reading(30))).outcome == STORED

    await api.containers.DeleteContainer(
        containers_pb2.DeleteContainerRequest(name=f"{TENANT}/containers/c1")
    )

    by_name = await _ingest(other, f"{TENANT}/containers/c1", _reading(20))
    assert_item_error(by_name, grpc.StatusCode.NOT_FOUND, "requests[0].parent")
    by_sensor = await _ingest(other, BY_SENSOR, _reading(20, sensor_id="S-1"))
    info = assert_item_error(by_sensor, grpc.StatusCode.NOT_FOUND, "requests[0].reading.sensor_id")
    assert info.reason == "SENSOR_UNKNOWN"


async def test_a_model_changed_on_one_replica_sets_the_fill_on_the_other(api: Api, other: Api) -> None:
    """A distance becomes a fill with the sensor geometry stored now, not the one seen before."""
    await create_container(api, "c1")  # empty at 1800 mm, full at 300 mm
    before = await _ingest(other, f"{TENANT}/containers/c1", _reading(30, distance_mm=1050))
    assert before.outcome == STORED

    deeper = containers_pb2.ContainerModel(model_id="pav-4m3", empty_distance_mm=2300, full_distance_mm=300)
    await _update(api, "c1", ["model"], model=deeper)
    after = await _ingest(other, f"{TENANT}/containers/c1", _reading(20, distance_mm=1050))
    assert after.outcome == STORED

    listed = await other.readings.ListReadings(
        readings_pb2.ListReadingsRequest(parent=f"{TENANT}/containers/c1")
    )
    fills = {r.name: r.fill for r in listed.readings}
    assert fills[before.name] == pytest.approx(0.5)
    assert fills[after.name] == pytest.approx((2300 - 1050) / 2000)


async def test_a_verified_token_is_refused_once_expired(settings: Settings, api: Api) -> None:
    """A token accepted once is not accepted past its expiry."""
    await create_container(api, "c1")
    short = issue_token(
        load_key(settings.auth_key_file),
        tenant="grand-soissons",
        scopes=ROLES["gateway"],
        subject="t",
        ttl_s=2,
    )
    async with open_channel(api.address, settings, short) as channel:
        readings = api_on(api.service, api.address, channel).readings
        request = readings_pb2.CreateReadingRequest(parent=f"{TENANT}/containers/c1", reading=_reading(10))
        await readings.CreateReading(request)
        await asyncio.sleep(3.1)
        request.reading.CopyFrom(_reading(5))
        error = await rpc_error(readings.CreateReading(request))

    info = assert_error(error, grpc.StatusCode.UNAUTHENTICATED)
    assert info.reason == "TOKEN_EXPIRED"


async def test_concurrent_batches_are_each_assessed(api: Api) -> None:
    """Batches answered together still raise every alert their readings show before they are answered."""
    ids = [f"c{k}" for k in range(6)]
    for container_id in ids:
        await create_container(api, container_id)

    await asyncio.gather(
        *(_ingest(api, f"{TENANT}/containers/{c}", _reading(5, battery_percent=3.0)) for c in ids)
    )

    alerts = await alerts_pb2_grpc.AlertServiceStub(api.channel).ListAlerts(
        alerts_pb2.ListAlertsRequest(parent=TENANT)
    )
    low = sorted(a.container for a in alerts.alerts if a.kind == alerts_pb2.ALERT_KIND_LOW_BATTERY)
    assert low == [f"{TENANT}/containers/{c}" for c in ids]


async def test_readings_ingested_on_one_replica_are_assessed_for_a_read_on_the_other(
    api: Api, other: Api
) -> None:
    """A read through one server waits for the assessment of readings another server acknowledged."""
    ids = [f"c{k}" for k in range(4)]
    for container_id in ids:
        await create_container(api, container_id)

    for c in ids:
        await _ingest(api, f"{TENANT}/containers/{c}", _reading(5, battery_percent=3.0))
    alerts = await alerts_pb2_grpc.AlertServiceStub(other.channel).ListAlerts(
        alerts_pb2.ListAlertsRequest(parent=TENANT)
    )

    low = sorted(a.container for a in alerts.alerts if a.kind == alerts_pb2.ALERT_KIND_LOW_BATTERY)
    assert low == [f"{TENANT}/containers/{c}" for c in ids]


async def test_the_answer_does_not_wait_for_the_assessment_another_replica_does_it(
    api: Api, other: Api
) -> None:
    """With its rounds stopped, a replica still acknowledges readings (they wait in the database, marked
    by their transaction); the other replica's rounds assess them for its read."""
    await create_container(api, "c1")
    assert api.service.checks is not None
    api.service.checks.cancel()  # the monitor's rounds of `api`, as if stuck or dead
    with contextlib.suppress(asyncio.CancelledError):
        await api.service.checks

    stored = await _ingest(api, f"{TENANT}/containers/c1", _reading(5, battery_percent=3.0))
    alerts = await alerts_pb2_grpc.AlertServiceStub(other.channel).ListAlerts(
        alerts_pb2.ListAlertsRequest(parent=TENANT)
    )

    assert stored.outcome == STORED
    assert [a.kind for a in alerts.alerts] == [alerts_pb2.ALERT_KIND_LOW_BATTERY]
