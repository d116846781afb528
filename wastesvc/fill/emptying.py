"""Emptying detection from a fill series, and its merge with the crews' collection reports.

An emptying is a sudden, sustained drop: the median of the few readings after a step lies well below the
median of the few before. The medians make one outlier low reading (a bird, a bag across the beam) no
emptying, and the step may span a gap of missing readings: the emptying then lies somewhere in the gap,
and its time is estimated by running the refill back to an empty container.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from wastesvc.fill._robust import mad_sd, theil_sen_slope
from wastesvc.fill._time import HOUR_S, FloatArray, from_epoch
from wastesvc.fill.series import Series

__all__ = ["CollectionEvent", "Emptying", "Source", "detect_emptyings", "merge_collections"]

# The refill used to date an emptying inside a gap is fitted on this much of the series after the drop.
_REFILL_WINDOW_S = 24 * HOUR_S


@dataclass(frozen=True, slots=True)
class Emptying:
    """An emptying seen in a fill series.

    Parameters
    ----------
    time
        Best estimate of when the container was emptied, between `earliest` and `latest`.
    earliest, latest
        The last reading before the drop and the first after it.
    fill_before, fill_after
        Median fills of the readings either side of the drop.
    confidence
        0..1: grows with the drop against the sensor's noise and with the readings that confirm it.
    """

    time: datetime
    earliest: datetime
    latest: datetime
    fill_before: float
    fill_after: float
    confidence: float


def _row_medians(windows: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Median of the finite values of each row (NaN pads the ends), and how many there are."""
    ordered = np.sort(windows, axis=1)  # NaN sorts last
    counts = np.sum(np.isfinite(windows), axis=1)
    rows = np.arange(len(windows))
    lo, hi = np.maximum((counts - 1) // 2, 0), np.maximum(counts // 2, 0)
    hi = np.minimum(hi, windows.shape[1] - 1)
    medians = np.where(counts > 0, 0.5 * (ordered[rows, lo] + ordered[rows, hi]), np.nan)
    return medians, counts.astype(np.float64)


def _medians(f: FloatArray, at: NDArray[np.int64], k: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per boundary i|i+1 in `at`: medians of the k readings up to i and from i+1, and the latter's count."""
    offsets = np.arange(k)
    before_idx = at[:, None] - offsets[::-1][None, :]
    after_idx = at[:, None] + 1 + offsets[None, :]
    padded = np.concatenate((f, [np.nan]))  # index -1 and len(f) both land on the NaN
    before_idx = np.where(before_idx < 0, len(f), before_idx)
    after_idx = np.minimum(after_idx, len(f))
    before, _ = _row_medians(padded[before_idx])
    after, counts = _row_medians(padded[after_idx])
    return before, after, counts


def _estimate_time(t: FloatArray, f: FloatArray, i: int, end: int, interval_s: float) -> float:
    """When, between readings i and i + 1, the container was emptied.

    A short gap gives its midpoint. A long one (the sensor missed the moment) is dated by running the
    refill after the drop back to zero, which needs a positive refill rate over the next day of readings.
    """
    lo, hi = float(t[i]), float(t[i + 1])
    if hi - lo <= 2.5 * interval_s:
        return 0.5 * (lo + hi)
    stop = min(end, int(np.searchsorted(t, hi + _REFILL_WINDOW_S, side="right")))
    x, y = t[i + 1 : stop], f[i + 1 : stop]
    if len(x) < 3:
        return 0.5 * (lo + hi)
    slope, _ = theil_sen_slope(x, y, np.zeros(len(x), dtype=np.int64))
    if not slope > 0.0:
        return 0.5 * (lo + hi)
    level = float(np.median(y[:3] - slope * (x[:3] - hi)))
    return float(np.clip(hi - max(level, 0.0) / slope, lo, hi))


def _split(f: FloatArray, group: NDArray[np.int64], confirm: int, step: FloatArray) -> int:
    """The boundary of a group of candidates that best splits its readings into high, then low.

    Each candidate is scored by the readings on the wrong side of the midway level (a low reading before
    it, a high one after); the fewest misfits win, then the largest step. So a spurious low reading a few
    readings before the emptying does not take its place.
    """
    if len(group) == 1:
        return int(group[0])
    lo, hi = max(0, int(group[0]) - confirm + 1), min(len(f), int(group[-1]) + confirm + 1)
    window = f[lo:hi]
    high = window > 0.5 * (window.max() + window.min())
    low_before = np.cumsum(~high)
    high_after = high.sum() - np.cumsum(high)
    misfits = low_before[group - lo] + high_after[group - lo]
    best = np.flatnonzero(misfits == misfits.min())
    return int(group[best[np.argmax(step[group[best]])]])


def detect_emptyings(series: Series, *, min_drop: float = 0.15, confirm: int = 5) -> list[Emptying]:
    """The emptyings in `series`, oldest first.

    Parameters
    ----------
    series
        One container's fill readings.
    min_drop
        Smallest drop of the median fill that counts; raised to five noise deviations on noisy sensors.
    confirm
        Readings either side whose median must show the drop (an outlier needs this many to fool it). A
        drop followed by fewer readings (the end of the series) is kept with a confidence scaled down.
    """
    if confirm < 1:
        raise ValueError("confirm must be at least 1")
    t, f = series.times_s, series.fills
    if len(t) < 2:
        return []
    noise = mad_sd(np.diff(f)) / np.sqrt(2.0)
    threshold = max(min_drop, 5.0 * noise)
    step = f[:-1] - f[1:]
    steps = np.flatnonzero(step >= 0.5 * threshold)
    before, after, counts = _medians(f, steps, confirm)
    sustained = before - after >= threshold
    candidate = steps[sustained]
    before, after, counts = before[sustained], after[sustained], counts[sustained]
    interval_s = float(np.median(np.diff(t)))
    found: list[Emptying] = []
    groups = np.split(candidate, np.flatnonzero(np.diff(candidate) > confirm) + 1) if len(candidate) else []
    starts = [_split(f, g, confirm, step) for g in groups]
    row = {int(i): n for n, i in enumerate(candidate)}
    for n, i in enumerate(starts):
        end = starts[n + 1] + 1 if n + 1 < len(starts) else len(t)
        r = row[i]
        drop = float(before[r] - after[r])
        confidence = min(1.0, drop / (2.0 * threshold)) * counts[r] / confirm
        found.append(
            Emptying(
                time=from_epoch(_estimate_time(t, f, i, end, interval_s), UTC),
                earliest=from_epoch(float(t[i]), UTC),
                latest=from_epoch(float(t[i + 1]), UTC),
                fill_before=float(before[r]),
                fill_after=float(after[r]),
                confidence=round(float(confidence), 3),
            )
        )
    return found


class Source(enum.Enum):
    """Who told us a container was emptied."""

    CREW = "crew"
    SENSOR = "sensor"


@dataclass(frozen=True, slots=True)
class CollectionEvent:
    """One emptying, as reported by a crew, seen by the sensor, or both.

    `time` is the crew's time when there is one (a person saw it), else the sensor's estimate.
    """

    time: datetime
    sources: frozenset[Source]
    crew_time: datetime | None = None
    detection: Emptying | None = None


def _gap(crew: datetime, e: Emptying) -> timedelta:
    """How far a crew time lies outside the interval in which the sensor places the emptying."""
    if crew < e.earliest:
        return e.earliest - crew
    if crew > e.latest:
        return crew - e.latest
    return timedelta(0)


def merge_collections(
    crew_times: Sequence[datetime],
    detections: Sequence[Emptying],
    *,
    tolerance: timedelta = timedelta(hours=3),
) -> list[CollectionEvent]:
    """One event per emptying, oldest first: a crew report and a detection within `tolerance` are the same.

    Pairs are matched closest first and one to one. A crew time inside the detection's interval (the
    readings either side of the drop) is distance zero, so a sensor that missed the moment still matches.
    """
    pairs = sorted(
        (_gap(c, e), ci, ei)
        for ci, c in enumerate(crew_times)
        for ei, e in enumerate(detections)
        if _gap(c, e) <= tolerance
    )
    crew_match: dict[int, int] = {}
    taken: set[int] = set()
    for _, ci, ei in pairs:
        if ci not in crew_match and ei not in taken:
            crew_match[ci] = ei
            taken.add(ei)
    events = [
        CollectionEvent(
            time=c,
            sources=frozenset({Source.CREW, Source.SENSOR}) if ci in crew_match else frozenset({Source.CREW}),
            crew_time=c,
            detection=detections[crew_match[ci]] if ci in crew_match else None,
        )
        for ci, c in enumerate(crew_times)
    ]
    events += [
        CollectionEvent(time=e.time, sources=frozenset({Source.SENSOR}), detection=e)
        for ei, e in enumerate(detections)
        if ei not in taken
    ]
    return sorted(events, key=lambda ev: ev.time)
