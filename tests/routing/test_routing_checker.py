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
    ],
    ids=["shift", "max-stops", "route-volume-cap", "missing-lunch", "stream"],
)
def test_catches_a_broken_vehicle_rule(changes: dict[str, Any], code: str) -> None:
    """The paper plan breaks a tighter shift, a stop or volume limit, an owed lunch or a stream."""
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
