"""How far the container forecasts' predicted full times fall from the truth, per stream (part of
`make bench-policy`).

Each container of the scenario fills by its own seeded deposit process (its stream's rate × a per-
container factor, the stream's weekday factors), is emptied by a daily 08:00 round once it is 80 % full,
and is read hourly by a sensor that errs (`bench.policy`'s sensor). Every third morning at 06:00 from the
eighth day on (a week of history), the service's forecast (`wastesvc.domain.priors` and the fill library)
predicts when the container will be full; the truth is when it would have been full left alone. Writes
bench/results/forecast.json and the "Forecast error" section of BENCHMARKS.md.
"""

from __future__ import annotations

import json
import zlib
from collections import defaultdict
from datetime import datetime, time, timedelta

import numpy as np

from bench.policy import RATE_SPREAD, RESULTS, ROOT, SENSOR, START, write_section
from wastesvc.domain.priors import prior_for
from wastesvc.fill import fit_forecast
from wastesvc.fill._time import HOUR_S, PARIS, to_epoch
from wastesvc.fill.synthetic import DepositProfile, synthetic_container
from wastesvc.scenario import load_default

__all__ = ["main", "measure"]

_DAYS = 35
_FIRST_DAY = 7
_EVERY = 3
# Crossings further than this ahead are not what a plan needs to know precisely.
_HORIZON_H = 7 * 24


def measure(seed: int) -> dict[str, dict[str, float]]:
    """Per stream: the number of forecasts compared and the median absolute error in hours."""
    scenario = load_default()
    errors: dict[str, list[float]] = defaultdict(list)
    start = datetime.combine(START, time(0), tzinfo=PARIS)
    for c in scenario.containers:
        rng = np.random.default_rng([seed, zlib.crc32(c.id.encode()), 1])
        stream = scenario.stream(c.stream)
        rate = c.fill_rate_per_day * float(rng.lognormal(-(RATE_SPREAD**2) / 2, RATE_SPREAD))
        profile = DepositProfile(rate_per_day=rate, weekday_factors=stream.weekday_factors)
        box = synthetic_container(rng, profile, SENSOR, start, _DAYS, empty_at=0.8)
        for day in range(_FIRST_DAY, _DAYS - 7, _EVERY):
            now = datetime.combine(START + timedelta(days=day), time(6), tzinfo=PARIS)
            now_s = to_epoch(now)
            crew = [datetime.fromtimestamp(e, PARIS) for e in box.emptyings_s if e <= now_s]
            forecast = fit_forecast(box.readings.until(now_s), now, prior_for(c.stream), collections=crew)
            truth = box.crossing(1.0, now_s)
            if (
                forecast.full_time is None
                or truth is None
                or not now_s < truth <= now_s + _HORIZON_H * HOUR_S
            ):
                continue
            errors[c.stream].append(abs(to_epoch(forecast.full_time) - truth) / HOUR_S)
    return {
        s: {"forecasts": len(e), "median_abs_error_h": round(float(np.median(e)), 1)}
        for s, e in sorted(errors.items())
    }


def main() -> int:
    result = measure(2027)
    print(json.dumps(result, indent=1))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "forecast.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    lines = [f"| {s} | {r['forecasts']} | {r['median_abs_error_h']:.1f} |" for s, r in result.items()]
    text = (
        "## Forecast error (`make bench-policy`)\n\n"
        f"Predicted full time against the truth, forecasts made at 06:00 every {_EVERY} days with at least a "
        f"week of hourly readings, for crossings within {_HORIZON_H // 24} days; every container of the "
        "scenario on a threshold-80 round (`bench/forecast_error.py`, seed 2027).\n\n"
        "| stream | forecasts | median absolute error (h) |\n|---|---|---|\n" + "\n".join(lines) + "\n"
    )
    write_section(ROOT / "BENCHMARKS.md", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
