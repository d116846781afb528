"""A container's sensor readings, and the rule that says which of them cannot be true.

`Reading` is what one sensor frame says after calibration. `Series` is the fast form the estimators work
on: epoch seconds and fills as numpy arrays, sorted by time, with the impossible readings already taken out.
A reading that cannot be true never reaches a fit; `health_findings` reports it instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from wastesvc.fill._time import FloatArray, to_epoch

__all__ = ["Limits", "Reading", "Series", "impossibility"]


@dataclass(frozen=True, slots=True)
class Reading:
    """One sensor frame, calibrated.

    Parameters
    ----------
    time
        When the sensor measured (timezone-aware).
    fill
        Fill fraction after calibration; a value outside 0..1 is impossible, not clamped.
    distance_mm
        Raw distance from the sensor to the waste, when the sensor measures one.
    battery
        State of charge, 0..1.
    temperature_c
        Temperature inside the container, °C.
    tilted
        Whether the sensor reports itself tilted or knocked over.
    """

    time: datetime
    fill: float | None = None
    distance_mm: float | None = None
    battery: float | None = None
    temperature_c: float | None = None
    tilted: bool | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    """What a true reading looks like.

    Parameters
    ----------
    container_depth_mm
        Distance from the sensor to the container's floor; a longer distance is impossible. None: unchecked.
    future_tolerance
        How far past `now` a reading's time may lie (clock skew) before it is impossible.
    """

    container_depth_mm: float | None = None
    future_tolerance: timedelta = timedelta(minutes=15)


def impossibility(reading: Reading, now: datetime, limits: Limits = Limits()) -> str | None:
    """Why `reading` cannot be true, or None when it can. `now` must be timezone-aware."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now ({now.isoformat()}) must be timezone-aware")
    if reading.time.tzinfo is None or reading.time.utcoffset() is None:
        return f"time {reading.time.isoformat()} has no time zone"
    if reading.time > now + limits.future_tolerance:
        return f"time {reading.time.isoformat()} is after now ({now.isoformat()})"
    if reading.fill is not None and not (math.isfinite(reading.fill) and 0.0 <= reading.fill <= 1.0):
        return f"fill {reading.fill:g} is outside 0..1"
    d = reading.distance_mm
    if d is not None:
        if not math.isfinite(d) or d < 0.0:
            return f"distance {d:g} mm is not a distance"
        if limits.container_depth_mm is not None and d > limits.container_depth_mm * 1.05:
            return f"distance {d:g} mm is beyond the container's depth ({limits.container_depth_mm:g} mm)"
    return None


@dataclass(frozen=True, slots=True)
class Series:
    """One container's fill readings as arrays sorted by time: `times_s` (epoch seconds), `fills` (0..1)."""

    times_s: FloatArray
    fills: FloatArray

    def __post_init__(self) -> None:
        if self.times_s.shape != self.fills.shape or self.times_s.ndim != 1:
            raise ValueError("times_s and fills must be one-dimensional arrays of the same length")

    @classmethod
    def from_arrays(
        cls, times_s: Sequence[float] | FloatArray, fills: Sequence[float] | FloatArray
    ) -> Series:
        """A series of the readings that can be true (finite, fill within 0..1), sorted by time.

        A time given twice (an uplink delivered twice) keeps its first reading.
        """
        t = np.asarray(times_s, dtype=np.float64)
        f = np.asarray(fills, dtype=np.float64)
        if t.shape != f.shape or t.ndim != 1:
            raise ValueError("times_s and fills must be one-dimensional and of the same length")
        keep = np.isfinite(t) & np.isfinite(f) & (f >= 0.0) & (f <= 1.0)
        t, f = t[keep], f[keep]
        order = np.argsort(t, kind="stable")
        t, f = t[order], f[order]
        first = np.concatenate((np.ones(min(len(t), 1), dtype=bool), np.diff(t) > 0.0))
        return cls(t[first], f[first])

    @classmethod
    def from_readings(cls, readings: Sequence[Reading], now: datetime, limits: Limits = Limits()) -> Series:
        """The possible readings that carry a fill, measured at or before `now` (plus the tolerance)."""
        kept = [r for r in readings if r.fill is not None and impossibility(r, now, limits) is None]
        return cls.from_arrays([to_epoch(r.time) for r in kept], [r.fill for r in kept if r.fill is not None])

    def until(self, t_s: float) -> Series:
        """The readings measured at or before epoch second `t_s`."""
        n = int(np.searchsorted(self.times_s, t_s, side="right"))
        return Series(self.times_s[:n], self.fills[:n])

    def __len__(self) -> int:
        return len(self.times_s)
