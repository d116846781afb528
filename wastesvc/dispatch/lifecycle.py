"""A plan's life cycle (DRAFT → PUBLISHED → IN_PROGRESS → CLOSED), visit ids and statuses on a plan."""

from __future__ import annotations

from collections.abc import Mapping

from wastesvc.errors import FailedPrecondition, FieldViolation, InvalidArgument
from wastesvc.storage import PlanStateRow, VisitStatusRow
from wastesvc.v1 import planning_pb2

__all__ = [
    "CAUSES",
    "STATES",
    "STATUSES",
    "check_accepts_events",
    "closed",
    "overlay",
    "parse_vehicle_route_name",
    "published",
    "vehicle_route_name",
    "visit_id",
]

STATES: dict[str, planning_pb2.RoutePlanState.ValueType] = {
    "DRAFT": planning_pb2.ROUTE_PLAN_STATE_DRAFT,
    "PUBLISHED": planning_pb2.ROUTE_PLAN_STATE_PUBLISHED,
    "IN_PROGRESS": planning_pb2.ROUTE_PLAN_STATE_IN_PROGRESS,
    "CLOSED": planning_pb2.ROUTE_PLAN_STATE_CLOSED,
}
STATUSES: dict[str, planning_pb2.VisitStatus.ValueType] = {
    "PLANNED": planning_pb2.VISIT_STATUS_PLANNED,
    "ARRIVED": planning_pb2.VISIT_STATUS_ARRIVED,
    "DONE": planning_pb2.VISIT_STATUS_DONE,
    "SKIPPED": planning_pb2.VISIT_STATUS_SKIPPED,
}
CAUSES: dict[str, planning_pb2.SkipCause.ValueType] = {
    "BLOCKED_ACCESS": planning_pb2.SKIP_CAUSE_BLOCKED_ACCESS,
    "DAMAGED": planning_pb2.SKIP_CAUSE_DAMAGED,
    "NOT_OUT": planning_pb2.SKIP_CAUSE_NOT_OUT,
    "ALREADY_EMPTY": planning_pb2.SKIP_CAUSE_ALREADY_EMPTY,
}


def visit_id(vehicle_id: str, index: int, visit: planning_pb2.Visit) -> str:
    """A visit's id: its first container's id (stable across re-plans), else `{vehicle}-{index}`."""
    if visit.containers:
        return visit.containers[0].rsplit("/", 1)[-1]
    return f"{vehicle_id}-{index}"


def vehicle_route_name(plan_name: str, vehicle_name: str) -> str:
    """`tenants/{t}/routePlans/{p}/vehicleRoutes/{v}` of a plan's route of `tenants/{t}/vehicles/{v}`."""
    return f"{plan_name}/vehicleRoutes/{vehicle_name.rsplit('/', 1)[-1]}"


def parse_vehicle_route_name(name: str, field: str = "name") -> tuple[str, str, str]:
    """(tenant, plan id, vehicle id) of a vehicle route's name; INVALID_ARGUMENT when malformed."""
    parts = name.split("/")
    if len(parts) != 6 or parts[0] != "tenants" or parts[2] != "routePlans" or parts[4] != "vehicleRoutes":
        raise InvalidArgument(
            [
                FieldViolation(
                    field,
                    "must look like tenants/{tenant}/routePlans/{route_plan}/vehicleRoutes/{vehicle}, "
                    f"got {name!r}",
                )
            ]
        )
    if not all(parts[i] for i in (1, 3, 5)):
        raise InvalidArgument([FieldViolation(field, f"has an empty segment: {name!r}")])
    return parts[1], parts[3], parts[5]


def overlay(
    plan: planning_pb2.RoutePlan, state: PlanStateRow, statuses: Mapping[str, VisitStatusRow]
) -> planning_pb2.RoutePlan:
    """The plan as clients see it: its state and version, route names, visit ids and statuses."""
    plan.state = STATES[state.state]
    plan.version = state.version
    if state.previous_plan:
        plan.previous_plan = plan.name.rsplit("/", 1)[0] + "/" + state.previous_plan
    for route in plan.routes:
        route.name = vehicle_route_name(plan.name, route.vehicle)
        vehicle_id = route.vehicle.rsplit("/", 1)[-1]
        for index, visit in enumerate(route.visits):
            visit.id = visit.id or visit_id(vehicle_id, index, visit)
            reported = statuses.get(visit.id)
            visit.status = STATUSES[reported.status] if reported else planning_pb2.VISIT_STATUS_PLANNED
            if reported is not None and reported.skip_cause:
                visit.skip_cause = CAUSES[reported.skip_cause]
    return plan


def published(state: PlanStateRow, plan_name: str) -> PlanStateRow:
    """The state after PublishRoutePlan: a DRAFT becomes PUBLISHED, a published plan stays as it is."""
    if state.state == "CLOSED":
        raise FailedPrecondition(
            f"{plan_name} is closed ({state.detail or 'its day is over'}); re-plan or plan the day anew",
            reason="PLAN_CLOSED",
            metadata={"plan": plan_name},
        )
    if state.state == "DRAFT":
        state.state = "PUBLISHED"
    return state


def closed(state: PlanStateRow, detail: str) -> PlanStateRow:
    """The state after closing; closing a closed plan keeps its first reason."""
    if state.state != "CLOSED":
        state.state, state.detail = "CLOSED", detail
    return state


def check_accepts_events(state: PlanStateRow, plan_name: str) -> None:
    """Field events reach only a PUBLISHED or IN_PROGRESS plan; FAILED_PRECONDITION otherwise."""
    if state.state == "DRAFT":
        raise FailedPrecondition(
            f"{plan_name} is a draft: publish it before the trucks report on it",
            reason="PLAN_NOT_PUBLISHED",
            metadata={"plan": plan_name},
        )
    if state.state == "CLOSED":
        raise FailedPrecondition(
            f"{plan_name} is closed ({state.detail or 'its day is over'}) and takes no more events",
            reason="PLAN_CLOSED",
            metadata={"plan": plan_name},
        )
