"""A warm start for the OR-Tools search: PyVRP 0.14 on a relaxation of the problem.

PyVRP has native disposal trips (facilities as reload depots) and searches much better than OR-Tools'
guided local search at equal time, but it has no breaks, no daily volume cap and no stop limit. So it
plans a relaxation, and a cheap walk through each vehicle's day then puts back what it cannot know (the
lunch, the rests of a driving rule, the caps, several windows per stop) by leaving out the visits that
break them, and tries the mandatory stops so left out again where they fit best; the OR-Tools search that
starts from these routes carries the full model and inserts what is still missing.

The relaxation, per stream (a truck body is not compartmented, so a trip carries one stream; in the
relaxation a vehicle carrying several is given to the stream that needs capacity most, and the streams are
solved one after the other within the budget; the repair may then add trips of its other streams; a
compartmented vehicle is left out, for the OR-Tools search to give it work):

* clients are the stops, with litres, kilograms and one unit per required skill as load dimensions (a
  vehicle lacking the skill has no room for it), the widest of their windows and their release time;
  optional stops earn their prize;
* facilities are reload depots with their opening hours and dump time; "end empty" is a virtual end depot
  whose incoming arc from stop `i` costs the best `d(i, F) + dump + d(F, garage)` over the facilities `F`
  that take the stream (REFERENCE §2); that `F` is put back on the route afterwards;
* the daily volume cap becomes a per-trip capacity and a trip limit (`ceil(cap / capacity)` trips of
  `cap / trips` litres), so that no plan the relaxation returns breaks it; the stop limit is split over
  those trips the same way; the lunch shortens the shift and the day by its duration.
"""

# What the warm start gains at equal time, and the variants tried and dropped (time share, first
# solution, neighbours, cost scale, stop limit, over-full days): bench/NOTES.md, "Warm start" and
# "PyVRP relaxation".

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyvrp
from pyvrp.exceptions import PenaltyBoundWarning
from pyvrp.search import (
    OPERATORS,
    LocalSearch,
    NeighbourhoodParams,
    PerturbationManager,
    PerturbationParams,
    compute_neighbours,
)

from routing._matrix import Matrix
from routing._model import LUNCH, REST, Problem, Route, Stop, TimeWindow, Vehicle, Visit, VisitKind
from routing._validate import can_carry

__all__ = ["REPAIR_S", "Day", "can_serve", "refs_of", "relaxed_plan", "relaxed_routes"]

# Litres and kilograms to integers as in the OR-Tools model: demands rounded up, capacities down.
_LOAD_SCALE = 100
# PyVRP costs are integers: the dearest vehicle pays this much per metre, every other cost in proportion.
# Small, because PyVRP's penalties for excess load and time warp start at 50 000 per unit and are capped:
# at a large cost per metre the fixed cost of a vehicle outweighs any penalty and the search keeps one
# vehicle, overloaded (bench/NOTES.md, "PyVRP relaxation").
_COST_PER_METRE = 10
_MAX_COST_SCALE = 1_000_000
# Penalties may rise a hundred times above PyVRP's cap so that a costly fleet cannot buy infeasibility.
_MAX_PENALTY = 10_000_000.0
# And may fall as low, against distance, as PyVRP's own floor (0.1 per unit of load where a unit of
# distance costs 1): at 0.1 per hundredth of a litre, excess load stayed ten times dearer and the search
# explored overloaded trips too little on multi-trip days (bench/NOTES.md, "PyVRP relaxation").
_MIN_PENALTY = 0.1 * _COST_PER_METRE / _LOAD_SCALE
# Past this many clients, a new best is not polished by an exhaustive local search: on large days one
# such pass takes all of a warm-start budget (bench/NOTES.md, "PyVRP relaxation").
_EXHAUSTIVE_MAX_CLIENTS = 500


def relaxed_routes(
    problem: Problem,
    *,
    time_limit_s: float,
    seed: int = 0,
    matrix: Matrix | None = None,
    max_trips: Mapping[str, int] | None = None,
) -> dict[str, list[str]] | None:
    """Vehicle id to the stop and facility ids of its day, from PyVRP on the relaxed problem.

    What `SolveOptions.initial_routes` takes; the sequences of the routes `relaxed_plan` returns.
    None when there is nothing to plan.
    """
    routes = relaxed_plan(problem, time_limit_s=time_limit_s, seed=seed, matrix=matrix, max_trips=max_trips)
    kinds = (VisitKind.STOP, VisitKind.FACILITY)
    return {r.vehicle_id: [x.ref_id for x in r.visits if x.kind in kinds] for r in routes} or None


def relaxed_plan(
    problem: Problem,
    *,
    time_limit_s: float,
    seed: int = 0,
    matrix: Matrix | None = None,
    max_trips: Mapping[str, int] | None = None,
) -> list[Route]:
    """The days PyVRP plans on the relaxed problem, driven as early as possible with the lunch put back.

    Every route ends with a dump and keeps each trip within capacity and each day within the vehicle's
    caps, shift, lunch and facility hours; stops that do not fit are left out (and optional stops PyVRP
    found not worth it), so that the routes pass `routing.check`. `matrix` saves asking the problem's
    provider again; `max_trips` bounds the trips (dumps) of the vehicles it names. Used vehicles only,
    in problem order.

    The search runs until `time_limit_s`, except that building PyVRP's neighbourhoods and its first
    solution is not interruptible (seconds on large days: bench/NOTES.md, "PyVRP relaxation").
    """
    deadline = time.monotonic() + time_limit_s
    if matrix is None:
        matrix = problem.matrix.matrix(problem.locations())
    groups = _stream_groups(problem, max_trips)
    sequences: dict[str, list[str]] = {}
    remaining = sum(len(g.stops) for g in groups)
    for group in sorted(groups, key=lambda g: -len(g.stops)):
        share = (deadline - time.monotonic()) * len(group.stops) / remaining
        remaining -= len(group.stops)
        relaxation = _relaxation(problem, matrix, group, max_trips)
        if relaxation is None:
            continue
        solution = _search(relaxation.data, share, seed, relaxation.must)
        sequences.update(relaxation.sequences(problem, solution))
    routes: dict[str, Route] = {}
    for vehicle in problem.vehicles:
        if vehicle.id in sequences:
            limit = None if max_trips is None else max_trips.get(vehicle.id)
            route = Day(problem, matrix, vehicle, limit).walk(sequences[vehicle.id])
            if route is not None:
                routes[vehicle.id] = route
    # The walk itself ends past the deadline on a large day: the repair's time counts from where it
    # starts, or a stop the walk left out may never be tried again (bench/NOTES.md, "PyVRP relaxation").
    _put_back(problem, matrix, routes, max_trips, until=max(deadline, time.monotonic()) + REPAIR_S)
    return [routes[v.id] for v in problem.vehicles if v.id in routes]


# How long `relaxed_plan` may spend putting back mandatory stops the walk left out, past its time limit
# or past the end of the walk when that comes later.
REPAIR_S = 0.25
# Where to try such a stop: next to this many of the nearest stops served.
_REPAIR_NEAREST = 8


def _put_back(
    problem: Problem,
    matrix: Matrix,
    routes: dict[str, Route],
    max_trips: Mapping[str, int] | None,
    *,
    until: float,
) -> None:
    """Put mandatory stops the walk left out back into `routes`, each where it adds the least distance.

    The walk drops a stop whose window, after the lunch it puts back, can no longer be met, and then the
    plan misses a mandatory stop: OR-Tools' local search rarely repairs that on a large day, as one
    move cannot add a stop and the dump after it on an idle truck (bench/NOTES.md, "PyVRP relaxation").
    Each such stop is tried before and after the served stops nearest to it, keeping a try only when the
    walk still serves everything else, then as a trip of its own at the end of each day that can take it
    (a truck given to another stream by the relaxation may still carry this one) or on an idle vehicle.
    """
    served = {x.ref_id for route in routes.values() for x in route.visits if x.kind is VisitKind.STOP}
    n_fixed = len(problem.depots) + len(problem.facilities)
    row = {s.id: n_fixed + i for i, s in enumerate(problem.stops)}
    vehicles = {v.id: v for v in problem.vehicles}
    for stop in problem.stops:
        if time.monotonic() > until:
            return
        if not stop.required or stop.id in served:
            continue
        fit = [v for v in problem.vehicles if not v.compartments and can_serve(v, stop)]
        if not fit:
            continue
        near = sorted(served, key=lambda ref: int(matrix.distances_m[row[ref], row[stop.id]]))
        tries: list[tuple[str, list[str]]] = []
        for ref in near[:_REPAIR_NEAREST]:
            vid = next(v for v, route in routes.items() if any(x.ref_id == ref for x in route.visits))
            refs = refs_of(routes[vid])
            at = refs.index(ref)
            tries += [(vid, [*refs[:k], stop.id, *refs[k:]]) for k in (at, at + 1)]
        # A trip of its own at the end of a day, on a truck that may already have other streams' trips.
        tries += [
            (v.id, [*refs_of(routes[v.id]), stop.id]) if v.id in routes else (v.id, [stop.id]) for v in fit
        ]
        best: tuple[int, str, Route] | None = None
        for vid, refs in tries:
            if vid not in (v.id for v in fit):
                continue
            vehicle = vehicles[vid]
            limit = None if max_trips is None else max_trips.get(vid)
            route = Day(problem, matrix, vehicle, limit).walk(refs)
            kept = set() if route is None else {x.ref_id for x in route.visits if x.kind is VisitKind.STOP}
            before = routes.get(vid)
            wanted = {stop.id} | (
                set() if before is None else {x.ref_id for x in before.visits if x.kind is VisitKind.STOP}
            )
            if route is None or kept != wanted:
                continue
            added = route.distance_m - (0 if before is None else before.distance_m)
            if best is None or added < best[0]:
                best = (added, vid, route)
        if best is not None:
            routes[best[1]] = best[2]
            served.add(stop.id)


def refs_of(route: Route) -> list[str]:
    """The stop and facility ids of a route, in order."""
    return [x.ref_id for x in route.visits if x.kind in (VisitKind.STOP, VisitKind.FACILITY)]


# --------------------------------------------------------------------------------------------------------
# Who serves what


def _windows(stop: Stop, vehicle: Vehicle) -> list[TimeWindow]:
    """When `vehicle` may start serving `stop`: its merged windows within the shift, from its release."""
    merged: list[TimeWindow] = []
    for w in sorted(stop.time_windows or (vehicle.shift,), key=lambda w: w.start_s):
        if merged and w.start_s <= merged[-1].end_s + 1:
            merged[-1] = TimeWindow(merged[-1].start_s, max(merged[-1].end_s, w.end_s))
        else:
            merged.append(w)
    start = max(vehicle.shift.start_s, stop.release_s)
    return [
        TimeWindow(max(w.start_s, start), min(w.end_s, vehicle.shift.end_s))
        for w in merged
        if max(w.start_s, start) <= min(w.end_s, vehicle.shift.end_s)
    ]


def _representatives(vehicles: Sequence[Vehicle]) -> list[Vehicle]:
    """One vehicle per set of what `can_serve` and `_windows` read, to ask them once per set."""
    seen: dict[tuple[object, ...], Vehicle] = {}
    for v in vehicles:
        seen.setdefault((v.streams, v.skills, v.capacity_l, v.capacity_kg, v.shift), v)
    return list(seen.values())


def can_serve(vehicle: Vehicle, stop: Stop) -> bool:
    """`can_carry`, and some window of the stop lies within the vehicle's shift."""
    return can_carry(vehicle, stop) and bool(_windows(stop, vehicle))


@dataclass(slots=True)
class _Group:
    """The stops of one stream and the vehicles given to it."""

    stream: str
    stops: list[int] = field(default_factory=list)
    vehicles: list[int] = field(default_factory=list)


def _stream_groups(problem: Problem, max_trips: Mapping[str, int] | None) -> list[_Group]:
    """One group per stream; a vehicle carrying several joins the one with most demand per fleet litre."""
    demand: dict[str, float] = defaultdict(float)
    for stop in problem.stops:
        demand[stop.stream] += stop.volume_l
    groups = {stream: _Group(stream) for stream in sorted(demand)}
    fleet: dict[str, float] = defaultdict(float)
    shared: list[int] = []
    for k, vehicle in enumerate(problem.vehicles):
        if max_trips is not None and max_trips.get(vehicle.id, 1) < 1:
            continue  # no dump, no route
        if vehicle.compartments:
            continue  # not in the relaxation: OR-Tools gives it its work
        mine = sorted(vehicle.streams & groups.keys())
        if len(mine) == 1:
            groups[mine[0]].vehicles.append(k)
            fleet[mine[0]] += _daily_litres(vehicle)
        elif mine:
            shared.append(k)
    for k in shared:
        vehicle = problem.vehicles[k]
        stream = max(sorted(vehicle.streams & groups.keys()), key=lambda s: demand[s] / (1 + fleet[s]))
        groups[stream].vehicles.append(k)
        fleet[stream] += _daily_litres(vehicle)
    kinds = {s: _representatives([problem.vehicles[k] for k in g.vehicles]) for s, g in groups.items()}
    for i, stop in enumerate(problem.stops):
        if any(can_serve(v, stop) for v in kinds[stop.stream]):
            groups[stop.stream].stops.append(i)
    return [g for g in groups.values() if g.stops]


def _daily_litres(vehicle: Vehicle) -> float:
    """A rough day's collection: the daily cap, else three loads."""
    return vehicle.route_volume_cap_l if vehicle.route_volume_cap_l is not None else 3 * vehicle.capacity_l


# --------------------------------------------------------------------------------------------------------
# The PyVRP model


@dataclass(frozen=True, slots=True)
class _Relaxation:
    """PyVRP data for one stream group, and the way back to problem ids."""

    data: pyvrp.ProblemData
    type_vehicles: list[list[int]]  # vehicle type -> problem vehicle indices
    client_stop: list[int]  # client -> problem stop index
    reload_facility: dict[int, int]  # PyVRP depot -> problem facility index
    home_via: dict[int, npt.NDArray[np.intp]]  # virtual end depot -> per location, facility on the way
    must: int  # more than serving any one stop can cost

    def sequences(self, problem: Problem, solution: pyvrp.Solution) -> dict[str, list[str]]:
        """Each route as stop and facility ids, the dump on the way home put back."""
        free = [list(vs) for vs in self.type_vehicles]
        out: dict[str, list[str]] = {}
        n_depots = self.data.num_depots
        for route in solution.routes():
            vehicle = problem.vehicles[free[route.vehicle_type()].pop(0)]
            refs: list[str] = []
            last = -1  # location of the last client since the last dump
            for activity in list(route)[1:-1]:
                if activity.is_client():
                    refs.append(problem.stops[self.client_stop[activity.idx]].id)
                    last = n_depots + activity.idx
                elif activity.is_depot():
                    refs.append(problem.facilities[self.reload_facility[activity.idx]].id)
                    last = -1
            if last >= 0:
                refs.append(problem.facilities[int(self.home_via[route.end_depot()][last])].id)
            out[vehicle.id] = refs
        return out


def _cost_scale(problem: Problem) -> float:
    rate = max(v.cost_per_km for v in problem.vehicles) / 1000
    return _MAX_COST_SCALE if rate <= 0 else min(_MAX_COST_SCALE, _COST_PER_METRE / rate)


def _breaks_s(vehicle: Vehicle) -> int:
    """The breaks a day spanning the whole shift owes: its lunch, and the rests of the driving rule."""
    lunch, rule = vehicle.lunch, vehicle.driving_rule
    owed = 0
    if lunch is not None and lunch.latest_start_s < vehicle.shift.end_s:
        owed = lunch.duration_s if vehicle.shift.start_s < lunch.earliest_start_s + lunch.duration_s else 0
    if rule is not None:
        length = vehicle.shift.end_s - vehicle.shift.start_s
        rests = -(-length // (rule.max_driving_s + rule.break_s)) - 1
        if owed >= rule.break_s:
            rests -= 1  # the lunch is one of them
        owed += max(0, rests) * rule.break_s
    return owed


def _trips(
    vehicle: Vehicle, max_trips: Mapping[str, int] | None, stops: Sequence[Stop]
) -> tuple[int | None, int | None]:
    """How many trips the relaxation allows, and over how many the daily caps are split (None: no bound).

    PyVRP's loads restart at each reload, so a daily cap is a per-trip cap over a bounded number of
    trips: as many as the day's collection needs, that is the volume cap, or the stop limit's worth of
    average stops if smaller; each trip takes its share of both caps. Never more than `max_trips` says,
    a bound that alone splits nothing (15 stops over the 7 trips a vehicle might make would allow 2 a
    trip).
    """
    limit = None if max_trips is None else max_trips.get(vehicle.id)
    days = []  # what a day can collect, in loads
    if vehicle.route_volume_cap_l is not None:
        days.append(vehicle.route_volume_cap_l / vehicle.capacity_l)
    if vehicle.max_stops is not None and stops:
        litres = sum(s.volume_l for s in stops) / len(stops) / vehicle.capacity_l
        kilos = sum(s.weight_kg for s in stops) / len(stops) / vehicle.capacity_kg
        days.append(vehicle.max_stops * max(litres, kilos))
    if not days:
        return limit, None
    split = max(1, math.ceil(min(days) - 1e-9))
    if limit is not None:
        split = max(1, min(split, limit))
    return split, split


def _relaxation(
    problem: Problem, matrix: Matrix, group: _Group, max_trips: Mapping[str, int] | None
) -> _Relaxation | None:
    vehicles = [problem.vehicles[k] for k in group.vehicles]
    stops = [problem.stops[i] for i in group.stops]
    depot_index = {d.id: j for j, d in enumerate(problem.depots)}
    n_depots, n_facilities = len(problem.depots), len(problem.facilities)
    facilities = [f for f, fac in enumerate(problem.facilities) if group.stream in fac.streams]
    if not facilities:
        return None
    real = sorted(
        {depot_index[v.start_depot] for v in vehicles} | {depot_index[v.end_depot] for v in vehicles}
    )
    ends = sorted({depot_index[v.end_depot] for v in vehicles})
    n_real, n_ends, n_fac = len(real), len(ends), len(facilities)
    fac_rows = np.array([n_depots + f for f in facilities], dtype=np.intp)
    rows = np.array(
        [*real, *ends, *fac_rows, *(n_depots + n_facilities + i for i in group.stops)], dtype=np.intp
    )
    distances = matrix.distances_m[np.ix_(rows, rows)]
    durations = matrix.durations_s[np.ix_(rows, rows)]
    dump = np.array([problem.facilities[f].dump_s for f in facilities], dtype=np.int64)
    home_via: dict[int, npt.NDArray[np.intp]] = {}
    everywhere = np.arange(len(rows))
    emptied = np.arange(n_real + n_ends + n_fac)  # depots and facilities: nothing on board
    for j, garage in enumerate(ends):
        col = n_real + j
        via = matrix.distances_m[np.ix_(rows, fac_rows)] + matrix.distances_m[fac_rows, garage][None, :]
        choice = via.argmin(axis=1)
        chosen = fac_rows[choice]
        distances[:, col] = via[everywhere, choice]
        durations[:, col] = (
            matrix.durations_s[rows, chosen] + dump[choice] + matrix.durations_s[chosen, garage]
        )
        distances[emptied, col] = matrix.distances_m[rows[emptied], garage]
        durations[emptied, col] = matrix.durations_s[rows[emptied], garage]
        home_via[col] = np.array(facilities, dtype=np.intp)[choice]

    horizon = max(v.shift.end_s for v in vehicles)
    places = problem.locations()
    locations = [pyvrp.Location(x=places[r].lng, y=places[r].lat) for r in rows]
    depots = [pyvrp.Depot(location=j, tw_early=0, tw_late=horizon) for j in range(n_real + n_ends)]
    reload_facility: dict[int, int] = {}
    for j, f in enumerate(facilities):
        facility = problem.facilities[f]
        reload_facility[len(depots)] = f
        depots.append(
            pyvrp.Depot(
                location=n_real + n_ends + j,
                tw_early=facility.opening.start_s,
                tw_late=facility.opening.end_s,
                service_duration=facility.dump_s,
            )
        )

    scale = _cost_scale(problem)
    skills = sorted({skill for s in stops for skill in s.required_skills})
    weighed = any(s.weight_kg for s in stops)
    limited = any(v.max_stops is not None for v in vehicles)
    clients: list[pyvrp.Client] = []
    kinds = _representatives(vehicles)
    for stop in stops:
        windows = [w for v in kinds if can_serve(v, stop) for w in _windows(stop, v)]
        widest = max(windows, key=lambda w: (w.end_s - w.start_s, -w.start_s))
        pickup = [math.ceil(stop.volume_l * _LOAD_SCALE)]
        if weighed:
            pickup.append(math.ceil(stop.weight_kg * _LOAD_SCALE))
        pickup += [int(skill in stop.required_skills) for skill in skills]
        if limited:
            pickup.append(1)
        clients.append(
            pyvrp.Client(
                location=n_real + n_ends + n_fac + len(clients),
                delivery=[0] * len(pickup),
                pickup=pickup,
                service_duration=stop.service_s,
                tw_early=widest.start_s,
                tw_late=widest.end_s,
                release_time=stop.release_s,
                prize=round(stop.prize * scale),
                required=stop.required,
            )
        )

    biggest = max(math.ceil(s.volume_l * _LOAD_SCALE) for s in stops)
    types: dict[tuple[object, ...], list[int]] = {}
    specs: dict[tuple[object, ...], pyvrp.VehicleType] = {}
    for k, vehicle in zip(group.vehicles, vehicles, strict=True):
        trips, split = _trips(vehicle, max_trips, stops)
        litres = math.floor(vehicle.capacity_l * _LOAD_SCALE)
        if vehicle.route_volume_cap_l is not None and split is not None:
            per_trip = math.floor(vehicle.route_volume_cap_l * _LOAD_SCALE / split)
            litres = max(min(litres, per_trip), min(litres, biggest))
        capacity = [litres]
        if weighed:
            capacity.append(math.floor(vehicle.capacity_kg * _LOAD_SCALE))
        capacity += [len(stops) if skill in vehicle.skills else 0 for skill in skills]
        if limited:
            per_trip_stops = len(stops)
            if vehicle.max_stops is not None and split is not None:
                per_trip_stops = max(1, vehicle.max_stops // split)
            capacity.append(per_trip_stops)
        lunch = _breaks_s(vehicle)
        reloads = [
            d
            for d, f in reload_facility.items()
            if problem.facilities[f].opening.start_s <= vehicle.shift.end_s
            and vehicle.shift.start_s <= problem.facilities[f].opening.end_s
        ]
        spec: dict[str, object] = {
            "capacity": capacity,
            "start_depot": real.index(depot_index[vehicle.start_depot]),
            "end_depot": n_real + ends.index(depot_index[vehicle.end_depot]),
            "fixed_cost": round(vehicle.fixed_cost * scale),
            "tw_early": vehicle.shift.start_s,
            "tw_late": max(vehicle.shift.start_s, vehicle.shift.end_s - lunch),
            "start_late": vehicle.latest_departure_s,
            "unit_distance_cost": round(vehicle.cost_per_km / 1000 * scale),
            "unit_duration_cost": round(vehicle.cost_per_hour / 3600 * scale),
            "reload_depots": reloads,
        }
        if trips is not None:
            spec["max_reloads"] = trips - 1
        overtime = vehicle.overtime_after_s is not None and vehicle.overtime_cost_per_hour > 0
        if overtime:
            assert vehicle.overtime_after_s is not None
            spec["shift_duration"] = max(0, vehicle.overtime_after_s - lunch)
            longest = vehicle.max_duration_s if vehicle.max_duration_s is not None else horizon
            spec["max_overtime"] = max(0, longest - vehicle.overtime_after_s)
            spec["unit_overtime_cost"] = round(vehicle.overtime_cost_per_hour / 3600 * scale)
        elif vehicle.max_duration_s is not None:
            spec["shift_duration"] = max(0, vehicle.max_duration_s - lunch)
        key = tuple(sorted((name, repr(value)) for name, value in spec.items()))
        if key not in types:
            types[key] = []
            specs[key] = pyvrp.VehicleType(**spec)  # type: ignore[arg-type]
        types[key].append(k)
    vehicle_types = [specs[key].replace(num_available=len(ks)) for key, ks in types.items()]
    matrices: list[npt.NDArray[np.int64]] = [distances]
    times: list[npt.NDArray[np.int64]] = [durations]
    data = pyvrp.ProblemData(locations, clients, depots, vehicle_types, matrices, times)  # type: ignore[arg-type]
    dearest = max(v.cost_per_km for v in vehicles) / 1000 * scale
    hourly = max(v.cost_per_hour + v.overtime_cost_per_hour for v in vehicles) / 3600 * scale
    fixed = max(v.fixed_cost for v in vehicles) * scale
    must = math.ceil(2 * (4 * int(distances.max(initial=0)) * dearest + horizon * hourly + fixed)) + 1
    return _Relaxation(data, list(types.values()), list(group.stops), reload_facility, home_via, must)


def _search(data: pyvrp.ProblemData, seconds: float, seed: int, must: int) -> pyvrp.Solution:
    """PyVRP's iterated local search for `seconds`, from its local search on an empty solution.

    `pyvrp.solve` starts from a random solution improved by an exhaustive local search, which on large
    days takes several times longer than letting the local search insert the stops itself, for a worse
    plan (bench/NOTES.md, "PyVRP relaxation").

    PyVRP must serve every required stop, so on a day with more mandatory work than the fleet can do it
    only finds overloaded or late plans, and the walk would then cut them blindly. So when half the time
    has gone by without a feasible plan, the rest goes to the same problem with every stop optional, the
    mandatory ones earning `must` (more than serving any one stop can cost), from the best plan so far:
    the search then chooses what to leave out, and serves more than the walk keeps of an overloaded plan
    (bench/NOTES.md, "PyVRP relaxation").
    """
    started = time.monotonic()
    rng = pyvrp.RandomNumberGenerator(seed=seed)
    neighbours = compute_neighbours(data, NeighbourhoodParams())
    search = _local_search(data, rng, neighbours)
    params = pyvrp.PenaltyParams(min_penalty=_MIN_PENALTY, max_penalty=_MAX_PENALTY)
    penalties = pyvrp.PenaltyManager(pyvrp.PenaltyParams().midpoint_penalties(data), params)
    best = search(pyvrp.Solution(data, []), penalties.max_cost_evaluator(), exhaustive=False)
    with warnings.catch_warnings():
        # Raised when the relaxation has no feasible plan: the second phase is there for that.
        warnings.simplefilter("ignore", PenaltyBoundWarning)
        best = _iterate(data, penalties, search, best, _Until(started + seconds, started + seconds / 2))
        if best.is_feasible() or time.monotonic() >= started + seconds:
            return best
        clients = [
            pyvrp.Client(
                location=c.location,
                delivery=c.delivery,
                pickup=c.pickup,
                service_duration=c.service_duration,
                tw_early=c.tw_early,
                tw_late=c.tw_late,
                release_time=c.release_time,
                prize=must if c.required else c.prize,
                required=False,
            )
            for c in data.clients()
        ]
        optional = data.replace(clients=clients)
        start = pyvrp.Solution(
            optional,
            [
                pyvrp.Route(
                    optional, [pyvrp.Activity(a.type, a.idx) for a in list(r)[1:-1]], r.vehicle_type()
                )
                for r in best.routes()
            ],
        )
        penalties = pyvrp.PenaltyManager(pyvrp.PenaltyParams().midpoint_penalties(optional), params)
        search = _local_search(optional, rng, neighbours)
        return _iterate(optional, penalties, search, start, _Until(started + seconds))


def _local_search(data: pyvrp.ProblemData, rng: pyvrp.RandomNumberGenerator, neighbours: Any) -> LocalSearch:
    search = LocalSearch(data, rng, neighbours, PerturbationManager(PerturbationParams()))
    for operator in OPERATORS:
        if operator.supports(data):
            search.add_operator(operator(data))
    return search


def _iterate(
    data: pyvrp.ProblemData,
    penalties: pyvrp.PenaltyManager,
    search: LocalSearch,
    start: pyvrp.Solution,
    until: _Until,
) -> pyvrp.Solution:
    """PyVRP's iterated local search from `start` until `until` says stop."""
    if until.over():
        return start
    params = pyvrp.IteratedLocalSearchParams(exhaustive_on_best=data.num_clients <= _EXHAUSTIVE_MAX_CLIENTS)
    return (
        pyvrp.IteratedLocalSearch(data, penalties, search, start, params).run(until, collect_stats=False).best
    )


@dataclass(frozen=True, slots=True)
class _Until:
    """A PyVRP stopping criterion: at `deadline`, or at `infeasible_deadline` while nothing is feasible."""

    deadline: float
    infeasible_deadline: float | None = None

    def over(self) -> bool:
        return time.monotonic() >= self.deadline

    def __call__(self, best_cost: int) -> bool:
        # PyVRP costs an infeasible solution at the largest int64.
        infeasible = best_cost >= np.iinfo(np.int64).max
        late = self.infeasible_deadline is not None and time.monotonic() >= self.infeasible_deadline
        return self.over() or (infeasible and late)


# --------------------------------------------------------------------------------------------------------
# Putting back what the relaxation ignores


@dataclass(frozen=True, slots=True)
class _State:
    """Where the vehicle is, when it is free there, and what it has done since the start of the day."""

    row: int
    t: int
    start: int | None = None  # when the day started (left the depot), None before the first stop
    lunched: bool = False
    load_l: float = 0.0
    load_kg: float = 0.0
    # The same loads in the OR-Tools model's integer units (`_LOAD_SCALE`), which decide what fits: in
    # floating point, 55 stops of 7.3 yd³ overflowed a 400 yd³ daily cap that the model accepts.
    units_l: int = 0
    units_kg: int = 0
    units_collected: int = 0
    stops: int = 0
    trip: int = 0  # stops on board since the last dump
    stint: int = 0  # when the time on duty since the last long break began (`Vehicle.driving_rule`)


@dataclass(frozen=True, slots=True)
class _Leg:
    """Driving from where the vehicle is to the next place: the lunch on the way, and the service there."""

    lunch: int | None  # when the lunch starts, if it is taken before this leg
    arrival: int
    start: int
    lunched: bool
    stint: int  # when the time on duty counted by the driving rule began, once this leg is done
    rest: int | None = None  # when a rest owed under the driving rule starts, if taken before this leg


class Day:
    """An earliest-time walk through one vehicle's sequence that leaves out what does not fit.

    The lunch is taken where the vehicle is as soon as the next service would otherwise end after its
    latest start; a stop is kept only if the day can still end from there (a dump at a facility that is
    open, then the end depot within the shift and the day length). An empty trip's dump is dropped, a
    dump the day cannot make is replaced by the best one it can, and a stop of another stream than the
    trip's first closes the trip at the facility that makes the least detour.
    """

    def __init__(self, problem: Problem, matrix: Matrix, vehicle: Vehicle, max_trips: int | None) -> None:
        self.problem = problem
        self.vehicle = vehicle
        self.durations = matrix.durations_s
        self.distances = matrix.distances_m
        self.n_depots = len(problem.depots)
        self.stop_row = self.n_depots + len(problem.facilities)
        depot_row = {d.id: j for j, d in enumerate(problem.depots)}
        self.start_row = depot_row[vehicle.start_depot]
        self.end_row = depot_row[vehicle.end_depot]
        self.stop_index = {s.id: i for i, s in enumerate(problem.stops)}
        self.facility_index = {f.id: k for k, f in enumerate(problem.facilities)}
        self.max_trips = max_trips
        self.visits: list[Visit] = []
        self.detours: dict[int, list[int]] = {}  # per row, facilities by detour on the way home

    def walk(self, refs: Sequence[str]) -> Route | None:
        """The day driving what of `refs` (stop and facility ids) fits, ending with a dump; None if empty."""
        problem, vehicle = self.problem, self.vehicle
        # The release of each trip as planned: a trip leaves its start point once all its stops are out.
        release = [0] * len(refs)
        latest = 0
        for k in reversed(range(len(refs))):
            i = self.stop_index.get(refs[k], -1)
            latest = max(latest, problem.stops[i].release_s) if i >= 0 else 0
            release[k] = latest
        state = _State(self.start_row, vehicle.shift.start_s)
        self.visits = []
        stream: str | None = None  # on board, while a trip is open
        kept = False
        dumps = 0
        for k, ref in enumerate(refs):
            i = self.stop_index.get(ref, -1)
            if i >= 0:
                stop = problem.stops[i]
                if not can_serve(vehicle, stop):
                    continue
                switch = None
                if stream not in (None, stop.stream):
                    # A stop of another stream first closes the trip where that costs least.
                    switch = self._switch(state, stream, dumps)
                    if switch is None:
                        continue
                after = self._serve(state if switch is None else switch[0], i, release[k])
                if after is not None and self._closing(after[0], stop.stream) is not None:
                    if switch is not None:
                        state, dumps = self._record(state, *switch), dumps + 1
                    state, stream, kept = self._record(state, *after), stop.stream, True
            elif ref in self.facility_index and state.trip and stream is not None:
                if self.max_trips is not None and dumps + 1 >= self.max_trips:
                    continue  # the last trip's dump closes the day
                dumped = self._dump(state, self.facility_index[ref], stream)
                if dumped is None or self._closing(dumped[0], stream) is None:
                    # Every kept stop left a day that can end: through the facility `_closing` finds.
                    f = self._closing(state, stream)
                    dumped = None if f is None else self._dump(state, f, stream)
                if dumped is not None:
                    state, stream = self._record(state, *dumped), None
                    dumps += 1
        if not kept:
            return None
        if state.trip:
            assert stream is not None
            f = self._closing(state, stream)
            dumped = None if f is None else self._dump(state, f, stream)
            if dumped is None:  # pragma: no cover - every kept stop left a day that can end
                return None
            state = self._record(state, *dumped)
        leg = self._go(state, self.end_row, vehicle.shift, 0)
        assert leg is not None
        end = Visit(
            VisitKind.DEPOT_END, vehicle.end_depot, leg.arrival, leg.arrival, leg.arrival, 0.0, 0.0, 0
        )
        self._record(state, state, leg, end)
        assert state.start is not None
        start = Visit(
            VisitKind.DEPOT_START, vehicle.start_depot, state.start, state.start, state.start, 0.0, 0.0, 0
        )
        visits = (start, *self.visits)
        distance = sum(x.distance_from_prev_m for x in visits)
        return Route(vehicle.id, visits, distance, leg.arrival - state.start)

    def _switch(self, state: _State, stream: str, dumps: int) -> tuple[_State, _Leg, Visit] | None:
        """Closing the open trip of `stream` before a trip of another stream, or None if the day cannot."""
        if self.max_trips is not None and dumps + 1 >= self.max_trips:
            return None
        f = self._closing(state, stream)
        return None if f is None or f < 0 else self._dump(state, f, stream)

    def _record(self, before: _State, after: _State, leg: _Leg, visit: Visit) -> _State:
        """Append the breaks taken on `leg` and `visit` (whose leg distance is filled in); return `after`."""
        if leg.rest is not None:
            rule = self.vehicle.driving_rule
            assert rule is not None
            end = leg.rest + rule.break_s
            self.visits.append(
                Visit(VisitKind.BREAK, REST, leg.rest, leg.rest, end, before.load_l, before.load_kg, 0)
            )
        if leg.lunch is not None:
            lunch = self.vehicle.lunch
            assert lunch is not None
            end = leg.lunch + lunch.duration_s
            self.visits.append(
                Visit(VisitKind.BREAK, LUNCH, leg.lunch, leg.lunch, end, before.load_l, before.load_kg, 0)
            )
        row = {
            VisitKind.STOP: lambda: self.stop_row + self.stop_index[visit.ref_id],
            VisitKind.FACILITY: lambda: self.n_depots + self.facility_index[visit.ref_id],
        }.get(visit.kind, lambda: self.end_row)()
        leg_m = int(self.distances[before.row, row])
        self.visits.append(dataclasses.replace(visit, distance_from_prev_m=leg_m))
        return after

    def _go(self, state: _State, row: int, window: TimeWindow, service_s: int) -> _Leg | None:
        """Leaving `state` as early as possible for `row`, served within `window`; None if it cannot be.

        Under a driving rule, when the time on duty would run past its limit by the end of the service,
        the crew rests on the way, as late as the rule allows (while waiting to serve, if it waits).
        """
        leg = self._leg(state, row, window, service_s, rest=False)
        rule = self.vehicle.driving_rule
        if leg is None or rule is None or self._rule_kept(state, leg, service_s):
            return leg
        leg = self._leg(state, row, window, service_s, rest=True)
        return leg if leg is not None and self._rule_kept(state, leg, service_s) else None

    def _rule_kept(self, state: _State, leg: _Leg, service_s: int) -> bool:
        """Whether the time on duty before the leg's long breaks and after them stays within the rule."""
        rule = self.vehicle.driving_rule
        assert rule is not None
        lunch = self.vehicle.lunch
        if leg.lunch is not None and lunch is not None and lunch.duration_s >= rule.break_s:
            if leg.rest is not None:
                before = leg.rest + rule.break_s
            else:
                before = state.stint if state.start is not None else state.t
            if leg.lunch - before > rule.max_driving_s:
                return False
        return leg.start + service_s - leg.stint <= rule.max_driving_s

    def _leg(self, state: _State, row: int, window: TimeWindow, service_s: int, *, rest: bool) -> _Leg | None:
        """`_go` with the lunch where it is due, and a rest if `rest`."""
        travel = int(self.durations[state.row, row])
        rule = self.vehicle.driving_rule
        t = state.t
        stint = t if state.start is None else state.stint
        arrival = t + travel
        start = max(arrival, window.start_s)
        rest_at: int | None = None
        if rest:
            assert rule is not None
            rest_at = max(t, min(stint + rule.max_driving_s, start))
            if rest_at < arrival:  # the rest interrupts the drive
                arrival += rule.break_s
            start = max(arrival, window.start_s, rest_at + rule.break_s)
            stint = rest_at + rule.break_s
        lunch = self.vehicle.lunch
        day_start = state.start if state.start is not None else t
        taken: int | None = None
        if (
            lunch is not None
            and not state.lunched
            and day_start < lunch.earliest_start_s + lunch.duration_s
            and start + service_s > lunch.latest_start_s
        ):
            if rule is not None and rest_at is not None:  # both on one leg: the rest first, on leaving
                rest_at, t = t, t + rule.break_s
                stint = t
            taken = max(t, lunch.earliest_start_s)
            if taken > lunch.latest_start_s:
                return None
            arrival = taken + lunch.duration_s + travel
            start = max(arrival, window.start_s)
            if rule is not None and lunch.duration_s >= rule.break_s:
                stint = taken + lunch.duration_s
        if start > window.end_s:
            return None
        return _Leg(taken, arrival, start, state.lunched or taken is not None, stint, rest_at)

    def _serve(self, state: _State, i: int, release: int) -> tuple[_State, _Leg, Visit] | None:
        """Serving stop `i` next, or None when that breaks a rule of the full model."""
        vehicle, stop = self.vehicle, self.problem.stops[i]
        units_l = state.units_l + math.ceil(stop.volume_l * _LOAD_SCALE)
        units_kg = state.units_kg + math.ceil(stop.weight_kg * _LOAD_SCALE)
        collected = state.units_collected + math.ceil(stop.volume_l * _LOAD_SCALE)
        if units_l > math.floor(vehicle.capacity_l * _LOAD_SCALE):
            return None
        if units_kg > math.floor(vehicle.capacity_kg * _LOAD_SCALE):
            return None
        cap = vehicle.route_volume_cap_l
        if cap is not None and collected > math.floor(cap * _LOAD_SCALE):
            return None
        if vehicle.max_stops is not None and state.stops >= vehicle.max_stops:
            return None
        row = self.stop_row + i
        for window in _windows(stop, vehicle):
            leave = state
            if state.trip == 0:
                t = self._departure(state, row, window, release)
                if t is None:
                    continue
                leave = dataclasses.replace(state, t=t)
            leg = self._go(leave, row, window, stop.service_s)
            if leg is None:
                continue
            end = leg.start + stop.service_s
            load_l, load_kg = state.load_l + stop.volume_l, state.load_kg + stop.weight_kg
            after = _State(
                row=row,
                t=end,
                start=leave.t if state.start is None else state.start,
                lunched=leg.lunched,
                stint=leg.stint,
                load_l=load_l,
                load_kg=load_kg,
                units_l=units_l,
                units_kg=units_kg,
                units_collected=collected,
                stops=state.stops + 1,
                trip=state.trip + 1,
            )
            return after, leg, Visit(VisitKind.STOP, stop.id, leg.arrival, leg.start, end, load_l, load_kg, 0)
        return None

    def _departure(self, state: _State, row: int, window: TimeWindow, release: int) -> int | None:
        """When a new trip leaves for `row`: after its release, and a day starts no earlier than needed.

        None when the release comes after the vehicle's latest departure from its depot.
        """
        t = max(state.t, release)
        if state.start is not None:
            return t
        latest = self.vehicle.latest_departure_s
        if latest is not None and t > latest:
            return None
        t = max(t, window.start_s - int(self.durations[state.row, row]))
        return t if latest is None else min(t, latest)

    def _dump(self, state: _State, f: int, stream: str) -> tuple[_State, _Leg, Visit] | None:
        """Emptying at facility `f` next, or None when it is closed by then or refuses the stream."""
        facility = self.problem.facilities[f]
        if stream not in facility.streams:
            return None
        row = self.n_depots + f
        leg = self._go(state, row, facility.opening, facility.dump_s)
        if leg is None:
            return None
        end = leg.start + facility.dump_s
        after = dataclasses.replace(
            state,
            row=row,
            t=end,
            lunched=leg.lunched,
            stint=leg.stint,
            load_l=0.0,
            load_kg=0.0,
            units_l=0,
            units_kg=0,
            trip=0,
        )
        return after, leg, Visit(VisitKind.FACILITY, facility.id, leg.arrival, leg.start, end, 0.0, 0.0, 0)

    def _home(self, state: _State) -> bool:
        """Whether the vehicle reaches its end depot within the shift and the day length from `state`."""
        leg = self._go(state, self.end_row, self.vehicle.shift, 0)
        if leg is None:
            return False
        limit = self.vehicle.max_duration_s
        return limit is None or state.start is None or leg.arrival - state.start <= limit

    def _closing(self, state: _State, stream: str) -> int | None:
        """The facility through which the day ends from `state` with the least detour (-1 if empty)."""
        if not state.trip:
            return -1 if self._home(state) else None
        order = self.detours.get(state.row)
        if order is None:
            rows = self.n_depots + np.arange(len(self.problem.facilities))
            detour = self.distances[state.row, rows] + self.distances[rows, self.end_row]
            order = self.detours[state.row] = [int(f) for f in np.argsort(detour, kind="stable")]
        for f in order:
            dumped = self._dump(state, f, stream)
            if dumped is not None and self._home(dumped[0]):
                return f
        return None
