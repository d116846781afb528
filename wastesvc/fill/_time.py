"""Clock arithmetic shared by the fill library: epoch seconds and weekday-weighted "effective hours".

Deposits follow the local calendar (a market on Wednesday, a quiet Sunday), so a rate multiplied by weekday
factors integrates over local days. `EffectiveClock` turns epoch seconds into cumulative effective hours: one
real hour on a day of factor 1.3 counts 1.3. Day boundaries are local midnights of the given time zone, so
daylight-saving days last 23 or 25 hours as they do on the street.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

__all__ = ["FLAT_WEEK", "HOUR_S", "PARIS", "EffectiveClock", "FloatArray", "from_epoch", "to_epoch"]

FloatArray = NDArray[np.float64]
HOUR_S = 3600.0
FLAT_WEEK = (1.0,) * 7
# Weekdays and hours of deposits are those of the service area (Grand Soissons).
PARIS = ZoneInfo("Europe/Paris")
# The clock covers this many days either side of the span asked for, so forecasts can look ahead.
_MARGIN_DAYS = 1


def to_epoch(t: datetime) -> float:
    """Seconds since the Unix epoch of a timezone-aware datetime."""
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"datetime {t.isoformat()} must be timezone-aware")
    return t.timestamp()


def from_epoch(s: float, tz: tzinfo = UTC) -> datetime:
    """The timezone-aware datetime of `s` seconds since the Unix epoch."""
    return datetime.fromtimestamp(s, tz)


@lru_cache(maxsize=256)
def _local_midnights(first: date, last: date, tz: tzinfo) -> tuple[FloatArray, NDArray[np.int64]]:
    """Epoch seconds of local midnights from `first` to `last + 1` and each day's weekday (Monday = 0)."""
    days = [first + timedelta(days=i) for i in range((last - first).days + 2)]
    starts = np.array([datetime.combine(d, time(), tz).timestamp() for d in days], dtype=np.float64)
    weekdays = np.array([d.weekday() for d in days], dtype=np.int64)
    return starts, weekdays


@dataclass(frozen=True, slots=True)
class EffectiveClock:
    """Cumulative effective hours on a span of local days, for seven weekday factors (Monday first)."""

    day_starts: FloatArray
    day_weekdays: NDArray[np.int64]
    day_factors: FloatArray
    cumulative: FloatArray

    @classmethod
    def covering(cls, start_s: float, end_s: float, factors: FloatArray, tz: tzinfo) -> EffectiveClock:
        """A clock valid from `start_s` to `end_s` (epoch seconds), with a day of margin on each side."""
        first = from_epoch(start_s, tz).date() - timedelta(days=_MARGIN_DAYS)
        last = from_epoch(max(end_s, start_s), tz).date() + timedelta(days=_MARGIN_DAYS)
        starts, weekdays = _local_midnights(first, last, tz)
        day_factors = factors[weekdays[:-1]]
        hours = np.diff(starts) / HOUR_S * day_factors
        cumulative = np.concatenate(([0.0], np.cumsum(hours)))
        return cls(starts, weekdays[:-1], day_factors, cumulative)

    def day_index(self, t_s: FloatArray) -> NDArray[np.int64]:
        """Index of the local day holding each epoch second in `t_s` (clamped to the clock's span)."""
        k = np.searchsorted(self.day_starts, t_s, side="right") - 1
        return np.clip(k, 0, len(self.day_factors) - 1).astype(np.int64)

    def hours(self, t_s: FloatArray | float) -> FloatArray:
        """Effective hours elapsed from the clock's first midnight to each epoch second in `t_s`."""
        t = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
        k = self.day_index(t)
        return np.asarray(self.cumulative[k] + self.day_factors[k] * (t - self.day_starts[k]) / HOUR_S)

    def time_at(self, hours: float) -> float:
        """The epoch second at which the effective hours reach `hours` (inverse of `hours`)."""
        k = int(np.searchsorted(self.cumulative, hours, side="right")) - 1
        k = min(max(k, 0), len(self.day_factors) - 1)
        factor = float(self.day_factors[k])
        if factor <= 0.0:
            return float(self.day_starts[k + 1])
        return float(self.day_starts[k] + (hours - self.cumulative[k]) / factor * HOUR_S)
