"""An OR-Tools assignment read back as a `routing.Solution`: timed visits, loads, reasons for skips, costs.

The model lets OR-Tools schedule things the way its dimensions need (a run of facility copies for one
dump, breaks off duty, a dump started early); reading back turns that into the day a crew drives, which
the checker then verifies.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from routing._build import Model
from routing._layout import Layout, Node
from routing._model import (
    CostBreakdown,
    Problem,
    Route,
    Skipped,
    SkipReason,
    Solution,
    Vehicle,
    Visit,
    VisitKind,
)

__all__ = ["assemble", "read_routes", "solution"]

# A vehicle's walk through its nodes: each node with its time cumul.
_Path = list[tuple[Node, int]]
# A break taken: start, end and kind (`LUNCH` or `REST`).
_Break = tuple[int, int, str]


def read_routes(model: Model, assignment: Any) -> tuple[Route, ...]:
    """The day of each vehicle that serves a stop, in problem order."""
    vehicles = range(len(model.layout.problem.vehicles))
    return tuple(route for v in vehicles if (route := _read_route(model, assignment, v)) is not None)


def _read_route(model: Model, assignment: Any, v: int) -> Route | None:
    """Vehicle `v`'s day, or None when it serves no stop; loads are recomputed to read 0 after dumps."""
    layout = model.layout
    vehicle = layout.problem.vehicles[v]
    path, resume = _path(model, assignment, v)
    if not any(node.kind is VisitKind.STOP for node, _ in path):
        return None
    day = (path[0][1], path[-1][1])
    breaks = _breaks_taken(model, assignment, v, day)
    visits = _visits(layout, vehicle, path, resume, breaks)
    distance = sum(x.distance_from_prev_m for x in visits)
    return Route(vehicle.id, tuple(visits), distance, visits[-1].start_s - visits[0].start_s)


def _path(model: Model, assignment: Any, v: int) -> tuple[_Path, tuple[int, int]]:
    """Vehicle `v`'s nodes with their time cumuls, and where and when it resumes after frozen visits.

    The resume point is the position in the path of the last frozen visit and the time the vehicle
    leaves it, or (-1, 0).
    """
    layout, routing = model.layout, model.routing
    path: _Path = []
    resume: tuple[int, int] = (-1, 0)
    index = routing.Start(v)
    while True:
        node = layout.nodes[model.manager.IndexToNode(index)]
        cumul = assignment.Value(model.time.CumulVar(index))
        if node.kind is VisitKind.BREAK:
            resume = (len(path) - 1, cumul)
            index = assignment.Value(routing.NextVar(index))
            continue
        # A run of copies of one facility is one dump, taken at the last copy (see `routing._dimensions`),
        # whatever streams the copies stand for.
        last = path[-1][0] if path else None
        if last is not None and node.kind is last.kind is VisitKind.FACILITY and last.ref == node.ref:
            path.pop()
        path.append((node, cumul))
        if routing.IsEnd(index):
            break
        index = assignment.Value(routing.NextVar(index))
    return path, resume


def _breaks_taken(model: Model, assignment: Any, v: int, day: tuple[int, int]) -> list[_Break]:
    """Vehicle `v`'s breaks within its day, in time order.

    OR-Tools may schedule a break before the day starts or after it ends: that is off duty, not lunch.
    """
    return sorted(
        (start, end, ref)
        for ref, interval in model.breaks.get(v, ())
        if assignment.PerformedValue(interval)
        and (start := assignment.StartValue(interval)) < day[1]
        and (end := assignment.EndValue(interval)) > day[0]
    )


def _releases_after_dumps(problem: Problem, path: _Path) -> dict[int, int]:
    """Per position of a dump in `path`, the release of the trip that follows it.

    The model lets a trip leave only after the dump ends at or after its release, but it binds only the
    `trip` dimension: the time cumul read back may still be the earliest dump, so the dump is started late
    enough when read back (the truck waits there).
    """
    next_release: dict[int, int] = {}
    release = 0
    for k in reversed(range(len(path))):
        node = path[k][0]
        if node.kind is VisitKind.STOP:
            release = max(release, problem.stops[node.ref].release_s)
        elif node.kind is VisitKind.FACILITY:
            next_release[k], release = release, 0
    return next_release


def _visits(
    layout: Layout, vehicle: Vehicle, path: _Path, resume: tuple[int, int], breaks: list[_Break]
) -> list[Visit]:
    """The visits of a day driven along `path`, breaks in between, loads emptied at each dump."""
    problem = layout.problem
    day_start = path[0][1]
    # Per compartment of a compartmented vehicle: litres and kilograms on board.
    held = [[0.0, 0.0] for _ in vehicle.compartments]
    start_visit = Visit(
        VisitKind.DEPOT_START,
        vehicle.start_depot,
        day_start,
        day_start,
        day_start,
        0.0,
        0.0,
        0,
        _litres(held),
    )
    visits = [start_visit]
    next_release = _releases_after_dumps(problem, path)
    load_l = load_kg = 0.0
    for k, ((prev, _), (node, cumul)) in enumerate(itertools.pairwise(path), start=2):
        home, start = k == len(path), cumul
        leave = max(visits[-1].end_s, resume[1] if k - 2 == resume[0] else 0)
        arrival = leave + int(layout.matrix.durations_s[prev.row, node.row])
        while breaks and breaks[0][0] < start:
            b_start, b_end, b_ref = breaks.pop(0)
            if home and b_start >= arrival:
                continue
            visits.append(
                Visit(VisitKind.BREAK, b_ref, b_start, b_start, b_end, load_l, load_kg, 0, _litres(held))
            )
            # A break overlapping the drive interrupts it (one taken while waiting to leave does not).
            if b_start < arrival and b_end > leave:
                arrival += b_end - max(b_start, leave)
        start = max(start, arrival)
        if node.kind is VisitKind.STOP:
            stop = problem.stops[node.ref]
            load_l += stop.volume_l
            load_kg += stop.weight_kg
            if held:
                held[vehicle.compartment_of(stop.stream)][0] += stop.volume_l
                held[vehicle.compartment_of(stop.stream)][1] += stop.weight_kg
            kind, ref = VisitKind.STOP, stop.id
        elif node.kind is VisitKind.FACILITY:
            start = max(start, next_release.get(k - 1, 0) - node.service_s)
            facility = problem.facilities[node.ref]
            # A dump empties every compartment whose streams the facility takes (the whole of a body).
            for j, compartment in enumerate(vehicle.compartments):
                if compartment.streams <= facility.streams:
                    held[j] = [0.0, 0.0]
            load_l, load_kg = sum(h[0] for h in held), sum(h[1] for h in held)
            kind, ref = VisitKind.FACILITY, facility.id
        else:
            # The day ends on arrival: the model may keep the route open to park a break after it.
            kind, ref, start = VisitKind.DEPOT_END, vehicle.end_depot, arrival
        leg = int(layout.matrix.distances_m[prev.row, node.row])
        visits.append(
            Visit(kind, ref, arrival, start, start + node.service_s, load_l, load_kg, leg, _litres(held))
        )
    return visits


def _litres(held: list[list[float]]) -> tuple[float, ...]:
    """The litres in each compartment."""
    return tuple(h[0] for h in held)


def solution(layout: Layout, routes: tuple[Route, ...], started: float) -> Solution:
    """A feasible plan made of `routes`, every other plannable stop skipped with a reason."""
    skipped = dict(layout.skipped)
    visited = {x.ref_id for route in routes for x in route.visits if x.kind is VisitKind.STOP}
    for i in layout.vehicle_options:
        if layout.problem.stops[i].id not in visited:
            skipped[i] = _why_dropped(layout, routes, i)
    return assemble(layout.problem, routes, skipped, "FEASIBLE", started, notes=layout.notes)


def _why_dropped(layout: Layout, routes: tuple[Route, ...], i: int) -> Skipped:
    """Best-effort reason for a stop the search left out."""
    problem = layout.problem
    stop = problem.stops[i]
    if not stop.required:
        return Skipped(stop.id, SkipReason.NOT_WORTH_IT, f"its prize {stop.prize:g} does not pay the detour")
    by_vehicle = {route.vehicle_id: route for route in routes}

    def full(k: int) -> bool:
        vehicle = problem.vehicles[k]
        route = by_vehicle.get(vehicle.id)
        served = [] if route is None else [x.ref_id for x in route.visits if x.kind is VisitKind.STOP]
        collected = sum(problem.stops[layout.stop_by_id[ref]].volume_l for ref in served)
        cap = vehicle.route_volume_cap_l
        return (cap is not None and collected + stop.volume_l > cap) or (
            vehicle.max_stops is not None and len(served) >= vehicle.max_stops
        )

    # Naming the vehicles tells a dispatcher whose day to lengthen or which truck to add.
    able = [problem.vehicles[k].id for k in layout.vehicle_options[i]]
    names = ", ".join(able[:4]) + (f" and {len(able) - 4} more" if len(able) > 4 else "")
    if all(full(k) for k in layout.vehicle_options[i]):
        reason = f"every vehicle that can take it ({names}) is at its daily volume or stop limit"
        return Skipped(stop.id, SkipReason.NO_CAPACITY, reason)
    reason = (
        f"it does not fit in the days of the vehicles that can take it ({names}): shifts, time windows,"
        " breaks, releases and day lengths"
    )
    return Skipped(stop.id, SkipReason.NO_TIME, reason)


def assemble(
    problem: Problem,
    routes: tuple[Route, ...],
    skipped: dict[int, Skipped],
    status: str,
    started: float,
    *,
    notes: list[str],
) -> Solution:
    """A `Solution` of `routes` and `skipped` (by stop index), costed, timed from `started`."""
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
