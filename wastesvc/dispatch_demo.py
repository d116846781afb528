"""The demo's dispatch morning: publish the plan, replay a morning of field events ending now (one skip,
one breakdown), re-plan the rest of the day and write the new sheets."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import grpc
from google.longrunning import operations_pb2, operations_pb2_grpc

from wastesvc.client import plan_summary, save_sheets
from wastesvc.domain._common import to_timestamp
from wastesvc.v1 import common_pb2, dispatch_pb2, dispatch_pb2_grpc, planning_pb2

__all__ = ["dispatch_morning"]

# The morning replayed: every visit planned to end by then is reported, as if the day were at 10:30.
MORNING_END = timedelta(hours=10, minutes=30)


def _events(
    plan: planning_pb2.RoutePlan, cutoff: datetime, now: datetime
) -> tuple[list[dispatch_pb2.FieldEvent], str]:
    """The morning's events, shifted so that the cutoff is now; the busiest truck breaks down last."""
    events = []
    busiest = max(plan.routes, key=lambda r: r.container_count).vehicle
    skipped = False
    for route in plan.routes:
        for visit in route.visits:
            end = visit.end_time.ToDatetime(tzinfo=UTC)
            if visit.kind != planning_pb2.VISIT_KIND_CONTAINER or end > cutoff:
                continue
            at = to_timestamp(now - (cutoff - end))
            event = dispatch_pb2.FieldEvent(
                event_id=str(uuid.uuid4()), vehicle=route.vehicle, visit_id=visit.id, event_time=at
            )
            if not skipped and route.vehicle != busiest:
                event.kind, event.skip_cause = (
                    dispatch_pb2.FIELD_EVENT_KIND_SKIPPED,
                    planning_pb2.SKIP_CAUSE_BLOCKED_ACCESS,
                )
                skipped = True
            else:
                event.kind = dispatch_pb2.FIELD_EVENT_KIND_COMPLETED
            events.append(event)
    breakdown = dispatch_pb2.FieldEvent(
        event_id=str(uuid.uuid4()), vehicle=busiest, kind=dispatch_pb2.FIELD_EVENT_KIND_BREAKDOWN
    )
    breakdown.event_time.CopyFrom(to_timestamp(now - timedelta(minutes=1)))
    return [*events, breakdown], busiest


async def dispatch_morning(
    channel: grpc.aio.Channel, plan: planning_pb2.RoutePlan, tz: ZoneInfo, out_dir: Path, time_limit_s: float
) -> planning_pb2.RoutePlan:
    """Publishes `plan`, streams a morning of events, re-plans at 10:30; returns the new published plan."""
    dispatch = dispatch_pb2_grpc.DispatchServiceStub(channel)
    await dispatch.PublishRoutePlan(dispatch_pb2.PublishRoutePlanRequest(name=plan.name))
    d = plan.service_date
    cutoff = datetime(d.year, d.month, d.day, tzinfo=tz) + MORNING_END
    events, broken = _events(plan, cutoff.astimezone(UTC), datetime.now(UTC))

    async def stream() -> AsyncIterator[dispatch_pb2.StreamFieldEventsRequest]:
        for event in events:
            yield dispatch_pb2.StreamFieldEventsRequest(parent=plan.name, field_event=event)

    stored = 0
    async for ack in dispatch.StreamFieldEvents(stream()):
        stored += ack.outcome == common_pb2.ITEM_OUTCOME_STORED
    print(
        f"published {plan.name}; the cab stream stored {stored} field events of the morning "
        f"(one skip; {broken.rsplit('/', 1)[-1]} broke down)",
        flush=True,
    )

    request = dispatch_pb2.ReplanRoutesRequest(
        name=plan.name,
        vehicles=[dispatch_pb2.VehicleSituation(vehicle=broken, available=False)],
        request_id=str(uuid.uuid4()),
    )
    request.replan_time.CopyFrom(to_timestamp(cutoff))
    request.time_limit.FromSeconds(round(time_limit_s))
    operation = await dispatch.ReplanRoutes(request)
    operations = operations_pb2_grpc.OperationsStub(channel)
    while not operation.done:
        await asyncio.sleep(0.5)
        operation = await operations.GetOperation(operations_pb2.GetOperationRequest(name=operation.name))
    if operation.HasField("error"):
        raise RuntimeError(f"re-plan failed: {operation.error.message}")
    result = dispatch_pb2.ReplanRoutesResponse()
    operation.response.Unpack(result)
    kinds = Counter(
        dispatch_pb2.StopChangeKind.Name(c.kind).removeprefix("STOP_CHANGE_KIND_").lower()
        for c in result.changes
    )
    new = await dispatch.PublishRoutePlan(dispatch_pb2.PublishRoutePlanRequest(name=result.route_plan.name))
    print(
        f"re-planned at 10:30 as version {new.version} ({new.name}): "
        f"{result.kept_count} stops kept on their truck, "
        + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())),
        flush=True,
    )
    sheets = await save_sheets(channel, new, out_dir / "replan")
    print(plan_summary(new, tz))
    print(f"re-planned route sheets: {sheets.combined}", flush=True)
    return new
