"""Deterministic fill-sensor readings for a scenario, for demos, load tests and forecasting tests.

Model, per container (draws from generators seeded by ``seed``, the container id and the draw's purpose):

- deposits: the container's calibrated fill rate (`ScenarioContainer.fill_rate_per_day`) x a lognormal
  factor (some containers serve more households than their size suggests) x the stream's weekday factor
  (local time) x a diurnal profile (little is thrown away at night) x a lognormal day-to-day factor.
  Fill is capped at 1.0: an overfull container reads as full.
- emptying, the status quo the optimizer should beat: residual and biowaste on a fixed twice-weekly round
  (the weekday pair depends on the commune, and on the sector for Soissons); PAV columns (glass, paper,
  packaging) on a weekday crane round that empties a column only once it looks full, and not always.
  An emptied container keeps 2–5 % of residue.
- the simulation starts three weeks before ``start`` from random fills, so the state at ``start`` has the
  sawtooth history of a running system; readings are emitted from ``start`` only.
- sensors: ``readings_per_day`` uplinks a day at a per-sensor phase with minutes of jitter, a few lost
  (LoRaWAN is best effort); ultrasonic sensors marked ``distance`` in the scenario report the raw distance
  from the model geometry, the others report fill; battery drains slowly; temperature follows the season
  and the hour (Soissons: about 2–10 °C in late November); tilt flags are rare.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import accumulate
from zoneinfo import ZoneInfo

from wastesvc.scenario import ContainerModel, Scenario, ScenarioContainer, Stream

__all__ = ["SimulatedReading", "simulate_readings"]

# Longer than the slowest PAV cycle (glass fills in about 20 days).
_WARMUP_DAYS = 21

# Relative deposit rate by local hour, normalised below to a mean of 1.
_DIURNAL = (
    [0.1] * 6  # 00–05
    + [0.8, 1.0, 1.2]  # 06–08: before work
    + [1.4, 1.4, 1.3, 1.2, 1.1]  # 09–13: errands
    + [1.1, 1.1, 1.2, 1.4]  # 14–17
    + [1.6, 1.6, 1.4]  # 18–20: evening peak
    + [0.8, 0.5, 0.3]  # 21–23
)
_DIURNAL_NORM = [w * 24 / sum(_DIURNAL) for w in _DIURNAL]

# (Mon, Thu), (Tue, Fri), (Wed, Sat): residual rounds twice a week, one pair per commune or sector.
_ROUND_DAYS = ((0, 3), (1, 4), (2, 5))
_BIOWASTE_DAYS = (1, 4)
_CRANE_DAYS = (0, 1, 2, 3, 4)  # PAV crane rounds run on weekdays
_FIXED_ROUND_STREAMS = frozenset({"residual", "biowaste"})
_PAV_THRESHOLD = {"glass": 0.9, "paper": 0.85, "packaging": 0.85}
_MISSED_PICKUP = 0.02  # bin blocked by a parked car, round cut short
_RATE_SIGMA = 0.45
_DAY_SIGMA = 0.25
_FILL_NOISE = 0.015
_DISTANCE_NOISE_MM = 8.0
_PACKET_LOSS = 0.02
_TILT = 0.002


@dataclass(frozen=True, slots=True)
class SimulatedReading:
    container_id: str
    sensor_id: str
    measure_time: datetime
    """Aware, UTC."""
    fill_fraction: float | None
    """None when the sensor reports ``distance_mm`` instead."""
    distance_mm: int | None
    battery_pct: int
    temperature_c: float
    tilt: bool


@dataclass(frozen=True, slots=True)
class _Calendar:
    """Local-time facts for every UTC hour from the warm-up start, shared by all containers."""

    origin: datetime
    hours: int
    weekday: tuple[int, ...]
    hour: tuple[int, ...]
    day_index: tuple[int, ...]
    first_day: date
    days: int


def simulate_readings(
    scenario: Scenario, start: datetime, days: int, seed: int = 7, readings_per_day: int = 4
) -> list[SimulatedReading]:
    """Readings of every container from ``start`` to ``start + days`` (inclusive), sorted by time then id."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if days < 1:
        raise ValueError("days must be at least 1")
    if not 1 <= readings_per_day <= 96:
        raise ValueError("readings_per_day must be between 1 and 96")
    tz = ZoneInfo(scenario.timezone)
    start = start.astimezone(UTC)
    calendar = _calendar(start - timedelta(days=_WARMUP_DAYS), _WARMUP_DAYS + days, tz)
    weather_rng = random.Random(f"{seed}:weather")
    weather = [weather_rng.gauss(0.0, 1.5) for _ in range(calendar.days)]
    stream_factors = {s.id: _hourly_factors(s, calendar) for s in scenario.streams}
    town_halls = {c.insee_code: c for c in scenario.communes}
    commune_rank = {c.insee_code: rank for rank, c in enumerate(scenario.communes)}
    readings: list[SimulatedReading] = []
    for container in scenario.containers:
        town_hall = town_halls[container.insee_code]
        # Soissons is too big for one round: split it in three sectors by longitude around the town hall.
        sector = 0
        if town_hall.population > 10_000:
            sector = 0 if container.lng < town_hall.lng - 0.008 else 1 if container.lng < town_hall.lng else 2
        readings.extend(
            _simulate_container(
                container=container,
                stream=scenario.stream(container.stream),
                model=scenario.model(container.model_id),
                hourly=stream_factors[container.stream],
                calendar=calendar,
                weather=weather,
                tz=tz,
                round_days=_round_days(container.stream, commune_rank[container.insee_code] + sector),
                start=start,
                days=days,
                readings_per_day=readings_per_day,
                seed=seed,
            )
        )
    readings.sort(key=lambda r: (r.measure_time, r.container_id))
    return readings


def _calendar(origin: datetime, days: int, tz: ZoneInfo) -> _Calendar:
    hours = days * 24
    local = [(origin + timedelta(hours=j)).astimezone(tz) for j in range(hours)]
    first_day = local[0].date()
    return _Calendar(
        origin=origin,
        hours=hours,
        weekday=tuple(t.weekday() for t in local),
        hour=tuple(t.hour for t in local),
        day_index=tuple((t.date() - first_day).days for t in local),
        first_day=first_day,
        days=(local[-1].date() - first_day).days + 1,
    )


def _hourly_factors(stream: Stream, calendar: _Calendar) -> list[float]:
    return [
        stream.weekday_factors[wd] * _DIURNAL_NORM[h]
        for wd, h in zip(calendar.weekday, calendar.hour, strict=True)
    ]


def _simulate_container(
    *,
    container: ScenarioContainer,
    stream: Stream,
    model: ContainerModel,
    hourly: list[float],
    calendar: _Calendar,
    weather: list[float],
    tz: ZoneInfo,
    round_days: tuple[int, ...],
    start: datetime,
    days: int,
    readings_per_day: int,
    seed: int,
) -> list[SimulatedReading]:
    # One generator per purpose, each drawing in time order, so a shorter run is a prefix of a longer one.
    params, deposits, rounds, crew, clock, sensor = (
        random.Random(f"{seed}:{container.id}:{purpose}")
        for purpose in ("params", "deposits", "rounds", "crew", "clock", "sensor")
    )
    rate = container.fill_rate_per_day * params.lognormvariate(-(_RATE_SIGMA**2) / 2, _RATE_SIGMA)
    round_hour = params.uniform(6.25, 12.5)
    phase = params.uniform(0.1, 0.9)
    battery_start = params.uniform(8.0, 20.0) if params.random() < 0.06 else params.uniform(55.0, 100.0)
    battery_drain_per_day = params.uniform(0.03, 0.12)
    sun_offset = params.gauss(0.0, 0.8)
    base_fill = params.uniform(0.0, 0.6)
    base_deposit = 0.0

    day_noise = [deposits.lognormvariate(-(_DAY_SIGMA**2) / 2, _DAY_SIGMA) for _ in range(calendar.days)]
    # Cumulative deposit at each hour boundary: a deposit between two instants is a difference of this curve.
    cumulative = [
        0.0,
        *accumulate(rate / 24 * f * day_noise[d] for f, d in zip(hourly, calendar.day_index, strict=True)),
    ]

    def deposited(at: datetime) -> float:
        position = (at - calendar.origin).total_seconds() / 3600
        whole = min(int(position), calendar.hours - 1)
        return cumulative[whole] + (cumulative[whole + 1] - cumulative[whole]) * (position - whole)

    end = start + timedelta(days=days)
    events = [(at, True) for at in _pickup_times(calendar, tz, round_days, round_hour, rounds)]
    events += [(at, False) for at in _reading_times(start, days, readings_per_day, phase, clock)]
    readings: list[SimulatedReading] = []
    for at, is_pickup in sorted(e for e in events if calendar.origin <= e[0] <= end):
        fill = min(1.0, base_fill + deposited(at) - base_deposit)
        if is_pickup:
            if _emptied(stream.id, fill, crew):
                base_fill, base_deposit = crew.uniform(0.02, 0.05), deposited(at)
            continue
        if sensor.random() < _PACKET_LOSS:
            continue
        local = at.astimezone(tz)
        fill_fraction, distance_mm = _measure(container, model, fill, sensor)
        temperature = _temperature(local) + weather[(local.date() - calendar.first_day).days] + sun_offset
        readings.append(
            SimulatedReading(
                container_id=container.id,
                sensor_id=container.sensor_id,
                measure_time=at,
                fill_fraction=fill_fraction,
                distance_mm=distance_mm,
                battery_pct=max(
                    0, round(battery_start - battery_drain_per_day * ((at - start) / timedelta(days=1)))
                ),
                temperature_c=round(temperature + sensor.gauss(0.0, 0.3), 1),
                tilt=sensor.random() < _TILT,
            )
        )
    return readings


def _round_days(stream_id: str, sector: int) -> tuple[int, ...]:
    if stream_id == "biowaste":
        return _BIOWASTE_DAYS
    if stream_id in _FIXED_ROUND_STREAMS:
        return _ROUND_DAYS[sector % len(_ROUND_DAYS)]
    return _CRANE_DAYS


def _pickup_times(
    calendar: _Calendar, tz: ZoneInfo, round_days: tuple[int, ...], round_hour: float, rng: random.Random
) -> list[datetime]:
    """When a round passes the container, at about the same local time on each of its round days."""
    pickups: list[datetime] = []
    for offset in range(calendar.days):
        day = calendar.first_day + timedelta(days=offset)
        if day.weekday() in round_days:
            minutes = round((round_hour + rng.gauss(0.0, 0.25)) * 60)
            local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=tz)
            pickups.append(local.astimezone(UTC))
    return pickups


def _reading_times(
    start: datetime, days: int, readings_per_day: int, phase: float, rng: random.Random
) -> list[datetime]:
    """Evenly spaced uplinks at the sensor's phase, jittered by a few minutes, never past start + days."""
    interval = timedelta(days=1) / readings_per_day
    # The phase keeps 10 % of an interval clear at both ends, so the jitter cap keeps every time in range.
    max_jitter_min = min(8.0, 0.09 * interval.total_seconds() / 60)
    times: list[datetime] = []
    for k in range(days * readings_per_day):
        jitter = max(-max_jitter_min, min(max_jitter_min, rng.gauss(0.0, max_jitter_min / 2)))
        times.append((start + interval * (k + phase) + timedelta(minutes=jitter)).replace(microsecond=0))
    return times


def _emptied(stream_id: str, fill: float, rng: random.Random) -> bool:
    if stream_id in _FIXED_ROUND_STREAMS:
        return rng.random() >= _MISSED_PICKUP
    if fill >= 0.98:
        # Overflowing columns draw complaints, so the crew rarely leaves them.
        return rng.random() < 0.9
    return fill > _PAV_THRESHOLD[stream_id] and rng.random() < 0.4


def _measure(
    container: ScenarioContainer, model: ContainerModel, fill: float, rng: random.Random
) -> tuple[float | None, int | None]:
    """(fill_fraction, distance_mm): exactly one is set, depending on what the sensor reports."""
    if container.sensor_reports == "distance":
        distance = model.height_mm - fill * (model.height_mm - model.d_full_mm)
        return None, max(0, round(distance + rng.gauss(0.0, _DISTANCE_NOISE_MM)))
    measured = min(1.0, max(0.0, fill + rng.gauss(0.0, _FILL_NOISE)))
    return round(measured, 3), None


def _temperature(local: datetime) -> float:
    """Air temperature near Soissons: 10.5 ± 7 °C, coldest mid-January; ± 3 °C a day, warmest at 15:00."""
    season = 10.5 - 7.0 * math.cos(2 * math.pi * (local.timetuple().tm_yday - 15) / 365)
    hour = local.hour + local.minute / 60
    return season + 3.0 * math.cos(2 * math.pi * (hour - 15) / 24)
