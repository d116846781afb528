"""The reading path's own field checks say exactly what the generic `check_message` walk says."""

from __future__ import annotations

import math

import pytest
from google.protobuf import timestamp_pb2

from wastesvc.domain._common import from_timestamp
from wastesvc.domain._limits import check_message
from wastesvc.domain.readings import _check_limits, _measured
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
