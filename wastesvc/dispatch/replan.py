"""Re-planning the rest of a published day: what is done stays, broken-down trucks drop out, urgent
containers join, closed facilities close; the crews' remaining order is the search's starting point.

Pure functions over a plan, its statuses and events and storage rows; `wastesvc.replanner` runs them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

import routing
from wastesvc.domain._common import stream_key
from wastesvc.domain.planning import DENSITY_KG_PER_L, BuiltProblem, PlanningInput, Selection
from wastesvc.storage import ContainerRow, DepotRow, FacilityRow, FieldEventRow, VehicleRow, VisitStatusRow
from wastesvc.v1 import dispatch_pb2, planning_pb2

__all__ = ["ReplanInput", "Replanned", "availability", "build_replan", "diff_plans", "planning_input"]

_FINISHED = frozenset({"DONE", "SKIPPED"})


@dataclass(frozen=True)
class ReplanInput:
    """A published plan and everything a re-plan of its day reads."""

    tenant: str
    plan: planning_pb2.RoutePlan  # overlaid: visit ids and statuses
    statuses: Mapping[str, VisitStatusRow]
    available: Mapping[str, bool]  # vehicle id → still in service
    containers: Mapping[str, ContainerRow]  # those of the plan and the urgent ones
    fills: Mapping[str, float]  # latest fill of the urgent containers
    urgent: Sequence[str]  # container ids
    vehicles: Mapping[str, VehicleRow]
    depots: Mapping[str, DepotRow]
    facilities: Sequence[FacilityRow]
    closed_facilities: frozenset[str]
    service_date: date
    timezone: ZoneInfo
    now_s: int  # seconds of the service day's local midnight


@dataclass
class Replanned:
    """The problem of the rest of the day and how to search it."""

    built: BuiltProblem
    options: routing.SolveOptions
    frozen_visits: dict[str, list[planning_pb2.Visit]]  # per vehicle, the visits already made
    gone: dict[str, list[planning_pb2.Visit]] = field(default_factory=dict)  # broken-down trucks' done visits


def availability(
    events: Sequence[FieldEventRow], until: datetime, overrides: Mapping[str, bool]
) -> dict[str, bool]:
    """Per vehicle with a BREAKDOWN or BACK_IN_SERVICE event up to `until`: the latest says; overrides win."""
    result: dict[str, bool] = {}
    for e in sorted(events, key=lambda e: (e.event_time, e.id or 0)):
        if e.event_time <= until and e.kind in {"BREAKDOWN", "BACK_IN_SERVICE"}:
            result[e.vehicle_id] = e.kind == "BACK_IN_SERVICE"
    return {**result, **overrides}


def _split(
    route: planning_pb2.VehicleRoute, statuses: Mapping[str, VisitStatusRow]
) -> tuple[list[planning_pb2.Visit], list[planning_pb2.Visit]]:
    """(visits made, container visits still to do) of a route: what lies up to its last finished visit is
    made (disposals included), an unfinished container visit anywhere is still to do."""
    finished = [
        i
        for i, v in enumerate(route.visits)
        if v.kind == planning_pb2.VISIT_KIND_CONTAINER
        and v.id in statuses
        and statuses[v.id].status in _FINISHED
    ]
    last = finished[-1] if finished else -1
    made: list[planning_pb2.Visit] = []
    todo: list[planning_pb2.Visit] = []
    for i, v in enumerate(route.visits):
        if v.kind == planning_pb2.VISIT_KIND_CONTAINER:
            done = v.id in statuses and statuses[v.id].status in _FINISHED
            (made if done and i <= last else todo).append(v)
        elif v.kind == planning_pb2.VISIT_KIND_DISPOSAL and i < last:
            made.append(v)
    return made, todo


def _stop(stop_id: str, members: Sequence[Selection], stream: str, windows: str, skills: str) -> routing.Stop:
    first = members[0].container
    volume = sum(m.container.volume_l * m.fill for m in members)
    return routing.Stop(
        id=stop_id,
        location=routing.Location(first.lat, first.lng),
        stream=stream,
        volume_l=volume,
        weight_kg=volume * DENSITY_KG_PER_L.get(stream, 0.2),
        service_s=sum(m.container.service_s for m in members),
        time_windows=tuple(routing.TimeWindow(a, b) for a, b in json.loads(windows)),
        container_ids=tuple(m.container.id for m in members),
        required_skills=frozenset(e for e in skills.split(",") if e),
    )


def _vehicle(v: VehicleRow, stream: str, now_s: int) -> routing.Vehicle:
    lunch = routing.Break(v.break_start_s, v.break_end_s, v.break_s) if v.break_s else None
    return routing.Vehicle(
        id=v.id,
        capacity_l=float(v.capacity_l),
        capacity_kg=float(v.capacity_kg),
        streams=frozenset({stream}),
        start_depot=v.home_depot,
        end_depot=v.home_depot,
        shift=routing.TimeWindow(v.shift_start_s, v.shift_end_s),
        # A truck still at the depot leaves at the re-plan's time at the latest.
        latest_departure_s=max(v.shift_start_s, now_s),
        cost_per_km=v.cost_per_km,
        cost_per_hour=v.cost_per_hour,
        route_volume_cap_l=float(v.daily_volume_cap_l) or None,
        lunch=lunch,
        skills=frozenset(e for e in v.equipment.split(",") if e),
    )


def build_replan(data: ReplanInput, time_limit_s: float, *, keep_order: bool = True) -> Replanned:
    """The routing problem of the rest of the day.

    Available trucks keep their made visits frozen and start the search from their remaining order
    (`keep_order`; False plans the rest from scratch, for comparison). A broken-down truck's remaining
    stops are handed to the others.
    """
    containers_of_stop: dict[str, list[Selection]] = {}
    stops: list[routing.Stop] = []
    stream_of_vehicle: dict[str, str] = {}
    frozen: dict[str, list[str]] = {}
    initial: dict[str, list[str]] = {}
    frozen_visits: dict[str, list[planning_pb2.Visit]] = {}
    gone: dict[str, list[planning_pb2.Visit]] = {}
    for route in data.plan.routes:
        vehicle_id = route.vehicle.rsplit("/", 1)[-1]
        stream = stream_key(route.stream, "stream")
        made, todo = _split(route, data.statuses)
        in_service = data.available.get(vehicle_id, True) and vehicle_id in data.vehicles
        if in_service:
            stream_of_vehicle[vehicle_id] = stream
            frozen_visits[vehicle_id] = made
            frozen[vehicle_id] = [v.id if v.containers else v.site.rsplit("/", 1)[-1] for v in made]
            initial[vehicle_id] = frozen[vehicle_id] + [v.id for v in todo]
        else:
            gone[vehicle_id] = made
        for v in made if in_service else []:
            if v.kind == planning_pb2.VISIT_KIND_CONTAINER:
                stops.append(_plan_stop(data, v, stream, containers_of_stop))
        for v in todo:
            stops.append(_plan_stop(data, v, stream, containers_of_stop))
    for container_id in data.urgent:
        c = data.containers[container_id]
        if any(container_id in s.container_ids for s in stops):
            continue
        members = [Selection(c, data.fills.get(container_id, 1.0), "urgent")]
        containers_of_stop[container_id] = members
        stops.append(_stop(container_id, members, c.stream, c.access_windows, c.required_equipment))

    _add_spare_trucks(data, stops, stream_of_vehicle)
    carried = set(stream_of_vehicle.values())
    stops, unassigned = _servable(data, stops, stream_of_vehicle, containers_of_stop)
    problem = routing.Problem(
        stops=tuple(stops),
        vehicles=tuple(
            _vehicle(data.vehicles[v], s, data.now_s) for v, s in sorted(stream_of_vehicle.items())
        ),
        depots=tuple(
            routing.Depot(d.id, routing.Location(d.lat, d.lng))
            for d in data.depots.values()
            if d.id in {data.vehicles[v].home_depot for v in stream_of_vehicle}
        ),
        facilities=tuple(
            _facility(f, carried, data) for f in data.facilities if set(f.streams.split(",")) & carried
        ),
        matrix=routing.GreatCircleMatrix(circuity=1.3, speed_kmh=32.0),
    )
    options = routing.SolveOptions(
        time_limit_s=time_limit_s,
        frozen={v: ids for v, ids in frozen.items() if ids},
        initial_routes=initial if keep_order else None,
        now_s=data.now_s,
    )
    built = BuiltProblem(data.tenant, problem, containers_of_stop, stream_of_vehicle, unassigned)
    return Replanned(built, options, frozen_visits, gone)


def _servable(
    data: ReplanInput,
    stops: list[routing.Stop],
    stream_of_vehicle: Mapping[str, str],
    containers_of_stop: Mapping[str, list[Selection]],
) -> tuple[list[routing.Stop], list[Selection]]:
    """The stops some truck still in service can take, and the containers of the others (a crane stop
    whose only crane truck broke down), which the plan lists as skipped."""
    kits = [
        (stream, {e for e in data.vehicles[v].equipment.split(",") if e})
        for v, stream in stream_of_vehicle.items()
    ]
    kept: list[routing.Stop] = []
    left: list[Selection] = []
    for stop in stops:
        if any(stop.stream == stream and stop.required_skills <= kit for stream, kit in kits):
            kept.append(stop)
        else:
            left += containers_of_stop[stop.id]
    return kept, left


def _add_spare_trucks(
    data: ReplanInput, stops: Sequence[routing.Stop], stream_of_vehicle: dict[str, str]
) -> None:
    """Trucks the plan did not use and that are not out of service take the stream with the most work."""
    work: dict[str, int] = {}
    for stop in stops:
        work[stop.stream] = work.get(stop.stream, 0) + 1
    planned = {r.vehicle.rsplit("/", 1)[-1] for r in data.plan.routes}
    for vehicle_id, row in sorted(data.vehicles.items()):
        if vehicle_id in planned or not data.available.get(vehicle_id, True):
            continue
        options = [s for s in row.streams.split(",") if work.get(s)]
        if options:
            stream_of_vehicle[vehicle_id] = max(options, key=lambda s: (work[s], s))


def _plan_stop(
    data: ReplanInput, visit: planning_pb2.Visit, stream: str, containers_of_stop: dict[str, list[Selection]]
) -> routing.Stop:
    """The stop of one container visit of the plan, with the fill the plan expected."""
    rows = [data.containers[n.rsplit("/", 1)[-1]] for n in visit.containers]
    members = [Selection(c, visit.expected_fill, "plan") for c in rows]
    containers_of_stop[visit.id] = members
    return _stop(visit.id, members, stream, rows[0].access_windows, rows[0].required_equipment)


def _facility(f: FacilityRow, carried: set[str], data: ReplanInput) -> routing.Facility:
    """A facility of the day; a closed one takes nothing after the re-plan's time."""
    close = min(f.close_s, max(f.open_s, data.now_s)) if f.id in data.closed_facilities else f.close_s
    return routing.Facility(
        id=f.id,
        location=routing.Location(f.lat, f.lng),
        streams=frozenset(f.streams.split(",")) & carried,
        opening=routing.TimeWindow(f.open_s, close),
        dump_s=f.dump_s,
    )


def planning_input(data: ReplanInput) -> PlanningInput:
    """What `solution_to_plan` reads of a planning input: the tenant, the day and its time zone."""
    return PlanningInput(
        tenant=data.tenant,
        service_date=data.service_date,
        timezone=data.timezone,
        containers=(),
        latest={},
        history=(),
        vehicles=(),
        depots={},
        facilities=(),
        streams=frozenset(),
        fill_threshold=0.0,
        max_days_without_emptying=0,
    )


def _assignment(plan: planning_pb2.RoutePlan) -> dict[str, str]:
    """Container visit id → vehicle name."""
    return {
        v.id or v.containers[0].rsplit("/", 1)[-1]: r.vehicle
        for r in plan.routes
        for v in r.visits
        if v.kind == planning_pb2.VISIT_KIND_CONTAINER
    }


def diff_plans(
    old: planning_pb2.RoutePlan,
    new: planning_pb2.RoutePlan,
    remaining: Sequence[str],
    gone: Mapping[str, object],
) -> tuple[list[dispatch_pb2.StopChange], int]:
    """The stops of the remaining day that changed truck or were dropped, the urgent ones added, and the
    number kept on their truck."""
    before, after = _assignment(old), _assignment(new)
    why_skipped = {s.container.rsplit("/", 1)[-1]: s.detail for s in new.skipped}
    changes: list[dispatch_pb2.StopChange] = []
    kept = 0
    for visit_id in remaining:
        was, now = before[visit_id], after.get(visit_id)
        if now == was:
            kept += 1
            continue
        broken = was.rsplit("/", 1)[-1] in gone
        if now is None:
            reason = why_skipped.get(visit_id, "left out by the re-plan")
            changes.append(
                dispatch_pb2.StopChange(
                    visit_id=visit_id,
                    kind=dispatch_pb2.STOP_CHANGE_KIND_DROPPED,
                    from_vehicle=was,
                    reason=reason,
                )
            )
            continue
        reason = f"{was} is out of service" if broken else "re-balanced by the re-plan"
        changes.append(
            dispatch_pb2.StopChange(
                visit_id=visit_id,
                kind=dispatch_pb2.STOP_CHANGE_KIND_MOVED,
                from_vehicle=was,
                to_vehicle=now,
                reason=reason,
            )
        )
    for visit_id, vehicle in sorted(after.items()):
        if visit_id not in before:
            changes.append(
                dispatch_pb2.StopChange(
                    visit_id=visit_id,
                    kind=dispatch_pb2.STOP_CHANGE_KIND_ADDED,
                    to_vehicle=vehicle,
                    reason="urgent",
                )
            )
    return changes, kept
