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
from wastesvc.domain.parking import ParkingEffect
from wastesvc.fill import Finding, Forecast, SelectionPolicy
from wastesvc.scenario import load_default
from wastesvc.storage import ContainerRow, DepotRow, FacilityRow, VehicleRow
from wastesvc.v1 import planning_pb2

__all__ = [
    "DENSITY_KG_PER_L",
    "PRE_DEPARTURE_CHECK_S",
    "PlanningInput",
    "Selection",
    "api_violations",
    "build_problem",
    "initial_stops",
    "solution_to_plan",
]

# The crew's walk-around check of the truck (lights, tyres, lifting gear) before it leaves the depot.
PRE_DEPARTURE_CHECK_S = 15 * 60

# Bulk density of each stream as found in a container (kg per litre of container volume): the scenario's
# documented figures (wastesvc/scenario/SOURCES.md), the one source of densities.
DENSITY_KG_PER_L = {s.id: s.density_kg_per_l for s in load_default().streams}
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
    """A container chosen for collection, with what it is expected to hold at the service time and why.

    An optional one (`required` False) is worth `prize` cost units to the round that passes by.
    """

    container: ContainerRow
    fill: float
    reason: str
    required: bool = True
    prize: float = 0.0
    forecast: Forecast | None = None


@dataclass(frozen=True)
class PlanningInput:
    """Everything the plan is made from, read from storage in one go."""

    tenant: str
    service_date: date
    timezone: ZoneInfo
    containers: Sequence[ContainerRow]
    forecasts: Mapping[str, Forecast]  # by container id
    vehicles: Sequence[VehicleRow]
    depots: Mapping[str, DepotRow]
    facilities: Sequence[FacilityRow]
    streams: frozenset[str]
    fill_threshold: float  # 0: the policy alone decides
    max_days_without_emptying: int  # 0: each stream's figure from the scenario
    # Containers with an open overflow report: mandatory visits, whatever their sensor says.
    reported_overflowing: frozenset[str] = frozenset()
    # Active fire and tilt alarms, by container id: mandatory visits too.
    alarms: Mapping[str, Sequence[Finding]] = field(default_factory=dict)
    # The tenant's selection policy; None: the service's defaults.
    policy: SelectionPolicy | None = None
    # Street parking pressure by container id (wastesvc.domain.parking); empty: no effect.
    parking: Mapping[str, ParkingEffect] = field(default_factory=dict)


@dataclass
class BuiltProblem:
    """The routing problem and the way back from its stops to containers."""

    tenant: str
    problem: routing.Problem
    containers_of_stop: dict[str, list[Selection]]
    unassigned: list[Selection] = field(default_factory=list)
    # (vehicle id, reason) of the vehicles whose stored settings cannot drive; left out of the day.
    left_out_vehicles: list[tuple[str, str]] = field(default_factory=list)


def _compartments(vehicle: VehicleRow, carried: frozenset[str]) -> tuple[routing.Compartment, ...]:
    """The vehicle's compartments for the streams of the day (one that carries none of them is left out)."""
    out = []
    for streams, litres, kilos in json.loads(vehicle.compartments):
        mine = frozenset(streams.split(",")) & carried
        if mine:
            out.append(routing.Compartment(mine, float(litres), float(kilos)))
    return tuple(out)


def _carried(vehicle: VehicleRow, demand: Mapping[str, float]) -> frozenset[str]:
    """The streams of the day a vehicle may collect: the solver picks one per disposal trip."""
    return frozenset(s for s in vehicle.streams.split(",") if demand.get(s, 0.0) > 0)


def _departure(vehicle: VehicleRow) -> int:
    """When the truck leaves: after the crew's pre-departure check, within the shift."""
    return min(vehicle.shift_start_s + PRE_DEPARTURE_CHECK_S, vehicle.shift_end_s)


def build_problem(
    data: PlanningInput,
    selected: Sequence[Selection],
    *,
    driving_rule: routing.DrivingRule | None = None,
    cost_per_vehicle: float = 0.0,
) -> BuiltProblem:
    """The routing problem of the day: one stop per isle and stream, one stream per disposal trip.

    `driving_rule`, when given, applies to every crew; `cost_per_vehicle` is each truck's fixed cost.
    """
    demand: dict[str, float] = defaultdict(float)
    for s in selected:
        demand[s.container.stream] += s.container.volume_l * s.fill
    usable, left_out = _usable_vehicles(data, driving_rule)
    data = dataclasses.replace(data, vehicles=usable)
    streams_of_vehicle = {v.id: _carried(v, demand) for v in data.vehicles if _carried(v, demand)}
    carried = set().union(*streams_of_vehicle.values())
    equipped: dict[str, list[set[str]]] = defaultdict(list)
    for v in data.vehicles:
        for stream in streams_of_vehicle.get(v.id, ()):
            equipped[stream].append({e for e in v.equipment.split(",") if e})

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
        windows = data.parking.get(c.id, ParkingEffect()).windows(c.access_windows)
        groups[(spot, c.stream, windows, c.required_equipment)].append(s)

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
                service_s=sum(
                    m.container.service_s + data.parking.get(m.container.id, ParkingEffect()).extra_service_s
                    for m in members
                ),
                time_windows=tuple(routing.TimeWindow(a, b) for a, b in json.loads(windows)),
                required=any(m.required for m in members),
                prize=sum(m.prize for m in members),
                container_ids=tuple(m.container.id for m in members),
                required_skills=frozenset(e for e in equipment.split(",") if e),
            )
        )
        containers_of_stop[stop_id] = members

    vehicles = [
        _routing_vehicle(v, streams_of_vehicle[v.id], driving_rule, cost_per_vehicle)
        for v in data.vehicles
        if v.id in streams_of_vehicle
    ]
    used_depots = {v.home_depot for v in data.vehicles if v.id in streams_of_vehicle}
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
    return BuiltProblem(data.tenant, problem, containers_of_stop, unassigned, left_out)


def _trip_streams(route: routing.Route, stops: Mapping[str, routing.Stop]) -> list[str]:
    """The stream of each trip of a route in order, consecutive trips of one stream counted once."""
    streams: list[str] = []
    for visit in route.visits:
        if visit.kind is routing.VisitKind.STOP and (
            not streams or streams[-1] != stops[visit.ref_id].stream
        ):
            streams.append(stops[visit.ref_id].stream)
    return streams


def _routing_vehicle(
    v: VehicleRow,
    streams: frozenset[str],
    driving_rule: routing.DrivingRule | None,
    cost_per_vehicle: float = 0.0,
) -> routing.Vehicle:
    lunch = routing.Break(v.break_start_s, v.break_end_s, v.break_s) if v.break_s else None
    return routing.Vehicle(
        id=v.id,
        capacity_l=float(v.capacity_l),
        capacity_kg=float(v.capacity_kg),
        streams=streams,
        start_depot=v.home_depot,
        end_depot=v.home_depot,
        shift=routing.TimeWindow(_departure(v), v.shift_end_s),
        # The crew clocks in at shift start, checks the truck and goes out then (waiting, if need be,
        # at the first stop); a later start would only dodge the lunch break.
        latest_departure_s=_departure(v),
        driving_rule=driving_rule,
        cost_per_km=v.cost_per_km,
        cost_per_hour=v.cost_per_hour,
        fixed_cost=cost_per_vehicle,
        compartments=_compartments(v, streams),
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
    facilities = tuple(
        routing.Facility(
            id=f.id,
            location=routing.Location(f.lat, f.lng),
            streams=frozenset(f.streams.split(",")),
            opening=routing.TimeWindow(f.open_s, f.close_s),
            dump_s=f.dump_s,
        )
        for f in data.facilities
    )
    for v in data.vehicles:
        depot = data.depots.get(v.home_depot)
        alone = routing.Problem(
            stops=(),
            vehicles=(_routing_vehicle(v, frozenset(v.streams.split(",")), driving_rule),),
            depots=(routing.Depot(depot.id, routing.Location(depot.lat, depot.lng)),) if depot else (),
            # The day's facilities: a compartmented body is checked against where it can dump.
            facilities=facilities,
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
        trip_streams = _trip_streams(route, stops)
        out = plan.routes.add(
            vehicle=resource_name(data.tenant, "vehicles", route.vehicle_id),
            stream=stream_from_key(trip_streams[0]) if trip_streams else 0,
            distance_meters=route.distance_m,
            duration=to_duration(route.duration_s),
            streams=[stream_from_key(s) for s in trip_streams],
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
                compartment_load_liters=visit.compartment_loads_l,
            )
            location: routing.Location | None = None
            if visit.kind is routing.VisitKind.STOP:
                members = built.containers_of_stop[visit.ref_id]
                item.containers.extend(
                    resource_name(data.tenant, "containers", m.container.id) for m in members
                )
                item.expected_fill = max(m.fill for m in members)
                arrival = _at(data.service_date, data.timezone, visit.arrival_s)
                item.predicted_fills.extend(
                    m.forecast.fill_at(arrival) if m.forecast is not None else m.fill for m in members
                )
                item.selection_reasons.extend(m.reason for m in members)
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


def initial_stops(
    built: BuiltProblem, routes: Sequence[planning_pb2.InitialRoute]
) -> tuple[dict[str, list[str]], list[str]]:
    """A client's initial routes as the solver's stop ids per vehicle, and notes on what was left aside
    (a container not selected today, a truck not in the day's fleet)."""
    stop_of = {m.container.id: stop for stop, members in built.containers_of_stop.items() for m in members}
    vehicles = {v.id for v in built.problem.vehicles}
    initial: dict[str, list[str]] = {}
    notes: list[str] = []
    for route in routes:
        vehicle_id = route.vehicle.rsplit("/", 1)[-1]
        if vehicle_id not in vehicles:
            notes.append(f"initial route of {route.vehicle} left aside: the truck is not in today's fleet")
            continue
        stops = initial.setdefault(vehicle_id, [])
        for name in route.containers:
            stop = stop_of.get(name.rsplit("/", 1)[-1])
            if stop is None:
                notes.append(f"{name} in the initial route of {route.vehicle} is not selected today")
            elif stop not in stops:
                stops.append(stop)
    return initial, notes
