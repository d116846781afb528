"""The nodes of the OR-Tools model: stops triaged, facility copies per trip, one node per stop window.

OR-Tools visits each node at most once, so a disposal trip is a *copy* of its facility: each vehicle gets,
for each facility it may use and each stream it may dump there, as many copies as it may need trips. A stop
with several time windows becomes one node per window (a disjunction serves exactly one). Nothing here
touches OR-Tools: `routing._build` turns a `Layout` into a routing model.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from routing._matrix import Matrix
from routing._model import Problem, Skipped, SkipReason, SolveOptions, Stop, TimeWindow, Vehicle, VisitKind
from routing._validate import FieldViolation, ProblemError, can_carry

__all__ = ["COST_SCALE", "LOAD_SCALE", "Layout", "Node", "vehicle_weight"]

# OR-Tools works in integers: cost units are multiplied by COST_SCALE (1 €/km → 100 per metre, 30 €/h →
# 833 per second) and litres or kilograms by LOAD_SCALE so that fractional volumes keep two decimals.
COST_SCALE = 100_000
LOAD_SCALE = 100
# Disposal trips OR-Tools may add to a vehicle beyond those of the warm start (see `Layout._max_trips`).
_SPARE_TRIPS = 2

# A window a stop may be served in, with the vehicles whose shift meets it.
Alternative = tuple[TimeWindow, tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class Node:
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
    # A copy of a compartmented vehicle empties this compartment (and has no stream).
    compartment: int = -1


class Layout:
    """A validated problem laid out as nodes; one instance per solve.

    The constructor triages the stops (`skipped` for what cannot be planned, `vehicle_options` for the
    rest) and, when something can be planned, lays out the nodes. `notes` collects what the solve has to
    say about its input; every stage appends to it.
    """

    def __init__(self, problem: Problem, matrix: Matrix, options: SolveOptions) -> None:
        """Triage the stops and lay out the nodes."""
        self.problem = problem
        self.matrix = matrix
        self.options = options
        self.skipped: dict[int, Skipped] = {}
        self.vehicle_options: dict[int, list[int]] = {}
        self.alternatives: dict[int, list[Alternative]] = {}
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
        self.warm = False  # whether the initial routes come from the PyVRP warm start
        self.present_streams: list[str] = []
        self.nodes: list[Node] = []
        self.depot_node: dict[str, int] = {}
        # Facility copies of (vehicle, facility, stream), in node order.
        self.copies: dict[tuple[int, int, str], list[int]] = {}
        self.stop_nodes: dict[int, list[int]] = {}
        # Per node of a frozen stop with several windows: the gaps between them.
        self.holes: dict[int, list[tuple[int, int]]] = {}
        self.resume_node: dict[int, int] = {}
        # Stops a re-plan keeps on the vehicle whose remaining order had them (`routing._repair`).
        self.pinned: dict[int, int] = {}
        self._triage_stops()
        if self.vehicle_options:
            self.lay_out()

    def lay_out(self) -> None:
        """Lay out the nodes: used depots, facility copies, stop windows, resume points.

        Called again once the warm start's routes are the initial routes, since they size the copies.
        """
        self.present_streams = sorted({self.problem.stops[i].stream for i in self.vehicle_options})
        self._add_depots()
        self._add_copies()
        self._add_stops()
        self._add_resume_nodes()

    def depot_row(self, depot_id: str) -> int:
        """The matrix row of a depot."""
        return self.nodes[self.depot_node[depot_id]].row

    def _triage_stops(self) -> None:
        """Leave out what cannot be planned at all; list each stop's windows with the vehicles that fit."""
        for i, stop in enumerate(self.problem.stops):
            triaged = _triage(self.problem.vehicles, stop, self.options.now_s, frozen=i in self.frozen_stops)
            if isinstance(triaged, Skipped):
                self.skipped[i] = triaged
                continue
            self.alternatives[i] = triaged
            self.vehicle_options[i] = sorted({k for _, ks in triaged for k in ks})
        self._check_frozen()

    def _check_frozen(self) -> None:
        """Reject a frozen stop that its vehicle cannot serve."""
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
            # Every copy is a node that every neighbourhood scans: from a warm start, its own trips and a
            # few spare ones are enough (bench/NOTES.md, "Facility copies").
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

    def _add_depots(self) -> None:
        """Start the nodes with the depots that vehicles use: any other node would be a mandatory visit."""
        problem = self.problem
        used = {v.start_depot for v in problem.vehicles} | {v.end_depot for v in problem.vehicles}
        self.nodes = [
            Node(VisitKind.DEPOT_START, d, d, 0, 0, 0, "", TimeWindow(0, 0), ())
            for d, depot in enumerate(problem.depots)
            if depot.id in used
        ]
        self.depot_node = {problem.depots[n.ref].id: k for k, n in enumerate(self.nodes)}

    def _add_copies(self) -> None:
        """Per vehicle, facility and stream both take: one copy per trip, open while both are.

        A compartmented vehicle has copies per facility and compartment instead, where the facility
        accepts all of the compartment's streams.
        """
        problem = self.problem
        n_depots = len(problem.depots)
        present = set(self.present_streams)
        self.copies = {}
        for v, vehicle in enumerate(problem.vehicles):
            trips = self._max_trips(v)
            for f, facility in enumerate(problem.facilities):
                if not _meet(facility.opening, vehicle.shift):
                    continue
                opening = TimeWindow(
                    max(facility.opening.start_s, vehicle.shift.start_s),
                    min(facility.opening.end_s, vehicle.shift.end_s),
                )
                streams = [] if vehicle.compartments else sorted(vehicle.streams & facility.streams & present)
                for stream in streams:
                    copy = Node(
                        VisitKind.FACILITY, f, n_depots + f, facility.dump_s, 0, 0, stream, opening, (v,)
                    )
                    self.copies[v, f, stream] = list(range(len(self.nodes), len(self.nodes) + trips))
                    self.nodes.extend([copy] * trips)
                for j, compartment in enumerate(vehicle.compartments):
                    if compartment.streams <= facility.streams and compartment.streams & present:
                        copy = Node(
                            VisitKind.FACILITY, f, n_depots + f, facility.dump_s, 0, 0, "", opening, (v,), j
                        )
                        key = (v, f, f"compartment {j}")
                        self.copies[key] = list(range(len(self.nodes), len(self.nodes) + trips))
                        self.nodes.extend([copy] * trips)

    def _add_stops(self) -> None:
        """One node per window of each plannable stop, in an order the seed permutes.

        A stop with several windows becomes one node per window, in a disjunction so that exactly one is
        served: holes punched in one node's window make the first solution far slower (bench/NOTES.md,
        "Stop windows"). A frozen stop is the exception: pinned in place, it is one node whose window has
        holes, so that the solver and not a guess picks the window it was served in.
        """
        problem = self.problem
        first_row = len(problem.depots) + len(problem.facilities)
        order = list(self.alternatives)
        if self.options.seed:
            order = [order[j] for j in np.random.default_rng(self.options.seed).permutation(len(order))]
        self.stop_nodes = {}
        self.holes = {}
        for i in order:
            stop = problem.stops[i]
            volume = math.ceil(stop.volume_l * LOAD_SCALE)
            weight = math.ceil(stop.weight_kg * LOAD_SCALE)
            alternatives = self.alternatives[i]
            if i in self.frozen_stops and len(alternatives) > 1:
                windows = [w for w, _ in alternatives]
                self.holes[len(self.nodes)] = [
                    (a.end_s + 1, b.start_s - 1) for a, b in itertools.pairwise(windows)
                ]
                ks = tuple(sorted({k for _, ks in alternatives for k in ks}))
                alternatives = [(TimeWindow(windows[0].start_s, windows[-1].end_s), ks)]
            for window, able in alternatives:
                ks = (self.pinned[i],) if self.pinned.get(i, -1) in able else able
                self.stop_nodes.setdefault(i, []).append(len(self.nodes))
                self.nodes.append(
                    Node(
                        VisitKind.STOP,
                        i,
                        first_row + i,
                        stop.service_s,
                        volume,
                        weight,
                        stop.stream,
                        window,
                        ks,
                    )
                )

    def _add_resume_nodes(self) -> None:
        """With `now_s`, a resume node per vehicle with frozen visits, where the last of them is."""
        problem = self.problem
        n_depots, n_facilities = len(problem.depots), len(problem.facilities)
        self.resume_node = {}
        if self.options.now_s is None:
            return
        horizon = max(v.shift.end_s for v in problem.vehicles)
        facility_row = {f.id: n_depots + k for k, f in enumerate(problem.facilities)}
        for v, refs in self.frozen_refs.items():
            i = self.stop_by_id.get(refs[-1], -1)
            row = n_depots + n_facilities + i if i >= 0 else facility_row[refs[-1]]
            self.resume_node[v] = len(self.nodes)
            window = TimeWindow(self.options.now_s, horizon)
            self.nodes.append(Node(VisitKind.BREAK, -1, row, 0, 0, 0, "", window, (v,)))


def _triage(
    vehicles: tuple[Vehicle, ...], stop: Stop, now: int | None, *, frozen: bool
) -> Skipped | list[Alternative]:
    """The stop's windows with the vehicles that can serve it in each, or why none can.

    `now` is the time of a re-plan, which a `frozen` stop (already served) ignores.
    """
    carriers = [k for k, v in enumerate(vehicles) if stop.stream in v.streams]
    if not carriers:
        reason = f"no vehicle carries stream {stop.stream!r}"
        return Skipped(stop.id, SkipReason.INCOMPATIBLE, reason)
    carriers = [k for k in carriers if stop.required_skills <= vehicles[k].skills]
    if not carriers:
        skills = ", ".join(sorted(stop.required_skills))
        reason = f"no vehicle carrying stream {stop.stream!r} has all of: {skills}"
        return Skipped(stop.id, SkipReason.INCOMPATIBLE, reason)
    fitting = [k for k in carriers if can_carry(vehicles[k], stop)]
    windows = _merged(stop.time_windows) or [TimeWindow(0, max(vehicles[k].shift.end_s for k in fitting))]
    # Service cannot start before the release (its trip leaves then at the earliest) nor, for what
    # is re-planned, before now.
    earliest = max(stop.release_s, 0 if now is None or frozen else now)
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
        return Skipped(stop.id, SkipReason.NO_TIME, reason)
    return alternatives


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


def vehicle_weight(problem: Problem, matrix: Matrix) -> float:
    """A cost per vehicle above all else a plan of `problem` can cost: distance, hours, prizes lost.

    A route has at most two arcs per stop it serves (one to it, one to a dump) plus the way out and home,
    each at most the longest arc at the dearest rate; a day costs at most its shift in hours.
    """
    arcs = 2 * (len(problem.stops) + len(problem.vehicles))
    longest = float(matrix.distances_m.max(initial=0)) / 1000
    distance = arcs * longest * max(v.cost_per_km for v in problem.vehicles)
    hours = sum(
        (v.cost_per_hour + v.overtime_cost_per_hour) * (v.shift.end_s - v.shift.start_s) / 3600
        for v in problem.vehicles
    )
    prizes = sum(s.prize for s in problem.stops if not s.required)
    return math.ceil(distance + hours + prizes) + 1.0
