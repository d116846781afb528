"""Route elimination for `SolveOptions(objective="vehicles")`: a starting plan with fewer vehicles.

Emptying a route takes moving all of its stops and often a dump trip with them, which no single move of
OR-Tools' local search does, so a large fixed cost per vehicle alone rarely saves one (bench/NOTES.md,
"Fewest vehicles first"). Before the search, the routes of the starting plan (the PyVRP warm start's or
the repaired initial routes, all walked by `routing._pyvrp.Day`) are emptied one at a time, the route
with the shortest day first: its stops go into the other routes at their cheapest feasible place
(`routing._repair.Inserter`, with a dump of their own where a trip is full), a stop that fits nowhere
takes the place of a nearby stop that fits elsewhere, and, failing that, the stops around it are taken
out and everything is inserted again (a small ruin and recreate). The reduced plan is kept only when
it serves every stop the plan served; the search then goes on from it. Every route is walked, so it
keeps time windows, the lunch, capacities with disposal trips and the daily caps, and passes `check`.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Sequence

from routing._layout import Layout
from routing._model import Problem, Route, Stop
from routing._pyvrp import Day, refs_of
from routing._repair import Inserter, stops_of

__all__ = ["eliminate"]

# Elimination ends after this many routes that could not be emptied, and gives a route up when more of
# its stops than `_MAX_LEFT` fit nowhere as they are: forcing each in costs hundreds of walks
# (bench/NOTES.md, "Fewest vehicles first").
_FAILURES = 3
_MAX_LEFT = 8
# A ruin takes out this many of the stops served nearest to the stop that fits nowhere, at most.
_RUIN_MAX = 24
# ... drawn at random among twice as many nearest, so that tries differ.
_RUIN_POOL = 2
# Ruins tried per stop that fits nowhere before the route is given up.
_RUIN_TRIES = 8


def eliminate(layout: Layout, routes: Sequence[Route], until: float) -> tuple[Route, ...]:
    """The plan of `routes` with as many of them emptied into the others as fits by `until`.

    Routes of vehicles the walk does not model (compartmented bodies, frozen visits) are kept as they
    are and take no stop. When a route goes, the layout's initial routes become the reduced plan and
    its nodes are laid out again (the routes size the facility copies), and a note says so.

    Parameters
    ----------
    layout : Layout
        The solve's layout; its problem's vehicles are those of `routes`.
    routes : sequence of Route
        A whole plan, each route walked (`routing._pyvrp.Day`).
    until : float
        `time.monotonic()` by which to stop.

    Returns
    -------
    tuple of Route
        The routes of the plan, in problem order: the same when no route could be emptied.
    """
    problem = layout.problem
    walkable = {
        v.id for k, v in enumerate(problem.vehicles) if not v.compartments and k not in layout.frozen_refs
    }
    kept = [r for r in routes if r.vehicle_id not in walkable]
    plan = {r.vehicle_id: r for r in routes if r.vehicle_id in walkable}
    rng = random.Random(layout.options.seed)
    emptied: list[str] = []
    tried: set[str] = set()
    failures = 0
    while time.monotonic() < until and len(plan) > _fewest(problem, plan) and failures < _FAILURES:
        left = sorted((r for vid, r in plan.items() if vid not in tried), key=_work)
        if not left:
            break
        victim = left[0].vehicle_id
        tried.add(victim)
        # The shortest day first, but a failure must leave time for the next ones.
        share = time.monotonic() + (until - time.monotonic()) / min(len(left), _FAILURES - failures)
        reduced = _empty(layout, plan, victim, share, rng)
        if reduced is None:
            failures += 1
        else:
            plan = reduced
            emptied.append(victim)
    if not emptied:
        return tuple(routes)
    result = {r.vehicle_id: r for r in kept} | plan
    sequences = {vid: refs_of(route) for vid, route in result.items()}
    layout.options = dataclasses.replace(layout.options, initial_routes=sequences)
    layout.lay_out()
    layout.notes.append(f"route elimination: the stops of {', '.join(emptied)} went to the other vehicles")
    return tuple(result[v.id] for v in problem.vehicles if v.id in result)


def _fewest(problem: Problem, plan: dict[str, Route]) -> int:
    """Vehicles the stops of `plan` need at least, by the daily volume caps and stop limits."""
    volumes = {s.id: s.volume_l for s in problem.stops}
    served = [ref for route in plan.values() for ref in stops_of(route)]
    vehicles = [v for v in problem.vehicles if v.id in plan]
    need = 1
    for total, limits in (
        (sum(volumes[ref] for ref in served), [v.route_volume_cap_l for v in vehicles]),
        (len(served), [v.max_stops for v in vehicles]),
    ):
        if any(limit is None for limit in limits):
            continue
        held, k = 0.0, 0
        for limit in sorted((float(x) for x in limits if x is not None), reverse=True):
            if held >= total:
                break
            held, k = held + limit, k + 1
        need = max(need, k)
    return need


def _work(route: Route) -> tuple[int, int]:
    """How much a route does: its day's length, then its stops."""
    return route.duration_s, len(stops_of(route))


def _empty(
    layout: Layout,
    plan: dict[str, Route],
    victim: str,
    until: float,
    rng: random.Random,
) -> dict[str, Route] | None:
    """The other routes of `plan` with the stops of `victim` inserted, or None if some do not fit."""
    problem = layout.problem
    others = {vid: route for vid, route in plan.items() if vid != victim}
    fleet = dataclasses.replace(problem, vehicles=tuple(v for v in problem.vehicles if v.id in others))
    inserter = Inserter(fleet, layout.matrix, others, split_trips=True)
    by_id = {s.id: s for s in problem.stops}
    stops = sorted((by_id[ref] for ref in stops_of(plan[victim])), key=_freedom)
    left = []
    for stop in stops:
        if time.monotonic() > until:
            return None
        if not inserter.place(stop):
            left.append(stop)
            # Each stop that fits nowhere costs many walks to place by force: give up on a hopeless route.
            if len(left) > _MAX_LEFT:
                return None
    for stop in left:
        if time.monotonic() > until:
            return None
        if not inserter.eject(stop) and not _ruin_and_recreate(inserter, stop, until, rng):
            return None
    return inserter.routes


def _freedom(stop: Stop) -> tuple[int, float]:
    """Stops with the least room first: the narrowest windows, then the largest loads."""
    width = sum(w.end_s - w.start_s for w in stop.time_windows) if stop.time_windows else 1 << 30
    return width, -stop.volume_l


def _ruin_and_recreate(inserter: Inserter, stop: Stop, until: float, rng: random.Random) -> bool:
    """Take stops served near `stop` out, insert `stop` then them again; whether all went in.

    Each try takes a different random handful of the nearest stops; a try that leaves one out is
    undone.
    """
    by_id = {s.id: s for s in inserter.problem.stops}
    d, here = inserter.matrix.distances_m, inserter.row[stop.id]
    for attempt in range(_RUIN_TRIES):
        if time.monotonic() > until:
            return False
        served = [ref for route in inserter.routes.values() for ref in stops_of(route)]
        size = min(_RUIN_MAX, 4 << (attempt // 2), len(served))
        pool = sorted(served, key=lambda ref: int(d[inserter.row[ref], here]))[: size * _RUIN_POOL]
        ruined = rng.sample(pool, min(size, len(pool)))
        before = dict(inserter.routes)
        if _take_out(inserter, set(ruined)) and _recreate(
            inserter, [stop, *(by_id[r] for r in ruined)], until
        ):
            return True
        inserter.routes.clear()
        inserter.routes.update(before)
    return False


def _take_out(inserter: Inserter, refs: set[str]) -> bool:
    """Remove the stops `refs` from their routes; whether every other stop stayed served."""
    vehicles = {v.id: v for v in inserter.problem.vehicles}
    for vid, route in list(inserter.routes.items()):
        mine = set(stops_of(route))
        if not mine & refs:
            continue
        rest = [ref for ref in refs_of(route) if ref not in refs]
        walked = Day(inserter.problem, inserter.matrix, vehicles[vid], None).walk(rest)
        if walked is None:
            if mine <= refs:
                del inserter.routes[vid]
                continue
            return False
        if set(stops_of(walked)) != mine - refs:
            return False
        inserter.routes[vid] = walked
    return True


def _recreate(inserter: Inserter, stops: list[Stop], until: float) -> bool:
    """Insert `stops` in order (a stop that fits nowhere may take a nearby one's place); whether all went
    in."""
    for stop in stops:
        if time.monotonic() > until:
            return False
        if not inserter.place(stop) and not inserter.eject(stop):
            return False
    return True
