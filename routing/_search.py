"""The search: the time budget, the PyVRP warm start's hand-off, OR-Tools' parameters and starting plans.

`solve` gives the search a deadline a little before its time limit, so that reading the plan back still
fits. Within it, PyVRP may plan a relaxed problem first (`warm_start`), and OR-Tools then searches from
that plan, from the caller's initial routes, or from a first plan that keeps the frozen prefixes
(`search`). The constants are estimates measured on the bench machine: bench/NOTES.md gives the numbers.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from ortools.util import optional_boolean_pb2

from routing._build import Model
from routing._dimensions import break_slots
from routing._layout import Layout
from routing._model import Route, VisitKind
from routing._pyvrp import REPAIR_S, relaxed_plan
from routing._sequences import pick

__all__ = [
    "EXTRACTION_MARGIN_S",
    "MIN_SEARCH_S",
    "search",
    "setup_estimate_s",
    "warm_start",
]

# The search stops this long before the deadline so that extraction still fits in the caller's budget.
EXTRACTION_MARGIN_S = 0.05
MIN_SEARCH_S = 0.05
# Share of the time limit the PyVRP warm start takes; OR-Tools has the rest (bench/NOTES.md, "Warm start").
_WARM_START_SHARE = 0.85
# How long OR-Tools takes to build the model (per node squared: the matrices go node by node) and to load
# a plan into it (per node and lunch). When that does not fit in OR-Tools' share, PyVRP takes the whole
# time limit and its plan, lunch put back, is the answer (bench/NOTES.md, "Set-up time").
_BUILD_S_PER_NODE2 = 3.2e-7
_LOAD_S_PER_NODE_AND_LUNCH = 3e-4
# Time to keep per stop for the walk that puts the lunch back, and for PyVRP's last iteration.
_WALK_S_PER_STOP = 4e-4
# OR-Tools looks at its time limit between neighbours, so it stops up to one step late, and the longest
# step grows with nodes times vehicles: the search is given that much less (bench/NOTES.md, "Overrun").
_OVERRUN_S_PER_NODE_AND_VEHICLE = 2e-6
# Restoring a start with lunches can take OR-Tools more than its default 100 ms per LNS step, and the
# search then fails at once (bench/NOTES.md, "Warm start").
_WARM_LNS_TIME_LIMIT_MS = 1000
# Local search operators that rebuild whole routes by insertion and do not look at the time limit while
# they do: with them the search ran seconds late (bench/NOTES.md, "Overrun").
_UNSTOPPABLE_OPERATORS = (
    "use_global_cheapest_insertion_path_lns",
    "use_local_cheapest_insertion_path_lns",
    "use_relocate_path_global_cheapest_insertion_insert_unperformed",
)


def setup_estimate_s(layout: Layout) -> float:
    """About how long building the model then loading a plan into it take."""
    lunches = sum(len(break_slots(v)) for v in layout.problem.vehicles)
    n = len(layout.nodes)
    return _BUILD_S_PER_NODE2 * n**2 + _LOAD_S_PER_NODE_AND_LUNCH * n * lunches


def _overrun_estimate_s(layout: Layout) -> float:
    """How far past its time limit the OR-Tools search may run."""
    return _OVERRUN_S_PER_NODE_AND_VEHICLE * len(layout.nodes) * len(layout.problem.vehicles)


def warm_start(layout: Layout, started: float, deadline: float) -> tuple[tuple[Route, ...] | None, bool]:
    """PyVRP's plan of the relaxed problem as the initial routes, and whether it is the answer.

    PyVRP plans for its share of the time limit, or for all of it when OR-Tools could not even build its
    model and load a plan in the rest. The routes pass the checker on their own; they are None when PyVRP
    planned nothing. They are the answer (True) when there is no time left to build the OR-Tools model.
    """
    limit_s = layout.options.time_limit_s
    alone = setup_estimate_s(layout) * 1.5 > (1 - _WARM_START_SHARE) * limit_s
    until = started + limit_s * _WARM_START_SHARE
    if alone:
        until = deadline - _WALK_S_PER_STOP * len(layout.vehicle_options) - REPAIR_S
    routes = _plan_relaxed(layout, until)
    if routes is None:
        return None, False
    return routes, alone or deadline - time.monotonic() < setup_estimate_s(layout)


def _plan_relaxed(layout: Layout, until: float) -> tuple[Route, ...] | None:
    """Plan the relaxed problem with PyVRP until `until`, and lay the nodes out again for its routes.

    Each vehicle gets no more trips than it has facility copies; its routes then size the copies.
    """
    problem = layout.problem
    trips = {problem.vehicles[v].id: len(nodes) for (v, _, _), nodes in layout.copies.items()}
    trips = {v.id: trips.get(v.id, 0) for v in problem.vehicles}
    routes = relaxed_plan(
        problem,
        time_limit_s=max(until - time.monotonic(), 0.0),
        seed=layout.options.seed,
        matrix=layout.matrix,
        max_trips=trips,
    )
    if not routes:
        return None
    kinds = (VisitKind.STOP, VisitKind.FACILITY)
    initial = {r.vehicle_id: [x.ref_id for x in r.visits if x.kind in kinds] for r in routes}
    layout.options = dataclasses.replace(layout.options, initial_routes=initial)
    layout.warm = True
    layout.lay_out()
    return tuple(routes)


def search(model: Model, deadline: float) -> Any:
    """The best assignment OR-Tools finds by `deadline`, or None when it finds none.

    It starts from the initial routes when they are feasible, else from a first plan that keeps the
    frozen prefixes; a search that returns nothing or worse than its start returns the start.
    """
    routing = model.routing
    params = _search_parameters(max(deadline - time.monotonic(), MIN_SEARCH_S))
    initial = _initial_assignment(model, params)
    if initial is None and model.frozen_nodes:
        initial = _seed_assignment(model, params, deadline)
    search_s = deadline - time.monotonic() - _overrun_estimate_s(model.layout)
    params.time_limit.FromMilliseconds(round(max(search_s, MIN_SEARCH_S) * 1000))
    if initial is None:
        return routing.SolveWithParameters(params)
    # The warm start's routes or the caller's (repaired, bench/NOTES.md "Re-plan"): with the default the
    # search from a repaired Kim 1932 re-plan failed at once.
    if model.layout.warm or model.layout.options.initial_routes is not None:
        params.lns_time_limit.FromMilliseconds(_WARM_LNS_TIME_LIMIT_MS)
    # Short of time the search may return nothing, not even its start: that start is a plan too.
    start = routing.solver().Assignment(initial)
    assignment = routing.SolveFromAssignmentWithParameters(initial, params)
    if assignment is None or assignment.ObjectiveValue() > start.ObjectiveValue():
        return start
    return assignment


def _search_parameters(seconds: float) -> Any:
    """Sequential cheapest insertion, then guided local search until the time limit.

    Sequential insertion fills one truck at a time and splits the parked stack of facility copies into
    trips; parallel insertion and savings left many stops out on large days with windows (bench/NOTES.md,
    "First solution"), and local search rarely recovers those since it cannot add a dump and a stop in one
    move.
    """
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.SEQUENTIAL_CHEAPEST_INSERTION
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    for operator in _UNSTOPPABLE_OPERATORS:
        setattr(params.local_search_operators, operator, optional_boolean_pb2.BOOL_FALSE)
    params.time_limit.FromMilliseconds(max(1, round(seconds * 1000)))
    return params


def _initial_assignment(model: Model, params: Any) -> Any:
    """The `initial_routes` as an assignment to start from, or None (with a note when unusable).

    Closes the model. Frozen prefixes head their vehicle's routes whatever the initial routes say.
    """
    layout = model.layout
    initial = layout.options.initial_routes
    if initial is None:
        return None
    frozen_ids = {ref for refs in layout.frozen_refs.values() for ref in refs if ref in layout.stop_by_id}
    routes: list[list[int]] = []
    dropped: list[str] = []
    for v, vehicle in enumerate(layout.problem.vehicles):
        refs = list(initial.get(vehicle.id, ()))
        prefix = layout.frozen_refs.get(v, [])
        if prefix and refs[: len(prefix)] == prefix:
            refs = refs[len(prefix) :]
        refs = prefix + [ref for ref in refs if ref not in frozen_ids]
        picked = pick(layout, v, refs, model.frozen_nodes.get(v, []))
        kept = {k for _, k in picked}
        dropped += [ref for k, ref in enumerate(refs) if k not in kept]
        route = [node_id for node_id, _ in picked]
        if v in layout.resume_node:
            route.insert(len(prefix), layout.resume_node[v])
        routes.append([model.manager.NodeToIndex(node_id) for node_id in route])
    if dropped:
        layout.notes.append(f"initial routes: left out what their vehicle cannot visit: {', '.join(dropped)}")
    model.routing.CloseModelWithParameters(params)
    assignment = model.routing.ReadAssignmentFromRoutes(routes, True)
    if assignment is None:
        what = "the PyVRP warm start's routes" if layout.warm else "initial routes"
        layout.notes.append(f"{what} are infeasible for this problem; the search started from scratch")
    return assignment


def _seed_assignment(model: Model, params: Any, deadline: float) -> Any:
    """A first solution that keeps the frozen prefixes, for the search to improve; None if none found.

    The insertion heuristic starts from the prefixes, and one that ends loaded would send the truck home
    full, which fails at once. For this first solution only (OR-Tools locks last one search), such a
    prefix is followed by a copy of the nearest open facility that takes its stream; the search then
    starts from the routes found, where that dump may move.
    """
    routing, layout = model.routing, model.layout
    if layout.options.initial_routes is None:  # else `_initial_assignment` closed it
        routing.CloseModelWithParameters(params)
    routing.ApplyLocksToAllVehicles(_seed_locks(model), False)
    first_only = pywrapcp.DefaultRoutingSearchParameters()
    first_only.CopyFrom(params)
    first_only.solution_limit = 1
    first_only.time_limit.FromMilliseconds(round(max(deadline - time.monotonic(), MIN_SEARCH_S) * 1000))
    first = routing.SolveWithParameters(first_only)
    routing.ApplyLocksToAllVehicles([[] for _ in layout.problem.vehicles], False)
    if first is None:
        if routing.status() == routing_enums_pb2.RoutingSearchStatus.ROUTING_FAIL_TIMEOUT:
            layout.notes.append("the time ran out before a first plan that keeps the frozen visits")
        else:
            layout.notes.append("no plan keeps the frozen visits: check them against the problem")
        return None
    routes = []
    for v in range(len(layout.problem.vehicles)):
        route, index = [], first.Value(routing.NextVar(routing.Start(v)))
        while not routing.IsEnd(index):
            route.append(index)
            index = first.Value(routing.NextVar(index))
        routes.append(route)
    return routing.ReadAssignmentFromRoutes(routes, True)


def _seed_locks(model: Model) -> list[list[int]]:
    """Per vehicle, the indices its first plan starts with: its frozen prefix, resume node and a dump."""
    layout, manager = model.layout, model.manager
    locks: list[list[int]] = []
    for v in range(len(layout.problem.vehicles)):
        chain = model.frozen_nodes.get(v, [])
        lock = [manager.NodeToIndex(n) for n in chain]
        if v in layout.resume_node:
            lock.append(manager.NodeToIndex(layout.resume_node[v]))
        if chain and layout.nodes[chain[-1]].kind is VisitKind.STOP:
            last = layout.nodes[chain[-1]]
            free = [
                n
                for (cv, _, stream), nodes in layout.copies.items()
                if cv == v and stream == last.stream
                for n in nodes
                if n not in chain
            ]
            if free:
                nearest = min(
                    free, key=lambda n: int(layout.matrix.durations_s[last.row, layout.nodes[n].row])
                )
                lock.append(manager.NodeToIndex(nearest))
        locks.append(lock)
    return locks
