"""Re-planning the rest of a published day: what is done stays, broken-down trucks drop out, urgent
containers join, closed facilities close; the crews' remaining order is the search's starting point.

Pure functions over a plan, its statuses and events and storage rows; `wastesvc.replanner` runs them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from google.protobuf import timestamp_pb2

import routing
from wastesvc.domain._common import stream_key
from wastesvc.domain.planning import (
    DENSITY_KG_PER_L,
    BuiltProblem,
    PlanningInput,
    Selection,
    solution_to_plan,
)
from wastesvc.storage import ContainerRow, DepotRow, FacilityRow, FieldEventRow, VehicleRow, VisitStatusRow
from wastesvc.v1 import dispatch_pb2, planning_pb2

__all__ = [
    "Position",
    "ReplanInput",
    "Replanned",
    "assemble_plan",
    "availability",
    "build_replan",
    "diff_plans",
    "planning_input",
    "positions",
]

_FINISHED = frozenset({"DONE", "SKIPPED"})


@dataclass(frozen=True)
class Position:
    """Where a truck said it was (a POSITION event), and when."""

    time: datetime
    lat: float
    lng: float


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
    positions: Mapping[str, Position] = field(default_factory=dict)  # vehicle id → latest up to now


@dataclass
class Replanned:
    """The problem of the rest of the day, how to search it, and what the new plan keeps of the old one."""

    built: BuiltProblem
    options: routing.SolveOptions
    # Per truck in service, its day so far (the visits up to its last finished one), which the new route
    # follows on from; per broken-down truck, the same, as the record of its day.
    made: dict[str, list[planning_pb2.Visit]]
    gone: dict[str, list[planning_pb2.Visit]] = field(default_factory=dict)
    # The stops that stand for the load on board a truck resumes with; not containers of the plan.
    loads: frozenset[str] = frozenset()


def availability(
    events: Sequence[FieldEventRow], until: datetime, overrides: Mapping[str, bool]
) -> dict[str, bool]:
    """Per vehicle with a BREAKDOWN or BACK_IN_SERVICE event up to `until`: the latest says; overrides win."""
    result: dict[str, bool] = {}
    for e in sorted(events, key=lambda e: (e.event_time, e.id or 0)):
        if e.event_time <= until and e.kind in {"BREAKDOWN", "BACK_IN_SERVICE"}:
            result[e.vehicle_id] = e.kind == "BACK_IN_SERVICE"
    return {**result, **overrides}


def positions(events: Sequence[FieldEventRow], until: datetime) -> dict[str, Position]:
    """Per vehicle with a POSITION event up to `until`: the latest."""
    result: dict[str, Position] = {}
    for e in sorted(events, key=lambda e: (e.event_time, e.id or 0)):
        if e.event_time <= until and e.kind == "POSITION":
            where = dispatch_pb2.FieldEvent.FromString(e.body).location
            result[e.vehicle_id] = Position(e.event_time, where.latitude, where.longitude)
    return result


def _progress(
    route: planning_pb2.VehicleRoute, statuses: Mapping[str, VisitStatusRow]
) -> tuple[list[planning_pb2.Visit], list[planning_pb2.Visit]]:
    """(the day so far, container visits still to do) of a route: the day so far runs to its last finished
    visit (depot start, breaks and disposals included); an unfinished container visit anywhere is to do."""

    def finished(v: planning_pb2.Visit) -> bool:
        return v.id in statuses and statuses[v.id].status in _FINISHED

    containers = [i for i, v in enumerate(route.visits) if v.kind == planning_pb2.VISIT_KIND_CONTAINER]
    last = max((i for i in containers if finished(route.visits[i])), default=-1)
    made = [
        v
        for i, v in enumerate(route.visits)
        if i <= last and (v.kind != planning_pb2.VISIT_KIND_CONTAINER or finished(v))
    ]
    todo = [route.visits[i] for i in containers if not finished(route.visits[i])]
    return made, todo


def _seconds(data: ReplanInput, stamp: timestamp_pb2.Timestamp) -> int:
    """Seconds since the service day's local midnight."""
    return _seconds_of(data, stamp.ToDatetime(tzinfo=UTC))


def _seconds_of(data: ReplanInput, when: datetime) -> int:
    """Seconds since the service day's local midnight."""
    midnight = datetime.combine(data.service_date, datetime.min.time(), data.timezone)
    return int((when - midnight).total_seconds())


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
    """A truck still at its depot: it leaves by the re-plan's time at the latest."""
    lunch = routing.Break(v.break_start_s, v.break_end_s, v.break_s) if v.break_s else None
    return routing.Vehicle(
        id=v.id,
        capacity_l=float(v.capacity_l),
        capacity_kg=float(v.capacity_kg),
        streams=frozenset({stream}),
        start_depot=v.home_depot,
        end_depot=v.home_depot,
        shift=routing.TimeWindow(v.shift_start_s, v.shift_end_s),
        latest_departure_s=max(v.shift_start_s, now_s),
        cost_per_km=v.cost_per_km,
        cost_per_hour=v.cost_per_hour,
        route_volume_cap_l=float(v.daily_volume_cap_l) or None,
        lunch=lunch,
        skills=frozenset(e for e in v.equipment.split(",") if e),
    )


@dataclass(frozen=True)
class _Resume:
    """A truck in service that has worked: it resumes where its last finished visit left it."""

    vehicle: routing.Vehicle
    depot: routing.Depot
    load: routing.Stop | None


def _resume(data: ReplanInput, row: VehicleRow, stream: str, made: list[planning_pb2.Visit]) -> _Resume:
    """The truck from where it is: there, then, with its load, lunch taken or not.

    It is where its last finished visit left it, or where it last said it was (a POSITION event) when
    that came later than the crew reported the visit finished; in the latter case it is free from the
    re-plan's time, having left that visit.
    """
    last = next(v for v in reversed(made) if v.HasField("location"))
    here = f"at-{row.id}"
    where = routing.Location(last.location.latitude, last.location.longitude)
    free_s = max(data.now_s, _seconds(data, last.end_time))
    position = data.positions.get(row.id)
    if position is not None and position.time > _reported(data, last):
        where = routing.Location(position.lat, position.lng)
        free_s = max(data.now_s, _seconds_of(data, position.time))
    lunched = any(v.kind == planning_pb2.VISIT_KIND_BREAK for v in made) or free_s >= row.break_end_s
    collected = sum(
        data.containers[n.rsplit("/", 1)[-1]].volume_l * v.expected_fill for v in made for n in v.containers
    )
    base = _vehicle(row, stream, data.now_s)
    cap = base.route_volume_cap_l
    vehicle = dataclasses.replace(
        base,
        start_depot=here,
        shift=routing.TimeWindow(min(free_s, row.shift_end_s), row.shift_end_s),
        latest_departure_s=None,
        lunch=None if lunched else base.lunch,
        # The load on board comes back as a stop (below), which the daily cap counts again.
        route_volume_cap_l=None if cap is None else max(cap - collected, 0.0) + last.load_liters,
        skills=base.skills | {here},
    )
    load = None
    if last.load_liters > 0:
        # Only this truck can take it (its own skill): the volume it resumes with, unloaded at a facility.
        load = routing.Stop(
            id=here,
            location=where,
            stream=stream,
            volume_l=last.load_liters,
            weight_kg=last.load_kg,
            service_s=0,
            required_skills=frozenset({here}),
        )
    return _Resume(vehicle, routing.Depot(here, where), load)


def _reported(data: ReplanInput, visit: planning_pb2.Visit) -> datetime:
    """When the crew reported `visit` finished, else when the plan had it end."""
    status = data.statuses.get(visit.id)
    return status.event_time if status is not None else visit.end_time.ToDatetime(tzinfo=UTC)


def build_replan(data: ReplanInput, time_limit_s: float) -> Replanned:
    """The routing problem of the rest of the day.

    What is done is done: each truck in service resumes where it is (its last finished visit, or its
    latest POSITION when that is more recent), with its load, and the search starts from its remaining
    order, which `routing.solve` walks and completes with the stops no order has (a broken-down truck's
    remaining stops, the urgent containers) by cheapest insertion.
    """
    containers_of_stop: dict[str, list[Selection]] = {}
    stops: list[routing.Stop] = []
    stream_of_vehicle: dict[str, str] = {}
    initial: dict[str, list[str]] = {}
    made_of: dict[str, list[planning_pb2.Visit]] = {}
    gone: dict[str, list[planning_pb2.Visit]] = {}
    resumed: dict[str, _Resume] = {}
    for route in data.plan.routes:
        vehicle_id = route.vehicle.rsplit("/", 1)[-1]
        stream = stream_key(route.stream, "stream")
        made, todo = _progress(route, data.statuses)
        if not (data.available.get(vehicle_id, True) and vehicle_id in data.vehicles):
            gone[vehicle_id] = made
        else:
            stream_of_vehicle[vehicle_id] = stream
            initial[vehicle_id] = [v.id for v in todo]
            if vehicle_id in data.positions and not made:
                made = list(route.visits[:1])  # on the road before its first stop: the day's start
            if any(v.HasField("location") for v in made):
                made_of[vehicle_id] = made
                resumed[vehicle_id] = _resume(data, data.vehicles[vehicle_id], stream, made)
        stops += [_plan_stop(data, v, stream, containers_of_stop) for v in todo]
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
    loads = {v: r.load for v, r in resumed.items() if r.load is not None}
    for vehicle_id, load in loads.items():
        initial[vehicle_id] = [load.id, *initial[vehicle_id]]
    vehicles = [
        resumed[v].vehicle if v in resumed else _vehicle(data.vehicles[v], s, data.now_s)
        for v, s in sorted(stream_of_vehicle.items())
    ]
    homes = {data.vehicles[v].home_depot for v in stream_of_vehicle}
    problem = routing.Problem(
        stops=(*loads.values(), *stops),
        vehicles=tuple(vehicles),
        depots=tuple(
            routing.Depot(d.id, routing.Location(d.lat, d.lng)) for d in data.depots.values() if d.id in homes
        )
        + tuple(r.depot for r in resumed.values()),
        facilities=tuple(
            _facility(f, carried, data) for f in data.facilities if set(f.streams.split(",")) & carried
        ),
        matrix=routing.GreatCircleMatrix(circuity=1.3, speed_kmh=32.0),
    )
    options = routing.SolveOptions(time_limit_s=time_limit_s, initial_routes=initial, now_s=data.now_s)
    built = BuiltProblem(data.tenant, problem, containers_of_stop, unassigned)
    return Replanned(built, options, made_of, gone, frozenset(s.id for s in loads.values()))


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
        forecasts={},
        vehicles=(),
        depots={},
        facilities=(),
        streams=frozenset(),
        fill_threshold=0.0,
        max_days_without_emptying=0,
    )


def _day_so_far(made: Sequence[planning_pb2.Visit]) -> list[planning_pb2.Visit]:
    """Copies of the visits made, their non-container ids cleared: the new route numbers its own."""
    copies = []
    for visit in made:
        copy = planning_pb2.Visit()
        copy.CopyFrom(visit)
        if not copy.containers:
            copy.id = ""
        copies.append(copy)
    return copies


def assemble_plan(
    name: str, data: ReplanInput, replanned: Replanned, solution: routing.Solution, created: datetime
) -> planning_pb2.RoutePlan:
    """The new version: each truck's day so far, then what the solver planned from where it stands; a
    broken-down truck's route is the record of its day so far."""
    loads = replanned.loads
    solved = dataclasses.replace(
        solution,
        routes=tuple(
            # The load stop shares its id with the place the truck resumes from: only the stop goes.
            dataclasses.replace(
                r,
                visits=tuple(
                    v for v in r.visits if not (v.kind is routing.VisitKind.STOP and v.ref_id in loads)
                ),
            )
            for r in solution.routes
        ),
        skipped=tuple(s for s in solution.skipped if s.stop_id not in loads),
    )
    plan = solution_to_plan(name, planning_input(data), replanned.built, solved, created)
    routes = {r.vehicle.rsplit("/", 1)[-1]: r for r in plan.routes}
    old = {r.vehicle.rsplit("/", 1)[-1]: r for r in data.plan.routes}
    for vehicle_id, made in [*replanned.made.items(), *replanned.gone.items()]:
        route = routes.get(vehicle_id)
        if route is None:
            route = plan.routes.add(vehicle=old[vehicle_id].vehicle, stream=old[vehicle_id].stream)
            ahead: list[planning_pb2.Visit] = []
        else:
            ahead = list(route.visits)[1:] if vehicle_id in replanned.made else list(route.visits)
        done = _day_so_far(made)
        del route.visits[:]
        route.visits.extend([*done, *ahead])
        route.container_count = sum(len(v.containers) for v in route.visits)
        route.distance_meters = sum(v.distance_meters for v in route.visits)
        first, last = route.visits[0].start_time, route.visits[-1].end_time
        route.duration.FromSeconds(max(0, last.seconds - first.seconds))
        route.collected_liters += sum(
            data.containers[n.rsplit("/", 1)[-1]].volume_l * v.expected_fill
            for v in made
            for n in v.containers
        )
    totals = plan.totals
    totals.vehicle_count = sum(1 for r in plan.routes if r.visits)
    totals.container_count = sum(r.container_count for r in plan.routes)
    totals.distance_meters = sum(r.distance_meters for r in plan.routes)
    totals.collected_liters = sum(r.collected_liters for r in plan.routes)
    totals.duration.FromSeconds(sum(r.duration.seconds for r in plan.routes))
    return plan


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
