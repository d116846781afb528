"""Clock arithmetic shared by the fill library: epoch seconds and weighted "effective hours".

Deposits follow the local calendar (a market on Wednesday, a quiet Sunday, few bags at night), so a rate
multiplied by weekday and hour-of-day factors integrates over local hours. `EffectiveClock` turns epoch
seconds into cumulative effective hours: one real hour of factor 1.3 counts 1.3. Hours are those of the
given time zone, so daylight-saving days last 23 or 25 hours as they do on the street.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "FLAT_DAY",
    "FLAT_WEEK",
    "HOUR_S",
    "PARIS",
    "EffectiveClock",
    "FloatArray",
    "from_epoch",
    "to_epoch",
]

FloatArray = NDArray[np.float64]
HOUR_S = 3600.0
FLAT_WEEK = (1.0,) * 7
FLAT_DAY = (1.0,) * 24
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


@lru_cache(maxsize=1024)
def _local_hours(day: date, tz: tzinfo) -> tuple[FloatArray, NDArray[np.int64]]:
    """Epoch seconds of the starts of the local hours of `day` (23 to 25 of them) and each one's hour."""
    midnight = datetime.combine(day, time(), tz).timestamp()
    next_midnight = datetime.combine(day + timedelta(days=1), time(), tz).timestamp()
    starts = np.arange(midnight, next_midnight, HOUR_S)
    hours = np.array([from_epoch(float(t), tz).hour for t in starts], dtype=np.int64)
    return starts, hours


@dataclass(frozen=True, slots=True)
class EffectiveClock:
    """Cumulative effective hours over local hours: real time weighted by weekday × hour-of-day factors.

    Each local hour is a segment with its own factor; `cumulative[k]` is the effective time elapsed at the
    start of segment k.
    """

    starts: FloatArray
    weekdays: NDArray[np.int64]
    local_hours: NDArray[np.int64]
    factors: FloatArray
    cumulative: FloatArray

    @classmethod
    def covering(
        cls, start_s: float, end_s: float, weekday_factors: FloatArray, hourly_factors: FloatArray, tz: tzinfo
    ) -> EffectiveClock:
        """A clock valid from `start_s` to `end_s` (epoch seconds), with a day of margin on each side."""
        first = from_epoch(start_s, tz).date() - timedelta(days=_MARGIN_DAYS)
        last = from_epoch(max(end_s, start_s), tz).date() + timedelta(days=_MARGIN_DAYS)
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        parts = [_local_hours(d, tz) for d in days]
        starts = np.concatenate([p[0] for p in parts] + [[_local_hours(last + timedelta(days=1), tz)[0][0]]])
        hours = np.concatenate([p[1] for p in parts])
        weekdays = np.concatenate(
            [np.full(len(p[0]), d.weekday(), dtype=np.int64) for d, p in zip(days, parts, strict=True)]
        )
        factors = weekday_factors[weekdays] * hourly_factors[hours]
        cumulative = np.concatenate(([0.0], np.cumsum(np.diff(starts) / HOUR_S * factors)))
        return cls(starts, weekdays, hours, factors, cumulative)

    def segment(self, t_s: FloatArray) -> NDArray[np.int64]:
        """Index of the local hour holding each epoch second in `t_s` (clamped to the clock's span)."""
        k = np.searchsorted(self.starts, t_s, side="right") - 1
        return np.clip(k, 0, len(self.factors) - 1).astype(np.int64)

    def hours(self, t_s: FloatArray | float) -> FloatArray:
        """Effective hours elapsed from the clock's start to each epoch second in `t_s`."""
        t = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
        k = self.segment(t)
        return np.asarray(self.cumulative[k] + self.factors[k] * (t - self.starts[k]) / HOUR_S)

    def time_at(self, hours: float) -> float:
        """The first epoch second at which the effective hours reach `hours` (inverse of `hours`)."""
        k = int(np.searchsorted(self.cumulative, hours, side="left")) - 1
        k = min(max(k, 0), len(self.factors) - 1)
        factor = float(self.factors[k])
        if factor <= 0.0:
            return float(self.starts[k + 1])
        return float(self.starts[k] + (hours - self.cumulative[k]) / factor * HOUR_S)
