from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wastesvc.fill import (
    Finding,
    FindingKind,
    HealthRules,
    Limits,
    Prior,
    Reading,
    Series,
    Severity,
    fit_forecast,
    health_findings,
)

START = datetime(2026, 3, 2, tzinfo=UTC)
H = timedelta(hours=1)


def _hourly(n: int, **fields: object) -> list[Reading]:
    """n hourly readings from START, filling 1 % an hour, with `fields` on each."""
    return [Reading(START + i * H, fill=0.1 + 0.01 * i, **fields) for i in range(n)]  # type: ignore[arg-type]


def _kinds(findings: list[Finding]) -> list[FindingKind]:
    return [f.kind for f in findings]


def test_a_healthy_sensor_has_no_finding() -> None:
    """Fresh hourly readings, full battery, cool, upright: nothing to report."""
    readings = _hourly(24, battery=0.9, temperature_c=18.0, tilted=False)
    assert health_findings(readings, START + 24 * H, expected_rate_per_h=0.01) == []


@pytest.mark.parametrize(
    ("battery", "severity"), [(0.15, Severity.WARNING), (0.03, Severity.CRITICAL), (0.5, None)]
)
def test_low_battery_is_graded_on_the_latest_level(battery: float, severity: Severity | None) -> None:
    """Below 20 % a warning, below 5 % critical; an earlier low level replaced since does not count."""
    readings = [Reading(START, fill=0.2, battery=0.01), Reading(START + H, fill=0.21, battery=battery)]
    found = health_findings(readings, START + H)
    assert [(f.kind, f.severity, f.reading) for f in found] == (
        [] if severity is None else [(FindingKind.LOW_BATTERY, severity, 1)]
    )


def test_a_sensor_quiet_for_three_of_its_intervals_is_silent() -> None:
    """Hourly readings, none for 4 h: silent (factor 3); after 2 h, or with a factor of 5, not."""
    readings = _hourly(24)
    last = readings[-1].time
    [silent] = health_findings(readings, last + 4 * H)
    assert silent.kind is FindingKind.SILENT
    assert silent.time == last
    assert silent.active
    assert "4.0 h" in silent.detail
    assert health_findings(readings, last + 2 * H) == []
    assert health_findings(readings, last + 4 * H, rules=HealthRules(silent_factor=5)) == []


def test_each_tilt_episode_is_one_finding_and_only_the_last_is_active() -> None:
    """Tilted at hours 3-4 (set upright again) and from hour 8 on: two critical findings."""
    readings = [Reading(START + i * H, fill=0.3, tilted=i in (3, 4) or i >= 8) for i in range(10)]
    found = health_findings(readings, START + 9 * H)
    assert [(f.kind, f.severity, f.time, f.active) for f in found] == [
        (FindingKind.TILT, Severity.CRITICAL, START + 3 * H, False),
        (FindingKind.TILT, Severity.CRITICAL, START + 8 * H, True),
    ]


def test_fire_is_a_high_temperature_or_a_fast_rise() -> None:
    """75 °C is a fire; 30 → 50 °C in an hour is one starting; a sunny 25 → 42 °C over 6 h is not."""
    hot = [Reading(START, temperature_c=20.0), Reading(START + H, temperature_c=75.0)]
    rising = [Reading(START, temperature_c=30.0), Reading(START + H, temperature_c=50.0)]
    sunny = [Reading(START + i * H, temperature_c=25.0 + 17.0 * i / 6) for i in range(7)]
    [fire] = health_findings(hot, START + H)
    assert (fire.kind, fire.severity, fire.time, fire.active) == (
        FindingKind.FIRE,
        Severity.CRITICAL,
        START + H,
        True,
    )
    assert _kinds(health_findings(rising, START + H)) == [FindingKind.FIRE]
    assert health_findings(sunny, START + 6 * H) == []


def test_a_stuck_value_is_flagged_when_the_stream_should_have_moved_it() -> None:
    """15 identical readings: stuck for a stream filling 1 %/h, not for glass at 0.1 %/h."""
    readings = _hourly(10) + [Reading(START + (10 + i) * H, fill=0.5) for i in range(15)]
    now = readings[-1].time
    [stuck] = health_findings(readings, now, expected_rate_per_h=0.01)
    assert (stuck.kind, stuck.time, stuck.reading, stuck.active) == (
        FindingKind.STUCK,
        START + 10 * H,
        10,
        True,
    )
    assert health_findings(readings, now, expected_rate_per_h=0.001) == []
    assert _kinds(health_findings(readings, now)) == [FindingKind.STUCK]


def test_impossible_readings_are_flagged_and_never_reach_the_forecast() -> None:
    """Fill 1.3, fill −0.1, NaN, a distance beyond the container, a time two days ahead, a naive time.

    Each is an IMPOSSIBLE finding naming its reading; the forecast with them equals the one without.
    """
    good = _hourly(48)
    now = good[-1].time
    bad = [
        Reading(START + 5.5 * H, fill=1.3),
        Reading(START + 6.5 * H, fill=-0.1),
        Reading(START + 7.5 * H, fill=float("nan")),
        Reading(START + 8.5 * H, fill=0.2, distance_mm=2400.0),
        Reading(now + 48 * H, fill=0.0),
        Reading(datetime(2026, 3, 2, 12), fill=0.0),
    ]
    readings = good + bad
    rules = HealthRules(limits=Limits(container_depth_mm=1500.0))
    found = health_findings(readings, now, rules=rules)
    assert [(f.kind, f.reading) for f in found] == [(FindingKind.IMPOSSIBLE, 48 + i) for i in range(6)]
    assert "1.3" in found[0].detail
    assert "beyond the container" in found[3].detail
    assert "after now" in found[4].detail
    assert "no time zone" in found[5].detail
    series = Series.from_readings(readings, now, rules.limits)
    assert len(series) == len(good)
    prior = Prior(0.01, 0.01)
    assert fit_forecast(series, now, prior) == fit_forecast(Series.from_readings(good, now), now, prior)


def test_a_naive_now_is_a_clear_error() -> None:
    """The time of the check must carry a time zone."""
    with pytest.raises(ValueError, match="timezone-aware"):
        health_findings(_hourly(3), datetime(2026, 3, 2, 5))


def test_silence_is_judged_on_a_short_history_too() -> None:
    """Three readings 2 h apart, none for 7 h: silent (usual interval 2 h)."""
    readings = [Reading(START + 2 * i * H, fill=0.2) for i in range(3)]
    [silent] = health_findings(readings, START + 11 * H)
    assert silent.kind is FindingKind.SILENT
    assert "usually every 2.0 h" in silent.detail
