"""A printed sheet's ticks, typed back by a clerk, become the field events a cab would have sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from wastesvc.domain._common import to_timestamp
from wastesvc.errors import FailedPrecondition, FieldViolation, InvalidArgument
from wastesvc.sheets import SheetCode, parse_sheet_code
from wastesvc.sheets._code import version_of
from wastesvc.v1 import dispatch_pb2, planning_pb2

__all__ = ["SheetTicks", "read_sheet_code", "tick_events"]

# The sheet's anomaly legend (wastesvc.sheets._style.ANOMALY_CODES): the codes that mean "not emptied".
_SKIP_CODES = {"A": planning_pb2.SKIP_CAUSE_BLOCKED_ACCESS, "E": planning_pb2.SKIP_CAUSE_DAMAGED}


@dataclass(frozen=True, slots=True)
class SheetTicks:
    """A sheet's code and what its crew ticked."""

    code: SheetCode
    ticks: list[dispatch_pb2.SheetTick]
    round_time: datetime


def read_sheet_code(text: str, field: str = "sheet_code") -> SheetCode:
    """The sheet code's plan, vehicle and version; INVALID_ARGUMENT naming `field` when it is not one."""
    try:
        return parse_sheet_code(text)
    except ValueError as error:
        raise InvalidArgument([FieldViolation(field, str(error))]) from None


def tick_events(sheet: SheetTicks, plan: planning_pb2.RoutePlan) -> list[dispatch_pb2.FieldEvent]:
    """One event per ticked stop: COMPLETED when emptied, SKIPPED for a skip code or an empty container.

    Event ids derive from the sheet and the stop, so typing the same sheet twice stores nothing new. A sheet
    printed from another version of the plan is FAILED_PRECONDITION: its stop numbers mean other stops.
    """
    printed = version_of(plan.create_time)
    if sheet.code.version != printed:
        raise FailedPrecondition(
            f"the sheet was printed from version {sheet.code.version} of {plan.name}, which is now {printed}",
            reason="SHEET_VERSION_MISMATCH",
            metadata={"plan": plan.name},
        )
    route = next((r for r in plan.routes if r.vehicle == sheet.code.vehicle), None)
    if route is None:
        raise InvalidArgument(
            [FieldViolation("sheet_code", f"{sheet.code.vehicle} has no route in {plan.name}")]
        )
    stops = [v for v in route.visits if v.kind == planning_pb2.VISIT_KIND_CONTAINER]
    plan_id, vehicle_id = plan.name.rsplit("/", 1)[-1], route.vehicle.rsplit("/", 1)[-1]
    events = []
    violations = []
    for i, tick in enumerate(sheet.ticks):
        if not 1 <= tick.stop_number <= len(stops):
            violations.append(
                FieldViolation(f"ticks[{i}].stop_number", f"the sheet has stops 1 to {len(stops)}")
            )
            continue
        event = _event(tick, stops[tick.stop_number - 1], sheet.round_time)
        if event is None:
            continue
        event.event_id = f"sheet-{plan_id}-{vehicle_id}-{tick.stop_number}"
        event.vehicle = route.vehicle
        events.append(event)
    if violations:
        raise InvalidArgument(violations)
    return events


def _event(
    tick: dispatch_pb2.SheetTick, visit: planning_pb2.Visit, round_time: datetime
) -> dispatch_pb2.FieldEvent | None:
    """The event of one ticked line; None when the line says nothing (no tick, no code, no fill)."""
    code = tick.anomaly_code.strip().upper()
    at = to_timestamp(round_time + timedelta(minutes=tick.stop_number - 1))
    event = dispatch_pb2.FieldEvent(
        visit_id=visit.id, event_time=at, note=f"sheet code {code}" if code else ""
    )
    if tick.emptied:
        event.kind = dispatch_pb2.FIELD_EVENT_KIND_COMPLETED
        if tick.HasField("observed_fill"):
            event.observed_fill = tick.observed_fill
    elif code in _SKIP_CODES:
        event.kind, event.skip_cause = dispatch_pb2.FIELD_EVENT_KIND_SKIPPED, _SKIP_CODES[code]
    elif tick.HasField("observed_fill") and tick.observed_fill == 0.0:
        event.kind, event.skip_cause = (
            dispatch_pb2.FIELD_EVENT_KIND_SKIPPED,
            planning_pb2.SKIP_CAUSE_ALREADY_EMPTY,
        )
    else:
        return None
    return event
