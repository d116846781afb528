"""Which containers a plan empties: the fill library's selection on each container's forecast at the
service time, with the service's mandatory rules (overflow reports, the operator's threshold, hygiene age).

The policy's defaults come from the scenario's per-stream figures (see `default_policy`); a service day's
truck passes once, so the next possible visit is a day later (the one-day look-ahead).
"""

from __future__ import annotations

import dataclasses
import functools
from datetime import datetime, time, timedelta

from wastesvc.domain.planning import PlanningInput, Selection
from wastesvc.fill import (
    DEFAULT_PARAMS,
    Candidate,
    Decision,
    DecisionKind,
    PolicyParams,
    SelectionPolicy,
    select_for_service_date,
)
from wastesvc.scenario import load_default
from wastesvc.storage import ContainerRow

__all__ = ["SERVICE_TIME", "default_policy", "select_for_plan", "service_time"]

# Forecasts are read at the middle of the morning shift (06:00–13:30 in the scenario).
SERVICE_TIME = time(10, 0)


# A stop for a container under this expected fill costs a lift for little waste: at the fill library's
# 30 % the simulated service emptied at 63 % on average, at 60 % at 74 % with no more overflows
# (`bench/policy.py`, 7 days, seed 2027).
_MIN_FILL = 0.6


@functools.cache
def default_policy() -> SelectionPolicy:
    """The fill library's defaults but `_MIN_FILL`, with each stream's hygiene bound from the scenario.

    Biowaste and residual waste rot: with a short hygiene age their containers are worth more per unit of
    fill (they will have to be taken soon anyway), glass and paper less.
    """
    scenario = load_default()
    shortest = min(scenario.planning.max_days_without_emptying.values())
    streams = {
        stream: PolicyParams(fill_value=5.0 * shortest / days)
        for stream, days in scenario.planning.max_days_without_emptying.items()
    }
    return SelectionPolicy(default=dataclasses.replace(DEFAULT_PARAMS, min_fill=_MIN_FILL), streams=streams)


def service_time(data: PlanningInput) -> datetime:
    """When the plan's forecasts are read: the service date at `SERVICE_TIME`, local time."""
    return datetime.combine(data.service_date, SERVICE_TIME, tzinfo=data.timezone)


@functools.cache
def _hygiene_days() -> dict[str, int]:
    """Each stream's longest time between emptyings, from the scenario."""
    return dict(load_default().planning.max_days_without_emptying)


def _max_age(data: PlanningInput, stream: str) -> timedelta:
    return timedelta(days=data.max_days_without_emptying or _hygiene_days().get(stream, 7))


def _hygiene(data: PlanningInput, container: ContainerRow) -> tuple[datetime | None, str]:
    """When the stream's hygiene age makes the visit mandatory, and why; (None, "") if never emptied."""
    emptied = data.forecasts[container.id].last_emptying or container.last_emptied_time
    if emptied is None:
        return None, ""
    bound = _max_age(data, container.stream)
    return emptied + bound, f"not emptied since {emptied:%d %b} ({bound.days} days)"


def _with_service_rules(data: PlanningInput, decision: Decision) -> tuple[DecisionKind, str]:
    """The decision, made mandatory by the operator's threshold."""
    reason = f"{decision.kind.value}: {decision.reason}"
    if decision.kind is DecisionKind.MANDATORY:
        return decision.kind, reason
    fill = decision.fill_at_service
    if data.fill_threshold and fill >= data.fill_threshold:
        return DecisionKind.MANDATORY, f"mandatory: expected fill {fill:.0%} ≥ {data.fill_threshold:.0%}"
    return decision.kind, reason


def select_for_plan(data: PlanningInput) -> list[Selection]:
    """The containers of the plan's streams to visit, each mandatory or optional with its prize, under
    the plan's policy (the defaults when it has none)."""
    at = service_time(data)
    containers = [c for c in data.containers if c.stream in data.streams and c.id in data.forecasts]
    candidates = []
    for c in containers:
        # Known before the selection, so a due visit anchors the neighbours' consolidation.
        due_by, due_reason = _hygiene(data, c)
        candidates.append(
            Candidate(
                container_id=c.id,
                stream=c.stream,
                commune=c.commune_code,
                forecast=data.forecasts[c.id],
                findings=tuple(data.alarms.get(c.id, ())),
                open_overflow_report=c.id in data.reported_overflowing,
                location=(c.lat, c.lng),
                due_by=due_by,
                due_reason=due_reason,
            )
        )
    decisions = select_for_service_date(candidates, at, data.policy or default_policy())
    chosen = []
    for container, decision in zip(containers, decisions, strict=True):
        forecast = data.forecasts[container.id]
        kind, reason = _with_service_rules(data, decision)
        if kind is DecisionKind.EXCLUDED:
            continue
        fill = 1.0 if container.id in data.reported_overflowing else decision.fill_at_service
        chosen.append(
            Selection(
                container=container,
                fill=fill,
                reason=reason,
                required=kind is DecisionKind.MANDATORY,
                prize=decision.prize,
                forecast=forecast,
            )
        )
    return chosen
