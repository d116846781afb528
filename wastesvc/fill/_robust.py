"""Robust statistics the estimators share: weighted median, MAD scale, pairwise (Theil–Sen) slopes."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from wastesvc.fill._time import FloatArray

# MAD × 1.4826 estimates a normal standard deviation.
MAD_TO_SD = 1.4826
# Pairs at these index lags (within one fill cycle) stand in for all pairs of a full Theil–Sen fit: a
# roughly geometric spread keeps the cost at O(n log n) and still weighs many spans.
_LAGS = (1, 2, 3, 4, 6, 8, 10, 12, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 256)


def mad_sd(x: FloatArray) -> float:
    """Robust standard deviation of `x` (0 for fewer than two values)."""
    if len(x) < 2:
        return 0.0
    return float(MAD_TO_SD * np.median(np.abs(x - np.median(x))))


def weighted_median(values: FloatArray, weights: FloatArray) -> float:
    """The value at which the cumulative weight reaches half the total."""
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][int(np.searchsorted(cum, 0.5 * cum[-1]))])


def pair_indices(cycle: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Index pairs (i, j), i < j, at the lags of `_LAGS`, with both ends in the same fill cycle."""
    n = len(cycle)
    first = np.repeat(np.arange(n), len(_LAGS))
    second = first + np.tile(np.asarray(_LAGS), n)
    inside = second < n
    first, second = first[inside], second[inside]
    same = cycle[first] == cycle[second]
    return first[same], second[same]


def theil_sen_slope(
    x: FloatArray, y: FloatArray, cycle: NDArray[np.int64], min_span: float = 1e-9
) -> tuple[float, int]:
    """Median of pairwise slopes within cycles, weighted by each pair's span; and the number of pairs.

    Weighting by the span makes long pairs (whose slope noise barely moves) count more than adjacent
    readings, as in a regression; the median keeps outliers and stuck runs from dragging the slope. Only
    pairs spanning at least `min_span` count. Returns (nan, 0) when there is no such pair.
    """
    i, j = pair_indices(cycle)
    dx = x[j] - x[i]
    ok = dx >= min_span
    if not np.any(ok):
        return float("nan"), 0
    slopes = (y[j][ok] - y[i][ok]) / dx[ok]
    return weighted_median(slopes, dx[ok]), int(ok.sum())
