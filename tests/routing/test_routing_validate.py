from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable
from typing import Any

import pytest

from routing import (
    Break,
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
