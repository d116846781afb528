"""Selection for a service date through the planner: forecasts, alarms, reasons and predicted fills."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from google.protobuf import timestamp_pb2

from tests.conftest import TENANT, Api, create_container, create_fleet
from tests.test_planning import _optimize, _wait
from wastesvc.v1 import planning_pb2, readings_pb2


def _hourly(fills: Sequence[float], temperature: float | None = None) -> list[readings_pb2.Reading]:
    """One reading an hour, the last one half an hour ago."""
    end = datetime.now(UTC) - timedelta(minutes=30)
    readings = []
    for k, fill in enumerate(fills):
        stamp = timestamp_pb2.Timestamp()
        stamp.FromDatetime(end - timedelta(hours=len(fills) - 1 - k))
        reading = readings_pb2.Reading(measure_time=stamp, fill_fraction=fill)
        if temperature is not None:
            reading.temperature_celsius = temperature
        readings.append(reading)
    return readings


async def _ingest(api: Api, container_id: str, readings: Sequence[readings_pb2.Reading]) -> None:
    parent = f"{TENANT}/containers/{container_id}"
    await api.readings.BatchCreateReadings(
        readings_pb2.BatchCreateReadingsRequest(
            requests=[readings_pb2.CreateReadingRequest(parent=parent, reading=r) for r in readings]
        )
    )


async def _plan(api: Api, days_ahead: int) -> planning_pb2.RoutePlan:
    operation = await _wait(api, await _optimize(api, fill_threshold=None, days_ahead=days_ahead))
    assert not operation.HasField("error"), operation.error
    plan = planning_pb2.RoutePlan()
    operation.response.Unpack(plan)
    return plan


def _reasons(plan: planning_pb2.RoutePlan) -> dict[str, str]:
    """Why each visited container was chosen, by container id."""
    return {
        name.rsplit("/", 1)[1]: reason
        for route in plan.routes
        for visit in route.visits
        for name, reason in zip(visit.containers, visit.selection_reasons, strict=True)
    }


async def test_selection_reads_forecasts_and_alarms(api: Api) -> None:
    """A filling container is mandatory, a half-full one optional, an empty one excluded, a burning empty
    one mandatory; each visit says why and what fill the forecast expects at arrival."""
    await create_fleet(api)
    for cid, lng in (("urgent", 3.33), ("half", 3.34), ("low", 3.35), ("burning", 3.36)):
        await create_container(api, cid, lng=lng)
    await _ingest(api, "urgent", _hourly([0.3 + 0.01 * k for k in range(60)]))
    await _ingest(api, "half", _hourly([0.62 + 0.001 * k for k in range(60)]))
    await _ingest(api, "low", _hourly([0.05 + 0.0005 * k for k in range(60)]))
    await _ingest(api, "burning", _hourly([0.1], temperature=90.0))

    # Tomorrow: its service time is always after the last reading, whatever the hour the test runs at
    # (planned in the evening, today's service time lies before the readings).
    plan = await _plan(api, days_ahead=1)
    reasons = _reasons(plan)
    skipped = {s.container.rsplit("/", 1)[1] for s in plan.skipped}

    assert reasons["urgent"].startswith("mandatory: would overflow")
    assert reasons["burning"].startswith("mandatory: fire alarm")
    assert "low" not in reasons
    assert "low" not in skipped
    # Optional: visited because the truck passes by, or left out as not worth the detour.
    assert reasons["half"].startswith("optional") if "half" in reasons else "half" in skipped
    urgent = next(
        v for r in plan.routes for v in r.visits if v.containers and v.containers[0].endswith("/urgent")
    )
    # The fitted line through the readings (last one 0.89, about 1 %/h by day, less at night) at arrival,
    # 10 to 34 hours after the last reading: above it, at most full.
    assert 0.89 < urgent.predicted_fills[0] <= 1.0
