from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from routing import (
    Break,
    Depot,
    DrivingRule,
    Facility,
    Location,
    Problem,
    ProblemError,
    Route,
    SkipReason,
    SolveOptions,
    TimeWindow,
    VisitKind,
    check,
    solve,
)
from tests.routing.routing_road import (
    H,
    at,
    hand_made,
    residual,
    road_day,
    soissons_day,
    solve_checked,
    truck,
)


def refs(route: Route) -> list[str]:
    return [x.ref_id for x in route.visits]


def stops_of(route: Route) -> list[str]:
    return [x.ref_id for x in route.visits if x.kind is VisitKind.STOP]


@pytest.mark.parametrize(("volume_l", "weight_kg"), [(3000.0, 300.0), (100.0, 1600.0)])
def test_full_truck_dumps_mid_day(volume_l: float, weight_kg: float) -> None:
    """Three stops fill the truck (by volume or by weight), so the fourth comes after a dump."""
    day = road_day()
    stops = tuple(dataclasses.replace(s, volume_l=volume_l, weight_kg=weight_kg) for s in day.stops)
    solution = solve_checked(dataclasses.replace(day, stops=stops))
    (route,) = solution.routes
    assert refs(route) == ["garage", "s2", "s4", "s6", "ts", "s8", "ts", "garage"]
    assert route.distance_m == 24_000
    assert solution.cost.total == pytest.approx(24.0)


def test_truck_goes_home_empty_even_when_one_load_fits() -> None:
    """With room for everything the truck still dumps before the garage."""
    day = road_day()
    solution = solve_checked(dataclasses.replace(day, vehicles=(truck(capacity_l=100_000.0),)))
    (route,) = solution.routes
    assert refs(route) == ["garage", "s2", "s4", "s6", "s8", "ts", "garage"]
    assert route.visits[-2].load_l == route.visits[-1].load_l == 0.0


def test_shift_end_is_respected() -> None:
    """A 40-minute shift fits one 36-minute trip of three stops; the fourth is skipped for time."""
    day = road_day()
    solution = solve_checked(
        dataclasses.replace(day, vehicles=(truck(shift=TimeWindow(6 * H, 6 * H + 2400)),))
    )
    (route,) = solution.routes
    assert route.visits[-1].start_s <= 6 * H + 2400
    assert len(stops_of(route)) == 3
    assert [s.reason for s in solution.skipped] == [SkipReason.NO_TIME]


def test_time_window_is_respected() -> None:
    """A stop 8 km out and open until 06:09 must come first: any stop before it makes the truck late."""
    day = road_day()
    window = TimeWindow(6 * H, 6 * H + 540)
    stops = (*day.stops[:3], residual("s8", 8, time_windows=(window,)))
    solution = solve_checked(dataclasses.replace(day, stops=stops))
    (route,) = solution.routes
    first = route.visits[1]
    assert first.ref_id == "s8"
    assert window.contains(first.start_s)


def test_second_time_window_is_used_when_the_first_is_out_of_reach() -> None:
    """Open 06:00-06:05 and 09:00-09:30, a stop eight minutes away is served in the second window."""
    windows = (TimeWindow(6 * H, 6 * H + 300), TimeWindow(9 * H, 9 * H + 1800))
    day = dataclasses.replace(road_day(), stops=(residual("s8", 8, time_windows=windows),))
    (route,) = solve_checked(day).routes
    assert windows[1].contains(route.visits[1].start_s)


def test_lunch_is_taken_within_its_window() -> None:
    """A day running past 06:20 contains a 30-minute break starting between 06:10 and 06:20."""
    lunch = Break(6 * H + 600, 6 * H + 1200, 1800)
    day = dataclasses.replace(road_day(), vehicles=(truck(lunch=lunch),))
    (route,) = solve_checked(day).routes
    (taken,) = [x for x in route.visits if x.kind is VisitKind.BREAK]
    assert lunch.earliest_start_s <= taken.start_s <= lunch.latest_start_s
    assert taken.end_s - taken.start_s == 1800


def test_lunch_is_off_duty_when_the_day_ends_before_it() -> None:
    """A crew home by 07:00 owes no 12:00 lunch, so the route shows none."""
    day = dataclasses.replace(road_day(), vehicles=(truck(lunch=Break(12 * H, 13 * H, H)),))
    (route,) = solve_checked(day).routes
    assert route.visits[-1].start_s < 7 * H
    assert all(x.kind is not VisitKind.BREAK for x in route.visits)


def test_route_volume_cap_calls_a_second_truck() -> None:
    """Capped at 6 000 L a day, each of two trucks collects two 3 000 L stops."""
    capped = (truck("t1", route_volume_cap_l=6000.0), truck("t2", route_volume_cap_l=6000.0))
    solution = solve_checked(dataclasses.replace(road_day(), vehicles=capped))
    assert sorted(len(stops_of(r)) for r in solution.routes) == [2, 2]
    assert solution.skipped == ()


@pytest.mark.parametrize("limit", [{"route_volume_cap_l": 9000.0}, {"max_stops": 3}])
def test_daily_limit_reports_no_capacity(limit: dict[str, Any]) -> None:
    """A lone truck limited to three stops' worth serves three and reports the fourth as NO_CAPACITY."""
    solution = solve_checked(dataclasses.replace(road_day(), vehicles=(truck(**limit),)))
    (route,) = solution.routes
    assert len(stops_of(route)) == 3
    assert [s.reason for s in solution.skipped] == [SkipReason.NO_CAPACITY]


def test_glass_never_rides_a_residual_truck() -> None:
    """The glass stop goes to the glass truck, which dumps at the glass centre only."""
    day = road_day()
    stops = (*day.stops[:2], dataclasses.replace(residual("g3", 3), stream="glass"))
    vehicles = (truck("t1"), truck("g1", streams=frozenset({"glass"})))
    solution = solve_checked(dataclasses.replace(day, stops=stops, vehicles=vehicles))
    by_vehicle = {r.vehicle_id: r for r in solution.routes}
    assert stops_of(by_vehicle["g1"]) == ["g3"]
    assert "g3" not in stops_of(by_vehicle["t1"])
    assert {x.ref_id for x in by_vehicle["g1"].visits if x.kind is VisitKind.FACILITY} == {"verre"}


def trips(route: Route) -> list[list[str]]:
    """The stops of each disposal trip of a route."""
    out: list[list[str]] = [[]]
    for x in route.visits:
        if x.kind is VisitKind.STOP:
            out[-1].append(x.ref_id)
        elif x.kind is VisitKind.FACILITY:
            out.append([])
    return [trip for trip in out if trip]


def test_two_stream_trucks_keep_streams_apart() -> None:
    """Trucks able to carry both streams never mix them in a trip, and dump each where it is accepted."""
    glass = [dataclasses.replace(residual(f"g{x}", x), stream="glass") for x in (3, 5)]
    both = frozenset({"residual", "glass"})
    day = dataclasses.replace(
        road_day(),
        stops=(*road_day().stops[:2], *glass),
        vehicles=(truck("a", streams=both), truck("b", streams=both)),
    )
    solution = solve_checked(day)
    streams = {s.id: s.stream for s in day.stops}
    served = [trip for r in solution.routes for trip in trips(r)]
    assert sorted(ref for trip in served for ref in trip) == ["g3", "g5", "s2", "s4"]
    assert all(len({streams[ref] for ref in trip}) == 1 for trip in served)


def test_one_truck_collects_two_streams_in_two_trips() -> None:
    """One truck, glass at -2 and -4 km, residual at 2 and 4 km: a glass trip to the glass centre
    (-5 km) and a residual trip to the transfer station (10 km), 30 km in all whichever comes first."""
    glass = tuple(dataclasses.replace(residual(f"g{x}", -x), stream="glass") for x in (2, 4))
    day = dataclasses.replace(
        road_day(),
        stops=(*road_day().stops[:2], *glass),
        vehicles=(truck("a", streams=frozenset({"residual", "glass"})),),
    )
    solution = solve_checked(day)
    (route,) = solution.routes
    assert sorted(map(sorted, trips(route))) == [["g2", "g4"], ["s2", "s4"]]
    assert route.distance_m == 30_000
    assert solution.skipped == ()


@pytest.mark.parametrize(("prize", "visited"), [(1.0, False), (1000.0, True)])
def test_optional_stop_is_visited_only_when_its_prize_pays(prize: float, visited: bool) -> None:
    """A stop 40 km out costs a 60 km detour: skipped for a prize of 1, visited for 1 000."""
    day = road_day()
    far = residual("far", 40, required=False, prize=prize)
    solution = solve_checked(dataclasses.replace(day, stops=(*day.stops, far)))
    served = {ref for r in solution.routes for ref in stops_of(r)}
    assert ("far" in served) is visited
    if not visited:
        assert [(s.stop_id, s.reason) for s in solution.skipped] == [("far", SkipReason.NOT_WORTH_IT)]
        assert solution.cost.prizes_lost == prize


@pytest.mark.parametrize(
    "window",
    [TimeWindow(20 * H, 21 * H), TimeWindow(6 * H, 6 * H + 300)],
    ids=["after-the-shift", "out-of-reach"],
)
def test_impossible_mandatory_stop_is_reported_no_time(window: TimeWindow) -> None:
    """A mandatory stop that cannot be served in time is reported, and the rest of the day goes on."""
    day = road_day()
    stops = (*day.stops[:3], residual("s8", 8, time_windows=(window,)))
    solution = solve_checked(dataclasses.replace(day, stops=stops))
    assert [(s.stop_id, s.reason) for s in solution.skipped] == [("s8", SkipReason.NO_TIME)]
    (route,) = solution.routes
    assert stops_of(route) == ["s2", "s4", "s6"]


def test_stream_nobody_carries_is_incompatible() -> None:
    """An optional glass stop with no glass truck is skipped as INCOMPATIBLE."""
    day = road_day()
    glass = dataclasses.replace(residual("g3", 3), stream="glass", required=False, prize=5.0)
    solution = solve_checked(dataclasses.replace(day, stops=(*day.stops, glass)))
    assert [(s.stop_id, s.reason) for s in solution.skipped] == [("g3", SkipReason.INCOMPATIBLE)]
    assert solution.cost.prizes_lost == 5.0


def test_cost_breakdown_adds_up() -> None:
    """At 2 per km, 36 per hour and 50 fixed, the 24 km day splits into its parts."""
    day = dataclasses.replace(
        road_day(), vehicles=(truck(cost_per_km=2.0, cost_per_hour=36.0, fixed_cost=50.0),)
    )
    solution = solve_checked(day)
    (route,) = solution.routes
    cost = solution.cost
    assert cost.distance == pytest.approx(48.0)
    assert (cost.fixed, cost.prizes_lost) == (50.0, 0.0)
    assert cost.time == pytest.approx(route.duration_s / 100)
    assert cost.total == pytest.approx(cost.distance + cost.time + cost.fixed)


def test_no_stops_gives_no_routes() -> None:
    """An empty day is feasible and uses no truck."""
    solution = solve_checked(dataclasses.replace(road_day(), stops=()))
    assert (solution.routes, solution.skipped, solution.cost.total) == ((), (), 0.0)


def test_unused_vehicle_has_no_route() -> None:
    """A spare truck left in the garage does not appear in the solution."""
    solution = solve_checked(
        dataclasses.replace(road_day(), vehicles=(truck("t1"), truck("t2", fixed_cost=100.0)))
    )
    assert [r.vehicle_id for r in solution.routes] == ["t1"]


def test_depot_no_vehicle_uses_is_never_visited() -> None:
    """A second garage that no truck starts or ends at is left alone."""
    day = road_day()
    solution = solve_checked(dataclasses.replace(day, depots=(*day.depots, Depot("spare", at(3)))))
    assert "spare" not in refs(solution.routes[0])


def plans_by_distance(problem: Problem) -> Iterator[list[str]]:
    """Every one-truck plan of `problem` (stop order, split into trips, facility per trip), shortest first.

    Lengths are computed for all plans at once, one split and one choice of facilities at a time over
    every order of the stops; plans whose trips overflow the truck are left out.
    """
    distances = problem.matrix.matrix(problem.locations()).distances_m.astype(np.int64)
    n, capacity = len(problem.stops), problem.vehicles[0].capacity_l
    facility_rows = range(1, 1 + len(problem.facilities))
    orders = np.array(list(itertools.permutations(range(n))))
    rows = orders + 1 + len(problem.facilities)
    volumes = np.array([s.volume_l for s in problem.stops])[orders]
    direct = distances[rows[:, :-1], rows[:, 1:]]
    # Without dumps the truck would drive garage - stops - garage; each dump replaces one arc by a detour.
    undumped = distances[0, rows[:, 0]] + direct.sum(axis=1)
    lengths, kept_orders, group_of = [], [], []
    groups: list[dict[int, int]] = []  # per split and choice of facilities: position -> facility row
    for split in itertools.product((False, True), repeat=n - 1):
        ends = [*np.flatnonzero(split), n - 1]  # positions after which the truck dumps
        bounds = [0, *(e + 1 for e in ends)]
        fits = np.logical_and.reduce(
            [volumes[:, a:b].sum(axis=1) <= capacity for a, b in itertools.pairwise(bounds)]
        )
        for dumps in itertools.product(facility_rows, repeat=len(ends)):
            length = undumped.copy()
            for end, dump in zip(ends, dumps, strict=True):
                after = rows[:, end + 1] if end < n - 1 else 0
                arc = direct[:, end] if end < n - 1 else 0
                length += distances[rows[:, end], dump] + distances[dump, after] - arc
            lengths.append(length[fits])
            kept_orders.append(np.flatnonzero(fits))
            group_of.append(np.full(len(kept_orders[-1]), len(groups)))
            groups.append({int(end): dump for end, dump in zip(ends, dumps, strict=True)})
    ids = [problem.depots[0].id, *(f.id for f in problem.facilities), *(s.id for s in problem.stops)]
    orders_flat, groups_flat = np.concatenate(kept_orders), np.concatenate(group_of)
    for k in np.argsort(np.concatenate(lengths), kind="stable"):
        order, dump_after = orders_flat[k], groups[groups_flat[k]]
        sequence = []
        for position, row in enumerate(rows[order]):
            sequence.append(ids[row])
            if position in dump_after:
                sequence.append(ids[dump_after[position]])
        yield sequence


@pytest.mark.parametrize(
    ("n_stops", "n_facilities", "seed", "windows"),
    [
        (6, 1, 1, False),
        (6, 1, 2, False),
        (5, 2, 3, False),
        (7, 1, 4, False),
        (7, 1, 5, True),
        (6, 2, 7, True),
        (8, 1, 8, False),
        (8, 1, 10, True),
    ],
)
def test_matches_brute_force_on_tiny_days(n_stops: int, n_facilities: int, seed: int, windows: bool) -> None:
    """On a one-truck day of up to eight stops the solver finds the cheapest plan an enumeration finds.

    The enumeration covers every order, every split into trips and every facility per trip, shortest
    first; the first plan that the independent checker accepts (capacity, windows, hours) is the optimum.
    """
    problem = soissons_day(n_stops, seed, n_facilities, windows=windows)
    best = next(
        plan
        for sequence in plans_by_distance(problem)
        if not check(problem, plan := hand_made(problem, {"t1": sequence}))
    )
    solution = solve_checked(problem)
    assert solution.cost.total == pytest.approx(best.cost.total)


def test_larger_day_stays_within_the_time_limit() -> None:
    """A 120-stop, two-facility day is solved, checked clean, and returned within its budget."""
    problem = dataclasses.replace(
        soissons_day(120, 7, 2),
        vehicles=(truck("t1", capacity_l=16_000.0), truck("t2", capacity_l=16_000.0)),
    )
    problem = dataclasses.replace(
        problem, stops=tuple(dataclasses.replace(s, volume_l=s.volume_l / 4) for s in problem.stops)
    )
    solution = solve(problem, SolveOptions(time_limit_s=1.0, seed=3))
    assert check(problem, solution) == []
    assert solution.solve_time_s < 1.1
    assert solution.skipped == ()


@pytest.mark.parametrize("seed", [1, 2])
def test_seed_permutes_but_keeps_the_optimum(seed: int) -> None:
    """Whatever order a seed hands the stops over in, the four-stop day reaches its 24 km optimum."""
    day = road_day()
    solution = solve(day, SolveOptions(time_limit_s=0.5, seed=seed))
    assert check(day, solution) == []
    assert solution.cost.total == pytest.approx(24.0)


def _random_day(seed: int) -> Problem:
    """Up to 60 stops over three streams, windows, prizes, two depots, mixed fleet and limits."""
    rng = np.random.default_rng(seed)
    streams = ["residual", "glass", "packaging"][: int(rng.integers(1, 4))]

    def near(spread: float) -> Location:
        return Location(49.38 + rng.normal(0, spread), 3.32 + rng.normal(0, 1.5 * spread))

    def some_streams() -> frozenset[str]:
        return frozenset(
            rng.choice(streams, size=int(rng.integers(1, len(streams) + 1)), replace=False).tolist()
        )

    windows = [(), (), (TimeWindow(8 * H, 10 * H),), (TimeWindow(6 * H, 7 * H), TimeWindow(11 * H, 13 * H))]
    facilities = [
        Facility(f"f{k}", near(0.03), some_streams(), TimeWindow(6 * H, int(rng.integers(12, 20)) * H), 600)
        for k in range(int(rng.integers(1, 4)))
    ]
    facilities[0] = dataclasses.replace(facilities[0], streams=frozenset(streams))
    vehicles = tuple(
        truck(
            f"v{k}",
            capacity_l=float(rng.uniform(4000, 16000)),
            streams=some_streams(),
            start_depot=str(rng.choice(["d0", "d1"])),
            end_depot=str(rng.choice(["d0", "d1"])),
            shift=TimeWindow(int(rng.integers(5, 8)) * H, int(rng.integers(13, 16)) * H),
            cost_per_hour=float(rng.choice([0.0, 30.0])),
            fixed_cost=float(rng.choice([0.0, 50.0])),
            max_stops=int(rng.integers(3, 30)) if rng.random() < 0.3 else None,
            route_volume_cap_l=float(rng.uniform(5000, 40000)) if rng.random() < 0.3 else None,
            lunch=Break(11 * H + 1800, 13 * H, H) if rng.random() < 0.6 else None,
            driving_rule=DrivingRule() if rng.random() < 0.4 else None,
        )
        for k in range(int(rng.integers(1, 5)))
    )
    stops = []
    for i in range(int(rng.integers(5, 60))):
        required = rng.random() > 0.25
        stops.append(
            residual(
                f"s{i}",
                0,
                location=near(0.02),
                stream=str(rng.choice(streams)),
                volume_l=float(rng.uniform(100, 3000)),
                service_s=int(rng.integers(30, 300)),
                time_windows=windows[int(rng.integers(len(windows)))],
                required=required and any(s in v.streams for v in vehicles for s in streams[:1]),
                prize=float(rng.uniform(0, 5)),
            )
        )
    carried = {s for v in vehicles for s in v.streams}
    stops = [s if s.stream in carried else dataclasses.replace(s, required=False) for s in stops]
    return Problem(
        tuple(stops), vehicles, (Depot("d0", near(0.01)), Depot("d1", near(0.01))), tuple(facilities)
    )


@pytest.mark.parametrize("seed", range(8))
def test_random_days_pass_the_checker(seed: int) -> None:
    """Whatever mix of streams, windows, prizes, depots, limits, lunches and rests, the plan checks clean."""
    problem = _random_day(seed)
    solution = solve(problem, SolveOptions(time_limit_s=0.3))
    assert check(problem, solution) == []
    assert len(solution.routes) + len(solution.skipped) > 0


TRANSFER_AT_1 = Facility("d1", at(1), frozenset({"residual"}), TimeWindow(5 * H, 20 * H), 600)


def two_garages_day() -> Problem:
    """Stops at 2 and 18 km; a truck and a dump near each end (garage 0, dump 1; dump 19, garage 20).

    Each truck serving its own end drives 2 + 1 + 1 = 4 km, 8 km in all; one truck serving both drives
    at best 0-18-2-1-0 (or 20-2-18-19-20), 36 km.
    """
    dump = dataclasses.replace(TRANSFER_AT_1, id="d19", location=at(19))
    return dataclasses.replace(
        road_day(),
        stops=(residual("s2", 2), residual("s18", 18)),
        vehicles=(truck("a"), truck("b", start_depot="far", end_depot="far")),
        depots=(road_day().depots[0], Depot("far", at(20))),
        facilities=(TRANSFER_AT_1, dump),
    )


@pytest.mark.parametrize(("objective", "trucks", "km"), [("cost", 2, 8), ("vehicles", 1, 36)])
def test_objective_vehicles_first_uses_fewer_trucks(objective: str, trucks: int, km: int) -> None:
    """The cost objective sends both trucks (8 km); fewest vehicles first sends one (36 km)."""
    day = two_garages_day()
    solution = solve(day, SolveOptions(time_limit_s=1.0, objective=objective))
    assert check(day, solution) == []
    assert len(solution.routes) == trucks
    assert sum(r.distance_m for r in solution.routes) == km * 1000
    assert solution.skipped == ()
    # The plan is costed at the problem's own prices, whatever the search weighed.
    assert solution.cost.fixed == 0.0
    assert solution.cost.total == pytest.approx(km)


def test_unknown_objective_is_rejected() -> None:
    """An objective other than cost or vehicles is a ProblemError naming options.objective."""
    with pytest.raises(ProblemError) as error:
        solve(road_day(), SolveOptions(objective="trucks"))
    assert [v.field for v in error.value.violations] == ["options.objective"]
