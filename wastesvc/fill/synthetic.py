"""Seeded synthetic containers with known truth, for tests and the policy simulator.

Waste arrives as a compound Poisson process (Wouda et al. 2024): deposits of gamma-distributed size at a
rate that follows the local weekday and hour of day. A sensor reads the true fill at a regular interval
with jitter, noise, a resolution, dropouts, spurious low values, a silence after each emptying (it missed
the moment) and an optional stuck period. Everything is drawn from the `numpy.random.Generator` given,
so a seed replays the same containers.

`synthetic_container` builds a whole series at once. A day-by-day simulation can instead draw the
deposits once with `deposits` (they do not depend on emptyings), add emptyings to a `SyntheticContainer`
as its trucks make them (`dataclasses.replace`), and `observe` each new day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from functools import lru_cache

import numpy as np

from wastesvc.fill._time import FLAT_WEEK, HOUR_S, PARIS, FloatArray, from_epoch, to_epoch
from wastesvc.fill.series import Series

__all__ = [
    "DAYTIME",
    "FLAT_WEEK",
    "PARIS",
    "DepositProfile",
    "SensorProfile",
    "SyntheticContainer",
    "deposits",
    "observe",
    "synthetic_container",
]

# Deposits by hour of day: few at night, most between 7 h and 21 h, a peak in the early evening (mean 1).
_DAY_SHAPE = (0.1, 0.05, 0.05, 0.05, 0.05, 0.1, 0.3, 0.8, 1.2, 1.3, 1.3, 1.4,
              1.4, 1.3, 1.2, 1.3, 1.5, 1.8, 2.0, 1.8, 1.4, 0.9, 0.5, 0.2)  # fmt: skip
DAYTIME = tuple(float(x) for x in np.asarray(_DAY_SHAPE) / np.mean(_DAY_SHAPE))


@dataclass(frozen=True, slots=True)
class DepositProfile:
    """How waste arrives in one container.

    Parameters
    ----------
    rate_per_day
        Mean fill fraction added per day over a week.
    weekday_factors
        Multipliers of the rate, Monday first (their mean is taken as 1).
    hourly_factors
        Multipliers by local hour (their mean is taken as 1).
    deposit_mean
        Mean size of one deposit as a fill fraction.
    deposit_shape
        Gamma shape of the deposit sizes: 1 is exponential, 4 is bags of fairly even size.
    """

    rate_per_day: float
    weekday_factors: tuple[float, ...] = FLAT_WEEK
    hourly_factors: tuple[float, ...] = DAYTIME
    deposit_mean: float = 0.01
    deposit_shape: float = 4.0


@dataclass(frozen=True, slots=True)
class SensorProfile:
    """How a sensor sees the fill.

    Parameters
    ----------
    interval_h
        Hours between readings.
    noise_sd
        Standard deviation of the measurement noise (fill fraction).
    resolution
        Readings are rounded to this step.
    dropout
        Probability that a reading is lost.
    outlier
        Probability that a reading is a spurious low value.
    miss_after_emptying_h
        Hours of silence after each emptying (the sensor misses the moment).
    stuck
        Epoch seconds (start, end) during which the sensor repeats its last value.
    """

    interval_h: float = 1.0
    noise_sd: float = 0.02
    resolution: float = 0.01
    dropout: float = 0.05
    outlier: float = 0.005
    miss_after_emptying_h: float = 0.0
    stuck: tuple[float, float] | None = None


@lru_cache(maxsize=64)
def _hour_factors(
    start_s: float, hours: int, tz: tzinfo, weekly: tuple[float, ...], daily: tuple[float, ...]
) -> FloatArray:
    """The rate multiplier of each hour from `start_s` on (local weekday × local hour)."""
    w = np.asarray(weekly) / np.mean(weekly)
    d = np.asarray(daily) / np.mean(daily)
    local = [from_epoch(start_s + h * HOUR_S, tz) for h in range(hours)]
    return np.array([w[t.weekday()] * d[t.hour] for t in local], dtype=np.float64)


def deposits(
    rng: np.random.Generator, profile: DepositProfile, start_s: float, end_s: float, tz: tzinfo = PARIS
) -> tuple[FloatArray, FloatArray]:
    """Times (epoch seconds, sorted) and sizes (fill fraction) of the deposits from `start_s` to `end_s`."""
    hours = max(0, int(np.ceil((end_s - start_s) / HOUR_S)))
    factors = _hour_factors(start_s, hours, tz, profile.weekday_factors, profile.hourly_factors)
    counts = rng.poisson(profile.rate_per_day / 24.0 * factors / profile.deposit_mean)
    bins = np.repeat(np.arange(hours), counts)
    times = start_s + (bins + rng.random(len(bins))) * HOUR_S
    sizes = rng.gamma(profile.deposit_shape, profile.deposit_mean / profile.deposit_shape, len(bins))
    order = np.argsort(times, kind="stable")
    times, sizes = times[order], sizes[order]
    keep = times < end_s
    return times[keep], sizes[keep]


@dataclass(frozen=True, slots=True)
class SyntheticContainer:
    """The truth about one container (deposits, emptyings) and what its sensor reported."""

    deposit_times_s: FloatArray
    deposit_sizes: FloatArray
    emptyings_s: tuple[float, ...]
    start_level: float
    readings: Series
    tz: tzinfo = field(default=PARIS)

    def fills_at(self, t_s: FloatArray) -> FloatArray:
        """The true fill at each epoch second of `t_s` (capped at 1: what overflows is not inside)."""
        t = np.asarray(t_s, dtype=np.float64)
        cum = np.concatenate(([0.0], np.cumsum(self.deposit_sizes)))
        emptyings = np.asarray(self.emptyings_s, dtype=np.float64)
        k = np.searchsorted(emptyings, t, side="right") - 1
        since = np.where(k >= 0, emptyings[np.maximum(k, 0)] if len(emptyings) else 0.0, -np.inf)
        added = cum[np.searchsorted(self.deposit_times_s, t, side="right")]
        added = added - cum[np.searchsorted(self.deposit_times_s, since, side="right")]
        return np.asarray(np.minimum(1.0, np.where(k >= 0, 0.0, self.start_level) + added))

    def fill_at(self, t_s: float) -> float:
        """The true fill at epoch second `t_s`."""
        return float(self.fills_at(np.array([t_s]))[0])

    def crossing(self, level: float, after_s: float) -> float | None:
        """When the fill, left alone from `after_s` (no later emptying), first reaches `level`.

        A fill already at `level` at `after_s` crossed it earlier; the time returned is then at or before
        `after_s`.
        """
        before = [e for e in self.emptyings_s if e <= after_s]
        start, base = (before[-1], 0.0) if before else (-np.inf, self.start_level)
        m = self.deposit_times_s > start
        cum = base + np.cumsum(self.deposit_sizes[m])
        k = int(np.searchsorted(cum, level))
        return float(self.deposit_times_s[m][k]) if k < len(cum) else None


def observe(
    rng: np.random.Generator,
    sensor: SensorProfile,
    truth: SyntheticContainer,
    start_s: float,
    end_s: float,
) -> Series:
    """What `sensor` reports about `truth` from `start_s` to `end_s`."""
    step = sensor.interval_h * HOUR_S
    grid = np.arange(start_s, end_s, step)
    t = grid + rng.uniform(0.0, 0.1 * step, len(grid))
    t = t[(t < end_s) & (rng.random(len(t)) >= sensor.dropout)]
    for e in truth.emptyings_s:
        t = t[(t <= e) | (t >= e + sensor.miss_after_emptying_h * HOUR_S)]
    true = truth.fills_at(t)
    f = true + rng.normal(0.0, sensor.noise_sd, len(t))
    spurious = rng.random(len(t)) < sensor.outlier
    f[spurious] = rng.uniform(0.0, 0.1, int(spurious.sum()))
    f = np.clip(np.round(f / sensor.resolution) * sensor.resolution, 0.0, 1.0)
    if sensor.stuck is not None and len(t):
        a, b = sensor.stuck
        frozen = (t >= a) & (t < b)
        if frozen.any():
            f[frozen] = f[np.flatnonzero(frozen)[0]]
    return Series(t, f)


def synthetic_container(
    rng: np.random.Generator,
    profile: DepositProfile,
    sensor: SensorProfile,
    start: datetime,
    days: float,
    *,
    emptyings: Sequence[datetime] = (),
    empty_at: float | None = None,
    round_hour: int = 8,
    start_level: float = 0.0,
    tz: tzinfo = PARIS,
) -> SyntheticContainer:
    """A container filled by `profile` for `days` from `start`, read by `sensor`.

    It is emptied at the given `emptyings` and, when `empty_at` is set, at each day's round (`round_hour`
    local time) that finds it at least that full, as a threshold policy would.
    """
    start_s = to_epoch(start)
    end_s = start_s + days * 24 * HOUR_S
    times, sizes = deposits(rng, profile, start_s, end_s, tz)
    fixed = sorted(to_epoch(e) for e in emptyings)
    truth = SyntheticContainer(times, sizes, tuple(fixed), start_level, Series(times[:0], sizes[:0]), tz)
    if empty_at is not None:
        first = from_epoch(start_s, tz).replace(hour=round_hour, minute=0, second=0, microsecond=0)
        rounds = [to_epoch(first) + d * 24 * HOUR_S for d in range(int(days) + 1)]
        found: list[float] = list(fixed)
        for r in (r for r in rounds if start_s < r < end_s):
            probe = SyntheticContainer(times, sizes, tuple(sorted(found)), start_level, truth.readings, tz)
            if probe.fill_at(r) >= empty_at:
                found.append(r)
        truth = SyntheticContainer(times, sizes, tuple(sorted(found)), start_level, truth.readings, tz)
    readings = observe(rng, sensor, truth, start_s, end_s)
    return SyntheticContainer(times, sizes, truth.emptyings_s, start_level, readings, tz)
