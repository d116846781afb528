"""Sensor health: what a container's readings say about its sensor and its safety.

Each rule looks at one sensor's readings (any order) and returns findings; a finding is `active` when the
condition still holds at the last reading, which is what an alarm (fire, tilt) or a dispatcher cares about.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from wastesvc.fill.series import Limits, Reading, impossibility

__all__ = ["Finding", "FindingKind", "HealthRules", "Severity", "health_findings"]


class FindingKind(enum.Enum):
    """What is wrong."""

    LOW_BATTERY = "low_battery"
    SILENT = "silent"
    TILT = "tilt"
    FIRE = "fire"
    STUCK = "stuck"
    IMPOSSIBLE = "impossible"


class Severity(enum.Enum):
    """How urgent: CRITICAL needs someone now, WARNING soon, INFO is for the record."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Finding:
    """One health finding about a sensor.

    Parameters
    ----------
    kind, severity
        What and how urgent.
    time
        When it started (the first reading showing it; for SILENT, the last reading heard).
    detail
        A sentence for a person.
    active
        Whether it still holds at the last reading (or at `now` for SILENT).
    reading
        Index of the reading concerned in the list given, when there is one.
    """

    kind: FindingKind
    severity: Severity
    time: datetime
    detail: str
    active: bool
    reading: int | None = None


@dataclass(frozen=True, slots=True)
class HealthRules:
    """Thresholds of the health rules (defaults suit ultrasonic waste sensors).

    Parameters
    ----------
    battery_warning, battery_critical
        State of charge (0..1) below which the battery is low, and flat.
    silent_factor
        A sensor quiet for this many of its usual intervals is silent.
    fire_c
        Temperature at or above which a container is on fire.
    fire_rise_c_per_h, fire_rise_from_c
        A rise this fast, ending at or above `fire_rise_from_c`, is a fire starting.
    stuck_readings
        Identical fills in a row that make a sensor stuck ...
    stuck_expected_change
        ... provided the stream's rate (`expected_rate_per_h`) would have moved the fill this much meanwhile.
    limits
        What a possible reading looks like.
    """

    battery_warning: float = 0.2
    battery_critical: float = 0.05
    silent_factor: float = 3.0
    fire_c: float = 70.0
    fire_rise_c_per_h: float = 15.0
    fire_rise_from_c: float = 45.0
    stuck_readings: int = 12
    stuck_expected_change: float = 0.05
    limits: Limits = field(default_factory=Limits)


def _battery(readings: Sequence[Reading], rules: HealthRules) -> list[Finding]:
    """The latest battery level, if low."""
    last = next(((i, r) for i, r in reversed(list(enumerate(readings))) if r.battery is not None), None)
    if last is None or last[1].battery is None or last[1].battery >= rules.battery_warning:
        return []
    i, r = last
    assert r.battery is not None
    severity = Severity.CRITICAL if r.battery < rules.battery_critical else Severity.WARNING
    return [Finding(FindingKind.LOW_BATTERY, severity, r.time, f"battery at {r.battery:.0%}", True, i)]


def _silent(readings: Sequence[Reading], now: datetime, rules: HealthRules) -> list[Finding]:
    """No reading for `silent_factor` usual intervals (the median of the recent ones)."""
    times = sorted(r.time for r in readings if r.time <= now + rules.limits.future_tolerance)
    if len(times) < 2:
        return []
    recent = np.array([t.timestamp() for t in times[-21:]])
    usual = timedelta(seconds=float(np.median(np.diff(recent))))
    quiet = now - times[-1]
    if usual <= timedelta(0) or quiet <= rules.silent_factor * usual:
        return []
    hours, usual_hours = quiet.total_seconds() / 3600, usual.total_seconds() / 3600
    detail = f"no reading for {hours:.1f} h (usually every {usual_hours:.1f} h)"
    return [Finding(FindingKind.SILENT, Severity.WARNING, times[-1], detail, True)]


def _episodes(flags: Sequence[bool]) -> list[tuple[int, bool]]:
    """Start index of each run of True in `flags`, and whether the run reaches the end."""
    out = []
    for i, flag in enumerate(flags):
        if flag and (i == 0 or not flags[i - 1]):
            out.append(i)
    ends_true = bool(flags) and flags[-1]
    return [(s, ends_true and s == out[-1]) for s in out]


def _tilt(readings: Sequence[Reading]) -> list[Finding]:
    """Each episode of a tilted sensor (a knocked-over container or a torn-off sensor)."""
    flags = [bool(r.tilted) for r in readings]
    return [
        Finding(
            FindingKind.TILT,
            Severity.CRITICAL,
            readings[s].time,
            "sensor tilted or container knocked over",
            a,
            s,
        )
        for s, a in _episodes(flags)
    ]


def _fire(readings: Sequence[Reading], rules: HealthRules) -> list[Finding]:
    """Each episode of a temperature at the fire threshold or rising like a fire."""
    hot: list[bool] = []
    previous: Reading | None = None
    for r in readings:
        t = r.temperature_c
        rising = False
        if t is not None and previous is not None and previous.temperature_c is not None:
            hours = (r.time - previous.time).total_seconds() / 3600
            rising = (
                hours > 0
                and t >= rules.fire_rise_from_c
                and (t - previous.temperature_c) / hours >= rules.fire_rise_c_per_h
            )
        hot.append(t is not None and (t >= rules.fire_c or rising))
        if t is not None:
            previous = r
    return [
        Finding(
            FindingKind.FIRE,
            Severity.CRITICAL,
            readings[s].time,
            f"temperature {readings[s].temperature_c:g} °C",
            a,
            s,
        )
        for s, a in _episodes(hot)
    ]


def _stuck(
    readings: Sequence[Reading], expected_rate_per_h: float | None, rules: HealthRules
) -> list[Finding]:
    """Runs of identical fills long enough, while the stream's rate says the fill should have moved."""
    fills = [(i, r) for i, r in enumerate(readings) if r.fill is not None]
    found = []
    start = 0
    for k in range(1, len(fills) + 1):
        if k < len(fills) and fills[k][1].fill == fills[start][1].fill:
            continue
        run = k - start
        hours = (fills[k - 1][1].time - fills[start][1].time).total_seconds() / 3600
        moved = expected_rate_per_h is None or expected_rate_per_h * hours >= rules.stuck_expected_change
        if run >= rules.stuck_readings and moved:
            i, r = fills[start]
            detail = f"fill {r.fill:g} for {run} readings ({hours:.0f} h)"
            found.append(Finding(FindingKind.STUCK, Severity.WARNING, r.time, detail, k == len(fills), i))
        start = k
    return found


def health_findings(
    readings: Sequence[Reading],
    now: datetime,
    *,
    expected_rate_per_h: float | None = None,
    rules: HealthRules = HealthRules(),
) -> list[Finding]:
    """Health findings about one sensor from its readings up to `now`.

    Impossible readings come first, in the order given (they never enter the other rules, nor a forecast:
    see `Series.from_readings`); the other findings follow, oldest first.

    Parameters
    ----------
    readings
        The sensor's readings.
    now
        The time of the check (for the silent rule and readings from the future).
    expected_rate_per_h
        How fast the stream's containers fill (e.g. the forecast prior): a run of identical readings is
        stuck only if this rate would have moved the fill. None: the run length alone decides.
    rules
        Thresholds.
    """
    reasons = [impossibility(r, now, rules.limits) for r in readings]
    impossible = [
        Finding(FindingKind.IMPOSSIBLE, Severity.WARNING, readings[i].time, why, False, i)
        for i, why in enumerate(reasons)
        if why is not None
    ]
    index = sorted((i for i, why in enumerate(reasons) if why is None), key=lambda i: readings[i].time)
    good = [readings[i] for i in index]

    def renumbered(found: list[Finding]) -> list[Finding]:
        return [
            Finding(
                f.kind,
                f.severity,
                f.time,
                f.detail,
                f.active,
                None if f.reading is None else index[f.reading],
            )
            for f in found
        ]

    found = renumbered(
        _battery(good, rules) + _tilt(good) + _fire(good, rules) + _stuck(good, expected_rate_per_h, rules)
    )
    # An impossible reading's time may be naive, so those findings keep the readings' order instead.
    return impossible + sorted(found + _silent(good, now, rules), key=lambda f: f.time)
