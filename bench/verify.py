"""An independent checker: re-costs and checks a list of routes against the *raw* instance.

It shares nothing with `routing` or with the solver wrappers, so the same check applies to the engine, PyVRP
and plain OR-Tools alike.

* `verify_vrp` takes routes as lists of node numbers in the instance's own numbering (depot 0, customers
  1..n); a `0` inside a route is a reload at the depot (MTVRPTWR only). Distances and times follow the
  family's convention: `round` (nint, no times), `dimacs` (`floor(10 d)` for distance and travel time, all
  times ×10, exact integers) or `exact` (double precision). A trip leaves the depot no earlier than the
  release date of every customer on it; waiting is allowed; service must *start* within the window and the
  vehicle must be back by the depot's due date.
* `verify_kim` takes routes as site ids (customers and facilities, the depot left implicit at both ends).
  Distances are exact Manhattan feet converted to miles, travel times exact (miles / mph); every trip unloads
  at a facility, the last one before returning; vehicle capacity per trip, the daily route capacity and the
  stop limit hold; service and dumps start within their windows and the return is before the depot closes.
  The one-hour lunch must start between 11:00 and 12:00 whenever the day spans 12:00; it may interrupt
  driving or waiting, never a service. The checker looks for a lunch placement itself (every gap between two
  visits, at the earliest instant), so it needs no lunch time from the solver.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from bench.readers import (
    FEET_PER_MILE,
    LUNCH_EARLIEST_S,
    LUNCH_LATEST_S,
    KimInstance,
    KimSite,
    VrpInstance,
)

__all__ = ["KimRoute", "VerifyResult", "verify_kim", "verify_routes", "verify_vrp"]

_EPS = 1e-6


@dataclass(frozen=True, slots=True)
class KimRoute:
    """One vehicle's day: site ids in order, depot excluded; `lunch_start_s` as the solver planned it."""

    visits: tuple[int, ...]
    lunch_start_s: int | None = None


@dataclass(slots=True)
class VerifyResult:
    """Outcome of a check; `cost` is in the family's cost units (miles for Kim)."""

    feasible: bool
    cost: float
    vehicles: int
    trips: int
    violations: list[str] = field(default_factory=list)
    lunches: list[float | None] = field(default_factory=list)

    def summary(self, limit: int = 5) -> str:
        """The first `limit` violations on one line."""
        more = len(self.violations) - limit
        head = "; ".join(self.violations[:limit])
        return head + (f"; … {more} more" if more > 0 else "")


def verify_vrp(instance: VrpInstance, routes: Sequence[Sequence[int]]) -> VerifyResult:
    """Re-cost and check CVRP / VRPTW / MTVRPTWR routes (node numbers, 0 = reload at the depot)."""
    out: list[str] = []
    n = instance.n_customers
    dist = instance.distances()
    scale = instance.scale
    tw = None if instance.time_windows is None else instance.time_windows * scale
    service = instance.service * scale
    release = None if instance.release is None else instance.release * scale
    seen: Counter[int] = Counter()
    total = 0.0
    vehicles = trips_used = 0
    for r, route in enumerate(routes, start=1):
        if not route:
            continue
        vehicles += 1
        trips = _split(list(route))
        if len(trips) > 1 and not instance.reload:
            out.append(f"route {r}: reloads at the depot, which {instance.family} does not allow")
        if any(not trip for trip in trips):
            out.append(f"route {r}: empty trip (route starts or ends with 0, or two 0 in a row)")
        t = 0.0 if tw is None else float(tw[0, 0])
        for k, trip in enumerate(trips, start=1):
            if not trip:
                continue
            trips_used += 1
            bad = [c for c in trip if not 1 <= c <= n]
            if bad:
                out.append(f"route {r}: unknown node(s) {bad}")
                trip = [c for c in trip if 1 <= c <= n]  # noqa: PLW2901
            seen.update(trip)
            load = int(instance.demand[trip].sum())
            if load > instance.capacity:
                out.append(f"route {r} trip {k}: load {load} > capacity {instance.capacity}")
            if release is not None:
                t = max(t, float(release[trip].max()))
            prev = 0
            for c in trip:
                leg = float(dist[prev, c])
                total += leg
                t += leg
                if tw is not None:
                    if t > tw[c, 1] + _EPS:
                        out.append(f"route {r}: customer {c} starts {t / scale:g} > due {tw[c, 1] / scale:g}")
                    t = max(t, float(tw[c, 0]))
                t += float(service[c])
                prev = c
            leg = float(dist[prev, 0])
            total += leg
            t += leg
            if tw is not None and t > tw[0, 1] + _EPS:
                out.append(f"route {r} trip {k}: back at {t / scale:g} > depot due {tw[0, 1] / scale:g}")
    _coverage(out, seen, range(1, n + 1), "customer")
    if instance.fleet is not None and vehicles > instance.fleet:
        out.append(f"{vehicles} routes > fleet of {instance.fleet}")
    return VerifyResult(not out, total / scale, vehicles, trips_used, out)


def verify_routes(
    instance: VrpInstance | KimInstance, routes: Sequence[Sequence[int]], lunches: Sequence[int | None]
) -> VerifyResult:
    """`verify_kim` or `verify_vrp`, as the instance is a Kim one or not (`lunches` only matter to Kim)."""
    if isinstance(instance, KimInstance):
        return verify_kim(
            instance, [KimRoute(tuple(r), lunch) for r, lunch in zip(routes, lunches, strict=False)]
        )
    return verify_vrp(instance, routes)


def _split(route: list[int]) -> list[list[int]]:
    trips: list[list[int]] = [[]]
    for node in route:
        if node == 0:
            trips.append([])
        else:
            trips[-1].append(node)
    return trips


def _coverage(out: list[str], seen: Counter[int], expected: Sequence[int], what: str) -> None:
    missing = [c for c in expected if not seen[c]]
    twice = sorted(c for c, k in seen.items() if k > 1)
    if missing:
        out.append(f"{len(missing)} {what}(s) not served: {missing[:10]}")
    if twice:
        out.append(f"{len(twice)} {what}(s) served more than once: {twice[:10]}")


def verify_kim(instance: KimInstance, routes: Sequence[KimRoute]) -> VerifyResult:
    """Re-cost (miles) and check Kim WCVRPTW routes against the full model, lunch included."""
    out: list[str] = []
    index = instance.index()
    feet = instance.feet()
    spf = instance.seconds_per_foot()
    depot = instance.depot
    seen: Counter[int] = Counter()
    total_ft = 0.0
    vehicles = trips = 0
    lunches: list[float | None] = []
    for r, route in enumerate(routes, start=1):
        if not route.visits:
            lunches.append(None)
            continue
        vehicles += 1
        unknown = [v for v in route.visits if v not in index or instance.sites[index[v]].type == 0]
        if unknown:
            out.append(f"route {r}: unknown or depot site id(s) {unknown[:5]}")
            lunches.append(None)
            continue
        sites = [instance.sites[index[v]] for v in route.visits]
        rows = [index[depot.id], *(index[v] for v in route.visits), index[depot.id]]
        total_ft += float(sum(feet[a, b] for a, b in itertools.pairwise(rows)))
        seen.update(s.id for s in sites if s.type == 1)
        trips += _kim_loads(out, instance, r, sites)
        lunches.append(_kim_schedule(out, r, _Day(instance, sites, rows, feet, spf)))
    _coverage(out, seen, [s.id for s in instance.customers], "customer")
    return VerifyResult(not out, total_ft / FEET_PER_MILE, vehicles, trips, out, lunches)


def _kim_loads(out: list[str], instance: KimInstance, r: int, sites: list[KimSite]) -> int:
    """Capacity per trip, daily volume and stop count; returns the number of trips (dumps)."""
    load = collected = 0.0
    stops = dumps = 0
    for s in sites:
        if s.type == 2:
            dumps += 1
            load = 0.0
            continue
        load += s.load
        collected += s.load
        stops += 1
        if load > instance.vehicle_capacity + _EPS:
            out.append(
                f"route {r}: {load:g} yd³ on board at stop {s.id} > capacity {instance.vehicle_capacity:g}"
            )
    if sites[-1].type != 2:
        out.append(f"route {r}: does not unload at a facility before returning to the depot")
    if collected > instance.route_capacity + _EPS:
        out.append(f"route {r}: collects {collected:g} yd³ > route capacity {instance.route_capacity:g}")
    if stops > instance.max_stops:
        out.append(f"route {r}: {stops} stops > max {instance.max_stops}")
    return dumps


@dataclass(frozen=True, slots=True)
class _Day:
    """One Kim route laid out for scheduling: the sites visited and their matrix rows (depot at both ends)."""

    instance: KimInstance
    sites: list[KimSite]
    rows: list[int]
    feet: npt.NDArray[np.float64]
    spf: float


def _kim_schedule(out: list[str], r: int, day: _Day) -> float | None:
    """Check the earliest schedule, with the lunch at the first gap that makes it feasible.

    Returns the lunch start found (None when the day does not span 12:00).
    """
    (free, _), end = _kim_pass(day, None)
    depart = float(day.instance.depot.early_s)
    due = end > LUNCH_LATEST_S and depart < LUNCH_EARLIEST_S + day.instance.lunch_s
    if not due:
        out.extend(f"route {r}: {v}" for v in free)
        return None
    best: tuple[list[str], float | None] | None = None
    for gap in range(len(day.rows) - 1):
        (violations, lunch), _ = _kim_pass(day, gap)
        if lunch is None:
            continue
        if not violations:
            return lunch
        if best is None or len(violations) < len(best[0]):
            best = (violations, lunch)
    if best is None:
        out.append(f"route {r}: no gap lets the lunch start between 11:00 and 12:00")
        return None
    out.extend(f"route {r}: {v} (best lunch at {_clock(best[1] or 0)})" for v in best[0])
    return best[1]


def _kim_pass(day: _Day, lunch_gap: int | None) -> tuple[tuple[list[str], float | None], float]:
    """One forward pass; the lunch (if any) starts in gap `lunch_gap` (after the gap's first place).

    Returns (violations, lunch start) and the time back at the depot.
    """
    violations: list[str] = []
    depot = day.instance.depot
    rows = day.rows
    leave = float(depot.early_s)
    lunch: float | None = None
    for k in range(1, len(rows)):
        travel = float(day.feet[rows[k - 1], rows[k]]) * day.spf
        if k - 1 == lunch_gap:
            b = max(leave, float(LUNCH_EARLIEST_S))
            if b > LUNCH_LATEST_S + _EPS:
                return ([], None), leave
            lunch = b
            arrival = b + day.instance.lunch_s + max(0.0, leave + travel - b)
        else:
            arrival = leave + travel
        if k == len(rows) - 1:
            if arrival > depot.late_s + _EPS:
                violations.append(f"back at the depot {_clock(arrival)} > {_clock(depot.late_s)}")
            return (violations, lunch), arrival
        site = day.sites[k - 1]
        start = max(arrival, float(site.early_s))
        if start > site.late_s + _EPS:
            violations.append(f"site {site.id} starts {_clock(start)} > {_clock(site.late_s)}")
        leave = start + site.service_s
    raise AssertionError("unreachable")  # pragma: no cover


def _clock(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
