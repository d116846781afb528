from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from wastesvc.fill import CollectionEvent, Emptying, Series, Source, detect_emptyings, merge_collections
from wastesvc.fill.synthetic import DepositProfile, SensorProfile, synthetic_container

START = datetime(2026, 3, 2, tzinfo=UTC)
H = timedelta(hours=1)


def _hourly(fills: list[float]) -> Series:
    return Series.from_arrays([START.timestamp() + 3600 * i for i in range(len(fills))], fills)


@pytest.mark.parametrize("seed", range(8))
def test_every_emptying_of_a_noisy_series_is_found_near_its_time(seed: int) -> None:
    """Noise, dropouts and spurious low readings: each true emptying is found once, within 3 h.

    The last high reading precedes it. (A spurious low reading right before an emptying cannot be told from
    an earlier emptying, so the first low reading may precede the truth.)
    """
    rng = np.random.default_rng(seed)
    sensor = SensorProfile(noise_sd=0.03, dropout=0.1, outlier=0.02)
    c = synthetic_container(rng, DepositProfile(0.25), sensor, START, 28, empty_at=0.7)
    found = detect_emptyings(c.readings)
    assert len(c.emptyings_s) >= 4
    assert len(found) == len(c.emptyings_s)
    for e, truth in zip(found, c.emptyings_s, strict=True):
        assert e.earliest.timestamp() <= truth
        assert abs(e.time.timestamp() - truth) <= 3 * 3600
        assert e.confidence == 1.0


@pytest.mark.parametrize("seed", range(4))
def test_a_sensor_that_misses_the_moment_still_brackets_the_emptying(seed: int) -> None:
    """Twelve hours of silence after each emptying: the detection's interval holds the true time."""
    rng = np.random.default_rng(100 + seed)
    sensor = SensorProfile(miss_after_emptying_h=12.0)
    c = synthetic_container(rng, DepositProfile(0.25), sensor, START, 21, empty_at=0.7)
    found = detect_emptyings(c.readings)
    assert len(found) == len(c.emptyings_s) >= 3
    for e, truth in zip(found, c.emptyings_s, strict=True):
        assert e.latest - e.earliest >= timedelta(hours=12)
        assert e.earliest.timestamp() <= truth <= e.latest.timestamp()
        assert e.earliest <= e.time <= e.latest


def test_a_single_outlier_low_reading_is_no_emptying() -> None:
    """One reading at 2 % amid readings at 60 % is an outlier, not an emptying."""
    fills = [0.5 + 0.01 * i for i in range(20)]
    fills[10] = 0.02
    assert detect_emptyings(_hourly(fills)) == []


def test_two_outliers_in_a_row_are_no_emptying_with_the_default_confirmation() -> None:
    """Two low readings in a row fool three-reading medians but not the default five-reading ones."""
    fills = [0.5 + 0.01 * i for i in range(20)]
    fills[10] = fills[11] = 0.02
    assert len(detect_emptyings(_hourly(fills), confirm=3)) == 1
    assert detect_emptyings(_hourly(fills)) == []


def test_a_slowly_filling_noisy_series_has_no_emptying() -> None:
    """A month of noisy readings without emptying gives no detection."""
    rng = np.random.default_rng(7)
    c = synthetic_container(rng, DepositProfile(0.02), SensorProfile(noise_sd=0.04), START, 30)
    assert c.emptyings_s == ()
    assert detect_emptyings(c.readings) == []


def test_a_drop_at_the_end_of_the_series_has_a_lower_confidence() -> None:
    """Two low readings after the drop: reported, but with two fifths of the confidence."""
    series = _hourly([0.6, 0.61, 0.62, 0.63, 0.64, 0.03, 0.04])
    [e] = detect_emptyings(series)
    assert e.confidence == pytest.approx(2 / 5, abs=0.01)
    assert e.fill_before == pytest.approx(0.62)
    assert e.fill_after == pytest.approx(0.035)


def test_detection_rejects_a_confirmation_below_one() -> None:
    """`confirm=0` is a clear error."""
    with pytest.raises(ValueError, match="confirm"):
        detect_emptyings(_hourly([0.5, 0.1]), confirm=0)


def _detection(at: datetime, width: timedelta = timedelta(minutes=30)) -> Emptying:
    return Emptying(at, at - width, at + width, 0.8, 0.05, 1.0)


def test_a_crew_report_and_a_detection_of_the_same_emptying_merge() -> None:
    """Within the tolerance, one event carries both sources and the crew's time."""
    crew = START + 10 * H
    events = merge_collections([crew], [_detection(crew + 2 * H)])
    assert events == [
        CollectionEvent(crew, frozenset({Source.CREW, Source.SENSOR}), crew, _detection(crew + 2 * H))
    ]


def test_a_crew_report_far_from_any_detection_stays_separate() -> None:
    """Five hours apart with a 3 h tolerance: two events, oldest first."""
    crew = START + 10 * H
    events = merge_collections([crew], [_detection(crew + 5 * H)])
    assert [e.sources for e in events] == [frozenset({Source.CREW}), frozenset({Source.SENSOR})]
    assert events[1].time == crew + 5 * H


def test_a_crew_time_inside_the_sensors_gap_matches() -> None:
    """The sensor was silent for 10 h around the emptying: a crew time in that gap is the same event."""
    crew = START + 10 * H
    wide = _detection(crew + 4 * H, width=timedelta(hours=5))
    [event] = merge_collections([crew], [wide], tolerance=timedelta(hours=1))
    assert event.sources == {Source.CREW, Source.SENSOR}
    assert event.detection == wide


def test_matching_is_one_to_one_and_closest_first() -> None:
    """Two crew reports near one detection: the closer one merges, the other stays a crew-only event."""
    d = _detection(START + 10 * H)
    near, far = START + 10 * H + timedelta(minutes=50), START + 12 * H
    events = merge_collections([far, near], [d])
    merged = [e for e in events if e.detection is not None]
    assert [e.crew_time for e in merged] == [near]
    assert len(events) == 2


def test_an_empty_or_single_reading_series_has_no_emptying() -> None:
    """No reading, or one: nothing to detect, no error."""
    assert detect_emptyings(Series.from_arrays([], [])) == []
    assert detect_emptyings(_hourly([0.4])) == []
