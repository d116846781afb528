"""A stream's deposit profile (weekday and hour-of-day factors) learnt from its containers' readings.

Per local weekday and hour, the rate is a ratio of sums: the fill increments of consecutive readings over
the hours they span, pooled over every container of the stream. Sums of increments telescope, so sensor
noise cancels; steps too large to be deposits (emptyings, outliers and their return) are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo

import numpy as np
from numpy.typing import NDArray

from wastesvc.fill._time import FLAT_DAY, FLAT_WEEK, HOUR_S, PARIS, EffectiveClock, FloatArray
from wastesvc.fill.series import Series

__all__ = ["deposit_profile"]

# A step larger than this in one reading interval is an emptying or an outlier, not deposits.
_MAX_STEP = 0.15
# Increments spanning more than this say nothing about the hour of day.
_MAX_HOURLY_SPAN_S = 2.0 * HOUR_S


def _factors(
    keys: NDArray[np.int64], increments: FloatArray, spans: FloatArray, n: int
) -> tuple[float, ...] | None:
    """Rates per key (0..n-1) scaled to mean 1, or None when a key has no time or the rates are all zero."""
    hours = np.bincount(keys, weights=spans, minlength=n)
    if hours.min() <= 0.0:
        return None
    rates = np.maximum(np.bincount(keys, weights=increments, minlength=n) / hours, 0.0)
    if rates.mean() <= 0.0:
        return None
    return tuple(float(x) for x in rates / rates.mean())


def deposit_profile(
    series: Sequence[Series], tz: tzinfo = PARIS
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Weekday factors (Monday first) and hour-of-day factors (0 to 23) of a stream's deposits.

    Parameters
    ----------
    series
        The readings of the stream's containers (the more, the steadier the estimate).
    tz
        The time zone of the weekdays and hours.

    Returns
    -------
    weekday_factors, hourly_factors
        Each scaled to mean 1; flat when the readings do not cover every weekday (or hour) — hours need
        readings at most 2 h apart.
    """
    keys_w, keys_h, incs, spans, short = [], [], [], [], []
    for s in series:
        if len(s) < 2:
            continue
        t, f = s.times_s, s.fills
        df, dt = np.diff(f), np.diff(t)
        deposit = np.abs(df) <= _MAX_STEP
        mid = 0.5 * (t[1:] + t[:-1])[deposit]
        clock = EffectiveClock.covering(float(t[0]), float(t[-1]), np.ones(7), np.ones(24), tz)
        segment = clock.segment(mid)
        keys_w.append(clock.weekdays[segment])
        keys_h.append(clock.local_hours[segment])
        incs.append(df[deposit])
        spans.append(dt[deposit] / HOUR_S)
        short.append(dt[deposit] <= _MAX_HOURLY_SPAN_S)
    if not incs:
        return FLAT_WEEK, FLAT_DAY
    inc, span, near = np.concatenate(incs), np.concatenate(spans), np.concatenate(short)
    weekday = _factors(np.concatenate(keys_w), inc, span, 7) or FLAT_WEEK
    hourly = _factors(np.concatenate(keys_h)[near], inc[near], span[near], 24) or FLAT_DAY
    return weekday, hourly
