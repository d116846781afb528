from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import numpy as np

from wastesvc.fill import Series
from wastesvc.fill.synthetic import (
    PARIS,
    DepositProfile,
    SensorProfile,
    SyntheticContainer,
    deposits,
    observe,
    synthetic_container,
)

START = datetime(2026, 3, 2, tzinfo=PARIS)


def test_a_seed_replays_the_same_container() -> None:
    """Two generators from one seed give identical deposits, emptyings and readings."""
    a, b = (
        synthetic_container(
            np.random.default_rng(9), DepositProfile(0.3), SensorProfile(), START, 14, empty_at=0.7
        )
        for _ in range(2)
    )
    assert np.array_equal(a.deposit_times_s, b.deposit_times_s)
    assert a.emptyings_s == b.emptyings_s
    assert np.array_equal(a.readings.fills, b.readings.fills)


def test_deposits_follow_the_rate_and_the_weekday_factors() -> None:
    """Twenty weeks at 0.2/day with Saturdays at 3×: the mean rate and the Saturday share come out."""
    weekly = (1.0, 1.0, 1.0, 1.0, 1.0, 3.0, 1.0)
    start_s = START.timestamp()
    times, sizes = deposits(
        np.random.default_rng(1), DepositProfile(0.2, weekly), start_s, start_s + 140 * 86400
    )
    assert abs(sizes.sum() / 140 - 0.2) < 0.01
    saturday = np.array([datetime.fromtimestamp(t, PARIS).weekday() == 5 for t in times])
    assert abs(sizes[saturday].sum() / sizes.sum() - 3 / 9) < 0.02


def test_the_threshold_rule_empties_at_the_round_that_finds_the_container_full_enough() -> None:
    """Each emptying is at 08:00 local, finds at least 70 %, and the round before found less."""
    c = synthetic_container(
        np.random.default_rng(4), DepositProfile(0.3), SensorProfile(), START, 21, empty_at=0.7
    )
    assert len(c.emptyings_s) >= 4
    for e in c.emptyings_s:
        assert datetime.fromtimestamp(e, PARIS).hour == 8
        assert c.fill_at(e - 1) >= 0.7
        assert c.fill_at(e + 1) == 0.0
        day_before = e - 86400
        if day_before > START.timestamp() and day_before not in c.emptyings_s:
            assert c.fill_at(day_before) < 0.7


def test_the_sensor_misses_emptyings_and_sticks_as_told() -> None:
    """No reading in the 6 h after an emptying; one value repeated through the stuck period."""
    start_s = START.timestamp()
    stuck = (start_s + 3 * 86400, start_s + 4 * 86400)
    sensor = SensorProfile(miss_after_emptying_h=6.0, stuck=stuck, dropout=0.0)
    c = synthetic_container(np.random.default_rng(2), DepositProfile(0.3), sensor, START, 10, empty_at=0.7)
    t, f = c.readings.times_s, c.readings.fills
    for e in c.emptyings_s:
        assert not np.any((t > e) & (t < e + 6 * 3600))
    frozen = (t >= stuck[0]) & (t < stuck[1])
    assert frozen.sum() >= 15
    assert len(set(f[frozen])) == 1
    assert len(set(f[~frozen])) > 20


def test_the_truth_caps_at_full_and_knows_the_crossing() -> None:
    """Left alone, the fill reaches 1 once and stays there; the crossing time is when it does."""
    c = synthetic_container(np.random.default_rng(8), DepositProfile(0.3), SensorProfile(), START, 10)
    crossing = c.crossing(1.0, START.timestamp())
    assert crossing is not None
    assert c.fill_at(crossing - 1) < 1.0 <= c.fill_at(crossing)
    assert c.fill_at(crossing + 86400) == 1.0
    assert c.crossing(0.5, START.timestamp() + 9 * 86400) is not None
    assert datetime.fromtimestamp(crossing, UTC) > START + timedelta(days=2)


def test_a_day_by_day_simulation_adds_emptyings_as_trucks_make_them() -> None:
    """Deposits drawn once; an emptying added on day 3 empties the container the sensor sees on day 3."""
    rng = np.random.default_rng(6)
    start_s = START.timestamp()
    times, sizes = deposits(rng, DepositProfile(0.3), start_s, start_s + 5 * 86400)
    truth = SyntheticContainer(times, sizes, (), 0.0, Series.from_arrays([], []))
    sensor = SensorProfile(dropout=0.0, outlier=0.0)
    day2 = observe(rng, sensor, truth, start_s + 86400, start_s + 2 * 86400)
    visit = start_s + 2 * 86400 + 10 * 3600
    truth = dataclasses.replace(truth, emptyings_s=(visit,))
    day3 = observe(rng, sensor, truth, start_s + 2 * 86400, start_s + 3 * 86400)
    assert day2.fills[-1] > 0.3
    after = day3.times_s > visit
    assert day3.fills[after][0] < 0.1
    assert np.all(day3.fills[~after] > 0.3)
    assert day3.fills[-1] < day3.fills[~after][-1]
