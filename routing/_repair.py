"""Initial routes made feasible before the search: each walked, the missing stops inserted where cheapest.

OR-Tools takes a starting plan only whole: one route it finds infeasible (a trip overfull, a lunch that no
longer fits once a truck runs late) and the search starts from scratch, which throws away every crew's
order. And it has no move that adds a stop together with the dump it needs, so the stops of a broken-down
truck, handed to it unperformed, mostly stay out (bench/NOTES.md, "Re-plan"). So, before the search, each
initial route is walked as `routing._pyvrp` walks PyVRP's (earliest times, the lunch where it is due, the
caps), what does not fit is left out, and every mandatory stop on no route is then inserted where it adds
the least distance with every other stop still served: next to the stops nearest to it, as a trip of its
own at the end of a day, or on an idle vehicle (a stop that fits nowhere takes the place of a nearby stop
that fits elsewhere); then, while time is left, each stop so inserted is taken
out and inserted again where it now adds least, as long as that shortens the plan (a short local search
that moves only the stops that had to move). The routes so made pass `check` on their own.

Vehicles the walk does not model (compartmented bodies, vehicles with frozen visits) keep their initial
routes as given and take no inserted stop.

In an intraday re-plan (`SolveOptions.now_s`), the stops a crew's remaining order had and the walk kept
stay on that crew's truck for the search (`Layout.pinned`), which may reorder them but not hand them to
another truck: left free, OR-Tools' search re-balanced half the stops of the day for a small saving
(bench/NOTES.md, "Re-plan"). The stops inserted may still move.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import numpy as np

from routing._layout import Layout
from routing._matrix import Matrix
from routing._model import Problem, Route, Stop, Vehicle, VisitKind
from routing._pyvrp import Day, can_serve, refs_of

__all__ = ["Inserter", "repair", "stops_of"]

# Where to try a stop: next to this many of the nearest stops served (as `routing._pyvrp` does).
_NEAREST = 8
# A note names at most this many stops.
_NAMED = 5


def repair(layout: Layout, until: float) -> tuple[Route, ...] | None:
    """Walk the layout's initial routes and insert the mandatory stops they miss, until `until`.

    Replaces `layout.options.initial_routes` with the repaired sequences, pins the stops kept in a
    re-plan and notes the stops the walk moved. Returns the repaired routes when they make a whole plan
    (every vehicle walked), else None.
    """
    problem, options = layout.problem, layout.options
    initial = dict(options.initial_routes or {})
    walkable = [
        k for k, v in enumerate(problem.vehicles) if not v.compartments and k not in layout.frozen_refs
    ]
    walked = dataclasses.replace(
        problem, vehicles=tuple(_from_now(problem.vehicles[k], options.now_s) for k in walkable)
    )
    routes: dict[str, Route] = {}
    for vehicle in walked.vehicles:
        route = Day(walked, layout.matrix, vehicle, None).walk(initial.get(vehicle.id, ()))
        if route is not None:
            routes[vehicle.id] = route
    kept = {ref for route in routes.values() for ref in stops_of(route)}
    dropped = [ref for v in walked.vehicles for ref in initial.get(v.id, ()) if _is_stop(layout, ref, kept)]
    if options.now_s is not None:
        by_id = {v.id: k for k, v in enumerate(problem.vehicles)}
        layout.pinned = {
            layout.stop_by_id[ref]: by_id[v] for v, route in routes.items() for ref in stops_of(route)
        }
    as_given = {
        v.id: initial[v.id] for k, v in enumerate(problem.vehicles) if k not in walkable and v.id in initial
    }
    inserter = Inserter(walked, layout.matrix, routes)
    missing = _missing(layout, kept | {ref for refs in as_given.values() for ref in refs})
    inserter.insert(missing, until)
    inserter.improve(missing, until)
    sequences = {vehicle_id: refs_of(route) for vehicle_id, route in routes.items()}
    layout.options = dataclasses.replace(options, initial_routes=as_given | sequences)
    if dropped:
        layout.notes.append(_dropped_note(dropped, routes))
    if len(walkable) < len(problem.vehicles):
        return None
    return tuple(routes[v.id] for v in problem.vehicles if v.id in routes)


def _is_stop(layout: Layout, ref: str, kept: set[str]) -> bool:
    """Whether `ref` names a stop the walk left out."""
    return ref in layout.stop_by_id and ref not in kept


def _missing(layout: Layout, served: set[str]) -> list[Stop]:
    """The mandatory stops to insert: plannable, not frozen, on no route, in problem order."""
    stops = layout.problem.stops
    return [
        stops[i]
        for i in sorted(layout.vehicle_options)
        if stops[i].required and i not in layout.frozen_stops and stops[i].id not in served
    ]


def _from_now(vehicle: Vehicle, now_s: int | None) -> Vehicle:
    """The vehicle as a re-plan at `now_s` lets it work: from then on (as `routing._build` bounds it)."""
    if now_s is None or now_s <= vehicle.shift.start_s:
        return vehicle
    latest = vehicle.latest_departure_s
    return dataclasses.replace(
        vehicle,
        shift=dataclasses.replace(vehicle.shift, start_s=min(now_s, vehicle.shift.end_s)),
        latest_departure_s=None if latest is None else max(latest, now_s),
    )


def _dropped_note(dropped: list[str], routes: dict[str, Route]) -> str:
    """What the walk left out of the initial routes, and whether it went back in."""
    served = {ref for route in routes.values() for ref in refs_of(route)}
    named = ", ".join(dropped[:_NAMED]) + (
        f" and {len(dropped) - _NAMED} more" if len(dropped) > _NAMED else ""
    )
    back = all(ref in served for ref in dropped)
    where = (
        "inserted again where they fit best" if back else "left to the search where they did not fit again"
    )
    return f"initial routes infeasible as given: {named} left out where they were, {where}"


class Inserter:
    """Cheapest feasible insertion of stops into walked routes.

    Parameters
    ----------
    problem : Problem
        The problem, its vehicles those that may take a stop: each has a route in `routes` or is idle.
    matrix : Matrix
        Travel between the problem's locations.
    routes : dict of str to Route
        Vehicle id to its walked day; changed in place as stops go in.
    split_trips : bool, optional
        Also try each stop with a dump of its own just before or after it, which splits a full trip in
        two (the walk never adds a dump mid-route).
    """

    def __init__(
        self, problem: Problem, matrix: Matrix, routes: dict[str, Route], *, split_trips: bool = False
    ) -> None:
        self.problem = problem
        self.split_trips = split_trips
        self.matrix = matrix
        self.routes = routes
        n_depots = len(problem.depots)
        self.row = {d.id: j for j, d in enumerate(problem.depots)}
        self.row.update({f.id: n_depots + k for k, f in enumerate(problem.facilities)})
        first = n_depots + len(problem.facilities)
        self.row.update({s.id: first + i for i, s in enumerate(problem.stops)})
        self.stops = {s.id for s in problem.stops}
        # Per stream, the facilities that take it: their ids and matrix rows, for `_splits`.
        streams = {s.stream for s in problem.stops}
        self.facility_ids = {
            stream: [f.id for f in problem.facilities if stream in f.streams] for stream in streams
        }
        self.facility_rows = {
            stream: np.array([self.row[f] for f in ids]) for stream, ids in self.facility_ids.items() if ids
        }

    def insert(self, stops: Sequence[Stop], until: float) -> None:
        """Insert each stop where it adds the least distance, while time is left; then place the stops
        that fit nowhere by taking a nearby stop out for it, if that one fits elsewhere."""
        left = []
        for stop in stops:
            if time.monotonic() > until:
                return
            if not self.place(stop):
                left.append(stop)
        for stop in left:
            if time.monotonic() > until:
                return
            self.eject(stop)

    def eject(self, stop: Stop) -> bool:
        """Put `stop` in the place of one of the stops served nearest to it, which is inserted again
        elsewhere; whether that worked."""
        stops = {s.id: s for s in self.problem.stops}
        d, here = self.matrix.distances_m, self.row[stop.id]
        fitting = {v.id: v for v in self.problem.vehicles if can_serve(v, stop)}
        owner = {ref: vid for vid, route in self.routes.items() if vid in fitting for ref in stops_of(route)}
        for ref in sorted(owner, key=lambda ref: int(d[self.row[ref], here]))[:_NEAREST]:
            before, vehicle_id = dict(self.routes), owner[ref]
            refs = refs_of(self.routes[vehicle_id])
            swapped = [stop.id if r == ref else r for r in refs]
            route = Day(self.problem, self.matrix, fitting[vehicle_id], None).walk(swapped)
            wanted = set(stops_of(self.routes[vehicle_id])) - {ref} | {stop.id}
            if route is None or set(stops_of(route)) != wanted:
                continue
            self.routes[vehicle_id] = route
            if self.place(stops[ref]):
                return True
            self.routes.clear()
            self.routes.update(before)
        return False

    def improve(self, stops: Sequence[Stop], until: float) -> None:
        """Take each stop out and insert it again where it now adds least, in rounds while that shortens
        the plan and time is left.

        Inserted one at a time in problem order, the first stops of a cluster open trips that the later
        ones would have placed better (bench/NOTES.md, "Re-plan").
        """
        gained = True
        while gained:
            gained = False
            for stop in stops:
                if time.monotonic() > until:
                    return
                gained = self._reinsert(stop) or gained

    def _reinsert(self, stop: Stop) -> bool:
        """Move one stop to where it adds least, if that shortens the plan; whether it did."""
        holder = next((vid for vid, route in self.routes.items() if stop.id in stops_of(route)), None)
        if holder is None:
            return False
        before, distance = dict(self.routes), self._distance()
        old = self.routes[holder]
        vehicle = next(v for v in self.problem.vehicles if v.id == holder)
        rest = [ref for ref in refs_of(old) if ref != stop.id]
        without = Day(self.problem, self.matrix, vehicle, None).walk(rest)
        if without is None:
            del self.routes[holder]
        elif set(stops_of(without)) != set(stops_of(old)) - {stop.id}:
            return False
        else:
            self.routes[holder] = without
        self.place(stop)
        placed = any(stop.id in stops_of(route) for route in self.routes.values())
        if placed and self._distance() < distance:
            return True
        self.routes.clear()
        self.routes.update(before)
        return False

    def _distance(self) -> int:
        return sum(route.distance_m for route in self.routes.values())

    def place(self, stop: Stop) -> bool:
        """Insert one stop at its cheapest feasible place, if any; whether there was one.

        Places are tried in the order of the distance they would add on the way (a detour estimate), and
        the walks stop once that estimate exceeds the best place found: the walk's dumps may change the
        true cost a little, which the order does not know.
        """
        fit = [v for v in self.problem.vehicles if can_serve(v, stop)]
        tries = sorted(self._tries(stop, fit), key=lambda t: t[0])
        best: tuple[int, Route] | None = None
        for estimate, vehicle, refs in tries:
            if best is not None and estimate >= best[0]:
                break
            route = Day(self.problem, self.matrix, vehicle, None).walk(refs)
            before = self.routes.get(vehicle.id)
            wanted = {stop.id, *([] if before is None else stops_of(before))}
            if route is None or set(stops_of(route)) != wanted:
                continue
            added = route.distance_m - (0 if before is None else before.distance_m)
            if best is None or added < best[0]:
                best = (added, route)
        if best is None:
            return False
        self.routes[best[1].vehicle_id] = best[1]
        return True

    def _tries(self, stop: Stop, fit: list[Vehicle]) -> list[tuple[int, Vehicle, list[str]]]:
        """Places to try, each with its detour estimate: next to the nearest stops served, at the end of
        each day that can take it, or alone on an idle vehicle."""
        d = self.matrix.distances_m
        here = self.row[stop.id]
        fitting = {v.id: v for v in fit}
        owner = {ref: vid for vid, route in self.routes.items() if vid in fitting for ref in stops_of(route)}
        near = sorted(owner, key=lambda ref: int(d[self.row[ref], here]))[:_NEAREST]
        tries: list[tuple[int, Vehicle, list[str]]] = []
        for ref in near:
            vehicle = fitting[owner[ref]]
            refs = refs_of(self.routes[vehicle.id])
            at = refs.index(ref)
            path = [vehicle.start_depot, *refs, vehicle.end_depot]
            for k in (at, at + 1):
                a, b = self.row[path[k]], self.row[path[k + 1]]
                tries.append(
                    (int(d[a, here] + d[here, b] - d[a, b]), vehicle, [*refs[:k], stop.id, *refs[k:]])
                )
                if self.split_trips and self._inside_trip(path, k):
                    tries += self._splits(stop, vehicle, refs, k, (a, b))
        for vehicle in fit:
            refs = refs_of(self.routes[vehicle.id]) if vehicle.id in self.routes else []
            last = self.row[refs[-1] if refs else vehicle.start_depot]
            end = self.row[vehicle.end_depot]
            tries.append((int(d[last, here] + d[here, end] - d[last, end]), vehicle, [*refs, stop.id]))
        return tries

    def _inside_trip(self, path: list[str], k: int) -> bool:
        """Whether the gap after `path[k]` lies between two stops, where a dump would split a trip."""
        return path[k] in self.stops and path[k + 1] in self.stops

    def _splits(
        self, stop: Stop, vehicle: Vehicle, refs: list[str], k: int, gap: tuple[int, int]
    ) -> list[tuple[int, Vehicle, list[str]]]:
        """`stop` in the gap before `refs[k]`, with a dump just before it or just after it, each at the
        facility taking its stream that makes the least detour there."""
        rows = self.facility_rows.get(stop.stream)
        if rows is None:
            return []
        d, here, (a, b) = self.matrix.distances_m, self.row[stop.id], gap
        before = d[a, rows] + d[rows, here]
        after = d[here, rows] + d[rows, b]
        f_before, f_after = int(before.argmin()), int(after.argmin())
        base = int(d[a, b])
        return [
            (
                int(before[f_before] + d[here, b]) - base,
                vehicle,
                [*refs[:k], self.facility_ids[stop.stream][f_before], stop.id, *refs[k:]],
            ),
            (
                int(d[a, here] + after[f_after]) - base,
                vehicle,
                [*refs[:k], stop.id, self.facility_ids[stop.stream][f_after], *refs[k:]],
            ),
        ]


def stops_of(route: Route) -> list[str]:
    """The stop ids of a route."""
    return [x.ref_id for x in route.visits if x.kind is VisitKind.STOP]
