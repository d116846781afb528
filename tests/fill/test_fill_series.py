from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from wastesvc.fill import Limits, Reading, Series, impossibility

START = datetime(2026, 3, 2, tzinfo=UTC)
H = timedelta(hours=1)


def test_readings_become_sorted_arrays_without_the_frames_lacking_a_fill() -> None:
    """Out-of-order readings are sorted; a battery-only frame carries no fill and is left out."""
    readings = [
        Reading(START + 2 * H, fill=0.3),
        Reading(START, fill=0.1),
        Reading(START + H, battery=0.8),
        Reading(START + H, fill=0.2),
    ]
    series = Series.from_readings(readings, START + 3 * H)
    assert series.times_s.tolist() == [(START + k * H).timestamp() for k in range(3)]
    assert series.fills.tolist() == [0.1, 0.2, 0.3]
    assert len(series.until((START + H).timestamp())) == 2


def test_arrays_of_different_lengths_are_a_clear_error() -> None:
    """Three times and two fills raise ValueError."""
    with pytest.raises(ValueError, match="same length"):
        Series.from_arrays([1.0, 2.0, 3.0], [0.1, 0.2])
    with pytest.raises(ValueError, match="same length"):
        Series(np.zeros(2), np.zeros(3))


def test_a_reading_a_few_minutes_ahead_is_clock_skew_not_impossible() -> None:
    """Ten minutes ahead passes (tolerance 15 min); an hour ahead is impossible."""
    assert impossibility(Reading(START + timedelta(minutes=10), fill=0.2), START) is None
    assert impossibility(Reading(START + H, fill=0.2), START, Limits()) is not None
