"""Intraday re-planning: frozen visits, the current time and warm starts from a previous plan."""

from __future__ import annotations

import dataclasses

import pytest

import routing._search
from routing import Problem, ProblemError, Route, Solution, SolveOptions, TimeWindow, VisitKind, check, solve
from tests.routing.routing_road import H, residual, road_day, solve_checked, truck


def visited(route: Route) -> list[str]:
    """Stop and facility ids in route order."""
    return [x.ref_id for x in route.visits if x.kind in (VisitKind.STOP, VisitKind.FACILITY)]


def long_day() -> Problem:
    """Nine 3 000 L stops at 1 to 9 km and two trucks."""
    stops = tuple(residual(f"s{x}", x) for x in range(1, 10))
    return dataclasses.replace(road_day(), stops=stops, vehicles=(truck("t1"), truck("t2")))


def with_urgent_stops(problem: Problem) -> Problem:
    """Two stops called in during the morning, one of them to be emptied between 07:00 and 08:00."""
    urgent = (residual("u1", 3.5, time_windows=(TimeWindow(7 * H, 8 * H),)), residual("u2", 7.5))
    return dataclasses.replace(problem, stops=(*problem.stops, *urgent))


def solve_ok(problem: Problem, options: SolveOptions) -> Solution:
    solution = solve(problem, options)
    assert check(problem, solution) == []
    assert solution.status == "FEASIBLE"
    return solution


def test_frozen_prefix_stays_and_urgent_stops_are_served() -> None:
    """The first three visits of a route stay as they were; the two new stops join the plan."""
    morning = long_day()
    (route, *_) = solve_checked(morning, 0.5).routes
    done = visited(route)[:3]
    problem = with_urgent_stops(morning)
    solution = solve_ok(problem, SolveOptions(time_limit_s=0.5, frozen={route.vehicle_id: done}))
    by_vehicle = {r.vehicle_id: r for r in solution.routes}
    assert visited(by_vehicle[route.vehicle_id])[:3] == done
    served = {ref for r in solution.routes for ref in visited(r)}
    assert {"u1", "u2"} <= served
    assert solution.skipped == ()


def test_frozen_prefix_may_end_with_a_dump() -> None:
    """A morning that went 0-8-6-4-10 (dump) keeps it; s2 follows: 18 + 16 + 10 = 44 km."""
    done = ["s8", "s6", "s4", "ts"]
    solution = solve_ok(road_day(), SolveOptions(time_limit_s=0.5, frozen={"t1": done}))
    (route,) = solution.routes
    assert visited(route) == [*done, "s2", "ts"]
    assert route.distance_m == 44_000


def test_now_holds_back_what_is_not_done() -> None:
    """At 07:00 the frozen truck leaves its last visit no earlier, and the other truck leaves no earlier."""
    morning = long_day()
    (route, *_) = solve_checked(morning, 0.5).routes
    done = visited(route)[:2]
    problem = with_urgent_stops(morning)
    now = 7 * H
    options = SolveOptions(time_limit_s=0.5, frozen={route.vehicle_id: done}, now_s=now)
    solution = solve_ok(problem, options)
    for r in solution.routes:
        if r.vehicle_id == route.vehicle_id:
            resumed = [x for x in r.visits if x.kind is not VisitKind.BREAK][len(done) + 1]
            # The next place is at least 0.5 km, so 30 s, away from the last frozen one.
            assert resumed.arrival_s >= now + 30
        else:
            assert r.visits[0].start_s >= now


def test_now_after_a_shift_leaves_that_truck_home() -> None:
    """A truck whose shift is over at `now_s` takes no new work."""
    day = dataclasses.replace(
        road_day(), vehicles=(truck("early", shift=TimeWindow(5 * H, 7 * H)), truck("t2"))
    )
    solution = solve_ok(day, SolveOptions(time_limit_s=0.5, now_s=8 * H))
    assert [r.vehicle_id for r in solution.routes] == ["t2"]


def test_warm_start_from_the_previous_plan_keeps_its_quality() -> None:
    """Started from the 24 km optimum, the search returns it and has nothing to say."""
    day = road_day()
    previous = {r.vehicle_id: visited(r) for r in solve_checked(day, 0.5).routes}
    solution = solve_ok(day, SolveOptions(time_limit_s=0.5, initial_routes=previous))
    assert solution.cost.total == pytest.approx(24.0)
    assert solution.notes == ()


def test_warm_start_with_frozen_prefix_and_new_stops() -> None:
    """A previous plan, its first visits frozen and new stops added, re-plans cleanly."""
    morning = long_day()
    first = solve_checked(morning, 0.5)
    previous = {r.vehicle_id: visited(r) for r in first.routes}
    vehicle_id = first.routes[0].vehicle_id
    done = previous[vehicle_id][:3]
    options = SolveOptions(time_limit_s=0.5, initial_routes=previous, frozen={vehicle_id: done})
    solution = solve_ok(with_urgent_stops(morning), options)
    by_vehicle = {r.vehicle_id: r for r in solution.routes}
    assert visited(by_vehicle[vehicle_id])[:3] == done
    assert solution.skipped == ()
    assert solution.notes == ()


@pytest.mark.parametrize(
    ("initial", "note"),
    [
        ({"t1": ["s2", "s4", "s6", "s8", "ts"]}, "infeasible"),
        ({"t1": ["s2", "g3", "s4", "ts"]}, "left out"),
    ],
    ids=["overloaded", "wrong-stream"],
)
def test_unusable_warm_start_falls_back_with_a_note(initial: dict[str, list[str]], note: str) -> None:
    """An overloaded previous plan, or one with a stop the truck cannot take, still yields the optimum."""
    day = road_day()
    glass = dataclasses.replace(residual("g3", 3), stream="glass", required=False)
    day = dataclasses.replace(day, stops=(*day.stops, glass))
    solution = solve_ok(day, SolveOptions(time_limit_s=0.5, initial_routes=initial))
    assert any(note in n for n in solution.notes)
    assert solution.cost.total == pytest.approx(24.0)


def test_frozen_stop_that_cannot_be_planned_is_refused() -> None:
    """A frozen stop whose only window lies after the shift is named in the error."""
    day = road_day()
    late = residual("s8", 8, time_windows=(TimeWindow(20 * H, 21 * H),))
    day = dataclasses.replace(day, stops=(*day.stops[:3], late))
    with pytest.raises(ProblemError) as caught:
        solve(day, SolveOptions(time_limit_s=0.5, frozen={"t1": ["s2", "s8"]}))
    assert [v.field for v in caught.value.violations] == ["options.frozen['t1'][1]"]


def test_frozen_stop_keeps_the_window_that_fits() -> None:
    """s2 opens 06:00-06:10 and 09:00-10:00; done before 09:30 on a 2-hour day, it was the second window."""
    day = road_day()
    windows = (TimeWindow(6 * H, 6 * H + 600), TimeWindow(9 * H, 10 * H))
    day = dataclasses.replace(
        day,
        stops=(residual("s2", 2, time_windows=windows), *day.stops[1:]),
        vehicles=(truck(max_duration_s=2 * H),),
    )
    options = SolveOptions(time_limit_s=0.5, frozen={"t1": ["s2"]}, now_s=9 * H + 1800)
    (route,) = solve_ok(day, options).routes
    assert visited(route)[0] == "s2"
    assert windows[1].contains(route.visits[1].start_s)


def test_frozen_visits_that_cannot_have_happened_are_reported() -> None:
    """s8 then s2 cannot be: s2 closes at 06:05 and is 16 minutes from the garage by way of s8."""
    day = road_day()
    day = dataclasses.replace(
        day, stops=(residual("s2", 2, time_windows=(TimeWindow(6 * H, 6 * H + 300),)), *day.stops[1:])
    )
    solution = solve(day, SolveOptions(time_limit_s=0.5, frozen={"t1": ["s8", "s2"]}))
    assert solution.status == "NO_SOLUTION"
    assert any("no plan keeps the frozen visits" in note for note in solution.notes)


def test_warm_start_out_of_time_returns_its_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """With next to no time left for the search, the previous plan (or better) comes back, checked clean."""
    day = long_day()
    first = solve_checked(day, 0.3)
    previous = {r.vehicle_id: visited(r) for r in first.routes}
    monkeypatch.setattr(routing._search, "MIN_SEARCH_S", 0.0005)
    solution = solve_ok(day, SolveOptions(time_limit_s=0.001, initial_routes=previous))
    assert solution.skipped == ()
    assert solution.cost.total <= first.cost.total + 1e-9
