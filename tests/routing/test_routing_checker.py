from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from routing import Break, Problem, Solution, TimeWindow, VisitKind, check
from tests.routing.routing_road import H, hand_made, residual, road_day, truck

BEST = ["s2", "s4", "s6", "ts", "s8", "ts"]


def codes(problem: Problem, solution: Solution) -> set[str]:
    return {v.code for v in check(problem, solution)}


def edit_visit(solution: Solution, ref_id: str, **changes: Any) -> Solution:
    """The same solution with the first visit to `ref_id` altered."""
    (route,) = solution.routes
    k = next(i for i, x in enumerate(route.visits) if x.ref_id == ref_id)
    visits = (*route.visits[:k], dataclasses.replace(route.visits[k], **changes), *route.visits[k + 1 :])
    return dataclasses.replace(solution, routes=(dataclasses.replace(route, visits=visits),))


def test_accepts_the_optimal_hand_plan() -> None:
    """The 24 km plan worked out on paper is feasible and consistent."""
    day = road_day()
    solution = hand_made(day, {"t1": BEST})
    assert check(day, solution) == []
    assert solution.routes[0].distance_m == 24_000


@pytest.mark.parametrize(
    ("sequence", "code", "ref"),
    [
        (["s2", "s4", "s6", "s8", "ts"], "CAPACITY_L", "s8"),
        (["s2", "s4", "s6", "ts", "s8"], "NOT_EMPTY", "garage"),
        (["s2", "s4", "s6", "ts", "s8", "s8", "ts"], "DUPLICATE_VISIT", "s8"),
        (["s2", "s4", "s6", "verre", "s8", "ts"], "FACILITY_STREAM", "verre"),
    ],
    ids=["overload", "not-empty-at-home", "served-twice", "refused-stream"],
)
def test_catches_an_infeasible_sequence(sequence: list[str], code: str, ref: str) -> None:
    """A plan that overloads, goes home full, serves twice or dumps at the wrong place is flagged."""
    day = road_day()
    violations = check(day, hand_made(day, {"t1": sequence}))
    assert (code, ref) in {(v.code, v.ref_id) for v in violations}


def _too_early(s: Solution) -> Solution:
    return edit_visit(s, "s4", arrival_s=6 * H + 200, start_s=6 * H + 200, end_s=6 * H + 320)


def _short_leg(s: Solution) -> Solution:
    return edit_visit(s, "s4", distance_from_prev_m=1000)


def _short_route(s: Solution) -> Solution:
    return dataclasses.replace(s, routes=(dataclasses.replace(s.routes[0], distance_m=20_000),))


def _cheap(s: Solution) -> Solution:
    return dataclasses.replace(s, cost=dataclasses.replace(s.cost, total=1.0))


def _forgotten(s: Solution) -> Solution:
    return dataclasses.replace(s, skipped=())


def _light_load(s: Solution) -> Solution:
    return edit_visit(s, "s6", load_l=10.0)


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        (_too_early, "TRAVEL_TIME"),
        (_short_leg, "DISTANCE"),
        (_short_route, "ROUTE_DISTANCE"),
        (_cheap, "COST"),
        (_light_load, "LOAD_REPORTED"),
    ],
    ids=["wrong-time", "wrong-leg", "wrong-route-distance", "wrong-cost", "wrong-load"],
)
def test_catches_a_tampered_report(tamper: Callable[[Solution], Solution], code: str) -> None:
    """A plan whose reported times, distances, loads or cost disagree with the matrix is flagged."""
    day = road_day()
    assert code in codes(day, tamper(hand_made(day, {"t1": BEST})))


def test_catches_an_unreported_stop() -> None:
    """A mandatory stop neither visited nor listed as skipped is flagged."""
    day = road_day()
    solution = _forgotten(hand_made(day, {"t1": ["s2", "s4", "s6", "ts"]}))
    assert ("MISSING_STOP", "s8") in {(v.code, v.ref_id) for v in check(day, solution)}


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"shift": TimeWindow(6 * H, 6 * H + 1800)}, "SHIFT"),
        ({"max_stops": 3}, "MAX_STOPS"),
        ({"route_volume_cap_l": 9000.0}, "ROUTE_VOLUME_CAP"),
        ({"lunch": Break(6 * H + 600, 6 * H + 1200, 1800)}, "BREAK"),
        ({"streams": frozenset({"glass"})}, "STREAM"),
        ({"max_duration_s": 3000}, "MAX_DURATION"),
    ],
    ids=["shift", "max-stops", "route-volume-cap", "missing-lunch", "stream", "max-duration"],
)
def test_catches_a_broken_vehicle_rule(changes: dict[str, Any], code: str) -> None:
    """The paper plan breaks a tighter shift, a stop or volume limit, an owed lunch, a stream or a cap."""
    day = dataclasses.replace(road_day(), vehicles=(truck(**changes),))
    assert code in codes(day, hand_made(day, {"t1": BEST}))


def test_catches_a_missed_time_window() -> None:
    """Serving s8 last misses its 06:00-06:09 window."""
    day = road_day()
    day = dataclasses.replace(
        day, stops=(*day.stops[:3], residual("s8", 8, time_windows=(TimeWindow(6 * H, 6 * H + 540),)))
    )
    assert ("TIME_WINDOW", "s8") in {(v.code, v.ref_id) for v in check(day, hand_made(day, {"t1": BEST}))}


def test_catches_a_closed_facility() -> None:
    """A dump at a transfer station that closed at 06:10 is flagged."""
    day = road_day()
    closed = dataclasses.replace(day.facilities[0], opening=TimeWindow(5 * H, 6 * H + 600))
    day = dataclasses.replace(day, facilities=(closed, *day.facilities[1:]))
    assert "FACILITY_HOURS" in codes(day, hand_made(day, {"t1": BEST}))


def test_catches_a_break_during_service() -> None:
    """A lunch overlapping the service at s4 is flagged."""
    lunch = Break(6 * H, 8 * H, 600)
    day = dataclasses.replace(road_day(), vehicles=(truck(lunch=lunch),))
    solution = hand_made(day, {"t1": BEST})
    (route,) = solution.routes
    s4 = route.visits[2]
    taken = dataclasses.replace(s4, kind=VisitKind.BREAK, ref_id="lunch", distance_from_prev_m=0)
    taken = dataclasses.replace(
        taken, arrival_s=s4.start_s + 60, start_s=s4.start_s + 60, end_s=s4.start_s + 660
    )
    visits = (*route.visits[:3], taken, *route.visits[3:])
    solution = dataclasses.replace(solution, routes=(dataclasses.replace(route, visits=visits),))
    assert "OVERLAP" in codes(day, solution)


def test_catches_a_missing_skill() -> None:
    """s8 needs a crane the truck does not have."""
    day = road_day()
    day = dataclasses.replace(
        day, stops=(*day.stops[:3], residual("s8", 8, required_skills=frozenset({"crane"})))
    )
    assert ("SKILLS", "s8") in {(v.code, v.ref_id) for v in check(day, hand_made(road_day(), {"t1": BEST}))}


def test_prices_overtime() -> None:
    """The 52-minute paper day pays 22 minutes at 360 an hour after 30; a plan hiding it is flagged."""
    day = dataclasses.replace(
        road_day(), vehicles=(truck(overtime_after_s=1800, overtime_cost_per_hour=360.0),)
    )
    solution = hand_made(day, {"t1": BEST})
    assert check(day, solution) == []
    assert solution.cost.overtime == pytest.approx(132.0)
    hidden = dataclasses.replace(solution.cost, overtime=0.0, total=solution.cost.total - 132.0)
    assert "COST" in codes(day, dataclasses.replace(solution, cost=hidden))


def test_release_applies_to_the_trip_start() -> None:
    """s8 released at 06:40: its trip may leave the 06:26 dump only then, not at once.

    The plan waiting at the transfer station passes; leaving at 06:26 and serving s8 at 06:42 anyway
    is still a violation, since the trip left before the release.
    """
    released = dataclasses.replace(
        road_day(), stops=(*road_day().stops[:3], residual("s8", 8, release_s=6 * H + 2400))
    )
    waiting = hand_made(released, {"t1": BEST})
    assert check(released, waiting) == []
    s8 = next(x for x in waiting.routes[0].visits if x.ref_id == "s8")
    assert s8.arrival_s == 6 * H + 2400 + 120
    eager = edit_visit(hand_made(road_day(), {"t1": BEST}), "s8", arrival_s=6 * H + 1680)
    shifted = edit_visit(eager, "s8", start_s=s8.start_s, end_s=s8.end_s)
    assert ("RELEASE", "s8") in {(v.code, v.ref_id) for v in check(released, shifted)}


def test_release_of_the_first_trip_is_the_day_start() -> None:
    """A plan leaving the garage at 06:00 with a stop released at 07:00 on its first trip is flagged."""
    day = road_day()
    released = dataclasses.replace(day, stops=(residual("s2", 2, release_s=7 * H), *day.stops[1:]))
    assert ("RELEASE", "s2") in {(v.code, v.ref_id) for v in check(released, hand_made(day, {"t1": BEST}))}
    assert check(released, hand_made(released, {"t1": BEST})) == []
