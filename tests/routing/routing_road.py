"""Tiny instances on a straight road, and helpers to solve them or to write their plans by hand.

A place `x` km from the garage sits at `at(x)`; driving 1 km takes 60 s, so every distance, time and cost
in the tests can be worked out on paper. Plain functions rather than fixtures, so that each test states
the variation it makes (`dataclasses.replace`) next to the numbers it expects.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from routing import (
    CostBreakdown,
    Depot,
    Facility,
    Location,
    Matrix,
    Problem,
    Route,
    Skipped,
    SkipReason,
    Solution,
    SolveOptions,
    Stop,
    TimeWindow,
    Vehicle,
    Visit,
    VisitKind,
    check,
    solve,
)

H = 3600


def at(x_km: float) -> Location:
    """The place `x_km` along the test road."""
    return Location(49.0, 3.0 + x_km / 100)


@dataclass(frozen=True, slots=True)
class RoadMatrix:
    """Distances along the test road: 1 km is 1 000 m and 60 s."""

    def matrix(self, locations: Sequence[Location]) -> Matrix:
        """Travel between places of the test road."""
        km = np.array([(loc.lng - 3.0) * 100 for loc in locations])
        gap = np.abs(km[:, None] - km[None, :])
        return Matrix(np.rint(gap * 1000).astype(np.int64), np.rint(gap * 60).astype(np.int64))


def residual(stop_id: str, x_km: float, **changes: Any) -> Stop:
    """A 3 000 L, 300 kg residual-waste stop taking two minutes."""
    stop = Stop(stop_id, at(x_km), "residual", volume_l=3000.0, weight_kg=300.0, service_s=120)
    return dataclasses.replace(stop, **changes)


def truck(vehicle_id: str = "t1", **changes: Any) -> Vehicle:
    """A 10 000 L, 5 t residual truck working 06:00-14:00 from the garage at 1 cost unit per km."""
    vehicle = Vehicle(
        vehicle_id,
        capacity_l=10_000.0,
        capacity_kg=5_000.0,
        streams=frozenset({"residual"}),
        start_depot="garage",
        end_depot="garage",
        shift=TimeWindow(6 * H, 14 * H),
    )
    return dataclasses.replace(vehicle, **changes)


GARAGE = Depot("garage", at(0))
TRANSFER = Facility("ts", at(10), frozenset({"residual"}), TimeWindow(5 * H, 20 * H), 600)
GLASS_CENTRE = Facility("verre", at(-5), frozenset({"glass"}), TimeWindow(5 * H, 20 * H), 300)


def road_day() -> Problem:
    """Four 3 000 L stops at 2, 4, 6 and 8 km, the transfer station at 10 km, one 10 000 L truck.

    Three stops fill the truck, so the best day is 0-2-4-6-10 (dump) -8-10 (dump) -0: 24 km.
    """
    return Problem(
        stops=(residual("s2", 2), residual("s4", 4), residual("s6", 6), residual("s8", 8)),
        vehicles=(truck(),),
        depots=(GARAGE,),
        facilities=(TRANSFER, GLASS_CENTRE),
        matrix=RoadMatrix(),
    )


def solve_checked(problem: Problem, time_limit_s: float = 0.5) -> Solution:
    """Solve, and insist that the independent checker finds nothing wrong with the result."""
    solution = solve(problem, SolveOptions(time_limit_s=time_limit_s))
    assert check(problem, solution) == []
    return solution


def hand_made(problem: Problem, sequences: Mapping[str, Sequence[str]]) -> Solution:
    """A plan driving each vehicle through its stop and facility ids as early as possible.

    A trip leaves its start point (the garage or a dump) once its stops are all released. Unvisited stops
    are reported skipped and the cost is computed from the plan, so the result is a consistent solution
    that `check` judges on feasibility alone.
    """
    matrix = problem.matrix.matrix(problem.locations())
    ids = [
        *(d.id for d in problem.depots),
        *(f.id for f in problem.facilities),
        *(s.id for s in problem.stops),
    ]
    rows = {ref: k for k, ref in enumerate(ids)}
    stops = {s.id: s for s in problem.stops}
    facilities = {f.id: f for f in problem.facilities}
    vehicles = {v.id: v for v in problem.vehicles}
    routes = []
    for vehicle_id, refs in sequences.items():
        vehicle = vehicles[vehicle_id]
        # The release of the trip each position belongs to, read backwards from the next dump.
        released, release = [0] * len(refs), 0
        for k in reversed(range(len(refs))):
            release = max(release, stops[refs[k]].release_s) if refs[k] in stops else 0
            released[k] = release
        t = max(vehicle.shift.start_s, released[0] if refs else 0)
        visits = [Visit(VisitKind.DEPOT_START, vehicle.start_depot, t, t, t, 0.0, 0.0, 0)]
        prev, load_l, load_kg = rows[vehicle.start_depot], 0.0, 0.0
        for k, ref in enumerate((*refs, vehicle.end_depot)):
            row = rows[ref]
            leave = visits[-1].end_s
            if k and refs[k - 1] in facilities and k < len(refs):
                leave = max(leave, released[k])
            arrival = leave + int(matrix.durations_s[prev, row])
            leg = int(matrix.distances_m[prev, row])
            if ref in stops:
                stop = stops[ref]
                opens = [w.start_s for w in stop.time_windows if w.end_s >= arrival]
                start = max(arrival, min(opens, default=arrival))
                load_l, load_kg = load_l + stop.volume_l, load_kg + stop.weight_kg
                visit = Visit(
                    VisitKind.STOP, ref, arrival, start, start + stop.service_s, load_l, load_kg, leg
                )
            elif ref in facilities:
                facility = facilities[ref]
                start = max(arrival, facility.opening.start_s)
                load_l = load_kg = 0.0
                visit = Visit(VisitKind.FACILITY, ref, arrival, start, start + facility.dump_s, 0.0, 0.0, leg)
            else:
                visit = Visit(VisitKind.DEPOT_END, ref, arrival, arrival, arrival, load_l, load_kg, leg)
            visits.append(visit)
            prev = row
        distance = sum(x.distance_from_prev_m for x in visits)
        routes.append(Route(vehicle_id, tuple(visits), distance, visits[-1].start_s - visits[0].start_s))
    served = {ref for refs in sequences.values() for ref in refs}
    skipped = tuple(
        Skipped(s.id, SkipReason.NO_TIME if s.required else SkipReason.NOT_WORTH_IT, "hand-made")
        for s in problem.stops
        if s.id not in served
    )
    km = sum(r.distance_m / 1000 * vehicles[r.vehicle_id].cost_per_km for r in routes)
    hours = sum(r.duration_s / 3600 * vehicles[r.vehicle_id].cost_per_hour for r in routes)
    overtime = 0.0
    for r in routes:
        vehicle = vehicles[r.vehicle_id]
        if vehicle.overtime_after_s is not None:
            overtime += (
                max(0, r.duration_s - vehicle.overtime_after_s) / 3600 * vehicle.overtime_cost_per_hour
            )
    fixed = sum(vehicles[r.vehicle_id].fixed_cost for r in routes)
    lost = sum(stops[s.stop_id].prize for s in skipped if not stops[s.stop_id].required)
    cost = CostBreakdown(km, hours, fixed, lost, km + hours + overtime + fixed + lost, overtime)
    return Solution(tuple(routes), skipped, cost, "HAND_MADE", 0.0)


def soissons_day(n_stops: int, seed: int, n_facilities: int = 1, *, windows: bool = False) -> Problem:
    """Random stops around Soissons; with `windows`, every other one open 06:00-06:40 or 07:00-09:00."""
    rng = np.random.default_rng(seed)
    slots = [(TimeWindow(6 * H, 6 * H + 2400),), (TimeWindow(7 * H, 9 * H),)]
    stops = tuple(
        residual(
            f"s{i}",
            0,
            location=Location(49.38 + rng.uniform(-0.03, 0.03), 3.32 + rng.uniform(-0.05, 0.05)),
            volume_l=float(rng.integers(2000, 5000)),
            time_windows=slots[int(rng.integers(2))] if windows and i % 2 else (),
        )
        for i in range(n_stops)
    )
    facilities = tuple(
        Facility(
            f"f{k}",
            Location(49.38 + rng.uniform(-0.05, 0.05), 3.32 + rng.uniform(-0.08, 0.08)),
            frozenset({"residual"}),
            TimeWindow(5 * H, 20 * H),
            600,
        )
        for k in range(n_facilities)
    )
    return Problem(stops, (truck(),), (Depot("garage", Location(49.38, 3.32)),), facilities)
