"""A published day to dispatch: a planned glass round around Soissons, and field events to send on it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import timestamp_pb2

from tests.conftest import TENANT, Api
from tests.test_planning import _optimize, _seed, _wait
from wastesvc.v1 import dispatch_pb2, planning_pb2

VEHICLE = f"{TENANT}/vehicles/gru-01"


async def planned_day(api: Api, count: int = 12) -> planning_pb2.RoutePlan:
    """A DRAFT plan of `count` glass bring banks (two in three full) and one crane truck."""
    await _seed(api, count)
    operation = await _wait(api, await _optimize(api, 1))
    plan = planning_pb2.RoutePlan()
    operation.response.Unpack(plan)
    return await api.planning.GetRoutePlan(planning_pb2.GetRoutePlanRequest(name=plan.name))


async def published_day(api: Api, count: int = 12) -> planning_pb2.RoutePlan:
    plan = await planned_day(api, count)
    return await api.dispatch.PublishRoutePlan(dispatch_pb2.PublishRoutePlanRequest(name=plan.name))


def container_visits(plan: planning_pb2.RoutePlan) -> list[planning_pb2.Visit]:
    """The container visits of the plan's first route, in order."""
    return [v for v in plan.routes[0].visits if v.kind == planning_pb2.VISIT_KIND_CONTAINER]


def stamp(when: datetime) -> timestamp_pb2.Timestamp:
    result = timestamp_pb2.Timestamp()
    result.FromDatetime(when)
    return result


def event(
    kind: dispatch_pb2.FieldEventKind.ValueType,
    visit_id: str = "",
    *,
    minutes_ago: float = 30,
    vehicle: str = VEHICLE,
    **fields: Any,
) -> dispatch_pb2.FieldEvent:
    """A field event of `kind` with a fresh id, `minutes_ago` minutes ago."""
    return dispatch_pb2.FieldEvent(
        event_id=str(uuid.uuid4()),
        vehicle=vehicle,
        kind=kind,
        visit_id=visit_id,
        event_time=stamp(datetime.now(UTC) - timedelta(minutes=minutes_ago)),
        **fields,
    )


async def send(api: Api, plan: planning_pb2.RoutePlan, field_event: dispatch_pb2.FieldEvent) -> Any:
    return await api.dispatch.CreateFieldEvent(
        dispatch_pb2.CreateFieldEventRequest(parent=plan.name, field_event=field_event)
    )
