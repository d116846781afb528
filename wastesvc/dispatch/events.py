"""Field events: checked against the plan, turned into a visit status and, for a completion, collections.

Per vehicle the events are ordered by their field time; a late event is stored and only moves a visit's
status forward (PLANNED < ARRIVED < SKIPPED < DONE), so an ARRIVED sent after the COMPLETED changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from wastesvc.dispatch.lifecycle import CAUSES, check_accepts_events
from wastesvc.domain._common import FUTURE_TOLERANCE, from_timestamp, parse_name
from wastesvc.domain._limits import check_message
from wastesvc.errors import AlreadyExists, FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from wastesvc.storage import CollectionRow, FieldEventRow, PlanStateRow, VisitStatusRow
from wastesvc.v1 import dispatch_pb2, planning_pb2

__all__ = ["KINDS", "Applied", "apply_event", "check_event", "same_event"]

KINDS: dict[dispatch_pb2.FieldEventKind.ValueType, str] = {
    dispatch_pb2.FIELD_EVENT_KIND_ARRIVED: "ARRIVED",
    dispatch_pb2.FIELD_EVENT_KIND_COMPLETED: "COMPLETED",
    dispatch_pb2.FIELD_EVENT_KIND_SKIPPED: "SKIPPED",
    dispatch_pb2.FIELD_EVENT_KIND_BREAKDOWN: "BREAKDOWN",
    dispatch_pb2.FIELD_EVENT_KIND_POSITION: "POSITION",
    dispatch_pb2.FIELD_EVENT_KIND_BACK_IN_SERVICE: "BACK_IN_SERVICE",
}
_VISIT_KINDS = {"ARRIVED", "COMPLETED", "SKIPPED"}
_RANK = {"ARRIVED": 1, "SKIPPED": 2, "DONE": 3}
_CAUSE_NAMES = {number: name for name, number in CAUSES.items()}


@dataclass(frozen=True, slots=True)
class Applied:
    """What one accepted event writes."""

    event: FieldEventRow
    status: VisitStatusRow | None
    state: PlanStateRow
    collections: list[CollectionRow]


def check_event(event: dispatch_pb2.FieldEvent, tenant: str, now: datetime, field: str) -> None:
    """INVALID_ARGUMENT for an event that is malformed whatever the plan says."""
    # The field limits first: a stream's events do not pass through the servicer's request check.
    violations = check_message(event, field)
    if violations:
        raise InvalidArgument(violations)
    if not event.event_id or len(event.event_id) > 100:
        violations.append(FieldViolation(f"{field}.event_id", "must be 1 to 100 characters (a UUID)"))
    if event.kind not in KINDS:
        violations.append(FieldViolation(f"{field}.kind", "must be a known FieldEventKind"))
    try:
        vehicle_tenant, _ = parse_name(event.vehicle, "vehicles", f"{field}.vehicle")
        if vehicle_tenant != tenant:
            violations.append(FieldViolation(f"{field}.vehicle", f"must be a vehicle of tenants/{tenant}"))
    except InvalidArgument as exc:
        violations += exc.violations
    if not event.HasField("event_time"):
        violations.append(FieldViolation(f"{field}.event_time", "is required"))
    elif from_timestamp(event.event_time) > now + FUTURE_TOLERANCE:
        violations.append(FieldViolation(f"{field}.event_time", "is in the future"))
    kind = KINDS.get(event.kind)
    if kind in _VISIT_KINDS and not event.visit_id:
        violations.append(FieldViolation(f"{field}.visit_id", f"is required for {kind}"))
    if kind == "SKIPPED" and event.skip_cause not in _CAUSE_NAMES:
        violations.append(FieldViolation(f"{field}.skip_cause", "must be a known SkipCause for SKIPPED"))
    if event.HasField("observed_fill") and not 0.0 <= event.observed_fill <= 1.5:
        violations.append(FieldViolation(f"{field}.observed_fill", "must be within [0, 1.5]"))
    if event.weighed_kg < 0:
        violations.append(FieldViolation(f"{field}.weighed_kg", "must not be negative"))
    if kind == "POSITION" and not event.HasField("location"):
        violations.append(FieldViolation(f"{field}.location", "is required for POSITION"))
    if violations:
        raise InvalidArgument(violations)


def same_event(stored: FieldEventRow, event: dispatch_pb2.FieldEvent) -> bool:
    """True when a re-sent event says what the stored one said."""
    previous = dispatch_pb2.FieldEvent.FromString(stored.body)
    return previous == event


def _route(plan: planning_pb2.RoutePlan, vehicle: str) -> planning_pb2.VehicleRoute:
    for route in plan.routes:
        if route.vehicle == vehicle:
            return route
    raise NotFound(f"{vehicle} in {plan.name}", field="field_event.vehicle")


def apply_event(
    plan: planning_pb2.RoutePlan,
    state: PlanStateRow,
    statuses: Mapping[str, VisitStatusRow],
    event: dispatch_pb2.FieldEvent,
    previous: FieldEventRow | None,
) -> Applied | None:
    """What `event` writes, or None for a re-send of a stored event.

    `plan` carries its visit ids (`lifecycle.overlay`). Raises NOT_FOUND for a vehicle or visit not in the
    plan, ALREADY_EXISTS for an event id re-used with other content, FAILED_PRECONDITION for an event the
    plan's state contradicts.
    """
    plan_id = plan.name.rsplit("/", 1)[-1]
    if previous is not None:
        if same_event(previous, event):
            return None
        raise AlreadyExists(
            f"{plan.name}/fieldEvents/{event.event_id}",
            message=f"event {event.event_id} was stored before with other content",
            reason="FIELD_EVENT_CONFLICT",
        )
    check_accepts_events(state, plan.name)
    route = _route(plan, event.vehicle)
    kind = KINDS[event.kind]
    vehicle_id = event.vehicle.rsplit("/", 1)[-1]
    when = from_timestamp(event.event_time)
    status = None
    collections: list[CollectionRow] = []
    if kind in _VISIT_KINDS:
        visit = next((v for v in route.visits if v.id == event.visit_id), None)
        if visit is None:
            raise NotFound(f"visit {event.visit_id} of {route.name}", field="field_event.visit_id")
        status, collections = _visit_change(
            plan, visit, statuses.get(visit.id), event=event, kind=kind, when=when
        )
    if state.state == "PUBLISHED":
        state.state = "IN_PROGRESS"
    row = FieldEventRow(
        tenant=state.tenant,
        plan_id=plan_id,
        event_id=event.event_id,
        vehicle_id=vehicle_id,
        kind=kind,
        visit_id=event.visit_id,
        event_time=when,
        body=event.SerializeToString(),
    )
    return Applied(row, status, state, collections)


def _visit_change(
    plan: planning_pb2.RoutePlan,
    visit: planning_pb2.Visit,
    current: VisitStatusRow | None,
    *,
    event: dispatch_pb2.FieldEvent,
    kind: str,
    when: datetime,
) -> tuple[VisitStatusRow | None, list[CollectionRow]]:
    """The visit's new status (None when a late event changes nothing) and the collections to record."""
    tenant, plan_id = plan.name.split("/")[1], plan.name.rsplit("/", 1)[-1]
    observed = event.observed_fill if event.HasField("observed_fill") else None
    new_status = {"ARRIVED": "ARRIVED", "COMPLETED": "DONE", "SKIPPED": "SKIPPED"}[kind]
    if current is not None and current.status == "DONE":
        if kind == "SKIPPED":
            raise FailedPrecondition(
                f"visit {visit.id} was reported emptied at {current.event_time:%H:%M} UTC: "
                "it cannot be skipped",
                reason="VISIT_ALREADY_COMPLETED",
                metadata={"visit": visit.id},
            )
        reported = (current.weighed_kg, current.observed_fill)
        if kind == "COMPLETED" and reported != (event.weighed_kg, observed):
            raise FailedPrecondition(
                f"visit {visit.id} was reported emptied before with other data "
                f"({current.weighed_kg:g} kg, fill {current.observed_fill})",
                reason="VISIT_ALREADY_COMPLETED",
                metadata={"visit": visit.id},
            )
        return None, []
    if current is not None and _RANK[current.status] >= _RANK[new_status] and kind != "SKIPPED":
        return None, []
    status = VisitStatusRow(
        tenant=tenant,
        plan_id=plan_id,
        visit_id=visit.id,
        vehicle_id=event.vehicle.rsplit("/", 1)[-1],
        status=new_status,
        skip_cause=_CAUSE_NAMES.get(event.skip_cause, "") if kind == "SKIPPED" else "",
        event_time=when,
        weighed_kg=event.weighed_kg,
        observed_fill=observed,
    )
    collections = []
    if kind == "COMPLETED":
        share = event.weighed_kg / len(visit.containers) if event.weighed_kg and visit.containers else None
        collections = [
            CollectionRow(
                tenant=tenant,
                container_id=name.rsplit("/", 1)[-1],
                collect_time=when,
                source="crew",
                route_plan=plan.name,
                visit_id=visit.id,
                weighed_kg=share,
                observed_fill=observed,
            )
            for name in visit.containers
        ]
    return status, collections
