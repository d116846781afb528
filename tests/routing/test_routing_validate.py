from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable
from typing import Any

import pytest

from routing import (
    Break,
    DrivingRule,
    FieldViolation,
    Location,
    Problem,
    ProblemError,
    SolveOptions,
    TimeWindow,
    solve,
    validate,
)
from tests.routing.routing_road import H, residual, road_day, truck


def _stop(k: int, **changes: Any) -> Callable[[Problem], Problem]:
    def edit(p: Problem) -> Problem:
        stops = list(p.stops)
        stops[k] = dataclasses.replace(stops[k], **changes)
        return dataclasses.replace(p, stops=tuple(stops))

    return edit


def _vehicle(**changes: Any) -> Callable[[Problem], Problem]:
    return lambda p: dataclasses.replace(p, vehicles=(truck(**changes),))


def _no_glass_facility(p: Problem) -> Problem:
    glass = dataclasses.replace(residual("g", 3), stream="glass")
    return dataclasses.replace(
        p,
        stops=(*p.stops, glass),
        vehicles=(truck(streams=frozenset({"residual", "glass"})),),
        facilities=p.facilities[:1],
    )


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (_stop(1, volume_l=-1.0), "stops[1].volume_l"),
        (_stop(1, service_s=-5), "stops[1].service_s"),
        (_stop(0, time_windows=(TimeWindow(9 * H, 8 * H),)), "stops[0].time_windows[0]"),
        (_stop(2, volume_l=20_000.0), "stops[2].volume_l"),
        (_stop(3, stream="glass"), "stops[3].stream"),
        (_stop(0, location=Location(91.0, 3.0)), "stops[0].location.lat"),
        (_stop(0, location=Location(49.0, 181.0)), "stops[0].location.lng"),
        (_stop(3, id="s2"), "stops[3].id"),
        (_vehicle(start_depot="nowhere"), "vehicles[0].start_depot"),
        (_vehicle(capacity_l=0.0), "vehicles[0].capacity_l"),
        (_vehicle(lunch=Break(15 * H, 16 * H, H)), "vehicles[0].lunch"),
        (_no_glass_facility, "stops[4].stream"),
        (_stop(1, release_s=-5), "stops[1].release_s"),
        (_stop(2, required_skills=frozenset({"crane"})), "stops[2].required_skills"),
        (_vehicle(max_duration_s=-1), "vehicles[0].max_duration_s"),
        (_vehicle(overtime_after_s=-1), "vehicles[0].overtime_after_s"),
        (_vehicle(overtime_cost_per_hour=30.0), "vehicles[0].overtime_after_s"),
        (_vehicle(overtime_after_s=H, overtime_cost_per_hour=-1.0), "vehicles[0].overtime_cost_per_hour"),
        (_vehicle(latest_departure_s=15 * H), "vehicles[0].latest_departure_s"),
        (_vehicle(driving_rule=DrivingRule(max_driving_s=0)), "vehicles[0].driving_rule.max_driving_s"),
    ],
    ids=[
        "negative-volume",
        "negative-service",
        "reversed-window",
        "bigger-than-any-truck",
        "stream-nobody-carries",
        "latitude",
        "longitude",
        "duplicate-id",
        "unknown-depot",
        "zero-capacity",
        "lunch-outside-shift",
        "stream-no-facility-accepts",
        "negative-release",
        "skill-nobody-has",
        "negative-max-duration",
        "negative-overtime-after",
        "overtime-cost-without-its-hour",
        "negative-overtime-cost",
        "latest-departure-after-the-shift",
        "driving-rule-without-driving",
    ],
)
def test_names_the_faulty_field(edit: Callable[[Problem], Problem], field: str) -> None:
    """A malformed problem is rejected with the path of the faulty field."""
    with pytest.raises(ProblemError) as caught:
        validate(edit(road_day()))
    assert field in [v.field for v in caught.value.violations]


def test_lists_every_violation_at_once() -> None:
    """Two faults in one problem are both reported, and the message names them."""
    problem = _stop(0, volume_l=-1.0)(_vehicle(end_depot="nowhere")(road_day()))
    with pytest.raises(ProblemError) as caught:
        validate(problem)
    assert [v.field for v in caught.value.violations] == ["vehicles[0].end_depot", "stops[0].volume_l"]
    assert "stops[0].volume_l" in str(caught.value)


def test_optional_stop_of_a_stream_nobody_carries_is_valid() -> None:
    """Only mandatory stops must be collectable; an optional one is skipped later."""
    validate(_stop(3, stream="glass", required=False)(road_day()))
    validate(_stop(3, required_skills=frozenset({"crane"}), required=False)(road_day()))


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (SolveOptions(now_s=-1), "options.now_s"),
        (SolveOptions(frozen={"t9": ["s2"]}), "options.frozen['t9']"),
        (SolveOptions(frozen={"t1": ["s2", "nowhere"]}), "options.frozen['t1'][1]"),
        (SolveOptions(frozen={"t1": ["s2", "s4", "s2"]}), "options.frozen['t1'][2]"),
        (SolveOptions(frozen={"t1": ["s2", "verre"]}), "options.frozen['t1'][1]"),
        (SolveOptions(frozen={"t1": "s2"}), "options.frozen['t1']"),
        (SolveOptions(frozen={"t1": ["s2"]}, now_s=15 * H), "options.now_s"),
        (SolveOptions(initial_routes={"t1": ["s2", "s3"]}), "options.initial_routes['t1'][1]"),
        (SolveOptions(initial_routes={"t9": []}), "options.initial_routes['t9']"),
    ],
    ids=[
        "negative-now",
        "frozen-unknown-vehicle",
        "frozen-unknown-stop",
        "frozen-twice",
        "frozen-wrong-facility",
        "frozen-string",
        "now-after-frozen-shift",
        "initial-unknown-stop",
        "initial-unknown-vehicle",
    ],
)
def test_names_the_faulty_option(options: SolveOptions, field: str) -> None:
    """Re-planning options naming unknown, repeated or impossible visits are rejected with their path."""
    with pytest.raises(ProblemError) as caught:
        solve(road_day(), options)
    assert field in [v.field for v in caught.value.violations]


def test_frozen_stop_the_vehicle_cannot_serve_is_refused() -> None:
    """A crane stop cannot be frozen on a truck without a crane."""
    day = _stop(0, required_skills=frozenset({"crane"}))(road_day())
    day = dataclasses.replace(day, vehicles=(truck("t1"), truck("t2", skills=frozenset({"crane"}))))
    with pytest.raises(ProblemError) as caught:
        solve(day, SolveOptions(frozen={"t1": ["s2"]}))
    assert [v.field for v in caught.value.violations] == ["options.frozen['t1'][0]"]


def test_solve_validates_problem_and_options() -> None:
    """`solve` refuses a malformed problem and a non-positive time limit before building anything."""
    with pytest.raises(ProblemError):
        solve(_stop(1, volume_l=-1.0)(road_day()))
    with pytest.raises(ProblemError) as caught:
        solve(road_day(), SolveOptions(time_limit_s=0.0))
    assert [v.field for v in caught.value.violations] == ["options.time_limit_s"]


def test_problem_error_survives_pickling() -> None:
    """A ProblemError crosses the solver process boundary with its field violations intact."""
    original = ProblemError([FieldViolation("stops[2].volume_l", "must not be negative")])
    error = pickle.loads(pickle.dumps(original))
    assert error.violations == original.violations
