"""Initial routes repaired before the search: a broken-down truck's stops inserted, a late order walked."""

from __future__ import annotations

import dataclasses

import pytest

import routing._solver
from routing import Break, Depot, Problem, Route, SolveOptions, TimeWindow, VisitKind, check, solve
from tests.routing.routing_road import H, at, residual, road_day, truck

# t2 had s4-s9 and breaks down; t1 keeps its morning order and t3 waits at the garage.
T1_ORDER = ["s1", "s2", "s3", "ts"]


def visited(route: Route) -> list[str]:
    """Stop ids in route order."""
    return [x.ref_id for x in route.visits if x.kind is VisitKind.STOP]


def breakdown_day() -> Problem:
    """Nine 3 000 L stops at 1 to 9 km, two of them urgent, and two trucks in service with a lunch."""
    lunch = Break(11 * H, 12 * H, 1800)
    stops = (
        *(residual(f"s{x}", x) for x in range(1, 10)),
        residual("u1", 3.5, time_windows=(TimeWindow(7 * H, 8 * H),)),
        residual("u2", 7.5),
    )
    vehicles = (truck("t1", lunch=lunch), truck("t3", lunch=lunch))
    return dataclasses.replace(road_day(), stops=stops, vehicles=vehicles)


def test_the_broken_down_trucks_stops_are_inserted_and_the_crews_order_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no time for OR-Tools, the plan is the repaired routes: everything served, t1's order intact."""
    monkeypatch.setattr(routing._solver, "_SETUP_MARGIN", 1e9)
    day = breakdown_day()
    solution = solve(day, SolveOptions(time_limit_s=1.0, initial_routes={"t1": T1_ORDER}))
    assert check(day, solution) == []
    assert solution.skipped == ()
    assert any("no time left for OR-Tools" in note for note in solution.notes)
    t1 = next(visited(r) for r in solution.routes if r.vehicle_id == "t1")
    assert [ref for ref in t1 if ref in T1_ORDER] == T1_ORDER[:3]


def test_a_replan_from_the_remaining_order_serves_what_the_broken_truck_left() -> None:
    """Searched on by OR-Tools from the repaired routes: every stop served, nothing started from scratch."""
    day = breakdown_day()
    solution = solve(day, SolveOptions(time_limit_s=1.0, initial_routes={"t1": T1_ORDER}, now_s=6 * H))
    assert check(day, solution) == []
    assert solution.skipped == ()
    assert not any("from scratch" in note for note in solution.notes)


def test_a_late_crews_stop_is_moved_where_it_can_still_be_made() -> None:
    """At 06:50 t1 still plans s8 then s2, but s2 closes at 07:00: the walk takes it out, and it goes
    back where it is reached in time (before s8, or on t3) rather than the whole order being dropped."""
    day = breakdown_day()
    closing = residual("s2", 2, time_windows=(TimeWindow(6 * H, 7 * H),))
    day = dataclasses.replace(day, stops=(closing, *(s for s in day.stops if s.id != "s2")))
    options = SolveOptions(time_limit_s=1.0, initial_routes={"t1": ["s8", "s2", "ts"]}, now_s=6 * H + 3000)
    solution = solve(day, options)
    assert check(day, solution) == []
    assert solution.skipped == ()
    assert any("s2 left out where they were, inserted again" in note for note in solution.notes)
    assert not any("from scratch" in note for note in solution.notes)


@pytest.mark.parametrize(("now_s", "server"), [(6 * H, "t1"), (None, "t3")], ids=["replan", "warm-start"])
def test_a_replan_keeps_the_crews_stops_on_their_truck(now_s: int | None, server: str) -> None:
    """t3 waits at 9 km: s9 would cost 11 km on it against 20 on t1. A re-plan leaves s9 on t1, whose
    order had it; initial routes handed for improvement (no `now_s`) let the search move it."""
    day = road_day()
    north = Depot("north", at(9))
    day = dataclasses.replace(
        day,
        stops=(residual("s9", 9),),
        depots=(*day.depots, north),
        vehicles=(truck("t1"), truck("t3", start_depot="north")),
    )
    solution = solve(day, SolveOptions(time_limit_s=1.0, initial_routes={"t1": ["s9", "ts"]}, now_s=now_s))
    assert check(day, solution) == []
    assert [r.vehicle_id for r in solution.routes] == [server]


def test_a_stop_that_fits_nowhere_takes_the_place_of_one_that_fits_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only crane truck t1 takes s3, but t1 does two stops a day and has s1 and s2: s2 goes to t3."""
    monkeypatch.setattr(routing._solver, "_SETUP_MARGIN", 1e9)
    day = road_day()
    crane = frozenset({"crane"})
    day = dataclasses.replace(
        day,
        stops=(residual("s1", 1), residual("s2", 2), residual("s3", 3, required_skills=crane)),
        vehicles=(truck("t1", max_stops=2, skills=crane), truck("t3")),
    )
    solution = solve(day, SolveOptions(time_limit_s=1.0, initial_routes={"t1": ["s1", "s2", "ts"]}))
    assert check(day, solution) == []
    assert solution.skipped == ()
    by_vehicle = {r.vehicle_id: set(visited(r)) for r in solution.routes}
    assert "s3" in by_vehicle["t1"]
    assert len(by_vehicle["t3"]) == 1
