from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from wastesvc.fill import Forecast, Prior, Reliability, Series, deposit_profile, fit_forecast, pooled_prior
from wastesvc.fill.synthetic import (
    DAYTIME,
    PARIS,
    DepositProfile,
    SensorProfile,
    SyntheticContainer,
    synthetic_container,
)

START = datetime(2026, 3, 2, tzinfo=PARIS)  # a Monday
H = timedelta(hours=1)
LOOSE = Prior(rate_per_h=0.005, rate_sd_per_h=1.0)  # a prior that barely pulls
# Residual waste: a little more on Mondays (the weekend's bags) and Saturdays.
RESIDUAL_WEEK = (1.15, 1.0, 0.95, 0.9, 1.0, 1.05, 0.95)


def _linear(rate_per_h: float, hours: int, start_fill: float = 0.1, at: datetime = START) -> Series:
    t = np.array([at.timestamp() + 3600 * i for i in range(hours)])
    return Series.from_arrays(t, start_fill + rate_per_h * np.arange(hours, dtype=np.float64))


def test_a_clean_linear_series_gives_its_rate_level_and_full_time() -> None:
    """0.01 per hour from 10 %: rate, level and the time to 100 % come back exactly."""
    now = START + 50 * H
    fc = fit_forecast(_linear(0.01, 51), now, LOOSE)
    assert fc.rate_per_h == pytest.approx(0.01, rel=1e-3)
    assert fc.level == pytest.approx(0.6, abs=1e-3)
    assert fc.fill_at(now + 10 * H) == pytest.approx(0.7, abs=1e-3)
    assert fc.full_time is not None
    assert abs(fc.full_time - (now + 40 * H)) < timedelta(minutes=10)
    assert fc.time_to(0.8) is not None
    assert abs(fc.time_to(0.8) - (now + 20 * H)) < timedelta(minutes=10)  # type: ignore[operator]
    assert not fc.from_forecast_only


def test_outliers_and_a_stuck_stretch_do_not_drag_the_rate() -> None:
    """A tenth of the readings high (a bag on the beam) and 15 h stuck: the rate stays within 3 %.

    Least squares on the same readings is off by more than 10 %, so the check has teeth.
    """
    series = _linear(0.01, 72)
    fills = series.fills.copy()
    fills[::10] = 0.85
    fills[30:45] = fills[30]
    noisy = Series(series.times_s, fills)
    fc = fit_forecast(noisy, START + 71 * H, LOOSE)
    assert fc.rate_per_h == pytest.approx(0.01, rel=0.03)
    least_squares = np.polyfit(noisy.times_s / 3600, noisy.fills, 1)[0]
    assert abs(least_squares / 0.01 - 1) > 0.10


def test_weekday_factors_of_the_prior_shape_the_prediction() -> None:
    """A market Saturday (factor 2 against 1 on other days): Saturday adds twice what a Tuesday adds."""
    market = Prior(0.001, 0.0001, weekday_factors=(1, 1, 1, 1, 1, 2, 1))
    fc = fit_forecast(Series.from_arrays([], []), START, market, collections=[START])
    tuesday = fc.fill_at(START + 48 * H) - fc.fill_at(START + 24 * H)
    saturday = fc.fill_at(START + 6 * 24 * H) - fc.fill_at(START + 5 * 24 * H)
    assert saturday == pytest.approx(2 * tuesday, rel=1e-6)
    assert sum(fc.weekday_factors) == pytest.approx(7.0)


def test_a_container_learns_its_own_market_day() -> None:
    """Four weeks of a container whose Saturday is 2.5×: its Saturday factor rises well above the rest."""
    rng = np.random.default_rng(3)
    profile = DepositProfile(0.15, weekday_factors=(1, 1, 1, 1, 1, 2.5, 1))
    c = synthetic_container(rng, profile, SensorProfile(), START, 28, empty_at=0.8)
    fc = fit_forecast(c.readings, START + timedelta(days=28), Prior(0.15 / 24, 0.02 / 24))
    saturday = fc.weekday_factors[5]
    assert saturday > 1.4
    assert max(fc.weekday_factors[:5]) < saturday - 0.4


def test_cold_start_follows_the_prior_from_the_installation() -> None:
    """A new container without a reading: the prior's rate from empty at installation, LOW, forecast only."""
    prior = Prior(0.01, 0.002)
    installed = START + 5 * H
    fc = fit_forecast(Series.from_arrays([], []), START + 10 * H, prior, collections=[installed])
    assert fc.rate_per_h == prior.rate_per_h
    assert fc.level == 0.0
    assert fc.anchor == installed
    assert fc.last_emptying == installed
    assert fc.reliability is Reliability.LOW
    assert fc.from_forecast_only
    assert fc.full_time is not None
    assert abs(fc.full_time - (installed + 100 * H)) < timedelta(minutes=1)


def test_a_short_history_shrinks_toward_the_prior_and_a_long_one_does_not() -> None:
    """The same container (twice the stream's rate) after 40 h and after three weeks of readings."""
    prior = Prior(0.2 / 24, 0.05 / 24)
    profile = DepositProfile(0.4)
    rng = np.random.default_rng(11)
    c = synthetic_container(rng, profile, SensorProfile(), START, 21, empty_at=0.8)
    short = fit_forecast(c.readings, START + 40 * H, prior)
    long = fit_forecast(c.readings, START + timedelta(days=21), prior)
    assert 0.0 < short.own_weight < long.own_weight
    assert long.own_weight > 0.7
    assert prior.rate_per_h < short.rate_per_h < 0.4 / 24
    assert long.rate_per_h == pytest.approx(0.4 / 24, rel=0.25)
    assert abs(long.rate_per_h - 0.4 / 24) < abs(short.rate_per_h - 0.4 / 24)


def test_overflow_probability_rises_through_one_half_at_the_full_time() -> None:
    """P(overflow) is monotone, about 1/2 at the predicted full time, small before and large well after."""
    rng = np.random.default_rng(5)
    c = synthetic_container(
        rng, DepositProfile(0.25), SensorProfile(), START, 10, emptyings=[START + 8 * 24 * H]
    )
    now = START + timedelta(days=9)
    fc = fit_forecast(c.readings, now, Prior(0.25 / 24, 0.05 / 24))
    full = fc.full_time
    assert full is not None
    times = [now + k * 6 * H for k in range(30)]
    p = [fc.p_overflow(t) for t in times]
    assert p == sorted(p)
    assert fc.p_overflow(full) == pytest.approx(0.5, abs=0.01)
    assert fc.p_overflow(now) < 0.01
    assert fc.p_overflow(full + (full - now)) > 0.95
    assert fc.sd_at(full) > fc.sd_at(now)


def test_a_silent_sensor_leaves_the_forecast_to_the_model() -> None:
    """Hourly readings that stopped 10 h ago: from_forecast_only; 2 h ago: not."""
    series = _linear(0.01, 40)
    assert fit_forecast(series, START + 49 * H, LOOSE).from_forecast_only
    assert not fit_forecast(series, START + 41 * H, LOOSE).from_forecast_only


def test_a_sensor_stuck_at_the_end_leaves_the_forecast_to_the_model() -> None:
    """The last 20 readings repeat one value: the forecast extrapolates from the first of them."""
    series = _linear(0.01, 60)
    fills = series.fills.copy()
    fills[40:] = fills[40]
    fc = fit_forecast(Series(series.times_s, fills), START + 59 * H, LOOSE)
    assert fc.from_forecast_only
    assert fc.anchor.timestamp() == series.times_s[40]
    assert fc.fill_at(START + 59 * H) == pytest.approx(0.69, abs=0.01)


def test_readings_after_now_are_ignored() -> None:
    """A forecast made at hour 30 does not see the readings of hours 31 to 59."""
    series = _linear(0.01, 60)
    at_30 = fit_forecast(series, START + 30 * H, LOOSE)
    assert at_30.level == pytest.approx(0.4, abs=1e-3)
    assert at_30 == fit_forecast(series.until(START.timestamp() + 30 * 3600), START + 30 * H, LOOSE)


def test_naive_datetimes_and_bad_priors_are_clear_errors() -> None:
    """A naive `now`, a negative rate, or six weekday factors raise ValueError."""
    with pytest.raises(ValueError, match="timezone-aware"):
        fit_forecast(_linear(0.01, 5), datetime(2026, 3, 2), LOOSE)
    with pytest.raises(ValueError, match="rate_per_h"):
        Prior(-0.01, 0.01)
    with pytest.raises(ValueError, match="weekday_factors"):
        Prior(0.01, 0.01, weekday_factors=(1, 1, 1, 1, 1, 1))


def test_pooled_prior_is_the_median_own_rate_with_the_spread_beyond_noise() -> None:
    """Twelve containers around 0.25/day: the pooled prior's rate is near it and its spread positive."""
    rng = np.random.default_rng(21)
    rates = 0.25 * np.exp(rng.normal(0.0, 0.2, 12))
    base = Prior(0.1 / 24, 0.1 / 24)
    forecasts = [
        fit_forecast(
            synthetic_container(rng, DepositProfile(r), SensorProfile(), START, 14, empty_at=0.8).readings,
            START + timedelta(days=14),
            base,
        )
        for r in rates
    ]
    pooled = pooled_prior(forecasts, base)
    assert pooled.rate_per_h == pytest.approx(float(np.median(rates)) / 24, rel=0.15)
    assert 0.0 < pooled.rate_sd_per_h < base.rate_sd_per_h
    assert pooled_prior(forecasts[:2], base) is base


def _residual(seed: int) -> SyntheticContainer:
    """A residual-waste container: 0.25/day ± 25 %, bags of 1.25 %, noise 2 %, emptied at 75 % on rounds."""
    rng = np.random.default_rng(seed)
    rate = 0.25 * float(np.exp(rng.normal(0.0, 0.25)))
    profile = DepositProfile(rate, RESIDUAL_WEEK, deposit_mean=0.0125)
    return synthetic_container(rng, profile, SensorProfile(noise_sd=0.02), START, 21, empty_at=0.75)


def _full_time_errors(
    containers: list[SyntheticContainer], prior: Prior
) -> tuple[list[float], list[Forecast]]:
    """Absolute errors (h) of the predicted full time: a week of history, then a forecast each evening."""
    errors, forecasts = [], []
    for c in containers:
        for day in range(7, 14):
            now = START + timedelta(days=day, hours=20)
            truth = c.crossing(1.0, now.timestamp())
            fc = fit_forecast(c.readings, now, prior)
            if truth is None or truth <= now.timestamp() or fc.full_time is None:
                continue
            errors.append(abs(fc.full_time.timestamp() - truth) / 3600)
            forecasts.append(fc)
    return errors, forecasts


def test_full_time_error_on_a_residual_stream_with_a_week_of_history() -> None:
    """Median absolute error of the predicted full time under 12 h; HIGH grades err less than MEDIUM ones.

    Thirty residual containers, forecasts every evening from day 7 against the truth left alone. The prior
    is the stream's: its rate and the deposit profile learnt from twenty other containers' readings, which
    brings the error down against a flat day.
    """
    containers = [_residual(seed) for seed in range(30)]
    weekly, hourly = deposit_profile([_residual(seed).readings for seed in range(100, 120)])
    learnt = Prior(0.25 / 24, 0.25 * 0.25 / 24, weekly, hourly)
    flat = Prior(0.25 / 24, 0.25 * 0.25 / 24, RESIDUAL_WEEK)
    errors, forecasts = _full_time_errors(containers, learnt)
    flat_errors, _ = _full_time_errors(containers, flat)
    assert len(errors) > 150
    assert float(np.median(errors)) < 12.0
    assert np.median(errors) < np.median(flat_errors)
    by_grade = {
        g: [e for e, f in zip(errors, forecasts, strict=True) if f.reliability is g]
        for g in (Reliability.HIGH, Reliability.MEDIUM)
    }
    assert np.median(by_grade[Reliability.HIGH]) < np.median(by_grade[Reliability.MEDIUM])


def test_a_sensor_dead_for_weeks_still_forecasts_from_its_last_state() -> None:
    """Readings stopped 30 days ago: the forecast starts from the last one, at the rate learnt before."""
    series = _linear(0.002, 200)
    now = START + timedelta(days=30) + 200 * H
    fc = fit_forecast(series, now, LOOSE)
    assert fc.from_forecast_only
    assert fc.anchor.timestamp() == series.times_s[-1]
    assert fc.rate_per_h == pytest.approx(0.002, rel=0.01)
    assert fc.fill_at(now) == 1.0
    assert fc.p_overflow(now) > 0.99


def test_a_crew_collection_the_sensor_never_saw_restarts_the_fill() -> None:
    """The sensor went quiet at 70 % and the crew emptied it later: the forecast starts empty at that time."""
    series = _linear(0.01, 61)
    collected = START + 70 * H
    fc = fit_forecast(series, START + 72 * H, LOOSE, collections=[collected])
    assert fc.last_emptying == collected
    assert fc.anchor == collected
    assert fc.level == 0.0
    assert fc.fill_at(START + 72 * H) == pytest.approx(0.02, abs=0.002)


def test_a_detected_emptying_reported_by_the_crew_too_keeps_the_crews_time() -> None:
    """A drop at hour 40 and a crew report at 40:30: one emptying, at the crew's time; the fill restarts."""
    t = np.array([START.timestamp() + 3600 * i for i in range(60)])
    f = np.where(np.arange(60) < 40, 0.3 + 0.01 * np.arange(60), 0.01 * (np.arange(60) - 40))
    crew = START + 40 * H + timedelta(minutes=30)
    fc = fit_forecast(Series.from_arrays(t, f), START + 59 * H, LOOSE, collections=[crew])
    assert fc.last_emptying == crew
    assert fc.level == pytest.approx(0.19, abs=0.005)
    assert fc.rate_per_h == pytest.approx(0.01, rel=0.01)


def test_a_daylight_saving_night_counts_its_real_hours() -> None:
    """Across the spring change (29 March 2026, a 23 h day in Paris) 48 real hours add 48 hours of rate.

    (Two wall-clock days in Paris, noon to noon, are 47 real hours.)
    """
    anchor = datetime(2026, 3, 28, 12, tzinfo=PARIS)
    fc = fit_forecast(Series.from_arrays([], []), anchor, Prior(0.001, 0.0001), collections=[anchor])
    assert fc.fill_at(anchor.astimezone(UTC) + 48 * H) == pytest.approx(0.048, rel=1e-9)
    assert fc.fill_at(anchor + 48 * H) == pytest.approx(0.047, rel=1e-9)


def test_duplicate_readings_count_once() -> None:
    """Every reading delivered twice (at-least-once uplinks): the same forecast as delivered once."""
    series = _linear(0.01, 50)
    doubled = Series.from_arrays(np.repeat(series.times_s, 2), np.repeat(series.fills, 2))
    assert len(doubled) == len(series)
    assert fit_forecast(doubled, START + 49 * H, LOOSE) == fit_forecast(series, START + 49 * H, LOOSE)


@pytest.mark.parametrize(
    "options",
    [{"history": timedelta(0)}, {"silent_factor": 0.0}, {"stuck_run": 1}, {"min_confidence": 1.5}],
)
def test_meaningless_options_are_clear_errors(options: dict[str, object]) -> None:
    """A zero history, a zero silent factor, a stuck run of one or a confidence above 1 raise ValueError."""
    with pytest.raises(ValueError, match="history and silent_factor"):
        fit_forecast(_linear(0.01, 5), START + 5 * H, LOOSE, **options)  # type: ignore[arg-type]


def test_a_streams_deposit_profile_is_learnt_from_its_containers() -> None:
    """Forty containers with a market Saturday and daytime deposits: both profiles come back."""
    weekly = (1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 0.8)
    rng = np.random.default_rng(0)
    series = [
        synthetic_container(
            rng, DepositProfile(0.25, weekly), SensorProfile(), START, 28, empty_at=0.75
        ).readings
        for _ in range(40)
    ]
    learnt_week, learnt_day = deposit_profile(series)
    truth_week = np.asarray(weekly) / np.mean(weekly)
    assert np.max(np.abs(np.asarray(learnt_week) - truth_week)) < 0.1
    assert np.max(np.abs(np.asarray(learnt_day) - np.asarray(DAYTIME))) < 0.35
    assert max(learnt_day[:5]) < 0.2
    assert learnt_day[18] > 1.8
    assert deposit_profile([]) == ((1.0,) * 7, (1.0,) * 24)
