"""Two-compartment trucks on the test road: one trip carries two streams, each dumped where it is accepted."""

from __future__ import annotations

import dataclasses

import pytest

from routing import (
    Compartment,
    Facility,
    Problem,
    ProblemError,
    Solution,
    TimeWindow,
    VisitKind,
    check,
    solve,
)
from routing import SolveOptions as Options
from tests.routing.routing_road import TRANSFER, H, at, hand_made, residual, road_day, solve_checked, truck

BOTH = frozenset({"residual", "glass"})


def two_compartments(glass_l: float = 4000.0) -> Problem:
    """Residual at 8 km, glass at 9 km; a truck with residual (6 000 L) and glass (`glass_l`) compartments.

    The transfer station (residual) is at 10 km, the glass centre at 12 km. With the compartments one trip
    takes both and dumps twice: 0-8-9-10-12-0 is 8 + 1 + 1 + 2 + 12 = 24 km, the least any day reaching
    12 km can drive. A plain body carries one stream per trip: 0-8-10-9-12-0 is 26 km (glass first, 28).
    """
    compartments = (
        Compartment(frozenset({"residual"}), 6000.0, 3000.0),
        Compartment(frozenset({"glass"}), glass_l, 3000.0),
    )
    return dataclasses.replace(
        road_day(),
        stops=(residual("s8", 8), residual("g9", 9, stream="glass")),
        # An hourly cost, or a dump at the transfer station on the way home (no detour) would be free.
        vehicles=(truck("bi", streams=BOTH, compartments=compartments, cost_per_hour=6.0),),
        facilities=(
            TRANSFER,
            Facility("verre", at(12), frozenset({"glass"}), TimeWindow(5 * H, 20 * H), 300),
        ),
    )


def test_compartments_save_a_trip() -> None:
    """24 km: the glass rides in its compartment past the transfer station, the day's only trip."""
    day = two_compartments()
    solution = solve_checked(day, time_limit_s=1.0)
    (route,) = solution.routes
    assert [x.ref_id for x in route.visits] == ["garage", "s8", "g9", "ts", "verre", "garage"]
    assert route.distance_m == 24_000
    assert solution.skipped == ()
    # After the transfer station the glass is still on board, in its compartment.
    assert route.visits[3].compartment_loads_l == (0.0, 3000.0)
    assert route.visits[3].load_l == 3000.0


def test_without_compartments_the_same_truck_drives_26_km() -> None:
    """The same truck with a plain body carries one stream per trip: two trips, 26 km."""
    day = two_compartments()
    plain = dataclasses.replace(day, vehicles=(dataclasses.replace(day.vehicles[0], compartments=()),))
    (route,) = solve_checked(plain, time_limit_s=1.0).routes
    assert route.distance_m == 26_000


def test_a_stop_larger_than_its_compartment_is_a_problem_error() -> None:
    """3 000 L of glass does not fit a 2 000 L glass compartment, though the body has room."""
    with pytest.raises(ProblemError) as error:
        solve(two_compartments(glass_l=2000.0), Options(time_limit_s=1.0))
    assert [v.field for v in error.value.violations] == ["stops[1].volume_l"]


def _hand(day: Problem, refs: list[str]) -> Solution:
    """`hand_made` with each visit's compartment loads filled in as the rules say."""
    solution = hand_made(day, {"bi": refs})
    vehicle = day.vehicles[0]
    stops = {s.id: s for s in day.stops}
    facilities = {f.id: f for f in day.facilities}
    held = [0.0 for _ in vehicle.compartments]
    visits = []
    for x in solution.routes[0].visits:
        if x.kind is VisitKind.STOP:
            held[vehicle.compartment_of(stops[x.ref_id].stream)] += stops[x.ref_id].volume_l
        elif x.kind is VisitKind.FACILITY:
            held = [
                0.0 if c.streams <= facilities[x.ref_id].streams else h
                for c, h in zip(vehicle.compartments, held, strict=True)
            ]
        visits.append(
            dataclasses.replace(x, load_l=sum(held), load_kg=sum(held) / 10, compartment_loads_l=tuple(held))
        )
    route = dataclasses.replace(solution.routes[0], visits=tuple(visits))
    return dataclasses.replace(solution, routes=(route,))


def test_checker_accepts_the_two_dump_trip_and_rejects_an_overfull_compartment() -> None:
    """By hand: the 24 km day passes; with a 2 000 L glass compartment the same day is COMPARTMENT."""
    refs = ["s8", "g9", "ts", "verre"]
    assert check(two_compartments(), _hand(two_compartments(), refs)) == []
    small = two_compartments(glass_l=2000.0)
    codes = {v.code for v in check(small, _hand(small, refs))}
    assert "COMPARTMENT" in codes


def test_checker_rejects_going_home_with_a_compartment_full() -> None:
    """Dumping residual only and driving home with the glass is NOT_EMPTY."""
    day = two_compartments()
    codes = {v.code for v in check(day, _hand(day, ["s8", "g9", "ts"]))}
    assert "NOT_EMPTY" in codes


@pytest.mark.parametrize(
    ("compartments", "field"),
    [
        ((Compartment(frozenset({"residual"}), 6000.0, 3000.0),), "vehicles[0].compartments"),
        (
            (
                Compartment(BOTH, 6000.0, 3000.0),
                Compartment(frozenset({"glass"}), 4000.0, 3000.0),
            ),
            "vehicles[0].compartments[0].streams",
        ),
        (
            (
                Compartment(frozenset({"residual"}), 0.0, 3000.0),
                Compartment(frozenset({"glass"}), 4000.0, 3000.0),
            ),
            "vehicles[0].compartments[0].capacity_l",
        ),
    ],
)
def test_bad_compartments_are_problem_errors(compartments: tuple[Compartment, ...], field: str) -> None:
    """Compartments missing a stream, mixing streams no facility takes together, or without room."""
    day = dataclasses.replace(
        two_compartments(), vehicles=(truck("bi", streams=BOTH, compartments=compartments),)
    )
    with pytest.raises(ProblemError) as error:
        solve(day, Options(time_limit_s=1.0))
    assert field in [v.field for v in error.value.violations]
