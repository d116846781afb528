"""Tests of the fill-sensor reading simulator (wastesvc.simulate)."""

from __future__ import annotations

import dataclasses
import itertools
import statistics
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

import wastesvc.simulate
from wastesvc.scenario import Scenario, fill_from_distance, load_default
from wastesvc.simulate import SimulatedReading, simulate_readings

START = datetime(2025, 11, 21, 6, 0, tzinfo=UTC)  # a Friday morning: the 5-day run ends on a Wednesday
DAYS = 5


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load_default()


@pytest.fixture(scope="module")
def readings(scenario: Scenario) -> list[SimulatedReading]:
    return simulate_readings(scenario, START, DAYS)


@pytest.fixture(scope="module")
def small(scenario: Scenario) -> Scenario:
    """The first 40 containers, enough for the cheap checks."""
    return dataclasses.replace(scenario, containers=scenario.containers[:40])


def _fill(scenario: Scenario, reading: SimulatedReading) -> float:
    if reading.fill_fraction is not None:
        return reading.fill_fraction
    assert reading.distance_mm is not None
    container = next(c for c in scenario.containers if c.id == reading.container_id)
    return fill_from_distance(scenario.model(container.model_id), reading.distance_mm)


def _series(readings: list[SimulatedReading]) -> dict[str, list[SimulatedReading]]:
    series: dict[str, list[SimulatedReading]] = defaultdict(list)
    for reading in readings:
        series[reading.container_id].append(reading)
    return series


def test_public_surface() -> None:
    """The module exports the reading record and the simulator only."""
    assert sorted(wastesvc.simulate.__all__) == ["SimulatedReading", "simulate_readings"]


def test_is_deterministic(small: Scenario) -> None:
    """The same seed gives the same readings; another seed gives others."""
    first = simulate_readings(small, START, 2, seed=3)
    assert first == simulate_readings(small, START, 2, seed=3)
    assert first != simulate_readings(small, START, 2, seed=4)


def test_shorter_run_is_a_prefix_of_a_longer_one(small: Scenario) -> None:
    """Extending the period adds readings at the end without changing the earlier ones."""
    short = simulate_readings(small, START, 1)
    longer = simulate_readings(small, START, 3)
    assert short == [r for r in longer if r.measure_time <= START + timedelta(days=1)]


def test_times_stay_within_the_period(readings: list[SimulatedReading]) -> None:
    """Readings are aware UTC, sorted, and none is before start or after start + days."""
    assert all(r.measure_time.tzinfo is UTC for r in readings)
    assert [r.measure_time for r in readings] == sorted(r.measure_time for r in readings)
    assert readings[0].measure_time >= START
    assert readings[-1].measure_time <= START + timedelta(days=DAYS)


def test_times_are_jittered(readings: list[SimulatedReading]) -> None:
    """Measurement times spread over many minutes rather than a few aligned instants."""
    assert len({r.measure_time.minute for r in readings}) > 30
    assert len({r.measure_time.second for r in readings}) > 30


def test_each_container_reports_about_four_times_a_day(
    scenario: Scenario, readings: list[SimulatedReading]
) -> None:
    """Every container reports, with only a few uplinks lost."""
    counts = {cid: len(rs) for cid, rs in _series(readings).items()}
    assert set(counts) == {c.id for c in scenario.containers}
    assert max(counts.values()) == DAYS * 4
    assert sum(counts.values()) >= 0.95 * DAYS * 4 * len(scenario.containers)


def test_readings_per_day_is_honoured(small: Scenario) -> None:
    """Hourly readings give 24 a day and still end by start + days."""
    readings = simulate_readings(small, START, 1, readings_per_day=24)
    assert max(len(rs) for rs in _series(readings).values()) == 24
    assert readings[-1].measure_time <= START + timedelta(days=1)


def test_sensor_reports_fill_or_distance(scenario: Scenario, readings: list[SimulatedReading]) -> None:
    """Each reading carries exactly what its sensor reports, under the container's sensor id."""
    containers = {c.id: c for c in scenario.containers}
    for reading in readings:
        container = containers[reading.container_id]
        assert reading.sensor_id == container.sensor_id
        if container.sensor_reports == "distance":
            assert reading.fill_fraction is None
            assert reading.distance_mm is not None
        else:
            assert reading.distance_mm is None
            assert reading.fill_fraction is not None
    assert any(r.distance_mm is not None for r in readings)
    assert any(r.fill_fraction is not None for r in readings)


def test_values_are_in_range(scenario: Scenario, readings: list[SimulatedReading]) -> None:
    """Fill in 0..1, distance within the container, battery in 0..100, late-November temperatures."""
    containers = {c.id: c for c in scenario.containers}
    for reading in readings:
        if reading.fill_fraction is not None:
            assert 0.0 <= reading.fill_fraction <= 1.0
        if reading.distance_mm is not None:
            model = scenario.model(containers[reading.container_id].model_id)
            assert 0 <= reading.distance_mm <= model.height_mm + 50
        assert 0 <= reading.battery_pct <= 100
        assert -10.0 <= reading.temperature_c <= 20.0
    assert 2.0 <= statistics.median(r.temperature_c for r in readings) <= 10.0
    assert 0 < sum(r.tilt for r in readings) < 0.01 * len(readings)


def test_battery_never_recharges(readings: list[SimulatedReading]) -> None:
    """Battery level only goes down, slowly, and a few sensors are already low."""
    lowest = []
    for series in _series(readings).values():
        levels = [r.battery_pct for r in series]
        assert levels == sorted(levels, reverse=True)
        assert levels[0] - levels[-1] <= 2
        lowest.append(levels[-1])
    assert any(level < 20 for level in lowest)


def test_emptying_shows_as_sudden_drops(scenario: Scenario, readings: list[SimulatedReading]) -> None:
    """Fill grows then drops sharply when a round passes, for fixed rounds and PAV alike."""
    streams = {c.id: c.stream for c in scenario.containers}
    dropped: dict[str, int] = defaultdict(int)
    for container_id, series in _series(readings).items():
        fills = [_fill(scenario, r) for r in series]
        if any(after < before - 0.3 for before, after in itertools.pairwise(fills)):
            dropped[streams[container_id]] += 1
    residual = sum(s == "residual" for s in streams.values())
    assert dropped["residual"] > 0.8 * residual
    assert dropped["glass"] > 0
    assert dropped["packaging"] > 0


def test_share_above_threshold_at_the_end_is_plausible(
    scenario: Scenario, readings: list[SimulatedReading]
) -> None:
    """About a fifth to a third of the containers are at least 70 % full on the last day."""
    last = {r.container_id: r for r in readings}
    share = sum(_fill(scenario, r) >= 0.7 for r in last.values()) / len(last)
    assert 0.15 <= share <= 0.40


def test_rejects_bad_arguments(small: Scenario) -> None:
    """A naive start, an empty period or an absurd rate are refused."""
    with pytest.raises(ValueError, match="timezone-aware"):
        simulate_readings(small, START.replace(tzinfo=None), 1)
    with pytest.raises(ValueError, match="days"):
        simulate_readings(small, START, 0)
    with pytest.raises(ValueError, match="readings_per_day"):
        simulate_readings(small, START, 1, readings_per_day=0)


def test_a_period_ending_just_after_local_midnight(small: Scenario) -> None:
    """Readings in the last hour may fall on the next local day (run at 00:30 Paris): they still simulate."""
    start = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    readings = simulate_readings(small, start, 1, readings_per_day=96)
    assert max(r.measure_time for r in readings) > datetime(2026, 12, 1, 23, 0, tzinfo=UTC)
