"""The reading path's own field checks say exactly what the generic `check_message` walk says, and its
fast path for plainly valid readings agrees with the full check."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from google.protobuf import timestamp_pb2
from hypothesis import example, given, settings
from hypothesis import strategies as st

from wastesvc.domain._common import FUTURE_TOLERANCE, OLDEST, from_timestamp
from wastesvc.domain._limits import check_message
from wastesvc.domain.readings import (
    _check_limits,
    _checked,
    _measured,
    check_reading,
    latest_accepted_us,
    plainly_valid,
)
from wastesvc.errors import InvalidArgument
from wastesvc.v1 import readings_pb2


def _stamp(seconds: int, nanos: int = 0) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)


CASES = {
    "good": readings_pb2.Reading(measure_time=_stamp(1_700_000_000), fill_fraction=0.5, battery_percent=80.0),
    "everything wrong": readings_pb2.Reading(
        name="n" * 301,
        sensor_id="s\x00",
        measure_time=_stamp(1_700_000_000, -1),
        fill_fraction=math.nan,
        fill=math.inf,
        battery_percent=-math.inf,
        temperature_celsius=math.nan,
        create_time=_stamp(10**13),
        outlier_reason="o" * 301,
    ),
    "long sensor": readings_pb2.Reading(sensor_id="x" * 65, distance_mm=5, tilted=True),
    "year 10000": readings_pb2.Reading(measure_time=_stamp(253_402_300_800), fill_fraction=0.1),
    "unset fill is fine": readings_pb2.Reading(measure_time=_stamp(0), distance_mm=-3),
}


@pytest.mark.parametrize("reading", CASES.values(), ids=CASES.keys())
def test_direct_checks_match_the_generic_walk(reading: readings_pb2.Reading) -> None:
    """Same violations, same field paths, same order."""
    assert _check_limits(reading, "requests[3].reading") == check_message(reading, "requests[3].reading")


def test_everything_wrong_is_all_reported() -> None:
    """The comparison above is not vacuous: the bad reading has a violation per bad field."""
    fields = [v.field.rsplit(".", 1)[-1] for v in _check_limits(CASES["everything wrong"], "r")]
    assert fields == [
        "name",
        "sensor_id",
        "measure_time",
        "fill_fraction",
        "fill",
        "battery_percent",
        "temperature_celsius",
        "create_time",
        "outlier_reason",
    ]


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [(0, 0), (1_700_000_000, 123_456_789), (-86_400 * 365 * 40, 999_999_999), (5, 1_999)],
)
def test_measure_time_conversion_is_protobufs(seconds: int, nanos: int) -> None:
    assert _measured(_stamp(seconds, nanos)) == from_timestamp(_stamp(seconds, nanos))


# A fixed "now": the checks compare measure_time with it, and the test must not depend on the wall clock.
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
_EDGES = {
    int(OLDEST.timestamp()),
    int((NOW + FUTURE_TOLERANCE).timestamp()),
    253_402_300_799,  # 9999-12-31, the last valid Timestamp second
}
_seconds = st.one_of(
    st.sampled_from(sorted(_EDGES)).flatmap(lambda e: st.integers(e - 2, e + 2)),
    st.integers(-(10**12), 10**13),
)
_nanos = st.one_of(st.integers(-2, 2), st.integers(999_999_997, 1_000_000_002), st.integers(0, 999_999_999))
_numbers = st.one_of(
    st.floats(),
    st.sampled_from([0.0, -0.0, 100.0, 100.00000000000001, -60.0, -60.00000000000001, 200.0, 5e-324]),
)
_texts = st.one_of(
    st.text(max_size=8),
    st.builds(lambda c, n: c * n, st.sampled_from(["x", "é", "\x00"]), st.integers(60, 305)),
)


@st.composite
def _readings(draw: st.DrawFn) -> readings_pb2.Reading:
    reading = readings_pb2.Reading(
        name=draw(_texts), sensor_id=draw(_texts), fill=draw(_numbers), tilted=draw(st.booleans())
    )
    if draw(st.booleans()):
        reading.measure_time.CopyFrom(_stamp(draw(_seconds), draw(_nanos)))
    level = draw(st.sampled_from(["none", "fill_fraction", "distance_mm"]))
    if level == "fill_fraction":
        reading.fill_fraction = draw(_numbers)
    elif level == "distance_mm":
        reading.distance_mm = draw(st.integers(-3, 2**31 - 1))
    for name in ("battery_percent", "temperature_celsius"):
        if draw(st.booleans()):
            setattr(reading, name, draw(_numbers))
    if draw(st.integers(0, 9)) == 0:
        reading.create_time.CopyFrom(_stamp(draw(_seconds), draw(_nanos)))
    if draw(st.integers(0, 9)) == 0:
        reading.outlier_reason = draw(_texts)
    return reading


def _common_shape(reading: readings_pb2.Reading) -> bool:
    """What the fast path covers: everything but non-ASCII text, create_time and outlier_reason."""
    return (
        reading.name.isascii()
        and reading.sensor_id.isascii()
        and not reading.HasField("create_time")
        and not reading.outlier_reason
    )


@settings(max_examples=3000, deadline=None)
@given(_readings())
@example(CASES["good"])
@example(readings_pb2.Reading(measure_time=_stamp(int(OLDEST.timestamp()) - 1, 999_999_999), fill_fraction=0))
def test_fast_path_agrees_with_the_full_check(reading: readings_pb2.Reading) -> None:
    """The fast path accepts exactly the readings of its shape that the full check finds nothing in, and
    the reading path then reports the full check's violations, in order."""
    full = check_reading(reading, "requests[0].reading", NOW)
    fast = plainly_valid(reading, latest_accepted_us(NOW))
    if fast:
        assert full == []
    elif _common_shape(reading):
        assert full != []
    request = readings_pb2.CreateReadingRequest(parent="tenants/t/containers/c", reading=reading)
    [item] = _checked([request], "", NOW, lambda tenant: None, "requests")
    if full:
        assert isinstance(item, InvalidArgument)
        assert item.violations == full
    else:
        assert item == ("t", "c")
