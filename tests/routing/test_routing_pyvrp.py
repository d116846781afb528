"""The PyVRP warm start: its routes on their own, and `solve` starting from them."""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Sequence

import pytest

import routing._search
from routing import (
    Break,
    Problem,
    ProblemError,
    Route,
    Skipped,
    SkipReason,
    Solution,
    SolveOptions,
    TimeWindow,
    VisitKind,
    check,
    solve,
)
from routing._pyvrp import Day, _put_back, relaxed_plan, relaxed_routes
from routing._readback import assemble as _assemble
from tests.routing.routing_road import GLASS_CENTRE, H, residual, road_day, soissons_day, truck

LUNCH = Break(11 * H, 12 * H, H)


def busy_day(n: int = 24, **vehicle: object) -> Problem:
    """`n` 3 000 L stops every 0.5 km from 1 km, three trucks working 06:00-16:00 with a lunch."""
    stops = tuple(
        residual(f"s{k}", 1 + k / 2, service_s=600, required=k % 7 != 3, prize=5.0) for k in range(n)
    )
    shift = TimeWindow(6 * H, 16 * H)
    trucks = tuple(truck(f"t{k}", shift=shift, lunch=LUNCH, **vehicle) for k in range(1, 4))
    return dataclasses.replace(road_day(), stops=stops, vehicles=trucks)


def as_solution(problem: Problem, routes: Sequence[Route]) -> Solution:
    """`routes` with every other stop reported skipped, ready for `check`."""
    served = {x.ref_id for r in routes for x in r.visits if x.kind is VisitKind.STOP}
    skipped = {
        i: Skipped(s.id, SkipReason.NO_TIME if s.required else SkipReason.NOT_WORTH_IT, "")
        for i, s in enumerate(problem.stops)
        if s.id not in served
    }
    return _assemble(problem, tuple(routes), skipped, "FEASIBLE", time.monotonic(), notes=[])


def trips(problem: Problem, refs: Sequence[str]) -> list[list[str]]:
    """The stop ids of each trip of a sequence (a facility ends a trip)."""
    facilities = {f.id for f in problem.facilities}
    out: list[list[str]] = [[]]
    for ref in refs:
        if ref in facilities:
            out.append([])
        else:
            out[-1].append(ref)
    return out


def test_relaxed_routes_cover_required_stops_once_within_capacity() -> None:
    """Each required stop is on exactly one route, each trip fits the truck, and each day ends dumping."""
    day = busy_day()
    routes = relaxed_routes(day, time_limit_s=0.3)
    assert routes is not None
    served = [ref for refs in routes.values() for ref in refs if ref.startswith("s")]
    assert sorted(served) == sorted(set(served))
    assert {s.id for s in day.stops if s.required} <= set(served)
    volume = {s.id: s.volume_l for s in day.stops}
    for vehicle_id, refs in routes.items():
        assert refs[-1] == "ts"
        *full, last = trips(day, refs)
        assert last == []
        assert all(0 < sum(volume[ref] for ref in trip) <= 10_000 for trip in full), vehicle_id


def test_relaxed_plan_passes_the_checker_with_lunch_put_back() -> None:
    """The plan PyVRP makes without lunches is driven with them and breaks no rule."""
    day = busy_day()
    day = dataclasses.replace(day, vehicles=day.vehicles[:1])  # a single truck works through noon
    routes = relaxed_plan(day, time_limit_s=0.3)
    assert check(day, as_solution(day, routes)) == []
    assert any(x.kind is VisitKind.BREAK for r in routes for x in r.visits)


def test_daily_cap_and_stop_limit_hold() -> None:
    """With 12 000 L and 5 stops a day per truck, no route collects more or stops more often."""
    day = busy_day(12, route_volume_cap_l=12_000.0, max_stops=5)
    routes = relaxed_plan(day, time_limit_s=0.3)
    assert check(day, as_solution(day, routes)) == []
    for route in routes:
        stops = [x for x in route.visits if x.kind is VisitKind.STOP]
        assert len(stops) <= 5
        assert len(stops) * 3000 <= 12_000


def test_streams_ride_their_own_trucks() -> None:
    """Glass goes on the glass truck to the glass centre, residual on the residual truck."""
    day = road_day()
    glass = tuple(residual(f"g{k}", -k, stream="glass") for k in (1, 2, 3))
    glass_truck = truck("g", streams=frozenset({"glass"}))
    day = dataclasses.replace(day, stops=(*day.stops, *glass), vehicles=(truck(), glass_truck))
    routes = relaxed_routes(day, time_limit_s=0.2)
    assert routes is not None
    assert routes["g"] == ["g1", "g2", "g3", GLASS_CENTRE.id]
    assert set(routes["t1"]) == {"s2", "s4", "s6", "s8", "ts"}


def test_truck_carrying_two_streams_serves_one() -> None:
    """A truck taking glass or residual is given the stream nobody else carries."""
    day = road_day()
    glass = tuple(residual(f"g{k}", -k, stream="glass") for k in (1, 2))
    both = truck("both", streams=frozenset({"glass", "residual"}))
    day = dataclasses.replace(day, stops=(*day.stops, *glass), vehicles=(truck(), both))
    routes = relaxed_routes(day, time_limit_s=0.2)
    assert routes is not None
    assert routes["both"] == ["g1", "g2", GLASS_CENTRE.id]


def test_warm_start_adds_a_trip_of_the_other_stream() -> None:
    """The relaxation gives the only truck one stream; the repair adds a trip of the other: all served."""
    day = road_day()
    glass = tuple(residual(f"g{k}", -k, stream="glass") for k in (1, 2))
    both = truck("both", streams=frozenset({"glass", "residual"}))
    day = dataclasses.replace(day, stops=(*day.stops[:2], *glass), vehicles=(both,))
    routes = relaxed_plan(day, time_limit_s=0.2)
    assert check(day, as_solution(day, routes)) == []
    (route,) = routes
    served = sorted(x.ref_id for x in route.visits if x.kind is VisitKind.STOP)
    assert served == ["g1", "g2", "s2", "s4"]
    assert {x.ref_id for x in route.visits if x.kind is VisitKind.FACILITY} == {GLASS_CENTRE.id, "ts"}


def test_skills_and_releases_are_respected() -> None:
    """Only the crane truck takes the crane stop, and the late stop waits for its release."""
    day = road_day()
    crane = residual("c5", 5, required_skills=frozenset({"crane"}))
    late = residual("s8", 8, release_s=9 * H)
    vehicles = (truck("t1"), truck("t2", skills=frozenset({"crane"})))
    day = dataclasses.replace(day, stops=(*day.stops[:3], late, crane), vehicles=vehicles)
    routes = relaxed_plan(day, time_limit_s=0.2)
    assert check(day, as_solution(day, routes)) == []
    by_vehicle = {r.vehicle_id: [x.ref_id for x in r.visits] for r in routes}
    assert "c5" in by_vehicle["t2"]


def test_solve_from_the_relaxed_routes_is_clean() -> None:
    """Handed to `solve` as initial routes, the relaxed routes are taken as they are and stay feasible."""
    day = busy_day()
    initial = relaxed_routes(day, time_limit_s=0.3)
    solution = solve(day, SolveOptions(time_limit_s=0.5, initial_routes=initial))
    assert check(day, solution) == []
    assert solution.notes == ()


@pytest.mark.parametrize("warm_start", ["pyvrp", "none"])
def test_warm_start_setting_gives_a_clean_plan_in_time(warm_start: str) -> None:
    """Either way the plan serves every required stop, breaks no rule and comes within the time limit."""
    day = busy_day(40)
    started = time.monotonic()
    solution = solve(day, SolveOptions(time_limit_s=1.0, warm_start=warm_start))
    assert time.monotonic() - started < 1.2
    assert check(day, solution) == []
    required = {s.id for s in day.stops if s.required}
    assert not required & {s.stop_id for s in solution.skipped}


def test_warm_start_is_never_worse_than_its_own_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever OR-Tools makes of it, `solve` returns no worse than the warm start's plan."""
    day = busy_day()
    warm = relaxed_plan(day, time_limit_s=0.3)
    monkeypatch.setattr(routing._search, "relaxed_plan", lambda *args, **kwargs: warm)
    solution = solve(day, SolveOptions(time_limit_s=0.5, warm_start="pyvrp"))
    assert check(day, solution) == []
    assert solution.cost.total <= as_solution(day, warm).cost.total + 1e-6


def test_too_large_for_or_tools_returns_the_warm_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    """When OR-Tools could not even build its model in time, the walked PyVRP plan comes back, noted."""
    monkeypatch.setattr(routing._search, "_BUILD_S_PER_NODE2", 1.0)
    day = busy_day()
    solution = solve(day, SolveOptions(time_limit_s=0.5, warm_start="pyvrp"))
    assert check(day, solution) == []
    assert any("PyVRP" in note for note in solution.notes)
    assert solution.status == "FEASIBLE"


def test_small_days_try_both_ways_on_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Below the threshold "auto" asks PyVRP once, besides OR-Tools alone; "none" never asks."""
    calls: list[int] = []

    def spy(*args: object, **kwargs: object) -> list[Route]:
        calls.append(1)
        return []

    monkeypatch.setattr(routing._search, "relaxed_plan", spy)
    solve(road_day(), SolveOptions(time_limit_s=0.2, warm_start="none"))
    assert calls == []
    solution = solve(road_day(), SolveOptions(time_limit_s=0.2))
    assert calls == [1]
    assert solution.cost.total == pytest.approx(24.0)


def test_auto_serves_a_small_day_that_or_tools_alone_cuts_short() -> None:
    """Seven stops, two windows of 40 minutes at 06:00: OR-Tools alone leaves one out, "auto" none."""
    day = soissons_day(7, 15, 2, windows=True)
    alone = solve(day, SolveOptions(time_limit_s=0.5, warm_start="none"))
    both = solve(day, SolveOptions(time_limit_s=0.5))
    assert check(day, alone) == []
    assert check(day, both) == []
    assert len(alone.skipped) == 1
    assert both.skipped == ()


def test_unknown_warm_start_is_refused() -> None:
    """A warm start other than auto, pyvrp or none is a field violation."""
    with pytest.raises(ProblemError) as caught:
        solve(road_day(), SolveOptions(warm_start="vroom"))
    assert [v.field for v in caught.value.violations] == ["options.warm_start"]


def test_consecutive_trips_do_not_mix_facilities() -> None:
    """No sequence visits two facilities in a row (an empty trip's dump is dropped)."""
    day = busy_day()
    routes = relaxed_routes(day, time_limit_s=0.3)
    assert routes is not None
    facilities = {f.id for f in day.facilities}
    for refs in routes.values():
        assert not any(a in facilities and b in facilities for a, b in itertools.pairwise(refs))


def test_stop_the_walk_left_out_is_put_back_where_it_costs_least() -> None:
    """s6, missing from the walked day 2-4-dump-8-dump, goes back after s4: the 24 km day, not 28 km."""
    day = road_day()
    matrix = day.matrix.matrix(day.locations())
    walked = Day(day, matrix, day.vehicles[0], None).walk(["s2", "s4", "ts", "s8", "ts"])
    assert walked is not None
    routes = {"t1": walked}
    _put_back(day, matrix, routes, None, until=time.monotonic() + 5)
    route = routes["t1"]
    assert [x.ref_id for x in route.visits if x.kind is VisitKind.STOP] == ["s2", "s4", "s6", "s8"]
    assert route.distance_m == 24_000
    solution = _assemble(day, (route,), {}, "FEASIBLE", time.monotonic(), notes=[])
    assert routing.check(day, solution) == []


def test_stop_no_route_can_take_goes_on_an_idle_truck() -> None:
    """A glass stop cannot join the residual day; the idle glass truck takes it alone, dump included."""
    day = road_day()
    glass = dataclasses.replace(residual("g3", 3), stream="glass")
    glass_truck = truck("t2", streams=frozenset({"glass"}))
    day = dataclasses.replace(day, stops=(*day.stops, glass), vehicles=(*day.vehicles, glass_truck))
    matrix = day.matrix.matrix(day.locations())
    walked = Day(day, matrix, day.vehicles[0], None).walk(["s2", "s4", "s6", "ts", "s8", "ts"])
    assert walked is not None
    routes = {"t1": walked}
    _put_back(day, matrix, routes, None, until=time.monotonic() + 5)
    assert [x.ref_id for x in routes["t2"].visits] == ["garage", "g3", "verre", "garage"]
    solution = _assemble(day, (routes["t1"], routes["t2"]), {}, "FEASIBLE", time.monotonic(), notes=[])
    assert routing.check(day, solution) == []
