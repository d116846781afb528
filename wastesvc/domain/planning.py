"""Planning v0: select the containers to empty, build the routing problem, turn the solution into a plan.

Pure functions over storage rows; the planner (wastesvc.planner) does the I/O and runs the solver.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from google.type import date_pb2, latlng_pb2

import routing
from wastesvc.domain._common import resource_name, stream_from_key, to_duration, to_timestamp
from wastesvc.storage import ContainerRow, DepotRow, FacilityRow, ReadingRow, VehicleRow
from wastesvc.v1 import planning_pb2

__all__ = [
    "DENSITY_KG_PER_L",
    "PlanningInput",
    "Selection",
    "api_violations",
    "build_problem",
    "last_emptied",
    "select_containers",
    "solution_to_plan",
]

# Bulk density of each stream as found in a container (kg per litre of container volume): typical orders of
# magnitude from waste characterisation studies; the territory publishes none (facilities.md §5).
DENSITY_KG_PER_L = {"residual": 0.15, "packaging": 0.04, "paper": 0.08, "glass": 0.35, "biowaste": 0.5}
# A drop of this much between consecutive readings means the container was emptied (REFERENCE §5).
EMPTYING_DROP = 0.3
# Average road speed over town and rural roads, and the road/crow-fly ratio (REFERENCE §2, ≈1.3 urban).
SPEED_KMH = 32.0
CIRCUITY = 1.3

_SKIP_REASONS = {
    routing.SkipReason.NOT_WORTH_IT: planning_pb2.SKIP_REASON_NOT_WORTH_IT,
    routing.SkipReason.NO_CAPACITY: planning_pb2.SKIP_REASON_NO_CAPACITY,
    routing.SkipReason.NO_TIME: planning_pb2.SKIP_REASON_NO_TIME,
    routing.SkipReason.INCOMPATIBLE: planning_pb2.SKIP_REASON_NO_VEHICLE_FOR_STREAM,
}
_VISIT_KINDS = {
    routing.VisitKind.DEPOT_START: planning_pb2.VISIT_KIND_DEPOT_START,
    routing.VisitKind.STOP: planning_pb2.VISIT_KIND_CONTAINER,
    routing.VisitKind.FACILITY: planning_pb2.VISIT_KIND_DISPOSAL,
    routing.VisitKind.BREAK: planning_pb2.VISIT_KIND_BREAK,
    routing.VisitKind.DEPOT_END: planning_pb2.VISIT_KIND_DEPOT_END,
}


@dataclass(frozen=True)
class Selection:
    """A container chosen for collection, with what it is expected to hold."""

    container: ContainerRow
    fill: float
    reason: str  # "fill" or "age"


@dataclass(frozen=True)
class PlanningInput:
    """Everything the plan is made from, read from storage in one go."""

    tenant: str
    service_date: date
    timezone: ZoneInfo
    containers: Sequence[ContainerRow]
    latest: Mapping[str, ReadingRow]
    history: Sequence[ReadingRow]
    vehicles: Sequence[VehicleRow]
    depots: Mapping[str, DepotRow]
    facilities: Sequence[FacilityRow]
    streams: frozenset[str]
    fill_threshold: float
    max_days_without_emptying: int


@dataclass
class BuiltProblem:
    """The routing problem and the way back from its stops to containers."""

    tenant: str
    problem: routing.Problem
    containers_of_stop: dict[str, list[Selection]]
    stream_of_vehicle: dict[str, str]
    unassigned: list[Selection] = field(default_factory=list)
    # (vehicle id, reason) of the vehicles whose stored settings cannot drive; left out of the day.
    left_out_vehicles: list[tuple[str, str]] = field(default_factory=list)


def last_emptied(history: Sequence[ReadingRow]) -> dict[str, datetime]:
    """Per container, the time of the latest reading right after a sudden drop in fill."""
    result: dict[str, datetime] = {}
    previous: ReadingRow | None = None
    for reading in history:  # ordered by container, then time
        same_container = previous is not None and previous.container_id == reading.container_id
        if same_container and previous is not None and previous.fill - reading.fill >= EMPTYING_DROP:
            result[reading.container_id] = reading.measure_time
        previous = reading
    return result


def select_containers(data: PlanningInput, now: datetime) -> list[Selection]:
    """Containers at or above the fill threshold, plus those not emptied for too many days."""
    emptied = last_emptied(data.history)
    chosen = []
    for container in data.containers:
        if container.stream not in data.streams:
            continue
        latest = data.latest.get(container.id)
        fill = latest.fill if latest is not None else 0.0
        known = [t for t in (emptied.get(container.id), container.last_emptied_time) if t is not None]
        too_old = bool(known) and now - max(known) >= timedelta(days=data.max_days_without_emptying)
        if latest is not None and fill >= data.fill_threshold:
            chosen.append(Selection(container, fill, "fill"))
        elif too_old:
            chosen.append(Selection(container, fill, "age"))
    return chosen


def _assign_streams(vehicles: Sequence[VehicleRow], demand: Mapping[str, float]) -> dict[str, str]:
    """One stream per vehicle for the day (a compactor body carries one stream), balancing litres."""
    assigned_capacity: dict[str, float] = defaultdict(float)
    result = {}
    # Specialised trucks first, so multi-stream trucks fill the gaps they leave.
    for vehicle in sorted(vehicles, key=lambda v: (len(v.streams.split(",")), v.id)):
        options = [s for s in vehicle.streams.split(",") if demand.get(s, 0.0) > 0]
        if not options:
            continue
        stream = max(options, key=lambda s: (demand[s] / (1.0 + assigned_capacity[s]), s))
        assigned_capacity[stream] += vehicle.capacity_l
        result[vehicle.id] = stream
    return result


def build_problem(
    data: PlanningInput, selected: Sequence[Selection], *, driving_rule: routing.DrivingRule | None = None
) -> BuiltProblem:
    """The routing problem of the day: one stop per isle and stream, one stream per vehicle.

    `driving_rule`, when given, applies to every crew.
    """
    demand: dict[str, float] = defaultdict(float)
    for s in selected:
        demand[s.container.stream] += s.container.volume_l * s.fill
    usable, left_out = _usable_vehicles(data, driving_rule)
    data = dataclasses.replace(data, vehicles=usable)
    stream_of_vehicle = _assign_streams(data.vehicles, demand)
    carried = set(stream_of_vehicle.values())
    equipped: dict[str, list[set[str]]] = defaultdict(list)
    for v in data.vehicles:
        if v.id in stream_of_vehicle:
            equipped[stream_of_vehicle[v.id]].append({e for e in v.equipment.split(",") if e})

    groups: dict[tuple[str, ...], list[Selection]] = defaultdict(list)
    unassigned = []
    for s in selected:
        c = s.container
        needs = {e for e in c.required_equipment.split(",") if e}
        # Left out here rather than by the solver, which rejects a mandatory stop no vehicle can serve.
        if not any(needs <= kit for kit in equipped.get(c.stream, [])):
            unassigned.append(s)
            continue
        spot = c.isle or f"{c.lat:.5f},{c.lng:.5f}"
        groups[(spot, c.stream, c.access_windows, c.required_equipment)].append(s)

    stops = []
    containers_of_stop = {}
    for index, ((_, stream, windows, equipment), members) in enumerate(sorted(groups.items())):
        stop_id = f"s{index}"
        first = members[0].container
        volume = sum(m.container.volume_l * m.fill for m in members)
        stops.append(
            routing.Stop(
                id=stop_id,
                location=routing.Location(first.lat, first.lng),
                stream=stream,
                volume_l=volume,
                weight_kg=volume * DENSITY_KG_PER_L.get(stream, 0.2),
                service_s=sum(m.container.service_s for m in members),
                time_windows=tuple(routing.TimeWindow(a, b) for a, b in json.loads(windows)),
                container_ids=tuple(m.container.id for m in members),
                required_skills=frozenset(e for e in equipment.split(",") if e),
            )
        )
        containers_of_stop[stop_id] = members

    vehicles = [
        _routing_vehicle(v, frozenset({stream_of_vehicle[v.id]}), driving_rule)
        for v in data.vehicles
        if v.id in stream_of_vehicle
    ]
    used_depots = {v.home_depot for v in data.vehicles if v.id in stream_of_vehicle}
    problem = routing.Problem(
        stops=tuple(stops),
        vehicles=tuple(vehicles),
        depots=tuple(
            routing.Depot(d.id, routing.Location(d.lat, d.lng))
            for d in data.depots.values()
            if d.id in used_depots
        ),
        facilities=tuple(
            routing.Facility(
                id=f.id,
                location=routing.Location(f.lat, f.lng),
                streams=frozenset(f.streams.split(",")) & carried,
                opening=routing.TimeWindow(f.open_s, f.close_s),
                dump_s=f.dump_s,
            )
            for f in data.facilities
            if set(f.streams.split(",")) & carried
        ),
        matrix=routing.GreatCircleMatrix(circuity=CIRCUITY, speed_kmh=SPEED_KMH),
    )
    return BuiltProblem(data.tenant, problem, containers_of_stop, stream_of_vehicle, unassigned, left_out)


def _routing_vehicle(
    v: VehicleRow, streams: frozenset[str], driving_rule: routing.DrivingRule | None
) -> routing.Vehicle:
    lunch = routing.Break(v.break_start_s, v.break_end_s, v.break_s) if v.break_s else None
    return routing.Vehicle(
        id=v.id,
        capacity_l=float(v.capacity_l),
        capacity_kg=float(v.capacity_kg),
        streams=streams,
        start_depot=v.home_depot,
        end_depot=v.home_depot,
        shift=routing.TimeWindow(v.shift_start_s, v.shift_end_s),
        # The crew clocks in at shift start and the truck goes out then (waiting, if need be, at
        # the first stop); a later start would only dodge the lunch break.
        latest_departure_s=v.shift_start_s,
        driving_rule=driving_rule,
        cost_per_km=v.cost_per_km,
        cost_per_hour=v.cost_per_hour,
        route_volume_cap_l=float(v.daily_volume_cap_l) or None,
        lunch=lunch,
        skills=frozenset(e for e in v.equipment.split(",") if e),
    )


# Routing's names of vehicle fields → the Vehicle resource's fields.
_VEHICLE_FIELDS = {
    "capacity_l": "capacity_liters",
    "capacity_kg": "capacity_kg",
    "start_depot": "home_depot",
    "end_depot": "home_depot",
    "shift": "shift",
    "latest_departure_s": "shift",
    "lunch": "break_window",
    "cost_per_km": "cost_per_kilometer",
    "cost_per_hour": "cost_per_hour",
    "route_volume_cap_l": "daily_volume_cap_liters",
}
# Above this a cost is a unit mistake that would overflow the solver's integer costs (as in resources).
_MAX_COST = 10_000.0


def _vehicle_field(path: str) -> str:
    """`vehicles[0].lunch` → `break_window`."""
    routing_field = path.split(".", 1)[1].split(".", 1)[0].split("[", 1)[0] if "." in path else ""
    return _VEHICLE_FIELDS.get(routing_field, routing_field or "vehicle")


def _usable_vehicles(
    data: PlanningInput, driving_rule: routing.DrivingRule | None
) -> tuple[list[VehicleRow], list[tuple[str, str]]]:
    """The vehicles that can drive, and (vehicle id, reason) of those that cannot.

    Checked one by one, so a vehicle stored with settings that cannot work is left out of the day with
    its reason instead of failing the whole plan.
    """
    usable, left_out = [], []
    for v in data.vehicles:
        depot = data.depots.get(v.home_depot)
        alone = routing.Problem(
            stops=(),
            vehicles=(_routing_vehicle(v, frozenset(v.streams.split(",")), driving_rule),),
            depots=(routing.Depot(depot.id, routing.Location(depot.lat, depot.lng)),) if depot else (),
            facilities=(),
            matrix=routing.GreatCircleMatrix(circuity=CIRCUITY, speed_kmh=SPEED_KMH),
        )
        problems = [f"{_vehicle_field(p.field)}: {p.description}" for p in _violations(alone)]
        problems += [
            f"{name}: must be within [0, {_MAX_COST:g}]"
            for name, value in (("cost_per_kilometer", v.cost_per_km), ("cost_per_hour", v.cost_per_hour))
            if not value <= _MAX_COST
        ]
        if problems:
            left_out.append((v.id, "; ".join(problems)))
        else:
            usable.append(v)
    return usable, left_out


def _containers(built: BuiltProblem, stop_id: str) -> list[ContainerRow]:
    return [m.container for m in built.containers_of_stop[stop_id]]


def _violations(problem: routing.Problem) -> list[routing.FieldViolation]:
    try:
        routing.validate(problem)
    except routing.ProblemError as exc:
        return exc.violations
    return []


def api_violations(
    built: BuiltProblem, violations: Sequence[routing.FieldViolation]
) -> list[tuple[str, str]]:
    """(resource field, description) of routing's violations, which name internal indexes (`stops[3]`)."""
    problem, tenant = built.problem, built.tenant
    named: dict[str, Sequence[str]] = {
        "stops": [
            ", ".join(
                resource_name(tenant, "containers", m.container.id) for m in built.containers_of_stop[s.id]
            )
            for s in problem.stops
        ],
        "vehicles": [resource_name(tenant, "vehicles", v.id) for v in problem.vehicles],
        "depots": [resource_name(tenant, "depots", d.id) for d in problem.depots],
        "facilities": [resource_name(tenant, "facilities", f.id) for f in problem.facilities],
    }
    result = []
    for v in violations:
        collection, _, rest = v.field.partition("[")
        index, _, tail = rest.partition("]")
        names = named.get(collection, ())
        if index.isdigit() and int(index) < len(names):
            suffix = f".{_vehicle_field(v.field)}" if collection == "vehicles" and tail else tail
            result.append((names[int(index)] + suffix, v.description))
        else:
            result.append((v.field, v.description))
    return result


def _at(service_date: date, tz: ZoneInfo, seconds: int) -> datetime:
    return datetime.combine(service_date, datetime.min.time(), tz) + timedelta(seconds=seconds)


def solution_to_plan(
    plan_name: str, data: PlanningInput, built: BuiltProblem, solution: routing.Solution, created: datetime
) -> planning_pb2.RoutePlan:
    """The RoutePlan resource of a solved day."""
    locations = {d.id: d.location for d in built.problem.depots}
    locations.update({f.id: f.location for f in built.problem.facilities})
    stops = {s.id: s for s in built.problem.stops}
    plan = planning_pb2.RoutePlan(
        name=plan_name,
        service_date=date_pb2.Date(
            year=data.service_date.year, month=data.service_date.month, day=data.service_date.day
        ),
        solver_status=solution.status,
        solve_duration=to_duration(solution.solve_time_s),
        create_time=to_timestamp(created),
    )
    for route in solution.routes:
        out = plan.routes.add(
            vehicle=resource_name(data.tenant, "vehicles", route.vehicle_id),
            stream=stream_from_key(built.stream_of_vehicle[route.vehicle_id]),
            distance_meters=route.distance_m,
            duration=to_duration(route.duration_s),
        )
        collected = 0.0
        for visit in route.visits:
            rest = visit.kind is routing.VisitKind.BREAK and visit.ref_id == routing.REST
            item = out.visits.add(
                kind=planning_pb2.VISIT_KIND_REST if rest else _VISIT_KINDS[visit.kind],
                arrival_time=to_timestamp(_at(data.service_date, data.timezone, visit.arrival_s)),
                start_time=to_timestamp(_at(data.service_date, data.timezone, visit.start_s)),
                end_time=to_timestamp(_at(data.service_date, data.timezone, visit.end_s)),
                load_liters=visit.load_l,
                load_kg=visit.load_kg,
                distance_meters=visit.distance_from_prev_m,
            )
            location: routing.Location | None = None
            if visit.kind is routing.VisitKind.STOP:
                members = built.containers_of_stop[visit.ref_id]
                item.containers.extend(
                    resource_name(data.tenant, "containers", m.container.id) for m in members
                )
                item.expected_fill = max(m.fill for m in members)
                location = stops[visit.ref_id].location
                out.container_count += len(members)
                collected += stops[visit.ref_id].volume_l
            elif visit.kind is routing.VisitKind.FACILITY:
                item.site = resource_name(data.tenant, "facilities", visit.ref_id)
                location = locations[visit.ref_id]
            elif visit.kind in (routing.VisitKind.DEPOT_START, routing.VisitKind.DEPOT_END):
                item.site = resource_name(data.tenant, "depots", visit.ref_id)
                location = locations[visit.ref_id]
            if location is not None:
                item.location.CopyFrom(latlng_pb2.LatLng(latitude=location.lat, longitude=location.lng))
        out.collected_liters = collected

    for skipped in solution.skipped:
        for member in built.containers_of_stop[skipped.stop_id]:
            plan.skipped.add(
                container=resource_name(data.tenant, "containers", member.container.id),
                reason=_SKIP_REASONS[skipped.reason],
                detail=skipped.detail,
            )
    for member in built.unassigned:
        plan.skipped.add(
            container=resource_name(data.tenant, "containers", member.container.id),
            reason=planning_pb2.SKIP_REASON_NO_VEHICLE_FOR_STREAM,
            detail=(
                f"no available vehicle carries {member.container.stream}"
                + (
                    f" with {member.container.required_equipment}"
                    if member.container.required_equipment
                    else ""
                )
            ),
        )
    for vehicle_id, reason in built.left_out_vehicles:
        plan.skipped_vehicles.add(vehicle=resource_name(data.tenant, "vehicles", vehicle_id), reason=reason)
    totals = plan.totals
    totals.vehicle_count = len(plan.routes)
    totals.container_count = sum(r.container_count for r in plan.routes)
    totals.skipped_count = len(plan.skipped)
    totals.distance_meters = sum(r.distance_meters for r in plan.routes)
    totals.duration.CopyFrom(to_duration(sum(r.duration.ToTimedelta().total_seconds() for r in plan.routes)))
    totals.collected_liters = sum(r.collected_liters for r in plan.routes)
    return plan
