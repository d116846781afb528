"""Container forecasts: fitted with the fill library, stored as JSON, read at any time.

A stored forecast is the fill library's `Forecast` model (level at an anchor time, rate, weekday and hour
factors, variances), so what depends on the time of the question (P(overflow by the end of the next
service day), the fill now) is computed when it is asked, not when the readings arrived.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from wastesvc.domain._common import to_timestamp
from wastesvc.domain.priors import prior_for
from wastesvc.fill import Forecast, Reliability, Series, fit_forecast
from wastesvc.storage import CollectionRow, ContainerRow, ForecastRow
from wastesvc.v1 import containers_pb2

__all__ = [
    "cold_start",
    "fit_container",
    "forecast_message",
    "forecast_of",
    "next_service_day_end",
]

PARIS = ZoneInfo("Europe/Paris")
_SUNDAY = 6
_RELIABILITY = {
    Reliability.LOW: containers_pb2.FORECAST_RELIABILITY_LOW,
    Reliability.MEDIUM: containers_pb2.FORECAST_RELIABILITY_MEDIUM,
    Reliability.HIGH: containers_pb2.FORECAST_RELIABILITY_HIGH,
}


def fit_container(
    container: ContainerRow, series: Series, collections: Sequence[CollectionRow], now: datetime
) -> ForecastRow:
    """The forecast of a container from its possible readings' series (`Series.from_readings`) and its
    crew-reported emptyings."""
    crew = [c.collect_time for c in collections if c.source == "crew"]
    forecast = fit_forecast(series, now, prior_for(container.stream), collections=crew, tz=PARIS)
    return ForecastRow(
        tenant=container.tenant,
        container_id=container.id,
        full_time=_utc(forecast.full_time),
        body=_to_json(forecast),
        compute_time=now,
    )


def cold_start(container: ContainerRow, now: datetime) -> Forecast:
    """The stream's prior run from the container's last emptying, for a container without readings (from
    `now`, empty, when nobody knows when it was last emptied: only a report or an alarm then selects it)."""
    emptied = [container.last_emptied_time] if container.last_emptied_time is not None else []
    empty = Series.from_arrays([], [])
    return fit_forecast(empty, now, prior_for(container.stream), collections=emptied, tz=PARIS)


def forecast_of(row: ForecastRow) -> Forecast:
    """The stored forecast as the fill library's model."""
    raw = json.loads(row.body)
    return Forecast(
        now=datetime.fromisoformat(raw["now"]),
        anchor=datetime.fromisoformat(raw["anchor"]),
        level=raw["level"],
        rate_per_h=raw["rate_per_h"],
        weekday_factors=tuple(raw["weekday_factors"]),
        hourly_factors=tuple(raw["hourly_factors"]),
        level_var=raw["level_var"],
        rate_var=raw["rate_var"],
        diffusion_per_h=raw["diffusion_per_h"],
        reliability=Reliability(raw["reliability"]),
        from_forecast_only=raw["from_forecast_only"],
        last_emptying=_time_or_none(raw["last_emptying"]),
        own_weight=raw["own_weight"],
        own_rate_per_h=raw["own_rate_per_h"],
        own_rate_var=raw["own_rate_var"],
        tz=PARIS,
    )


def next_service_day_end(now: datetime, tz: ZoneInfo = PARIS) -> datetime:
    """The end (local midnight) of the next day that is not a Sunday, after `now`'s local day."""
    day: date = now.astimezone(tz).date() + timedelta(days=1)
    if day.weekday() == _SUNDAY:
        day += timedelta(days=1)
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)


def forecast_message(row: ForecastRow, now: datetime) -> containers_pb2.ContainerForecast:
    """What the API shows of a stored forecast, as of `now`."""
    forecast = forecast_of(row)
    result = containers_pb2.ContainerForecast(
        overflow_probability_next_service_day=forecast.p_overflow(next_service_day_end(now)),
        predicted_fill=forecast.fill_at(now),
        reliability=_RELIABILITY[forecast.reliability],
        forecast_only=forecast.from_forecast_only,
        compute_time=to_timestamp(row.compute_time),
    )
    if row.full_time is not None:
        result.predicted_full_time.CopyFrom(to_timestamp(row.full_time))
    return result


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _time_or_none(raw: str | None) -> datetime | None:
    return None if raw is None else datetime.fromisoformat(raw)


def _to_json(f: Forecast) -> str:
    return json.dumps(
        {
            "now": f.now.isoformat(),
            "anchor": f.anchor.isoformat(),
            "level": f.level,
            "rate_per_h": f.rate_per_h,
            "weekday_factors": list(f.weekday_factors),
            "hourly_factors": list(f.hourly_factors),
            "level_var": f.level_var,
            "rate_var": f.rate_var,
            "diffusion_per_h": f.diffusion_per_h,
            "reliability": f.reliability.value,
            "from_forecast_only": f.from_forecast_only,
            "last_emptying": None if f.last_emptying is None else f.last_emptying.isoformat(),
            "own_weight": f.own_weight,
            "own_rate_per_h": f.own_rate_per_h,
            "own_rate_var": f.own_rate_var,
        }
    )
