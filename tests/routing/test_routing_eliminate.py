"""Route elimination under `objective="vehicles"`: a route emptied into the others when, and only when, they
can take its stops, every plan checked by `routing.check`."""

from __future__ import annotations

import dataclasses
import time

import pytest

import routing._solver
from routing import Problem, Route, SolveOptions, TimeWindow, VisitKind, check, solve
from routing._eliminate import eliminate
from routing._layout import Layout
from routing._pyvrp import Day
from routing._readback import solution
from routing._repair import Inserter
from tests.routing.routing_road import H, RoadMatrix, residual, road_day, truck

# t1 fills its body at 1, 2 and 3 km (9 000 L of 10 000) and t2 takes 4 and 5 km.
SPLIT = {"t1": ["s1", "s2", "s3", "ts"], "t2": ["s4", "s5", "ts"]}


def two_trucks(**changes: object) -> Problem:
    """Five 3 000 L stops at 1 to 5 km, the transfer station at 10 km, two 10 000 L trucks."""
    day = road_day()
    return dataclasses.replace(
        day,
        stops=tuple(residual(f"s{x}", x) for x in range(1, 6)),
        vehicles=(truck("t1", **changes), truck("t2", **changes)),
    )


def walked(problem: Problem, sequences: dict[str, list[str]]) -> tuple[Layout, tuple[Route, ...]]:
    """The layout of a fewest-vehicles solve and the given sequences walked as its starting plan."""
    matrix = RoadMatrix().matrix(problem.locations())
    layout = Layout(problem, matrix, SolveOptions(objective="vehicles"))
    vehicles = {v.id: v for v in problem.vehicles}
    routes = []
    for vehicle_id, refs in sequences.items():
        route = Day(problem, matrix, vehicles[vehicle_id], None).walk(refs)
        assert route is not None
        routes.append(route)
    return layout, tuple(routes)


def stops(route: Route) -> list[str]:
    """Stop ids in route order."""
    return [x.ref_id for x in route.visits if x.kind is VisitKind.STOP]


def dumps(route: Route) -> int:
    """How many times the route empties."""
    return sum(x.kind is VisitKind.FACILITY for x in route.visits)


def test_the_shorter_day_goes_into_the_other_with_a_second_dump() -> None:
    """t2's day (4 and 5 km) is the shorter one; its 6 000 L do not fit in t1's first trip (9 000 L on
    board), so they become a second trip of t1's: 0-1-2-3-10 (dump) -5-4-10 (dump) -0, one truck."""
    day = two_trucks()
    layout, routes = walked(day, SPLIT)
    (route,) = eliminate(layout, routes, time.monotonic() + 10)
    assert route.vehicle_id == "t1"
    assert sorted(stops(route)) == ["s1", "s2", "s3", "s4", "s5"]
    assert dumps(route) == 2
    assert check(day, solution(layout, (route,), time.monotonic())) == []
    assert any("route elimination" in note for note in layout.notes)
    # The search starts from the reduced plan: the initial routes are now one truck's.
    assert set(layout.options.initial_routes or {}) == {"t1"}


def test_a_daily_volume_cap_keeps_both_trucks() -> None:
    """With at most 10 000 L a day per truck, the 15 000 L cannot go on one truck."""
    day = two_trucks(route_volume_cap_l=10_000.0)
    layout, routes = walked(day, SPLIT)
    assert eliminate(layout, routes, time.monotonic() + 10) == routes
    assert not layout.notes


def test_windows_one_truck_cannot_meet_keep_both_trucks() -> None:
    """s1 (1 km) opens 06:01-06:05 and s9 (9 km) 06:09-06:10: from s1, served 06:01-06:03, s9 is reached
    at 06:11, too late; from s9, served 06:09-06:11, s1 at 06:19, too late. Two trucks it stays."""
    day = dataclasses.replace(
        road_day(),
        stops=(
            residual("s1", 1, time_windows=(TimeWindow(6 * H + 60, 6 * H + 300),)),
            residual("s9", 9, time_windows=(TimeWindow(6 * H + 540, 6 * H + 600),)),
        ),
        vehicles=(truck("t1"), truck("t2")),
    )
    layout, routes = walked(day, {"t1": ["s1", "ts"], "t2": ["s9", "ts"]})
    assert eliminate(layout, routes, time.monotonic() + 10) == routes
    assert check(day, solution(layout, routes, time.monotonic())) == []


def test_solve_for_fewest_vehicles_empties_a_truck_of_the_initial_routes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through `solve`, with no time left for OR-Tools (so the plan is the starting plan): the two trucks'
    initial routes become one truck's day, which passes the checker; the plain objective keeps two."""
    monkeypatch.setattr(routing._solver, "_SETUP_MARGIN", 1e9)
    day = two_trucks()
    options = SolveOptions(time_limit_s=2.0, objective="vehicles", initial_routes=SPLIT)
    plan = solve(day, options)
    assert check(day, plan) == []
    assert plan.skipped == ()
    assert [route.vehicle_id for route in plan.routes] == ["t1"]
    by_cost = solve(day, dataclasses.replace(options, objective="cost"))
    assert len(by_cost.routes) == 2


def test_a_stop_due_early_splits_a_full_trip_with_a_dump_of_its_own() -> None:
    """t1 fills 9 000 L at 1, 2 and 3 km; s4 (1.5 km, 3 000 L) must be served by 06:05, so only
    between s1 and s2, where it overfills the trip: with `split_trips` it goes in with a dump right
    after it (0-1-1.5-10 (dump) -2-3-10 (dump) -0), without it nowhere."""
    day = dataclasses.replace(
        two_trucks(),
        stops=(
            *(residual(f"s{x}", x) for x in range(1, 4)),
            residual("s4", 1.5, time_windows=(TimeWindow(6 * H, 6 * H + 300),)),
        ),
    )
    layout, (route,) = walked(day, {"t1": ["s1", "s2", "s3", "ts"]})
    late = day.stops[-1]
    fleet = dataclasses.replace(day, vehicles=day.vehicles[:1])
    assert not Inserter(fleet, layout.matrix, {"t1": route}).place(late)
    inserter = Inserter(fleet, layout.matrix, {"t1": route}, split_trips=True)
    assert inserter.place(late)
    split = inserter.routes["t1"]
    assert [x.ref_id for x in split.visits[1:-1]] == ["s1", "s4", "ts", "s2", "s3", "ts"]
    assert check(day, solution(layout, (split,), time.monotonic())) == []
