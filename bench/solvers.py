"""The three solvers of the comparison, each turning an instance into routes in the instance's numbering.

* `engine`: `routing.solve` on a `routing.Problem` built here, with an `ExplicitMatrix` in the instance's
  scaled integer units (the model calls them metres and seconds; here they are CVRP `round` units, DIMACS ×10
  units, or feet and seconds for Kim) and `cost_per_km` chosen so that the model's distance cost *is* the
  family's cost: `1000 / scale` (the model divides metres by 1000), `1000 / 5280` for Kim (feet → miles).
  Kim vehicles also carry a fixed cost of `KIM_FIXED_COST` miles, so fewer vehicles always win (the
  literature's hierarchical objective). CVRP and VRPTW have no disposal trips: the model still wants a
  facility to empty at, so one sits on the depot (zero distance, zero dump time) and each vehicle gets a
  single trip (`max_trips_per_vehicle=1`), i.e. an ordinary route. MTVRPTWR uses the same depot facility
  with as many trips as the engine wants (reloads) and each customer's release date as `Stop.release_s`
  (a trip leaves at or after the latest release of its stops, as in PyVRP).
* `pyvrp`: `pyvrp.solve(data, stop=MaxRuntime(budget), seed=…)` on `pyvrp.read` of the `.vrp` file (or a
  `ProblemData` built from `vrplib`'s Solomon parser with the same DIMACS ×10 rounding). Kim is modelled by
  hand: facilities are reload depots, and "end empty" is a virtual end depot whose incoming arc from a site
  costs the best `d(i, F) + d(F, garage)` (with the dump time in the duration); the chosen facility is put
  back on the route afterwards. PyVRP has no breaks, route (daily) capacity or stop limit: for Kim it solves
  a relaxation, and the checker tests its routes against the full model.
* `ortools-default`: OR-Tools as a newcomer would use it, independent of `routing/`: Python callbacks,
  `PATH_CHEAPEST_ARC` then `GUIDED_LOCAL_SEARCH` with the time limit; reloads and disposal trips as optional
  node copies with a load slack (the `cvrp_reload` sample); lunch via `SetBreakIntervalsOfVehicle`; release
  dates left out (they need a custom constraint).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyvrp
from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from pyvrp.stop import MaxRuntime

import routing
from bench.readers import (
    FEET_PER_MILE,
    LUNCH_EARLIEST_S,
    LUNCH_LATEST_S,
    KimInstance,
    KimSite,
    VrpInstance,
)

__all__ = [
    "KIM_FIXED_COST",
    "SOLVERS",
    "RunOutput",
    "engine_problem",
    "fleet_size",
    "instance_routes",
    "kim_lower_bound",
    "run_engine",
    "run_ortools_default",
    "run_pyvrp",
]

Instance = VrpInstance | KimInstance

# Cost of one Kim vehicle, in miles: more than any plan's mileage, so vehicles come first.
KIM_FIXED_COST = 10_000.0
_STREAM = "waste"
_CVRP_HORIZON = 1_000_000
_METRES_PER_DEGREE = 111_320.0
_MIN_ENGINE_S = 0.1


@dataclass(slots=True)
class RunOutput:
    """What a solver run hands back; `routes` are in the instance's numbering (see `bench.verify`)."""

    routes: list[list[int]]
    lunches: list[int | None]
    solver_cost: float | None
    time_s: float
    status: str
    note: str = ""
    engine_violations: list[str] = field(default_factory=list)


def fleet_size(instance: Instance) -> int:
    """Vehicles offered to the engine and to plain OR-Tools (PyVRP uses the file's fleet).

    CVRP has an unlimited fleet: `ceil(1.2 k) + 2` with `k = ceil(demand / capacity)`, above every BKS.
    VRPTW / MTVRPTWR: the file's `VEHICLES`. Kim: from the instance alone, never from the literature's
    vehicle counts: `ceil(1.25 b) + 2` for the lower bound `b` of `kim_lower_bound` (the solvers are
    asked for the fewest vehicles first, so the spare ones only leave room).
    """
    if isinstance(instance, KimInstance):
        return math.ceil(1.25 * kim_lower_bound(instance)) + 2
    if instance.fleet is not None:
        return instance.fleet
    k = math.ceil(int(instance.demand.sum()) / instance.capacity)
    return math.ceil(1.2 * k) + 2


def kim_lower_bound(instance: KimInstance) -> int:
    """Vehicles a Kim instance needs at least, by volume and by time.

    Volume: the total load over the daily route capacity. Time: the service times plus one dump (the
    shortest) per vehicle load of waste, over the working day (depot hours less the lunch); driving is
    left out, so both are true lower bounds.
    """
    by_volume = math.ceil(instance.total_load() / instance.route_capacity)
    loads = math.ceil(instance.total_load() / instance.vehicle_capacity)
    work = sum(c.service_s for c in instance.customers) + loads * min(
        f.service_s for f in instance.facilities
    )
    day = instance.depot.late_s - instance.depot.early_s - instance.lunch_s
    return max(by_volume, math.ceil(work / day))


def _locations(xy: npt.NDArray[np.float64], metres_per_unit: float) -> list[routing.Location]:
    """Stand-in WGS84 points that keep the instance's geometry (1 unit = `metres_per_unit` m).

    The engine answers every query from the explicit matrix; coordinates only key the rows (and keep any
    geometric heuristic meaningful).
    """
    deg = (xy - xy.min(axis=0)) * metres_per_unit / _METRES_PER_DEGREE
    span = float(deg.max(initial=0.0))
    if span > 80.0:
        deg *= 80.0 / span
    locations = [routing.Location(lat=float(y), lng=float(x)) for x, y in deg]
    if len(set(locations)) != len({(float(x), float(y)) for x, y in xy}):
        raise ValueError("two distinct coordinates collapsed onto one stand-in location")
    return locations


# --------------------------------------------------------------------------------------------------------
# engine


@dataclass(frozen=True, slots=True)
class EngineModel:
    """A routing problem with what is needed to map its plan back to instance numbering."""

    problem: routing.Problem
    options: routing.SolveOptions
    note: str


def engine_problem(instance: Instance, budget_s: float, seed: int = 0) -> EngineModel:
    """The instance as a `routing.Problem` (see the module docstring for the conventions)."""
    if isinstance(instance, KimInstance):
        return _kim_engine_problem(instance, budget_s, seed)
    return _vrp_engine_problem(instance, budget_s, seed)


def _vrp_engine_problem(instance: VrpInstance, budget_s: float, seed: int) -> EngineModel:
    n = instance.n_customers
    dist = instance.int_distances()
    durations = dist if instance.time_windows is not None else np.zeros_like(dist)
    locs = _locations(instance.coords, 1.0)
    if instance.time_windows is not None:
        tw = instance.scaled(instance.time_windows)
        shift = routing.TimeWindow(int(tw[0, 0]), int(tw[0, 1]))
    else:
        tw = None
        shift = routing.TimeWindow(0, _CVRP_HORIZON)
    service = instance.scaled(instance.service)
    release = instance.scaled(instance.release) if instance.release is not None else np.zeros(n + 1)
    streams = frozenset({_STREAM})
    stops = tuple(
        routing.Stop(
            id=str(c),
            location=locs[c],
            stream=_STREAM,
            volume_l=float(instance.demand[c]),
            weight_kg=0.0,
            service_s=int(service[c]),
            time_windows=() if tw is None else (routing.TimeWindow(int(tw[c, 0]), int(tw[c, 1])),),
            release_s=int(release[c]),
        )
        for c in range(1, n + 1)
    )
    depot = routing.Depot("depot", locs[0])
    facility = routing.Facility("depot-unload", locs[0], streams, shift, 0)
    vehicles = tuple(
        routing.Vehicle(
            id=f"v{k}",
            capacity_l=float(instance.capacity),
            capacity_kg=1.0,
            streams=streams,
            start_depot=depot.id,
            end_depot=depot.id,
            shift=shift,
            cost_per_km=1000.0 / instance.scale,
        )
        for k in range(fleet_size(instance))
    )
    order = np.array([0, 0, *range(1, n + 1)], dtype=np.intp)  # depot, facility (on the depot), stops
    sub = np.ix_(order, order)
    problem = routing.Problem(stops, vehicles, (depot,), (facility,))
    matrix = routing.ExplicitMatrix(problem.locations(), dist[sub].copy(), durations[sub].copy())
    problem = routing.Problem(stops, vehicles, (depot,), (facility,), matrix)
    trips = None if instance.reload else 1
    options = routing.SolveOptions(time_limit_s=budget_s, seed=seed, max_trips_per_vehicle=trips)
    return EngineModel(problem, options, "")


def _kim_engine_problem(instance: KimInstance, budget_s: float, seed: int) -> EngineModel:
    depot, facilities, customers = instance.depot, instance.facilities, instance.customers
    ordered = [depot, *facilities, *customers]
    feet, seconds = instance.solver_matrices(ordered)
    xy = np.array([[s.x_ft, s.y_ft] for s in ordered], dtype=np.float64)
    locs = _locations(xy, 0.3048)
    streams = frozenset({_STREAM})
    shift = routing.TimeWindow(depot.early_s, depot.late_s)
    lunch = routing.Break(LUNCH_EARLIEST_S, LUNCH_LATEST_S, instance.lunch_s)
    stops = tuple(
        routing.Stop(
            id=str(c.id),
            location=locs[1 + len(facilities) + k],
            stream=_STREAM,
            volume_l=c.load,
            weight_kg=0.0,
            service_s=c.service_s,
            time_windows=(routing.TimeWindow(c.early_s, c.late_s),),
        )
        for k, c in enumerate(customers)
    )
    engine_facilities = tuple(
        routing.Facility(
            str(f.id), locs[1 + k], streams, routing.TimeWindow(f.early_s, f.late_s), f.service_s
        )
        for k, f in enumerate(facilities)
    )
    engine_depot = routing.Depot(str(depot.id), locs[0])
    vehicles = tuple(
        routing.Vehicle(
            id=f"v{k}",
            capacity_l=instance.vehicle_capacity,
            capacity_kg=1.0,
            streams=streams,
            start_depot=engine_depot.id,
            end_depot=engine_depot.id,
            shift=shift,
            cost_per_km=1000.0 / FEET_PER_MILE,
            fixed_cost=KIM_FIXED_COST,
            max_stops=instance.max_stops,
            route_volume_cap_l=instance.route_capacity,
            lunch=lunch,
        )
        for k in range(fleet_size(instance))
    )
    problem = routing.Problem(stops, vehicles, (engine_depot,), engine_facilities)
    if problem.locations() != tuple(locs):  # pragma: no cover - guards the matrix order
        raise AssertionError("Problem.locations() order changed")
    matrix = routing.ExplicitMatrix(problem.locations(), feet, seconds)
    problem = routing.Problem(stops, vehicles, (engine_depot,), engine_facilities, matrix)
    options = routing.SolveOptions(time_limit_s=budget_s, seed=seed, objective="vehicles")
    return EngineModel(problem, options, "")


def run_engine(instance: Instance, budget_s: float, seed: int = 0) -> RunOutput:
    """`routing.solve` at `budget_s`, its plan checked by `routing.check` and mapped to instance numbering."""
    started = time.monotonic()
    model = engine_problem(instance, budget_s, seed)
    # The budget runs from the call, as PyVRP's includes reading the instance: building it counts too.
    left = max(budget_s - (time.monotonic() - started), _MIN_ENGINE_S)
    solution = routing.solve(model.problem, dataclasses.replace(model.options, time_limit_s=left))
    elapsed = time.monotonic() - started
    violations = [
        f"{v.code} {v.vehicle_id or ''} {v.ref_id or ''}: {v.message}"
        for v in routing.check(model.problem, solution)
    ]
    routes, lunches = instance_routes(instance, solution.routes)
    note = model.note
    if solution.status == "NO_SOLUTION":
        note = _join(note, "no plan within the time limit (status NO_SOLUTION)")
    elif solution.skipped:
        note = _join(
            note, f"the engine left {len(solution.skipped)} stop(s) out ({solution.skipped[0].reason.value})"
        )
    return RunOutput(
        routes=routes,
        lunches=lunches,
        solver_cost=solution.cost.distance,
        time_s=elapsed,
        status=solution.status,
        note=note,
        engine_violations=violations,
    )


def instance_routes(
    instance: Instance, engine_routes: Sequence[routing.Route]
) -> tuple[list[list[int]], list[int | None]]:
    """The engine's routes in the instance's numbering (see `bench.verify`), and each one's lunch start."""
    routes: list[list[int]] = []
    lunches: list[int | None] = []
    kim = isinstance(instance, KimInstance)
    for route in engine_routes:
        nodes: list[int] = []
        lunch: int | None = None
        for visit in route.visits:
            if visit.kind is routing.VisitKind.STOP:
                nodes.append(int(visit.ref_id))
            elif visit.kind is routing.VisitKind.FACILITY:
                nodes.append(int(visit.ref_id) if kim else 0)
            elif visit.kind is routing.VisitKind.BREAK:
                lunch = visit.start_s
        routes.append(nodes if kim else _tidy_reloads(nodes))
        lunches.append(lunch)
    return routes, lunches


def _tidy_reloads(nodes: list[int]) -> list[int]:
    """Drop depot-facility visits that do not separate two trips (free: the facility is on the depot)."""
    trips: list[list[int]] = [[]]
    for node in nodes:
        if node == 0:
            trips.append([])
        else:
            trips[-1].append(node)
    out: list[int] = []
    for trip in (t for t in trips if t):
        if out:
            out.append(0)
        out.extend(trip)
    return out


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


# --------------------------------------------------------------------------------------------------------
# PyVRP


def _pyvrp_vrp_data(instance: VrpInstance) -> pyvrp.ProblemData:
    if instance.path.suffix == ".vrp":
        return pyvrp.read(instance.path, round_func=instance.convention)
    # Solomon .txt: pyvrp.read only takes VRPLIB, so build what it would with the `dimacs` rounding.
    assert instance.time_windows is not None
    tw = instance.scaled(instance.time_windows)
    service = instance.scaled(instance.service)
    dist = instance.int_distances()
    n = instance.n_customers
    locations = [pyvrp.Location(x=float(x), y=float(y)) for x, y in instance.coords]
    clients = [
        pyvrp.Client(
            location=c,
            delivery=[int(instance.demand[c])],
            service_duration=int(service[c]),
            tw_early=int(tw[c, 0]),
            tw_late=int(tw[c, 1]),
        )
        for c in range(1, n + 1)
    ]
    depots = [pyvrp.Depot(location=0, tw_early=int(tw[0, 0]), tw_late=int(tw[0, 1]))]
    vehicle = pyvrp.VehicleType(
        num_available=instance.fleet or n,
        capacity=[instance.capacity],
        tw_early=int(tw[0, 0]),
        tw_late=int(tw[0, 1]),
    )
    matrices: list[Any] = [dist]  # the stubs type matrices as `ndarray[int]`
    return pyvrp.ProblemData(locations, clients, depots, [vehicle], matrices, matrices)


@dataclass(frozen=True, slots=True)
class _KimPyvrp:
    data: pyvrp.ProblemData
    sites: list[KimSite]  # PyVRP location -> site (the virtual end depot maps to the garage)
    best_facility: list[int]  # per PyVRP location: facility id of the cheapest way home
    n_facilities: int


def _pyvrp_kim_data(instance: KimInstance) -> _KimPyvrp:
    depot, facilities, customers = instance.depot, instance.facilities, instance.customers
    sites = [depot, depot, *facilities, *customers]  # garage, virtual end, facilities, customers
    feet, seconds = instance.solver_matrices(sites)
    nf = len(facilities)
    fac = np.arange(2, 2 + nf)
    # Going home empty from i: via the facility F minimising d(i, F) + d(F, garage).
    via = feet[:, fac] + feet[fac, 0][None, :]
    choice = via.argmin(axis=1)
    chosen = fac[choice]
    rows = np.arange(len(sites))
    dump = np.array([f.service_s for f in facilities], dtype=np.int64)
    feet[:, 1] = via[rows, choice]
    seconds[:, 1] = seconds[rows, chosen] + dump[choice] + seconds[chosen, 0]
    feet[fac, 1] = feet[fac, 0]  # just dumped at F: straight home
    seconds[fac, 1] = seconds[fac, 0]
    feet[0, 1] = seconds[0, 1] = 0
    big = 10**9
    feet[1, :] = big
    seconds[1, :] = big
    feet[1, 1] = seconds[1, 1] = 0
    locations = [pyvrp.Location(x=s.x_ft, y=s.y_ft) for s in sites]
    depots = [
        pyvrp.Depot(location=0, tw_early=depot.early_s, tw_late=depot.late_s),
        pyvrp.Depot(location=1, tw_early=depot.early_s, tw_late=depot.late_s),
        *(
            pyvrp.Depot(location=2 + k, tw_early=f.early_s, tw_late=f.late_s, service_duration=f.service_s)
            for k, f in enumerate(facilities)
        ),
    ]
    clients = [
        pyvrp.Client(
            location=2 + nf + k,
            delivery=[0],
            pickup=[round(c.load * 100)],
            service_duration=c.service_s,
            tw_early=c.early_s,
            tw_late=c.late_s,
        )
        for k, c in enumerate(customers)
    ]
    vehicle = pyvrp.VehicleType(
        num_available=fleet_size(instance),
        capacity=[round(instance.vehicle_capacity * 100)],
        start_depot=0,
        end_depot=1,
        fixed_cost=round(KIM_FIXED_COST * FEET_PER_MILE),
        tw_early=depot.early_s,
        tw_late=depot.late_s,
        reload_depots=list(range(2, 2 + nf)),
    )
    distances: list[Any] = [feet]  # the stubs type matrices as `ndarray[int]`
    durations: list[Any] = [seconds]
    data = pyvrp.ProblemData(locations, clients, depots, [vehicle], distances, durations)
    best = [sites[int(chosen[k])].id for k in range(len(sites))]
    return _KimPyvrp(data, sites, best, nf)


def run_pyvrp(instance: Instance, budget_s: float, seed: int = 1) -> RunOutput:
    """PyVRP 0.14 at `MaxRuntime(budget_s)`; for Kim, the relaxation described in the module docstring."""
    started = time.monotonic()
    kim = _pyvrp_kim_data(instance) if isinstance(instance, KimInstance) else None
    data = kim.data if kim is not None else _pyvrp_vrp_data(instance)  # type: ignore[arg-type]
    result = pyvrp.solve(data, stop=MaxRuntime(budget_s), seed=seed, display=False)
    elapsed = time.monotonic() - started
    best = result.best
    routes: list[list[int]] = []
    for route in best.routes():
        nodes: list[int] = []
        last_client = -1
        for act in list(route)[1:-1]:
            if act.is_client():
                last_client = data.client(act.idx).location
                nodes.append(kim.sites[last_client].id if kim is not None else last_client)
            elif act.is_depot():
                loc = data.depot(act.idx).location
                nodes.append(kim.sites[loc].id if kim is not None else 0)
                last_client = -1
        if kim is not None and last_client >= 0:
            nodes.append(kim.best_facility[last_client])  # the virtual end arc's facility
        routes.append(nodes)
    if kim is not None:
        cost = best.distance() / FEET_PER_MILE
        note = "PyVRP solves a relaxation of Kim: no lunch break, no daily route capacity, no stop limit"
    else:
        assert isinstance(instance, VrpInstance)
        cost = best.distance() / instance.scale
        note = ""
    status = "FEASIBLE" if best.is_feasible() else "INFEASIBLE"
    return RunOutput(routes, [None] * len(routes), cost, elapsed, status, note)


# --------------------------------------------------------------------------------------------------------
# OR-Tools as a newcomer would use it


@dataclass(slots=True)
class _Plain:
    """A plain OR-Tools model's data in node order: 0 is the depot."""

    dist: list[list[int]]
    time: list[list[int]] | None
    service: list[int]
    windows: list[tuple[int, int]] | None
    demand: list[int]
    capacity: int
    vehicles: int
    reload_nodes: list[int]  # nodes that empty the truck (optional copies)
    end_empty: bool
    fixed_cost: int = 0
    route_cap: int | None = None
    max_stops: int | None = None
    lunch: tuple[int, int, int] | None = None  # earliest, latest start, duration
    customers: list[int] = field(default_factory=list)
    drop_penalty: int = 0


def _solve_plain(model: _Plain, budget_s: float) -> tuple[list[list[int]], list[int | None], int] | None:
    """Build and solve; returns node sequences (depot excluded), lunch starts and the distance driven."""
    n_nodes = len(model.dist)
    manager = pywrapcp.RoutingIndexManager(n_nodes, model.vehicles, 0)
    rm = pywrapcp.RoutingModel(manager)
    dist = model.dist

    def distance_callback(from_index: int, to_index: int) -> int:
        return dist[int(manager.IndexToNode(from_index))][int(manager.IndexToNode(to_index))]

    transit = rm.RegisterTransitCallback(distance_callback)
    rm.SetArcCostEvaluatorOfAllVehicles(transit)
    if model.fixed_cost:
        rm.SetFixedCostOfAllVehicles(model.fixed_cost)

    reload = set(model.reload_nodes)
    demand = model.demand
    cap = model.capacity

    def demand_callback(from_index: int) -> int:
        node = manager.IndexToNode(from_index)
        return -cap if node in reload else demand[node]

    load = rm.RegisterUnaryTransitCallback(demand_callback)
    rm.AddDimensionWithVehicleCapacity(load, cap if reload else 0, [cap] * model.vehicles, True, "Capacity")
    capacity_dim = rm.GetDimensionOrDie("Capacity")
    for node in range(1, n_nodes):
        index = manager.NodeToIndex(node)
        if node in reload:
            rm.AddDisjunction([index], 0)
        else:
            if model.drop_penalty:
                rm.AddDisjunction([index], model.drop_penalty)
            if reload:
                capacity_dim.SlackVar(index).SetValue(0)
    if model.end_empty:
        for v in range(model.vehicles):
            capacity_dim.CumulVar(rm.End(v)).SetMax(0)
    if model.route_cap is not None:

        def collected_callback(from_index: int) -> int:
            node = manager.IndexToNode(from_index)
            return 0 if node in reload else demand[node]

        collected = rm.RegisterUnaryTransitCallback(collected_callback)
        rm.AddDimension(collected, 0, model.route_cap, True, "Collected")
    if model.max_stops is not None:
        customers = set(model.customers)

        def stop_callback(from_index: int) -> int:
            return int(manager.IndexToNode(from_index) in customers)

        stops = rm.RegisterUnaryTransitCallback(stop_callback)
        rm.AddDimension(stops, 0, model.max_stops, True, "Stops")

    time_dim = None
    if model.time is not None and model.windows is not None:
        travel, service, windows = model.time, model.service, model.windows

        def time_callback(from_index: int, to_index: int) -> int:
            a, b = int(manager.IndexToNode(from_index)), int(manager.IndexToNode(to_index))
            return service[a] + travel[a][b]

        time_transit = rm.RegisterTransitCallback(time_callback)
        horizon = max(w[1] for w in windows)
        rm.AddDimension(time_transit, horizon, horizon, False, "Time")
        time_dim = rm.GetDimensionOrDie("Time")
        for node in range(1, n_nodes):
            time_dim.CumulVar(manager.NodeToIndex(node)).SetRange(*windows[node])
        for v in range(model.vehicles):
            time_dim.CumulVar(rm.Start(v)).SetRange(*windows[0])
            time_dim.CumulVar(rm.End(v)).SetRange(*windows[0])
            rm.AddVariableMinimizedByFinalizer(time_dim.CumulVar(rm.End(v)))
    breaks: list[Any] = []
    if model.lunch is not None and time_dim is not None:
        node_visit_transit = [model.service[manager.IndexToNode(i)] for i in range(rm.Size())]
        for v in range(model.vehicles):
            earliest, latest, duration = model.lunch
            interval = rm.solver().FixedDurationIntervalVar(earliest, latest, duration, False, f"lunch {v}")
            time_dim.SetBreakIntervalsOfVehicle([interval], v, node_visit_transit)
            breaks.append(interval)

    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.time_limit.FromMilliseconds(max(1, round(budget_s * 1000)))
    solution = rm.SolveWithParameters(params)
    if solution is None:
        return None
    routes: list[list[int]] = []
    lunches: list[int | None] = []
    travelled = 0
    for v in range(model.vehicles):
        index = solution.Value(rm.NextVar(rm.Start(v)))
        nodes: list[int] = []
        while not rm.IsEnd(index):
            nodes.append(manager.IndexToNode(index))
            index = solution.Value(rm.NextVar(index))
        if any(node not in reload for node in nodes):
            routes.append(nodes)
            lunches.append(int(solution.StartValue(breaks[v])) if breaks else None)
            path = [0, *nodes, 0]
            travelled += sum(dist[a][b] for a, b in itertools.pairwise(path))
    return routes, lunches, travelled


def _plain_vrp(instance: VrpInstance) -> tuple[_Plain, Callable[[int], int]]:
    n = instance.n_customers
    dist = instance.int_distances()
    vehicles = fleet_size(instance)
    copies = 0
    if instance.reload:
        copies = math.ceil(int(instance.demand.sum()) / instance.capacity) + vehicles
    order = [*range(n + 1), *([0] * copies)]  # node -> instance node (copies are the depot)
    sub = np.ix_(order, order)
    windows = None
    travel = None
    service = [0] * len(order)
    if instance.time_windows is not None:
        tw = instance.scaled(instance.time_windows)
        svc = instance.scaled(instance.service)
        windows = [(int(tw[k, 0]), int(tw[k, 1])) for k in order]
        service = [int(svc[k]) for k in order]
        travel = dist[sub].tolist()
    model = _Plain(
        dist=dist[sub].tolist(),
        time=travel,
        service=service,
        windows=windows,
        demand=[int(instance.demand[k]) for k in order],
        capacity=instance.capacity,
        vehicles=vehicles,
        reload_nodes=list(range(n + 1, len(order))),
        end_empty=False,
        customers=list(range(1, n + 1)),
        drop_penalty=100 * int(dist.max()),
    )
    return model, lambda node: order[node]


def _plain_kim(instance: KimInstance) -> tuple[_Plain, Callable[[int], int]]:
    depot, facilities, customers = instance.depot, instance.facilities, instance.customers
    vehicles = fleet_size(instance)
    per_facility = math.ceil(instance.total_load() / instance.vehicle_capacity) + vehicles
    sites = [depot, *customers, *(f for f in facilities for _ in range(per_facility))]
    feet, seconds = instance.solver_matrices(sites)
    n_customers = len(customers)
    model = _Plain(
        dist=feet.tolist(),
        time=seconds.tolist(),
        service=[s.service_s for s in sites],
        windows=[(s.early_s, s.late_s) for s in sites],
        demand=[0 if s.type != 1 else round(s.load * 100) for s in sites],
        capacity=round(instance.vehicle_capacity * 100),
        vehicles=vehicles,
        reload_nodes=list(range(1 + n_customers, len(sites))),
        end_empty=True,
        fixed_cost=round(KIM_FIXED_COST * FEET_PER_MILE),
        route_cap=round(instance.route_capacity * 100),
        max_stops=instance.max_stops,
        lunch=(LUNCH_EARLIEST_S, LUNCH_LATEST_S, instance.lunch_s),
        customers=list(range(1, 1 + n_customers)),
        drop_penalty=round(KIM_FIXED_COST * FEET_PER_MILE) + 100 * int(feet.max()),
    )
    return model, lambda node: sites[node].id


def run_ortools_default(instance: Instance, budget_s: float, seed: int = 0) -> RunOutput:
    """Plain OR-Tools (Python callbacks, PATH_CHEAPEST_ARC + GLS) at `budget_s`; `seed` is unused."""
    del seed
    started = time.monotonic()
    if isinstance(instance, KimInstance):
        model, to_id = _plain_kim(instance)
        note = ""
    else:
        model, to_id = _plain_vrp(instance)
        note = ""
        if instance.release is not None and bool((instance.release > 0).any()):
            note = "release dates not modelled (plain OR-Tools has no trip release constraint)"
    solved = _solve_plain(model, budget_s)
    elapsed = time.monotonic() - started
    if solved is None:
        return RunOutput([], [], None, elapsed, "NO_SOLUTION", _join(note, "OR-Tools found no solution"))
    raw, lunches, travelled = solved
    routes = [[to_id(node) for node in nodes] for nodes in raw]
    if isinstance(instance, KimInstance):
        cost = travelled / FEET_PER_MILE
    else:
        routes = [_tidy_reloads(r) for r in routes]
        cost = travelled / instance.scale
    return RunOutput(routes, lunches, cost, elapsed, "FEASIBLE", note)


SOLVERS: dict[str, Callable[[Instance, float, int], RunOutput]] = {
    "engine": run_engine,
    "pyvrp": run_pyvrp,
    "ortools-default": run_ortools_default,
}
