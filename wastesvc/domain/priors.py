"""Per-stream forecast priors, from the scenario's documented per-stream fill rates and weekday factors."""

from __future__ import annotations

import functools

from wastesvc.fill import Prior
from wastesvc.scenario import load_default

__all__ = ["prior_for"]

# Containers of one stream differ: a spread of half the mean rate lets a container's own data take over
# within a week or two (the fill library's empirical-Bayes pooling).
_RATE_SPREAD = 0.5
# Used for a stream the scenario does not describe: a container filling in about a week.
_FALLBACK = Prior(rate_per_h=1 / (7 * 24), rate_sd_per_h=_RATE_SPREAD / (7 * 24))


@functools.cache
def _priors() -> dict[str, Prior]:
    return {
        s.id: Prior(
            rate_per_h=s.mean_fill_rate_per_day / 24,
            rate_sd_per_h=_RATE_SPREAD * s.mean_fill_rate_per_day / 24,
            weekday_factors=s.weekday_factors,
        )
        for s in load_default().streams
    }


def prior_for(stream: str) -> Prior:
    """The forecast prior of a container of `stream` with no history of its own."""
    return _priors().get(stream, _FALLBACK)
