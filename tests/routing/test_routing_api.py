from __future__ import annotations

import dataclasses
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

import routing
from routing import (
    CostBreakdown,
    ExplicitMatrix,
    GreatCircleMatrix,
    Location,
    Matrix,
    Problem,
    Solution,
    SolveOptions,
    Stop,
    TimeWindow,
    Vehicle,
    check,
    solve,
)
from tests.routing.routing_road import road_day


def test_public_surface() -> None:
    """The package exports exactly the names the service is allowed to use."""
    assert sorted(routing.__all__) == [
        "Break",
        "Compartment",
        "CostBreakdown",
        "Depot",
        "DrivingRule",
        "ExplicitMatrix",
        "Facility",
        "FieldViolation",
        "GreatCircleMatrix",
        "LUNCH",
        "Location",
        "Matrix",
        "MatrixProvider",
        "OsrmMatrix",
        "OsrmRoutes",
        "OsrmUnavailable",
        "Problem",
        "ProblemError",
        "REST",
        "Route",
        "SkipReason",
        "Skipped",
        "Solution",
        "SolveOptions",
        "Stop",
        "TimeWindow",
        "Vehicle",
        "Violation",
        "Visit",
        "VisitKind",
        "check",
        "solve",
        "validate",
    ]


def test_problem_and_solution_cross_a_process_boundary() -> None:
    """Problem, options and Solution pickle to equal values, as a process pool needs."""
    problem = dataclasses.replace(road_day(), matrix=GreatCircleMatrix())
    options = SolveOptions(time_limit_s=0.2, frozen={"t1": ["s2"]}, initial_routes={"t1": ["s2", "ts"]})
    solution = solve(problem, options)
    assert pickle.loads(pickle.dumps(problem)) == problem
    assert pickle.loads(pickle.dumps(options)) == options
    assert pickle.loads(pickle.dumps(solution)) == solution


def test_fields_added_later_have_defaults() -> None:
    """Values built the way the service builds them still work: every field added since has a default."""
    cost = CostBreakdown(0.0, 0.0, 0.0, 0.0, 0.0)
    assert cost.overtime == 0.0
    assert Solution((), (), cost, "NOTHING_TO_COLLECT", 0.0).notes == ()
    stop = Stop("s", Location(49.0, 3.0), "residual", 1.0, 1.0, 0)
    assert (stop.required_skills, stop.release_s) == (frozenset(), 0)
    vehicle = Vehicle("v", 1.0, 1.0, frozenset({"residual"}), "d", "d", TimeWindow(0, 1))
    assert (vehicle.skills, vehicle.max_duration_s, vehicle.overtime_after_s) == (frozenset(), None, None)
    options = SolveOptions(time_limit_s=1.0)
    assert (options.initial_routes, options.frozen, options.now_s) == (None, None, None)


def test_solve_runs_in_a_spawned_process_pool() -> None:
    """`solve` and its arguments travel to a spawned worker and the plan comes back intact."""
    problem = dataclasses.replace(road_day(), matrix=GreatCircleMatrix())
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        solution = pool.submit(solve, problem, SolveOptions(time_limit_s=0.2)).result(timeout=60)
    assert check(problem, solution) == []
    assert len(solution.routes) == 1


def test_locations_are_depots_then_facilities_then_stops() -> None:
    """The matrix order is depots, facilities, then stops, each in problem order."""
    day = road_day()
    expected = [d.location for d in day.depots] + [f.location for f in day.facilities]
    assert list(day.locations()) == expected + [s.location for s in day.stops]


def test_great_circle_degree_of_latitude() -> None:
    """One degree of latitude is 111.195 km; at 36 km/h and no circuity that is 11 120 s."""
    matrix = GreatCircleMatrix(circuity=1.0, speed_kmh=36.0).matrix(
        [Location(49.0, 3.0), Location(50.0, 3.0)]
    )
    assert matrix.distances_m.tolist() == [[0, 111_195], [111_195, 0]]
    assert matrix.durations_s.tolist() == [[0, 11_120], [11_120, 0]]


def test_great_circle_applies_circuity() -> None:
    """The default 1.3 circuity lengthens every leg by 30 %."""
    places = [Location(49.38, 3.32), Location(49.40, 3.36)]
    straight = GreatCircleMatrix(circuity=1.0).matrix(places).distances_m[0, 1]
    assert GreatCircleMatrix().matrix(places).distances_m[0, 1] == pytest.approx(1.3 * straight, abs=1)


def test_explicit_matrix_answers_by_location() -> None:
    """An explicit matrix returns the rows of the asked locations, whatever their order."""
    a, b, c = Location(49.0, 3.0), Location(49.1, 3.0), Location(49.2, 3.0)
    distances = np.array([[0, 5, 9], [5, 0, 4], [9, 4, 0]], dtype=np.int64)
    explicit = ExplicitMatrix((a, b, c), distances, distances * 10)
    sub = explicit.matrix([c, a, c])
    assert sub.distances_m.tolist() == [[0, 9, 0], [9, 0, 9], [0, 9, 0]]
    assert sub.durations_s[0, 1] == 90
    assert pickle.loads(pickle.dumps(explicit)).matrix([b, a]).distances_m.tolist() == [[0, 5], [5, 0]]
    with pytest.raises(KeyError):
        explicit.matrix([Location(0.0, 0.0)])


def test_explicit_matrix_drives_a_solve() -> None:
    """A solve on an explicit copy of the road matrix gives the same 24 km day."""
    day = road_day()
    road = day.matrix.matrix(day.locations())
    explicit = ExplicitMatrix(day.locations(), road.distances_m, road.durations_s)
    solution = solve(dataclasses.replace(day, matrix=explicit), SolveOptions(time_limit_s=0.5))
    assert solution.cost.total == pytest.approx(24.0)


@pytest.mark.parametrize(
    "values",
    [np.zeros((2, 3), dtype=np.int64), np.zeros((2, 2), dtype=np.float64), -np.ones((2, 2), dtype=np.int64)],
    ids=["not-square", "not-int64", "negative"],
)
def test_matrix_rejects_bad_arrays(values: np.typing.NDArray[np.generic]) -> None:
    """A matrix must be square, int64 and non-negative."""
    with pytest.raises(ValueError, match="distances_m"):
        Matrix(values, values)  # type: ignore[arg-type]


def test_problem_defaults_to_great_circle() -> None:
    """Without a road engine the embedded great-circle provider is used."""
    assert Problem((), (), (), ()).matrix == GreatCircleMatrix()
