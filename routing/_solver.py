"""The OR-Tools model: disposal trips as facility copies, breaks, prizes, and solution extraction.

Also day caps and overtime (span bounds of the time dimension), skills (the vehicles a stop's nodes
allow), release times (a `trip` dimension, see `_Model._add_release`), frozen prefixes (bound next
variables, see `_Model._freeze`) and warm starts (`ReadAssignmentFromRoutes`), from a previous plan or
from PyVRP's plan of a relaxed problem (`routing._pyvrp`, `SolveOptions.warm_start`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from ortools.util import optional_boolean_pb2

from routing._matrix import Matrix
from routing._model import (
    LUNCH,
    REST,
    CostBreakdown,
    Problem,
    Route,
    Skipped,
    SkipReason,
    Solution,
    SolveOptions,
    TimeWindow,
    Vehicle,
    Visit,
    VisitKind,
)
from routing._pyvrp import REPAIR_S, relaxed_plan
from routing._validate import FieldViolation, ProblemError, validate, validate_options

__all__ = ["solve"]

# OR-Tools works in integers: cost units are multiplied by _COST_SCALE (1 €/km → 100 per metre, 30 €/h →
# 833 per second) and litres or kilograms by _LOAD_SCALE so that fractional volumes keep two decimals.
_COST_SCALE = 100_000
_LOAD_SCALE = 100
# The search stops this long before the deadline so that extraction still fits in the caller's budget.
_EXTRACTION_MARGIN_S = 0.05
_MIN_SEARCH_S = 0.05


def solve(problem: Problem, options: SolveOptions = SolveOptions()) -> Solution:  # noqa: B008
    """Plan the day: validate, build the OR-Tools model, search within `options.time_limit_s`, extract."""
    started = time.monotonic()
    validate(problem)
    validate_options(options, problem)
    if _tries_both(problem, options):
        return _best_of_both(problem, options, started)
    return _solve(problem, options, started)


def _solve(problem: Problem, options: SolveOptions, started: float) -> Solution:
    """`solve` for a valid problem, one way: from the warm start or not, as `options` say."""
    matrix = problem.matrix.matrix(problem.locations())
    warm = _wants_warm_start(problem, options)
    model = _Model(problem, matrix, options, build=not warm)
    if not model.vehicle_options:
        return _assemble(problem, (), model.skipped, "FEASIBLE", started, notes=model.notes)
    deadline = started + options.time_limit_s - _EXTRACTION_MARGIN_S
    relaxed = None
    if warm:
        # When OR-Tools could not even load a plan in its share, PyVRP has the whole time limit.
        alone = model.setup_estimate_s() * 1.5 > (1 - _WARM_START_SHARE) * options.time_limit_s
        until = started + options.time_limit_s * _WARM_START_SHARE
        if alone:
            until = deadline - _WALK_S_PER_STOP * len(model.vehicle_options) - REPAIR_S
        relaxed = model.warm_start(until)
        if relaxed is not None and (alone or deadline - time.monotonic() < model.setup_estimate_s()):
            model.notes.append(
                "too large for OR-Tools in the time limit: the plan is the PyVRP warm start's, lunch put back"
            )
            return model.solution(relaxed, started)
        model.build()
    params = model.search_parameters(max(deadline - time.monotonic(), _MIN_SEARCH_S))
    initial = model.initial_assignment(params)
    if initial is None and model.frozen_nodes:
        initial = model.seed_assignment(params, deadline)
    search_s = deadline - time.monotonic() - model.overrun_estimate_s()
    params.time_limit.FromMilliseconds(round(max(search_s, _MIN_SEARCH_S) * 1000))
    if initial is None:
        assignment = model.routing.SolveWithParameters(params)
    else:
        if relaxed is not None:
            # Restoring a start with lunches can take OR-Tools more than the default 100 ms (measured on
            # Kim 277), and the search then fails at once.
            params.lns_time_limit.FromMilliseconds(_WARM_LNS_TIME_LIMIT_MS)
        # Short of time the search may return nothing, not even its start: that start is a plan too.
        start = model.routing.solver().Assignment(initial)
        assignment = model.routing.SolveFromAssignmentWithParameters(initial, params)
        if assignment is None or assignment.ObjectiveValue() > start.ObjectiveValue():
            assignment = start
    if assignment is None:
        if relaxed is not None:
            model.notes.append(_WARM_PLAN_NOTE)
            return model.solution(relaxed, started)
        skipped = dict(model.skipped)
        for i in model.vehicle_options:
            skipped[i] = Skipped(problem.stops[i].id, SkipReason.NO_TIME, "the solver found no plan at all")
        return _assemble(problem, (), skipped, "NO_SOLUTION", started, notes=model.notes)
    routes = tuple(
        route for v in range(len(problem.vehicles)) if (route := model.route(assignment, v)) is not None
    )
    solution = model.solution(routes, started)
    # The search starts from the warm start's routes, but OR-Tools may have rejected them.
    if relaxed is not None and _rank(model.solution(relaxed, started), problem) < _rank(solution, problem):
        model.notes.append(_WARM_PLAN_NOTE)
        return model.solution(relaxed, started)
    return solution


# Share of the time limit the PyVRP warm start takes; OR-Tools has the rest (see routing/_pyvrp.py).
_WARM_START_SHARE = 0.85
# "auto" warm-starts from this many stops up; below, it tries both ways (`_best_of_both`).
_WARM_START_MIN_STOPS = 20
# How long OR-Tools takes to build the model and to load a plan into it (measured on the bench machine):
# building handles node-by-node matrices, 2.9 s for the 3 024 nodes of Kim 2100; loading a plan with
# lunches costs about 0.3 ms per node and lunch (12 s for 3 024 nodes and 19 lunches on Kim 2100, 0.6 s
# for 351 nodes and 5 lunches on Kim 277; 0.3 s on Kim 2100 without lunches). When that does not fit in
# OR-Tools' share, PyVRP takes the whole time limit and its plan, lunch put back, is the answer.
_BUILD_S_PER_NODE2 = 3.2e-7
_LOAD_S_PER_NODE_AND_LUNCH = 3e-4
# Time to keep for the walk that puts the lunch back, and for PyVRP's last iteration: 0.5 s on 2 092 stops,
# but 3e-4 s per stop still ended 0.02 s late there once (the Kim 2100 probe, 4.52 s for 4.5 s).
_WALK_S_PER_STOP = 4e-4
# OR-Tools looks at its time limit between neighbours, so it stops up to one step late. The longest
# stretches without a look, measured with a custom limit, grow with nodes times vehicles: 18 ms on RC2_4_1
# (501 nodes, 100 vehicles), 42 ms on Kim 1051 (1 500 nodes, 19 vehicles, 16 lunches), 0.27 s on
# RC2_10_1 (1 251 nodes, 250 vehicles; it ended 0.2 s late at 200 s with a margin per node alone). The
# search is given that much less (with `_UNSTOPPABLE_OPERATORS` left in, one stretch lasted 3.6 s).
_OVERRUN_S_PER_NODE_AND_VEHICLE = 2e-6
_WARM_LNS_TIME_LIMIT_MS = 1000
# Local search operators that rebuild whole routes by insertion and do not look at the time limit while
# they do: one call ran 3.6 s past a 4.3 s limit on RC2_4_1 (400 stops, 100 vehicles), and RC2_4_1 at
# 80 s, C2_2_01R0.5 and C1_2_1 at 40 s, Kim 804 at 157 s all ended late because of them. Without them
# every one of those ends on time, and the search found as good or better plans on RC201R0.5, Kim 102,
# 277, 444 and 804 (measured; the two path LNS alone overran by 1 s, the insert-unperformed one by 1.8 s;
# Kim 1051 and 1351 then end their OR-Tools phase within 10 ms of its limit).
_UNSTOPPABLE_OPERATORS = (
    "use_global_cheapest_insertion_path_lns",
    "use_local_cheapest_insertion_path_lns",
    "use_relocate_path_global_cheapest_insertion_insert_unperformed",
)
# Disposal trips OR-Tools may add to a vehicle beyond those of the warm start (see `_Model._max_trips`).
_SPARE_TRIPS = 2
_WARM_PLAN_NOTE = "OR-Tools found nothing better than the PyVRP warm start: its plan, lunch put back"


def _tries_both(problem: Problem, options: SolveOptions) -> bool:
    """Whether "auto" solves a small day both ways (see `_best_of_both`)."""
    fresh = options.initial_routes is None and not options.frozen and options.now_s is None
    return fresh and options.warm_start == "auto" and len(problem.stops) < _WARM_START_MIN_STOPS


def _best_of_both(problem: Problem, options: SolveOptions, started: float) -> Solution:
    """A small day solved by OR-Tools alone, then from the warm start, each in half the time; the better.

    Neither way wins every small day. On 29 random days of 6 to 19 stops at 0.5 s, against OR-Tools
    alone for the whole time: every mandatory stop served on three days where OR-Tools alone left one
    to four out, cheaper on six, equal on seventeen, dearer on three (by 1 to 35 %, prizes included).
    """
    half = dataclasses.replace(options, time_limit_s=options.time_limit_s / 2, warm_start="none")
    plain = _solve(problem, half, started)
    second = time.monotonic()
    rest = max(options.time_limit_s - (second - started), _MIN_SEARCH_S)
    warm = _solve(problem, dataclasses.replace(half, time_limit_s=rest, warm_start="pyvrp"), second)
    best = min((plain, warm), key=lambda solution: _rank(solution, problem))
    return dataclasses.replace(best, solve_time_s=time.monotonic() - started)


def _wants_warm_start(problem: Problem, options: SolveOptions) -> bool:
    """Whether to start from PyVRP's plan (`SolveOptions.warm_start`)."""
    if options.initial_routes is not None or options.frozen or options.now_s is not None:
        return False
    if options.warm_start == "auto":
        return len(problem.stops) >= _WARM_START_MIN_STOPS
    return options.warm_start == "pyvrp"


def _rank(solution: Solution, problem: Problem) -> tuple[int, float]:
    """Mandatory stops left out, then cost: the lower the better."""
    stops = {s.id: s for s in problem.stops}
    return sum(stops[s.stop_id].required for s in solution.skipped), solution.cost.total


@dataclass(frozen=True, slots=True)
class _Node:
    """One OR-Tools node: a depot, a facility copy or a stop, and the matrix row of its location.

    A node of kind BREAK is no break but the moment a re-planned vehicle resumes after its frozen visits:
    it sits where the last of them is, takes no time and opens at `SolveOptions.now_s`.
    """

    kind: VisitKind
    ref: int
    row: int
    service_s: int
    volume: int
    weight: int
    stream: str
    window: TimeWindow
    vehicles: tuple[int, ...]


class _Model:
    """A validated problem as an OR-Tools routing model; one instance per solve."""

    def __init__(
        self, problem: Problem, matrix: Matrix, options: SolveOptions, *, build: bool = True
    ) -> None:
        """Triage the stops and lay out the nodes; `build` the OR-Tools model too (else call `build`)."""
        self.problem = problem
        self.matrix = matrix
        self.options = options
        self.skipped: dict[int, Skipped] = {}
        self.vehicle_options: dict[int, list[int]] = {}
        self.alternatives: dict[int, list[tuple[TimeWindow, tuple[int, ...]]]] = {}
        self.stop_by_id = {s.id: i for i, s in enumerate(problem.stops)}
        self.notes: list[str] = []
        vehicle_by_id = {v.id: k for k, v in enumerate(problem.vehicles)}
        self.frozen_refs = {
            vehicle_by_id[v]: list(refs) for v, refs in (options.frozen or {}).items() if refs
        }
        self.frozen_stops = {
            self.stop_by_id[ref]
            for refs in self.frozen_refs.values()
            for ref in refs
            if ref in self.stop_by_id
        }
        self.frozen_nodes: dict[int, list[int]] = {}
        self.warm = False  # whether the initial routes come from `warm_start`
        self._triage_stops()
        if self.vehicle_options:
            self._add_nodes()
            if build:
                self._build()

    def build(self) -> None:
        """Build the OR-Tools model laid out by the constructor."""
        self._build()

    def setup_estimate_s(self) -> float:
        """About how long `build` then loading a plan take (see `_BUILD_S_PER_NODE2`)."""
        lunches = sum(len(_break_slots(v)) for v in self.problem.vehicles)
        n = len(self.nodes)
        return _BUILD_S_PER_NODE2 * n**2 + _LOAD_S_PER_NODE_AND_LUNCH * n * lunches

    def overrun_estimate_s(self) -> float:
        """How far past its time limit the OR-Tools search may run (see `_OVERRUN_S_PER_NODE_AND_VEHICLE`)."""
        return _OVERRUN_S_PER_NODE_AND_VEHICLE * len(self.nodes) * len(self.problem.vehicles)

    def warm_start(self, until: float) -> tuple[Route, ...] | None:
        """Plan the relaxed problem with PyVRP until `until` and take it as the initial routes.

        Each vehicle gets no more trips than it has facility copies. Returns the routes, which pass the
        checker on their own, or None when PyVRP planned nothing.
        """
        trips = {self.problem.vehicles[v].id: len(nodes) for (v, _, _), nodes in self.copies.items()}
        trips = {v.id: trips.get(v.id, 0) for v in self.problem.vehicles}
        routes = relaxed_plan(
            self.problem,
            time_limit_s=max(until - time.monotonic(), 0.0),
            seed=self.options.seed,
            matrix=self.matrix,
            max_trips=trips,
        )
        if not routes:
            return None
        kinds = (VisitKind.STOP, VisitKind.FACILITY)
        initial = {r.vehicle_id: [x.ref_id for x in r.visits if x.kind in kinds] for r in routes}
        self.options = dataclasses.replace(self.options, initial_routes=initial)
        self.warm = True
        self._add_nodes()
        return tuple(routes)

    def solution(self, routes: tuple[Route, ...], started: float) -> Solution:
        """A feasible plan made of `routes`, every other plannable stop skipped with a reason."""
        skipped = dict(self.skipped)
        visited = {x.ref_id for route in routes for x in route.visits if x.kind is VisitKind.STOP}
        for i in self.vehicle_options:
            if self.problem.stops[i].id not in visited:
                skipped[i] = self.why_dropped(routes, i)
        return _assemble(self.problem, routes, skipped, "FEASIBLE", started, notes=self.notes)

    def _triage_stops(self) -> None:
        """Leave out what cannot be planned at all; list each stop's windows with the vehicles that fit."""
        vehicles = self.problem.vehicles
        now = self.options.now_s
        for i, stop in enumerate(self.problem.stops):
            carriers = [k for k, v in enumerate(vehicles) if stop.stream in v.streams]
            if not carriers:
                reason = f"no vehicle carries stream {stop.stream!r}"
                self.skipped[i] = Skipped(stop.id, SkipReason.INCOMPATIBLE, reason)
                continue
            carriers = [k for k in carriers if stop.required_skills <= vehicles[k].skills]
            if not carriers:
                skills = ", ".join(sorted(stop.required_skills))
                reason = f"no vehicle carrying stream {stop.stream!r} has all of: {skills}"
                self.skipped[i] = Skipped(stop.id, SkipReason.INCOMPATIBLE, reason)
                continue
            fitting = [
                k
                for k in carriers
                if stop.volume_l <= vehicles[k].capacity_l and stop.weight_kg <= vehicles[k].capacity_kg
            ]
            windows = _merged(stop.time_windows) or [
                TimeWindow(0, max(vehicles[k].shift.end_s for k in fitting))
            ]
            # Service cannot start before the release (its trip leaves then at the earliest) nor, for what
            # is re-planned, before now.
            earliest = max(stop.release_s, 0 if now is None or i in self.frozen_stops else now)
            windows = [TimeWindow(max(w.start_s, earliest), w.end_s) for w in windows if w.end_s >= earliest]
            alternatives = []
            for window in windows:
                shifts = [vehicles[k].shift for k in fitting if _meet(window, vehicles[k].shift)]
                if shifts:
                    start = max(window.start_s, min(s.start_s for s in shifts))
                    end = min(window.end_s, max(s.end_s for s in shifts))
                    ks = tuple(k for k in fitting if _meet(window, vehicles[k].shift))
                    alternatives.append((TimeWindow(start, end), ks))
            if not alternatives:
                reason = "no time window overlaps the shift of a vehicle that can carry it"
                if earliest:
                    reason += " once the stop is released" if now is None else " from now on"
                self.skipped[i] = Skipped(stop.id, SkipReason.NO_TIME, reason)
                continue
            self.alternatives[i] = alternatives
            self.vehicle_options[i] = sorted({k for _, ks in alternatives for k in ks})
        for v, refs in self.frozen_refs.items():
            for k, ref in enumerate(refs):
                i = self.stop_by_id.get(ref, -1)
                if i >= 0 and v not in self.vehicle_options.get(i, ()):
                    skipped = self.skipped.get(i)
                    why = skipped.detail if skipped else "no time window of it meets the vehicle's shift"
                    vid = self.problem.vehicles[v].id
                    raise ProblemError([FieldViolation(f"options.frozen[{vid!r}][{k}]", why)])

    def _max_trips(self, v: int) -> int:
        """How many disposal trips vehicle `v` may need if it took every stop it can."""
        vehicle = self.problem.vehicles[v]
        frozen = self.frozen_refs.get(v, [])
        hint = list((self.options.initial_routes or {}).get(vehicle.id, ()))
        dumps = max((frozen.count(f.id) for f in self.problem.facilities), default=0)
        hinted = max(((frozen + hint).count(f.id) for f in self.problem.facilities), default=0)
        trips = max(dumps + self._planned_trips(v), hinted)
        if self.warm:
            # Every copy is a node that every neighbourhood scans: sized on the whole fleet's load, the
            # copies made 1 181 nodes of C2_2_01R0.5's 201 (49 per vehicle). The warm start's own trips
            # and a few spare ones make 279.
            trips = min(trips, hinted + _SPARE_TRIPS)
        return trips

    def _planned_trips(self, v: int) -> int:
        """Trips to allow for the work that is planned (not frozen)."""
        if self.options.max_trips_per_vehicle is not None:
            return self.options.max_trips_per_vehicle
        vehicle = self.problem.vehicles[v]
        mine = [self.problem.stops[i] for i, ks in self.vehicle_options.items() if v in ks]
        litres = sum(s.volume_l for s in mine)
        if vehicle.route_volume_cap_l is not None:
            litres = min(litres, vehicle.route_volume_cap_l)
        ratio = max(litres / vehicle.capacity_l, sum(s.weight_kg for s in mine) / vehicle.capacity_kg)
        # Trips are never perfectly full, and vehicles rarely split the work evenly.
        return min(len(mine), math.ceil(ratio * 1.25) + 1)

    def _add_nodes(self) -> None:
        problem = self.problem
        n_depots, n_facilities = len(problem.depots), len(problem.facilities)
        present = {problem.stops[i].stream for i in self.vehicle_options}
        self.present_streams = sorted(present)
        # Only depots that vehicles use become nodes: any other node would be a mandatory visit.
        used = {v.start_depot for v in problem.vehicles} | {v.end_depot for v in problem.vehicles}
        self.nodes = [
            _Node(VisitKind.DEPOT_START, d, d, 0, 0, 0, "", TimeWindow(0, 0), ())
            for d, depot in enumerate(problem.depots)
            if depot.id in used
        ]
        self.depot_node = {problem.depots[n.ref].id: k for k, n in enumerate(self.nodes)}
        # Facility copies of (vehicle, facility, stream), in node order.
        self.copies: dict[tuple[int, int, str], list[int]] = {}
        for v, vehicle in enumerate(problem.vehicles):
            trips = self._max_trips(v)
            for f, facility in enumerate(problem.facilities):
                if not _meet(facility.opening, vehicle.shift):
                    continue
                opening = TimeWindow(
                    max(facility.opening.start_s, vehicle.shift.start_s),
                    min(facility.opening.end_s, vehicle.shift.end_s),
                )
                for stream in sorted(vehicle.streams & facility.streams & present):
                    copy = _Node(
                        VisitKind.FACILITY, f, n_depots + f, facility.dump_s, 0, 0, stream, opening, (v,)
                    )
                    self.copies[v, f, stream] = list(range(len(self.nodes), len(self.nodes) + trips))
                    self.nodes.extend([copy] * trips)
        order = list(self.alternatives)
        if self.options.seed:
            order = [order[j] for j in np.random.default_rng(self.options.seed).permutation(len(order))]
        # A stop with several windows becomes one node per window, in a disjunction so that exactly one is
        # served: holes punched with RemoveInterval made the first solution 100 times slower (measured).
        # A frozen stop is the exception: pinned in place, it is one node whose window has holes, so that
        # the solver and not a guess picks the window it was served in.
        self.stop_nodes: dict[int, list[int]] = {}
        self.holes: dict[int, list[tuple[int, int]]] = {}
        for i in order:
            stop = problem.stops[i]
            volume = math.ceil(stop.volume_l * _LOAD_SCALE)
            weight = math.ceil(stop.weight_kg * _LOAD_SCALE)
            row = n_depots + n_facilities + i
            alternatives = self.alternatives[i]
            if i in self.frozen_stops and len(alternatives) > 1:
                windows = [w for w, _ in alternatives]
                self.holes[len(self.nodes)] = [
                    (a.end_s + 1, b.start_s - 1) for a, b in itertools.pairwise(windows)
                ]
                ks = tuple(sorted({k for _, ks in alternatives for k in ks}))
                alternatives = [(TimeWindow(windows[0].start_s, windows[-1].end_s), ks)]
            for window, ks in alternatives:
                self.stop_nodes.setdefault(i, []).append(len(self.nodes))
                self.nodes.append(
                    _Node(VisitKind.STOP, i, row, stop.service_s, volume, weight, stop.stream, window, ks)
                )
        self.resume_node: dict[int, int] = {}
        if self.options.now_s is not None:
            horizon = max(v.shift.end_s for v in problem.vehicles)
            facility_row = {f.id: n_depots + k for k, f in enumerate(problem.facilities)}
            for v, refs in self.frozen_refs.items():
                i = self.stop_by_id.get(refs[-1], -1)
                row = n_depots + n_facilities + i if i >= 0 else facility_row[refs[-1]]
                self.resume_node[v] = len(self.nodes)
                window = TimeWindow(self.options.now_s, horizon)
                self.nodes.append(_Node(VisitKind.BREAK, -1, row, 0, 0, 0, "", window, (v,)))

    def _build(self) -> None:
        problem = self.problem
        vehicles = problem.vehicles
        self.manager = manager = pywrapcp.RoutingIndexManager(
            len(self.nodes),
            len(vehicles),
            [self.depot_node[v.start_depot] for v in vehicles],
            [self.depot_node[v.end_depot] for v in vehicles],
        )
        self.routing = routing = pywrapcp.RoutingModel(manager)
        rows = np.array([n.row for n in self.nodes], dtype=np.intp)
        distances = self.matrix.distances_m[np.ix_(rows, rows)]
        durations = self.matrix.durations_s[np.ix_(rows, rows)]
        service = np.array([n.service_s for n in self.nodes], dtype=np.int64)

        horizon = max(v.shift.end_s for v in vehicles)
        arc_cost_by_rate: dict[float, int] = {}
        for v, vehicle in enumerate(vehicles):
            if vehicle.cost_per_km not in arc_cost_by_rate:
                costs = np.rint(distances * (vehicle.cost_per_km / 1000 * _COST_SCALE)).astype(np.int64)
                arc_cost_by_rate[vehicle.cost_per_km] = routing.RegisterTransitMatrix(costs.tolist())
            routing.SetArcCostEvaluatorOfVehicle(arc_cost_by_rate[vehicle.cost_per_km], v)
            routing.SetFixedCostOfVehicle(round(vehicle.fixed_cost * _COST_SCALE), v)

        # Service and dump times ride on the arc leaving the node, so a cumul is the start of service.
        transit = durations + service[:, None]
        # Copies of one facility chain for free (the dump is charged on leaving the last one), so a
        # heuristic can park a stack of them on a route and later split trips by inserting stops in
        # between: inserting a lone copy always costs a detour and never pays on its own. Chaining copies
        # of different facilities is never useful and is forbidden.
        facility_of = np.array([n.ref if n.kind is VisitKind.FACILITY else -1 for n in self.nodes])
        is_copy = facility_of >= 0
        transit[np.ix_(is_copy, is_copy)] = horizon + 1
        same = is_copy[:, None] & (facility_of[:, None] == facility_of[None, :])
        transit[same] = 0
        time_cb = routing.RegisterTransitMatrix(transit.tolist())
        routing.AddDimension(time_cb, horizon, horizon, False, "time")
        self.time = time_dim = routing.GetDimensionOrDie("time")
        for v, vehicle in enumerate(vehicles):
            for index in (routing.Start(v), routing.End(v)):
                time_dim.CumulVar(index).SetRange(vehicle.shift.start_s, vehicle.shift.end_s)
            if vehicle.latest_departure_s is not None:
                # A re-planned vehicle still at its depot leaves from now on, however late that is.
                latest = max(vehicle.latest_departure_s, self.options.now_s or 0)
                time_dim.CumulVar(routing.Start(v)).SetMax(latest)
            if vehicle.cost_per_hour:
                coefficient = round(vehicle.cost_per_hour / 3600 * _COST_SCALE)
                time_dim.SetSpanCostCoefficientForVehicle(coefficient, v)
            # The span runs from the Start to the End cumul, which is the day the checker measures.
            if vehicle.max_duration_s is not None:
                time_dim.SetSpanUpperBoundForVehicle(vehicle.max_duration_s, v)
            if vehicle.overtime_after_s is not None and vehicle.overtime_cost_per_hour:
                coefficient = round(vehicle.overtime_cost_per_hour / 3600 * _COST_SCALE)
                bound = pywrapcp.BoundCost(vehicle.overtime_after_s, coefficient)
                time_dim.SetSoftSpanUpperBoundForVehicle(bound, v)
            # Without an hourly cost the schedule is free: come back as early as possible, then leave as late
            # as that allows, so a day does not open with idle waiting.
            routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(routing.End(v)))
            routing.AddVariableMaximizedByFinalizer(time_dim.CumulVar(routing.Start(v)))

        volume = [n.volume for n in self.nodes]
        self._add_load("load_l", volume, [v.capacity_l for v in vehicles])
        weight = [n.weight for n in self.nodes]
        if any(weight):
            self._add_load("load_kg", weight, [v.capacity_kg for v in vehicles])
        if any(v.route_volume_cap_l is not None for v in vehicles):
            caps = [
                sum(volume)
                if v.route_volume_cap_l is None
                else math.floor(v.route_volume_cap_l * _LOAD_SCALE)
                for v in vehicles
            ]
            cb = routing.RegisterUnaryTransitVector(volume)
            routing.AddDimensionWithVehicleCapacity(cb, 0, caps, True, "collected_l")
        if any(v.max_stops is not None for v in vehicles):
            caps = [len(self.nodes) if v.max_stops is None else v.max_stops for v in vehicles]
            cb = routing.RegisterUnaryTransitVector([int(n.kind is VisitKind.STOP) for n in self.nodes])
            routing.AddDimensionWithVehicleCapacity(cb, 0, caps, True, "stops")

        penalty = self._required_penalty(distances)
        # Allowed vehicles go on the vehicle variable (-1 = unperformed): the 9.15 wheel cannot convert a
        # Python list to the absl::Span that SetAllowedVehiclesForIndex takes.
        stream_type = {s: k for k, s in enumerate(self.present_streams)}
        multi_stream = any(len(v.streams & stream_type.keys()) > 1 for v in vehicles)
        for node_id, node in enumerate(self.nodes):
            if node.kind is VisitKind.DEPOT_START:
                continue
            index = manager.NodeToIndex(node_id)
            time_dim.CumulVar(index).SetRange(node.window.start_s, node.window.end_s)
            for a, b in self.holes.get(node_id, []):
                time_dim.CumulVar(index).RemoveInterval(a, b)
            routing.VehicleVar(index).SetValues([-1, *node.vehicles])
            if node.kind is VisitKind.FACILITY:
                routing.AddDisjunction([index], 0)
            if multi_stream and node.kind is not VisitKind.BREAK:
                # One stream per route: a truck body is not compartmented, and facility copies carry the
                # stream they dump so that a glass route cannot unload at a residual-only copy.
                routing.SetVisitType(index, stream_type[node.stream], routing.TYPE_ADDED_TO_VEHICLE)
        for i, node_ids in self.stop_nodes.items():
            stop = problem.stops[i]
            indices = [manager.NodeToIndex(n) for n in node_ids]
            routing.AddDisjunction(indices, penalty if stop.required else round(stop.prize * _COST_SCALE))
        if multi_stream:
            for a, b in itertools.combinations(stream_type.values(), 2):
                routing.AddHardTypeIncompatibility(a, b)
        self._add_release()
        self._freeze()

        # Breaks may interrupt driving or waiting, never a service or a dump.
        self.breaks: dict[int, list[tuple[str, Any]]] = {}
        visit_transits = [self.nodes[manager.IndexToNode(i)].service_s for i in range(routing.Size())]
        solver = routing.solver()
        for v, vehicle in enumerate(vehicles):
            breaks: list[tuple[str, Any]] = []
            slots = _break_slots(vehicle)
            for k, ref in enumerate(slots):
                if ref == LUNCH:
                    assert vehicle.lunch is not None
                    lunch = vehicle.lunch
                    earliest, latest, duration = (
                        lunch.earliest_start_s,
                        lunch.latest_start_s,
                        lunch.duration_s,
                    )
                else:
                    assert vehicle.driving_rule is not None
                    duration = vehicle.driving_rule.break_s
                    earliest, latest = vehicle.shift.start_s, vehicle.shift.end_s
                # Rests are not optional intervals although a short day needs none: with optional ones
                # OR-Tools found no first plan whenever a rest was due (measured on the test road); an
                # unneeded rest goes after the day's end, off duty, and the route shows none.
                interval = solver.FixedDurationIntervalVar(
                    earliest, latest, duration, False, f"{ref} {v} {k}"
                )
                breaks.append((ref, interval))
            if breaks:
                time_dim.SetBreakIntervalsOfVehicle([b for _, b in breaks], v, visit_transits)
                self.breaks[v] = breaks
            rule = vehicle.driving_rule
            if rule is not None:
                # Every break of at least `break_s` counts, the lunch included, and so do the nights.
                time_dim.SetBreakDistanceDurationOfVehicle(rule.max_driving_s, rule.break_s, v)

    def _add_release(self) -> None:
        """Each trip leaves its start point no earlier than the latest release among its stops.

        A `trip` dimension carries the departure time of the current trip along the route: it equals the
        Start cumul of the time dimension at the depot, passes unchanged through stops (slack 0) and jumps,
        through the slack of a facility copy, to the end of that dump. A stop's release is a lower bound
        on its `trip` cumul. So the dump ends at or after the release (the truck waits at the facility
        before dumping rather than after it, which differs only when the facility closes meanwhile).
        """
        releases = {i: self.problem.stops[i].release_s for i in self.stop_nodes}
        if not any(releases.values()):
            return
        routing, manager, time_dim = self.routing, self.manager, self.time
        horizon = max(v.shift.end_s for v in self.problem.vehicles)
        routing.AddConstantDimensionWithSlack(0, horizon, horizon, False, "trip")
        trip = routing.GetDimensionOrDie("trip")
        solver = routing.solver()
        for i, node_ids in self.stop_nodes.items():
            for node_id in node_ids:
                index = manager.NodeToIndex(node_id)
                trip.SlackVar(index).SetValue(0)
                trip.CumulVar(index).SetMin(releases[i])
        for node_id in self.resume_node.values():
            trip.SlackVar(manager.NodeToIndex(node_id)).SetValue(0)
        for v in range(len(self.problem.vehicles)):
            start = routing.Start(v)
            trip.SlackVar(start).SetValue(0)
            solver.Add(trip.CumulVar(start) == time_dim.CumulVar(start))
        for node_id, node in enumerate(self.nodes):
            if node.kind is VisitKind.FACILITY:
                index = manager.NodeToIndex(node_id)
                solver.Add(
                    trip.CumulVar(index) + trip.SlackVar(index) == time_dim.CumulVar(index) + node.service_s
                )

    def _freeze(self) -> None:
        """Pin each frozen prefix at the head of its route; with `now_s`, start the rest no earlier.

        A vehicle with frozen visits passes its resume node right after them, so it leaves the last one at
        `now_s` or later; any other vehicle leaves its depot then, and nothing else opens earlier.
        """
        routing, manager, time_dim = self.routing, self.manager, self.time
        vehicles = self.problem.vehicles
        for v, refs in self.frozen_refs.items():
            picked = self._pick(v, refs, [])
            chain = [node_id for node_id, _ in picked]
            if len(chain) != len(refs):
                missing = next(k for k, (_, position) in enumerate([*picked, (-1, -1)]) if k != position)
                path = f"options.frozen[{vehicles[v].id!r}][{missing}]"
                raise ProblemError([FieldViolation(path, "the vehicle has no facility copy left for it")])
            self.frozen_nodes[v] = chain
            index = routing.Start(v)
            for node_id in [*chain, *([self.resume_node[v]] if v in self.resume_node else [])]:
                routing.NextVar(index).SetValue(manager.NodeToIndex(node_id))
                index = manager.NodeToIndex(node_id)
        now = self.options.now_s
        if now is None:
            return
        pinned = {node_id for chain in self.frozen_nodes.values() for node_id in chain}
        for node_id, node in enumerate(self.nodes):
            if node.kind is VisitKind.FACILITY and node_id not in pinned:
                index = manager.NodeToIndex(node_id)
                if node.window.end_s < now:
                    routing.ActiveVar(index).SetValue(0)
                else:
                    time_dim.CumulVar(index).SetMin(now)
        for v, vehicle in enumerate(vehicles):
            if v in self.frozen_nodes:
                continue
            if vehicle.shift.end_s < now:
                routing.NextVar(routing.Start(v)).SetValue(routing.End(v))
            else:
                time_dim.CumulVar(routing.Start(v)).SetMin(now)

    def _pick(self, v: int, refs: list[str], fixed: list[int]) -> list[tuple[int, int]]:
        """Nodes for vehicle `v` to visit stop and facility ids `refs` in order, with their positions.

        The first `len(fixed)` nodes are given. A stop takes the first of its window alternatives that an
        earliest-time walk along the sequence (releases included, breaks not) can still make; a facility
        takes the next unused copy for the stream its trip carries (else the first stream of the
        sequence). Ids with no node left are left out.
        """
        problem, matrix = self.problem, self.matrix
        vehicle = problem.vehicles[v]
        facility_by_id = {f.id: k for k, f in enumerate(problem.facilities)}
        # Per position: the stream of its trip and the trip's release.
        streams: list[str | None] = [None] * len(refs)
        releases = [0] * len(refs)
        trip: list[int] = []
        for k, ref in enumerate([*refs, None]):
            i = self.stop_by_id.get(ref, -1) if ref is not None else -1
            if i >= 0:
                trip.append(k)
                continue
            stops = [problem.stops[self.stop_by_id[refs[j]]] for j in trip]
            stream = stops[0].stream if stops else None
            release = max((s.release_s for s in stops), default=0)
            for j in [*trip, *([k] if k < len(refs) else [])]:
                streams[j] = stream
            for j in trip:
                releases[j] = release
            trip = []
        default_stream = next((streams[k] for k in range(len(refs)) if streams[k]), None)
        used: set[int] = set(fixed)
        picked: list[tuple[int, int]] = []
        t, row, trip_open = vehicle.shift.start_s, self.depot_node_row(vehicle.start_depot), True
        for k, ref in enumerate(refs):
            i = self.stop_by_id.get(ref, -1)
            if i >= 0:
                if trip_open:
                    t, trip_open = max(t, releases[k]), False
                candidates = [
                    n for n in self.stop_nodes.get(i, []) if v in self.nodes[n].vehicles and n not in used
                ]
                if k < len(fixed):
                    node_id = fixed[k]
                elif candidates:
                    arrival = t + int(matrix.durations_s[row, self.nodes[candidates[0]].row])
                    node_id = next(
                        (n for n in candidates if self.nodes[n].window.end_s >= arrival), candidates[-1]
                    )
                else:
                    continue
            elif ref in facility_by_id:
                f = facility_by_id[ref]
                stream = streams[k] or default_stream
                pools = [
                    nodes
                    for (cv, cf, cs), nodes in sorted(self.copies.items())
                    if cv == v and cf == f and (stream is None or cs == stream)
                ]
                free = [n for pool in pools for n in pool if n not in used]
                if k < len(fixed):
                    node_id = fixed[k]
                elif free:
                    node_id = free[0]
                else:
                    continue
                trip_open = True
            else:
                continue
            node = self.nodes[node_id]
            used.add(node_id)
            picked.append((node_id, k))
            t = max(t + int(matrix.durations_s[row, node.row]), node.window.start_s) + node.service_s
            row = node.row
        return picked

    def depot_node_row(self, depot_id: str) -> int:
        """The matrix row of a depot."""
        return self.nodes[self.depot_node[depot_id]].row

    def initial_assignment(self, params: Any) -> Any:
        """The `initial_routes` as an assignment to start from, or None (with a note when unusable).

        Closes the model. Frozen prefixes head their vehicle's routes whatever the initial routes say.
        """
        initial = self.options.initial_routes
        if initial is None:
            return None
        problem, manager = self.problem, self.manager
        frozen_ids = {ref for refs in self.frozen_refs.values() for ref in refs if ref in self.stop_by_id}
        routes: list[list[int]] = []
        dropped: list[str] = []
        for v, vehicle in enumerate(problem.vehicles):
            refs = list(initial.get(vehicle.id, ()))
            prefix = self.frozen_refs.get(v, [])
            if prefix and refs[: len(prefix)] == prefix:
                refs = refs[len(prefix) :]
            refs = prefix + [ref for ref in refs if ref not in frozen_ids]
            picked = self._pick(v, refs, self.frozen_nodes.get(v, []))
            kept = {k for _, k in picked}
            dropped += [ref for k, ref in enumerate(refs) if k not in kept]
            route = [node_id for node_id, _ in picked]
            if v in self.resume_node:
                route.insert(len(prefix), self.resume_node[v])
            routes.append([manager.NodeToIndex(node_id) for node_id in route])
        if dropped:
            self.notes.append(
                f"initial routes: left out what their vehicle cannot visit: {', '.join(dropped)}"
            )
        self.routing.CloseModelWithParameters(params)
        assignment = self.routing.ReadAssignmentFromRoutes(routes, True)
        if assignment is None:
            what = "the PyVRP warm start's routes" if self.warm else "initial routes"
            self.notes.append(f"{what} are infeasible for this problem; the search started from scratch")
        return assignment

    def seed_assignment(self, params: Any, deadline: float) -> Any:
        """A first solution that keeps the frozen prefixes, for the search to improve; None if none found.

        The insertion heuristic starts from the prefixes, and one that ends loaded would send the truck
        home full, which fails at once. For this first solution only (OR-Tools locks last one search),
        such a prefix is followed by a copy of the nearest open facility that takes its stream; the search
        then starts from the routes found, where that dump may move.
        """
        routing, manager = self.routing, self.manager
        if self.options.initial_routes is None:  # else `initial_assignment` closed it
            routing.CloseModelWithParameters(params)
        locks: list[list[int]] = []
        for v in range(len(self.problem.vehicles)):
            chain = self.frozen_nodes.get(v, [])
            lock = [manager.NodeToIndex(n) for n in chain]
            if v in self.resume_node:
                lock.append(manager.NodeToIndex(self.resume_node[v]))
            if chain and self.nodes[chain[-1]].kind is VisitKind.STOP:
                last = self.nodes[chain[-1]]
                free = [
                    n
                    for (cv, _, stream), nodes in self.copies.items()
                    if cv == v and stream == last.stream
                    for n in nodes
                    if n not in chain
                ]
                if free:
                    nearest = min(
                        free, key=lambda n: int(self.matrix.durations_s[last.row, self.nodes[n].row])
                    )
                    lock.append(manager.NodeToIndex(nearest))
            locks.append(lock)
        routing.ApplyLocksToAllVehicles(locks, False)
        first_only = pywrapcp.DefaultRoutingSearchParameters()
        first_only.CopyFrom(params)
        first_only.solution_limit = 1
        first_only.time_limit.FromMilliseconds(round(max(deadline - time.monotonic(), _MIN_SEARCH_S) * 1000))
        first = routing.SolveWithParameters(first_only)
        routing.ApplyLocksToAllVehicles([[] for _ in self.problem.vehicles], False)
        if first is None:
            if routing.status() == routing_enums_pb2.RoutingSearchStatus.ROUTING_FAIL_TIMEOUT:
                self.notes.append("the time ran out before a first plan that keeps the frozen visits")
            else:
                self.notes.append("no plan keeps the frozen visits: check them against the problem")
            return None
        routes = []
        for v in range(len(self.problem.vehicles)):
            route, index = [], first.Value(routing.NextVar(routing.Start(v)))
            while not routing.IsEnd(index):
                route.append(index)
                index = first.Value(routing.NextVar(index))
            routes.append(route)
        return routing.ReadAssignmentFromRoutes(routes, True)

    def _add_load(self, name: str, demand: list[int], capacities: list[float]) -> None:
        """A load dimension that facility copies empty (the `cvrp_reload` pattern).

        A copy's transit is `-big` with up to `big` of slack, so the load after it is anything between 0
        and the load before; `End <= 0` then forces a full dump before going home.
        """
        routing = self.routing
        caps = [math.floor(c * _LOAD_SCALE) for c in capacities]
        big = max(caps)
        transit = [
            -big if n.kind is VisitKind.FACILITY else d for n, d in zip(self.nodes, demand, strict=True)
        ]
        routing.AddDimensionWithVehicleCapacity(
            routing.RegisterUnaryTransitVector(transit), big, caps, True, name
        )
        dim = routing.GetDimensionOrDie(name)
        for node_id, node in enumerate(self.nodes):
            if node.kind in (VisitKind.STOP, VisitKind.BREAK):
                dim.SlackVar(self.manager.NodeToIndex(node_id)).SetValue(0)
        for v in range(len(capacities)):
            dim.SlackVar(routing.Start(v)).SetValue(0)
            dim.CumulVar(routing.End(v)).SetMax(0)

    def _required_penalty(self, distances: npt.NDArray[np.int64]) -> int:
        """A drop penalty above any cost that serving one mandatory stop can add.

        Too low a penalty lets the search drop mandatory stops wholesale (or-tools #976); this one exceeds
        every vehicle driving its longest arc at every node, all fixed and hourly costs and all prizes.
        """
        vehicles = self.problem.vehicles
        max_rate = max(v.cost_per_km for v in vehicles) / 1000 * _COST_SCALE
        arcs = float(distances.max(initial=0)) * max_rate * (len(self.nodes) + 1) * len(vehicles)
        horizon = max(v.shift.end_s for v in vehicles)
        hours = (
            sum(v.cost_per_hour + v.overtime_cost_per_hour for v in vehicles) / 3600 * _COST_SCALE * horizon
        )
        fixed = sum(v.fixed_cost for v in vehicles) * _COST_SCALE
        prizes = sum(s.prize for s in self.problem.stops) * _COST_SCALE
        return math.ceil(2 * (arcs + hours + fixed + prizes)) + 1

    def search_parameters(self, seconds: float) -> Any:
        """Sequential cheapest insertion, then guided local search until the time limit.

        Sequential insertion fills one truck at a time and splits the parked stack of facility copies
        into trips; parallel insertion and savings left 5 to 30 % of stops out on 170-250 stop days with
        windows (measured), and local search rarely recovers those since it cannot add a dump and a stop
        in one move.
        """
        params = pywrapcp.DefaultRoutingSearchParameters()
        params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.SEQUENTIAL_CHEAPEST_INSERTION
        params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
        for operator in _UNSTOPPABLE_OPERATORS:
            setattr(params.local_search_operators, operator, optional_boolean_pb2.BOOL_FALSE)
        params.time_limit.FromMilliseconds(max(1, round(seconds * 1000)))
        return params

    def route(self, assignment: Any, v: int) -> Route | None:
        """Vehicle `v`'s day, or None when it serves no stop; loads are recomputed to read 0 after dumps."""
        problem, routing, time_dim = self.problem, self.routing, self.time
        vehicle = problem.vehicles[v]
        path: list[tuple[_Node, int]] = []
        # Position in `path` of the last frozen visit, and when the vehicle resumes from there.
        resume: tuple[int, int] = (-1, 0)
        index = routing.Start(v)
        while True:
            node = self.nodes[self.manager.IndexToNode(index)]
            cumul = assignment.Value(time_dim.CumulVar(index))
            if node.kind is VisitKind.BREAK:
                resume = (len(path) - 1, cumul)
                index = assignment.Value(routing.NextVar(index))
                continue
            # A run of copies of one facility is a single dump, taken at the last copy (see `_build`).
            if path and node.kind is VisitKind.FACILITY and path[-1][0] == node:
                path.pop()
            path.append((node, cumul))
            if routing.IsEnd(index):
                break
            index = assignment.Value(routing.NextVar(index))
        if not any(node.kind is VisitKind.STOP for node, _ in path):
            return None
        day = (path[0][1], path[-1][1])
        # OR-Tools may schedule a break before the day starts or after it ends: that is off duty, not lunch.
        breaks = sorted(
            (start, end, ref)
            for ref, interval in self.breaks.get(v, ())
            if assignment.PerformedValue(interval)
            and (start := assignment.StartValue(interval)) < day[1]
            and (end := assignment.EndValue(interval)) > day[0]
        )
        visits = [Visit(VisitKind.DEPOT_START, vehicle.start_depot, day[0], day[0], day[0], 0.0, 0.0, 0)]
        # The release of the trip that follows each dump. The model lets a trip leave only after the dump
        # ends at or after its release, but it binds only the `trip` dimension: the time cumul read back
        # may still be the earliest dump, so the dump is started late enough here (the truck waits there).
        next_release: dict[int, int] = {}
        release = 0
        for k in reversed(range(len(path))):
            node = path[k][0]
            if node.kind is VisitKind.STOP:
                release = max(release, problem.stops[node.ref].release_s)
            elif node.kind is VisitKind.FACILITY:
                next_release[k], release = release, 0
        load_l = load_kg = 0.0
        for k, ((prev, _), (node, cumul)) in enumerate(itertools.pairwise(path), start=2):
            home, start = k == len(path), cumul
            leave = max(visits[-1].end_s, resume[1] if k - 2 == resume[0] else 0)
            arrival = leave + int(self.matrix.durations_s[prev.row, node.row])
            while breaks and breaks[0][0] < start:
                b_start, b_end, b_ref = breaks.pop(0)
                if home and b_start >= arrival:
                    continue
                visits.append(Visit(VisitKind.BREAK, b_ref, b_start, b_start, b_end, load_l, load_kg, 0))
                # A break overlapping the drive interrupts it (one taken while waiting to leave does not).
                if b_start < arrival and b_end > leave:
                    arrival += b_end - max(b_start, leave)
            start = max(start, arrival)
            if node.kind is VisitKind.STOP:
                stop = problem.stops[node.ref]
                load_l += stop.volume_l
                load_kg += stop.weight_kg
                kind, ref = VisitKind.STOP, stop.id
            elif node.kind is VisitKind.FACILITY:
                start = max(start, next_release.get(k - 1, 0) - node.service_s)
                load_l = load_kg = 0.0
                kind, ref = VisitKind.FACILITY, problem.facilities[node.ref].id
            else:
                # The day ends on arrival: the model may keep the route open to park a break after it.
                kind, ref, start = VisitKind.DEPOT_END, vehicle.end_depot, arrival
            leg = int(self.matrix.distances_m[prev.row, node.row])
            visits.append(Visit(kind, ref, arrival, start, start + node.service_s, load_l, load_kg, leg))
        distance = sum(x.distance_from_prev_m for x in visits)
        return Route(vehicle.id, tuple(visits), distance, visits[-1].start_s - visits[0].start_s)

    def why_dropped(self, routes: tuple[Route, ...], i: int) -> Skipped:
        """Best-effort reason for a stop the search left out."""
        problem = self.problem
        stop = problem.stops[i]
        if not stop.required:
            return Skipped(
                stop.id, SkipReason.NOT_WORTH_IT, f"its prize {stop.prize:g} does not pay the detour"
            )
        by_vehicle = {route.vehicle_id: route for route in routes}

        def full(k: int) -> bool:
            vehicle = problem.vehicles[k]
            route = by_vehicle.get(vehicle.id)
            served = [] if route is None else [x.ref_id for x in route.visits if x.kind is VisitKind.STOP]
            collected = sum(problem.stops[self.stop_by_id[ref]].volume_l for ref in served)
            cap = vehicle.route_volume_cap_l
            return (cap is not None and collected + stop.volume_l > cap) or (
                vehicle.max_stops is not None and len(served) >= vehicle.max_stops
            )

        if all(full(k) for k in self.vehicle_options[i]):
            reason = "every vehicle that can take it is at its daily volume or stop limit"
            return Skipped(stop.id, SkipReason.NO_CAPACITY, reason)
        reason = (
            "it does not fit in the shifts, time windows, breaks, releases and day lengths of the vehicles"
            " that can take it"
        )
        return Skipped(stop.id, SkipReason.NO_TIME, reason)


def _assemble(
    problem: Problem,
    routes: tuple[Route, ...],
    skipped: dict[int, Skipped],
    status: str,
    started: float,
    *,
    notes: list[str],
) -> Solution:
    vehicles = {v.id: v for v in problem.vehicles}
    distance = sum(r.distance_m / 1000 * vehicles[r.vehicle_id].cost_per_km for r in routes)
    hours = sum(r.duration_s / 3600 * vehicles[r.vehicle_id].cost_per_hour for r in routes)
    overtime = sum(_overtime(vehicles[r.vehicle_id], r.duration_s) for r in routes)
    fixed = sum(vehicles[r.vehicle_id].fixed_cost for r in routes)
    lost = sum(problem.stops[i].prize for i in skipped if not problem.stops[i].required)
    return Solution(
        routes,
        tuple(skipped[i] for i in sorted(skipped)),
        CostBreakdown(distance, hours, fixed, lost, distance + hours + overtime + fixed + lost, overtime),
        status,
        time.monotonic() - started,
        tuple(notes),
    )


def _overtime(vehicle: Vehicle, duration_s: int) -> float:
    """The overtime premium of a day lasting `duration_s`."""
    if vehicle.overtime_after_s is None:
        return 0.0
    return max(0, duration_s - vehicle.overtime_after_s) / 3600 * vehicle.overtime_cost_per_hour


def _break_slots(vehicle: Vehicle) -> list[str]:
    """The break intervals the model gives `vehicle`: its lunch, and as many rests as a shift could need."""
    slots = [LUNCH] if vehicle.lunch is not None else []
    rule = vehicle.driving_rule
    if rule is not None:
        # k rests cover a day of k × (max_driving_s + break_s) + max_driving_s.
        slots += [REST] * (
            (vehicle.shift.end_s - vehicle.shift.start_s) // (rule.max_driving_s + rule.break_s)
        )
    return slots


def _meet(a: TimeWindow, b: TimeWindow) -> bool:
    """Whether the two closed windows share an instant."""
    return a.start_s <= b.end_s and b.start_s <= a.end_s


def _merged(windows: tuple[TimeWindow, ...]) -> list[TimeWindow]:
    """Windows sorted, with overlapping or touching ones joined."""
    merged: list[TimeWindow] = []
    for w in sorted(windows, key=lambda w: w.start_s):
        if merged and w.start_s <= merged[-1].end_s + 1:
            merged[-1] = TimeWindow(merged[-1].start_s, max(merged[-1].end_s, w.end_s))
        else:
            merged.append(w)
    return merged
