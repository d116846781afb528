"""Per-container fill forecast: a robust rate, weekday factors, pooling toward a prior, and a spread.

Since the last emptying the fill grows as `level + rate × W(t)`, `W` counting effective hours (real
hours times the weekday's and the hour of day's factors). The rate is a Theil–Sen slope over the last
weeks, pairs taken within each fill cycle (never across an emptying); the level is read from the readings
since the last emptying.
Deposits being compound Poisson, the fill at a horizon is taken as normal, with a variance that grows
with it: level noise + diffusion `q × W` + rate uncertainty `var(rate) × W²`. P(overflow by T) is
P(fill(T) ≥ 1), since the fill only rises. The package README explains the choices.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

import numpy as np
from numpy.typing import NDArray

from wastesvc.fill._robust import mad_sd, theil_sen_slope
from wastesvc.fill._time import (
    FLAT_DAY,
    FLAT_WEEK,
    HOUR_S,
    PARIS,
    EffectiveClock,
    FloatArray,
    from_epoch,
    to_epoch,
)
from wastesvc.fill.emptying import detect_emptyings, merge_collections
from wastesvc.fill.series import Series

__all__ = ["Forecast", "Prior", "Reliability", "fit_forecast", "pooled_prior"]

# A reading this full is saturated (the container overflows or the beam hits the lid): it only says
# "at least this full", so the rate fit leaves it out.
_SATURATED = 0.98
# Near full, noise pushes readings against the cap; the fit stops short of it.
_NEAR_FULL = 0.9
# Near empty, noisy readings are clipped at 0 and read high on average: the rate fit leaves them out too.
_NEAR_EMPTY = 0.05
# Deposits follow the hour of day (few at night). The median of hour-long slopes would be the median
# hour's rate, below the mean; pairs spanning most of a day average the daily cycle out.
_MIN_PAIR_SPAN_H = 20.0
# Time to full further than this is reported as never (no meaningful forecast a year ahead).
_HORIZON_S = 365 * 24 * HOUR_S
# Variance of a median of m normal values is about π/2 × σ²/m.
_MEDIAN_VARIANCE = math.pi / 2
_LEVEL_READINGS = 6
# Sensor noise assumed until readings tell it, and the uncertainty of a level nobody has seen.
_DEFAULT_NOISE = 0.02
_UNSEEN_LEVEL_SD = 0.05
# Days of increments that weigh as much as the prior's diffusion.
_DIFFUSION_PRIOR_DAYS = 3.0
_SD_FLOOR = 1e-6


class Reliability(enum.Enum):
    """How far a forecast can be trusted (after Bintel's low/medium/high reliability)."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True, slots=True)
class Prior:
    """What the stream (or the stream in a commune) says about a container with little history.

    Parameters
    ----------
    rate_per_h
        Mean fill fraction added per hour, over a week.
    rate_sd_per_h
        Spread of that rate between containers (empirical-Bayes prior deviation).
    weekday_factors
        Rate multipliers, Monday first (normalised to mean 1).
    hourly_factors
        Rate multipliers by local hour, 0 to 23 (normalised to mean 1): few deposits at night.
    deposit_size
        E[size²] / E[size] of one deposit, as a fill fraction (about one bag: 50 L in a 4 m³ column is
        0.0125); with the rate it gives the prior diffusion, compound Poisson: var per hour = rate × this.
    weekday_weight
        Weeks of a container's own history that weigh as much as the prior's weekday factors.
    """

    rate_per_h: float
    rate_sd_per_h: float
    weekday_factors: tuple[float, ...] = FLAT_WEEK
    hourly_factors: tuple[float, ...] = FLAT_DAY
    deposit_size: float = 0.0125
    weekday_weight: float = 4.0

    def __post_init__(self) -> None:
        if not (self.rate_per_h >= 0.0 and self.rate_sd_per_h > 0.0 and self.deposit_size > 0.0):
            raise ValueError("a prior needs rate_per_h >= 0, rate_sd_per_h > 0 and deposit_size > 0")
        if len(self.weekday_factors) != 7 or min(self.weekday_factors) < 0 or sum(self.weekday_factors) <= 0:
            raise ValueError("weekday_factors must be seven non-negative numbers, not all zero")
        if len(self.hourly_factors) != 24 or min(self.hourly_factors) < 0 or sum(self.hourly_factors) <= 0:
            raise ValueError("hourly_factors must be 24 non-negative numbers, not all zero")

    @property
    def diffusion_per_h(self) -> float:
        """Variance of the fill added per effective hour."""
        return self.rate_per_h * self.deposit_size


@dataclass(frozen=True, slots=True)
class Forecast:
    """A container's predicted fill from `now` on.

    Times in and out are timezone-aware datetimes; fills are fractions (1 = full). `rate_per_h` is the
    week-mean rate; at a given local hour the rate is that times its weekday's and its hour's factors.
    """

    now: datetime
    anchor: datetime
    level: float
    rate_per_h: float
    weekday_factors: tuple[float, ...]
    hourly_factors: tuple[float, ...]
    level_var: float
    rate_var: float
    diffusion_per_h: float
    reliability: Reliability
    from_forecast_only: bool
    last_emptying: datetime | None
    own_weight: float
    own_rate_per_h: float | None
    own_rate_var: float | None
    tz: tzinfo = field(default=PARIS, repr=False)

    def _clock(self, until_s: float) -> EffectiveClock:
        start = to_epoch(self.anchor)
        return EffectiveClock.covering(
            start,
            max(until_s, start),
            np.asarray(self.weekday_factors),
            _normalised(self.hourly_factors),
            self.tz,
        )

    def _moments(self, t: datetime) -> tuple[float, float]:
        """Mean (unclipped) and standard deviation of the fill at `t`."""
        t_s, a_s = to_epoch(t), to_epoch(self.anchor)
        clock = self._clock(t_s)
        w = max(0.0, float(clock.hours(t_s)[0] - clock.hours(a_s)[0]))
        var = self.level_var + self.diffusion_per_h * w + self.rate_var * w * w
        return self.level + self.rate_per_h * w, math.sqrt(max(var, _SD_FLOOR**2))

    def fill_at(self, t: datetime) -> float:
        """Expected fill at `t` (0..1; a time before the anchor gets the anchor's level)."""
        return min(1.0, max(0.0, self._moments(t)[0]))

    def sd_at(self, t: datetime) -> float:
        """Standard deviation of the fill at `t` (before clipping to 0..1)."""
        return self._moments(t)[1]

    def p_overflow(self, t: datetime, level: float = 1.0) -> float:
        """Probability that the fill reaches `level` (default: overflow) by `t`."""
        mean, sd = self._moments(t)
        return 0.5 * math.erfc((level - mean) / (sd * math.sqrt(2.0)))

    def time_to(self, level: float) -> datetime | None:
        """When the expected fill reaches `level`: the anchor if it already has, None if beyond a year."""
        if self.level >= level:
            return self.anchor
        if self.rate_per_h <= 0.0:
            return None
        a_s = to_epoch(self.anchor)
        needed = (level - self.level) / self.rate_per_h
        mean_factor = float(np.mean(self.weekday_factors))
        span = needed / mean_factor * HOUR_S * 1.5 + 7 * 24 * HOUR_S
        if span > _HORIZON_S:
            return None
        clock = self._clock(a_s + span)
        return from_epoch(clock.time_at(float(clock.hours(a_s)[0]) + needed), self.tz)

    @property
    def full_time(self) -> datetime | None:
        """When the expected fill reaches 1 (overflow)."""
        return self.time_to(1.0)


def _normalised(factors: tuple[float, ...]) -> FloatArray:
    """`factors` as an array scaled to mean 1."""
    a = np.asarray(factors, dtype=np.float64)
    return np.asarray(a / a.mean())


def _collapse_stuck(f: FloatArray, run: int) -> NDArray[np.bool_]:
    """Mask keeping each reading but the repeats of a run of at least `run` identical values."""
    keep = np.ones(len(f), dtype=bool)
    if len(f) < run:
        return keep
    starts = np.flatnonzero(np.concatenate(([True], f[1:] != f[:-1])))
    lengths = np.diff(np.concatenate((starts, [len(f)])))
    for s, n in zip(starts[lengths >= run], lengths[lengths >= run], strict=True):
        keep[s + 1 : s + n] = False
    return keep


def _weekday_factors(
    t: FloatArray, f: FloatArray, cycle: NDArray[np.int64], clock: EffectiveClock, prior: Prior
) -> FloatArray:
    """Weekday factors: the container's own (rate per weekday, ratio of sums) shrunk to the prior's.

    Sums of increments telescope, so noise and single outliers cancel within a weekday's run of readings.
    """
    base = _normalised(prior.weekday_factors)
    same = cycle[1:] == cycle[:-1]
    if not same.any():
        return base
    dt = np.diff(t)[same] / HOUR_S
    df = np.diff(f)[same]
    weekday = clock.weekdays[clock.segment(0.5 * (t[1:] + t[:-1])[same])]
    hours = np.bincount(weekday, weights=dt, minlength=7)
    if hours.min() <= 0.0:
        return base
    rates = np.maximum(np.bincount(weekday, weights=df, minlength=7) / hours, 0.0)
    if rates.mean() <= 0.0:
        return base
    weeks = hours.min() / 24.0
    mixed = (weeks * rates / rates.mean() + prior.weekday_weight * base) / (weeks + prior.weekday_weight)
    return np.asarray(mixed / mixed.mean())


def _diffusion(
    tau: FloatArray, f: FloatArray, cycle: NDArray[np.int64], rate: float, lag: int
) -> tuple[float, float, int]:
    """Diffusion per effective hour and noise variance from increments at lag 1 and at `lag` readings.

    Var(increment over Δ) = 2 σ² + q Δ: two lags give both. Returns (q, σ², number of long increments).
    """
    out = []
    for k in (1, lag):
        i = np.flatnonzero(cycle[k:] == cycle[:-k]) if k < len(f) else np.zeros(0, dtype=np.int64)
        dtau = tau[i + k] - tau[i]
        out.append(
            (mad_sd(f[i + k] - f[i] - rate * dtau) ** 2, float(np.mean(dtau)) if len(i) else 0.0, len(i))
        )
    (v1, d1, _), (vl, dl, nl) = out
    if nl < 10 or dl <= d1:
        return float("nan"), max(v1 / 2.0, 0.0), nl
    q = max(0.0, (vl - v1) / (dl - d1))
    return q, max(0.0, (v1 - q * d1) / 2.0), nl


def _grade(own_weight: float, sd_hours: float, lead_hours: float, silent: bool) -> Reliability:
    """HIGH when the container's own history dominates and the full time is tight; LOW on little of either.

    "Tight" is within 8 h (24 h for MEDIUM) or, for a container that fills in weeks, a tenth (a quarter)
    of the time left.
    """
    if not silent and own_weight >= 0.7 and sd_hours <= max(8.0, 0.1 * lead_hours):
        return Reliability.HIGH
    if own_weight >= 0.3 and sd_hours <= max(24.0, 0.25 * lead_hours):
        return Reliability.MEDIUM
    return Reliability.LOW


@dataclass(frozen=True, slots=True)
class _Cycles:
    """Readings of the fit window with their fill-cycle index, and the cycles' boundaries."""

    t: FloatArray
    f: FloatArray
    cycle: NDArray[np.int64]
    boundaries: FloatArray
    last_emptying: datetime | None
    refill_level: float


def _cycles(
    s: Series, collections: Sequence[datetime], now_s: float, min_confidence: float, stuck_run: int
) -> _Cycles:
    """Split the window's readings at each emptying (crew reports and confident detections merged)."""
    detections = [e for e in detect_emptyings(s) if e.confidence >= min_confidence]
    events = merge_collections([c for c in collections if to_epoch(c) <= now_s], detections)
    # Readings split where the sensor saw the drop; the crew's time is the one reported.
    splits = np.array([to_epoch(e.detection.time if e.detection else e.time) for e in events])
    keep = _collapse_stuck(s.fills, stuck_run)
    t, f = s.times_s[keep], s.fills[keep]
    after = [e.detection.fill_after for e in events if e.detection is not None]
    return _Cycles(
        t=t,
        f=f,
        cycle=np.searchsorted(splits, t, side="right").astype(np.int64),
        boundaries=splits,
        last_emptying=events[-1].time if events else None,
        refill_level=float(np.median(after)) if after else 0.0,
    )


@dataclass(frozen=True, slots=True)
class _Rate:
    """The container's own rate (per effective hour) and what the fit learnt about its noise."""

    own: float | None
    own_var: float
    diffusion: float
    noise_var: float


def _own_rate(
    tau: FloatArray, f: FloatArray, cycle: NDArray[np.int64], interval_s: float, prior: Prior
) -> _Rate:
    """Theil–Sen rate over the fill window, its variance, and the diffusion shrunk toward the prior's."""
    rate, pairs = theil_sen_slope(tau, f, cycle, _MIN_PAIR_SPAN_H)
    if not pairs:
        return _Rate(None, math.inf, prior.diffusion_per_h, _DEFAULT_NOISE**2)
    lag = max(2, round(24 * HOUR_S / interval_s))
    q_own, noise_var, n_long = _diffusion(tau, f, cycle, rate, lag)
    days = n_long / lag
    q = prior.diffusion_per_h
    if not math.isnan(q_own):
        q = (days * q_own + _DIFFUSION_PRIOR_DAYS * q) / (days + _DIFFUSION_PRIOR_DAYS)
    sxx, span = _spread(tau, cycle)
    if sxx <= 0.0 or span <= 0.0:
        return _Rate(None, math.inf, q, noise_var)
    # Noise term: OLS variance over Theil–Sen's efficiency (~0.87). Drift term: a random walk's drift
    # over `span` hours has variance q / span; the median of slopes is about half as efficient.
    own_var = max(1.15 * (2.0 * noise_var) / sxx + 2.0 * q / span, _SD_FLOOR**2)
    return _Rate(rate, own_var, q, noise_var)


def _level(
    cy: _Cycles, clock: EffectiveClock, rate: float, noise_var: float, now_s: float
) -> tuple[float, ...]:
    """Anchor time (epoch s), fill level there and its variance.

    The anchor is the last reading of the current fill cycle, its level the median of the last few
    readings carried forward at `rate`; without a reading since the last emptying, the emptying itself at
    the usual refill level; with neither, `now` and empty.
    """
    current = cy.cycle == len(cy.boundaries)
    if current.any():
        t, f = cy.t[current][-_LEVEL_READINGS:], cy.f[current][-_LEVEL_READINGS:]
        if f[-1] >= _SATURATED:
            return float(t[-1]), 1.0, noise_var
        tau = clock.hours(t)
        return (
            float(t[-1]),
            float(np.median(f + rate * (tau[-1] - tau))),
            _MEDIAN_VARIANCE * noise_var / len(f),
        )
    if cy.last_emptying is not None:
        return float(cy.boundaries[-1]), cy.refill_level, _UNSEEN_LEVEL_SD**2
    return now_s, 0.0, _UNSEEN_LEVEL_SD**2


def fit_forecast(
    series: Series,
    now: datetime,
    prior: Prior,
    *,
    collections: Sequence[datetime] = (),
    history: timedelta = timedelta(days=21),
    silent_factor: float = 3.0,
    min_confidence: float = 0.4,
    stuck_run: int = 6,
    tz: tzinfo = PARIS,
) -> Forecast:
    """Forecast one container's fill from its readings up to `now`.

    Parameters
    ----------
    series
        The container's possible readings (see `Series.from_readings`); later ones are ignored.
    now
        The time the forecast is made at.
    prior
        The stream's (or stream-and-commune's) rate, spread and weekday factors.
    collections
        Emptyings reported by crews (or the installation of a new, empty container).
    history
        How much history, back from the last reading, informs the rate and the weekday factors.
    silent_factor
        A sensor quiet for this many of its usual intervals is silent: the forecast runs on the model alone.
    min_confidence
        Detections below this confidence do not split fill cycles.
    stuck_run
        A run of this many identical readings keeps only its first (a stuck sensor says nothing new).
    """
    if history <= timedelta(0) or silent_factor <= 0.0 or stuck_run < 2 or not 0.0 <= min_confidence <= 1.0:
        raise ValueError("history and silent_factor must be positive, stuck_run >= 2, min_confidence in 0..1")
    now_s = to_epoch(now)
    seen = series.until(now_s)
    # A dead sensor's last weeks still tell its rate: the window ends at its last reading.
    start_s = min(now_s, float(seen.times_s[-1]) if len(seen) else now_s) - history.total_seconds()
    first = int(np.searchsorted(seen.times_s, start_s))
    cy = _cycles(
        Series(seen.times_s[first:], seen.fills[first:]), collections, now_s, min_confidence, stuck_run
    )
    interval = float(np.median(np.diff(seen.times_s[-20:]))) if len(seen) >= 2 else math.inf
    hourly = _normalised(prior.hourly_factors)
    clock = EffectiveClock.covering(start_s, now_s, _normalised(prior.weekday_factors), hourly, tz)
    factors = _weekday_factors(cy.t, cy.f, cy.cycle, clock, prior)
    clock = EffectiveClock.covering(start_s, now_s, factors, hourly, tz)
    fit = (cy.f < _NEAR_FULL) & (cy.f >= _NEAR_EMPTY)
    own = _own_rate(clock.hours(cy.t)[fit], cy.f[fit], cy.cycle[fit], interval, prior)

    prior_var = prior.rate_sd_per_h**2
    weight = prior_var / (prior_var + own.own_var) if own.own is not None else 0.0
    rate = max(0.0, weight * (own.own or 0.0) + (1.0 - weight) * prior.rate_per_h)
    rate_var = 1.0 / (1.0 / prior_var + (1.0 / own.own_var if own.own is not None else 0.0))
    anchor_s, level, level_var = _level(cy, clock, rate, own.noise_var, now_s)
    last_seen = float(cy.t[-1]) if len(cy.t) else -math.inf
    silent = not math.isfinite(interval) or now_s - last_seen > silent_factor * interval
    forecast = Forecast(
        now=now,
        anchor=from_epoch(anchor_s, tz),
        level=level,
        rate_per_h=rate,
        weekday_factors=tuple(float(x) for x in factors),
        hourly_factors=tuple(float(x) for x in hourly),
        level_var=level_var,
        rate_var=rate_var,
        diffusion_per_h=own.diffusion,
        reliability=Reliability.LOW,
        from_forecast_only=silent,
        last_emptying=cy.last_emptying,
        own_weight=weight,
        own_rate_per_h=own.own,
        own_rate_var=own.own_var if own.own is not None else None,
        tz=tz,
    )
    return _graded(forecast)


def _spread(tau: FloatArray, cycle: NDArray[np.int64]) -> tuple[float, float]:
    """Sum of squared deviations of `tau` from its cycle's mean, and the summed span of the cycles.

    `cycle` is non-decreasing (readings in time order), so each cycle is one contiguous slice.
    """
    _, starts, counts = np.unique(cycle, return_index=True, return_counts=True)
    sums = np.add.reduceat(tau, starts)
    sxx = float(np.sum(np.add.reduceat(tau * tau, starts) - sums * sums / counts))
    span = float(np.sum(np.maximum.reduceat(tau, starts) - np.minimum.reduceat(tau, starts)))
    return max(sxx, 0.0), span


def _graded(forecast: Forecast) -> Forecast:
    """`forecast` with its reliability grade, from its own weight and the spread of its full time."""
    full = forecast.full_time
    if full is None or forecast.rate_per_h <= 0.0:
        sd_hours, lead = math.inf, math.inf
    else:
        # Delta method: a fill spread of σ at the full time shifts it by about σ / rate hours.
        lead = max(0.0, (to_epoch(full) - to_epoch(forecast.now)) / HOUR_S)
        sd_hours = forecast.sd_at(full) / forecast.rate_per_h
    grade = _grade(forecast.own_weight, sd_hours, lead, forecast.from_forecast_only)
    return dataclasses.replace(forecast, reliability=grade)


def pooled_prior(forecasts: Sequence[Forecast], base: Prior) -> Prior:
    """An empirical-Bayes prior from the own rates of a stream's containers (method of moments).

    The prior mean is the median own rate; its spread is what the rates vary beyond their own estimation
    noise, floored at a tenth of the mean. Containers without an own rate are skipped; with fewer than
    three left, `base` is returned.
    """
    own = [(f.own_rate_per_h, f.own_rate_var) for f in forecasts if f.own_rate_per_h is not None]
    if len(own) < 3:
        return base
    rates = np.array([r for r, _ in own])
    noise = float(np.median([v for _, v in own if v is not None]))
    mean = max(float(np.median(rates)), 0.0)
    spread = math.sqrt(max(mad_sd(rates) ** 2 - noise, (0.1 * mean) ** 2, _SD_FLOOR**2))
    return dataclasses.replace(base, rate_per_h=mean, rate_sd_per_h=spread)
