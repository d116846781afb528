"""Which containers a service date should empty: mandatory, optional with a prize, or excluded.

Everything is judged on the forecast at the service time, not on the last reading. A container is
MANDATORY when it would overflow before the next possible visit with probability at least `overflow_risk`,
when an alarm (fire, tilt) is active or when an overflow report is open. Otherwise it is OPTIONAL with a
prize, in the routing's cost units, that a round passing by weighs against its detour:

    prize = overflow_cost × P(overflow before the next visit)
          + lookahead_cost × (P(overflow before the visit after) − P(overflow before the next visit))
          + fill_value × expected fill at the service time

The second term is the one-day look-ahead: a container that is fine today but would have to be visited
for its own sake at the next opportunity is worth taking now if a truck passes by (Rotterdam's rule of
thumb: take a bin at 60 % today if it will be at 80 % tomorrow). The third makes fuller containers worth
more, which raises the average fill at emptying. Below `min_fill` a container is EXCLUDED: not worth a stop.

Knowing fills is not enough to save kilometres: a selection of scattered urgent containers sends trucks
all over the territory. Three routing-aware rules group the visits (all off in `DEFAULT_PARAMS`):

- consolidation: an OPTIONAL container within `consolidation_radius_m` of a MANDATORY one of the same
  stream has its prize multiplied by `consolidation_factor`, so the round that passes anyway takes it;
- deferral (`defer_isolated`): an OPTIONAL container with no mandatory one of its stream within the radius
  is EXCLUDED today, since by definition it can wait until the next visit;
- sweep days: on one of its area's `sweep_days` a container that would overflow before the area's next
  sweep day is MANDATORY, so the area is emptied together and left alone in between.

Parameters are "à la carte": a default, overridden per stream, per commune and per (stream, commune); a
field left None inherits, because zero is a meaningful value (no look-ahead, no fill value).
"""

from __future__ import annotations

import enum
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta

from wastesvc.fill.forecast import Forecast
from wastesvc.fill.health import Finding, FindingKind

__all__ = [
    "DEFAULT_PARAMS",
    "Candidate",
    "Decision",
    "DecisionKind",
    "PolicyParams",
    "ResolvedParams",
    "SelectionPolicy",
    "select_for_service_date",
]

_ALARMS = (FindingKind.FIRE, FindingKind.TILT)


@dataclass(frozen=True, slots=True)
class PolicyParams:
    """Selection parameters; None inherits from the less specific level.

    Parameters
    ----------
    overflow_risk
        P(overflow before the next possible visit) at or above which a visit is mandatory (0..1].
    overflow_cost
        Cost of one overflow (routing cost units).
    lookahead_cost
        Cost of having to come back for the container at the next opportunity.
    fill_value
        Prize per unit of expected fill collected.
    min_fill
        Expected fill at the service time below which a container is not worth a stop (0..1).
    revisit
        Time from this service to the next possible one of the container (a day in town, a week in a village).
    consolidation_radius_m
        Distance within which a mandatory visit of the same stream counts as a neighbour (0: none does).
    consolidation_factor
        Multiplier (at least 1) of an optional container's prize when it has a mandatory neighbour.
    defer_isolated
        Whether an optional container with no mandatory neighbour is excluded today.
    sweep_days
        ISO weekdays (1 Monday … 7 Sunday) on which the area takes every container that would overflow
        before its next sweep day; empty: no sweep.
    """

    overflow_risk: float | None = None
    overflow_cost: float | None = None
    lookahead_cost: float | None = None
    fill_value: float | None = None
    min_fill: float | None = None
    revisit: timedelta | None = None
    consolidation_radius_m: float | None = None
    consolidation_factor: float | None = None
    defer_isolated: bool | None = None
    sweep_days: frozenset[int] | None = None


@dataclass(frozen=True, slots=True)
class ResolvedParams:
    """Selection parameters with every field set (see `PolicyParams`)."""

    overflow_risk: float
    overflow_cost: float
    lookahead_cost: float
    fill_value: float
    min_fill: float
    revisit: timedelta
    consolidation_radius_m: float
    consolidation_factor: float
    defer_isolated: bool
    sweep_days: frozenset[int]

    def __post_init__(self) -> None:
        if not 0.0 < self.overflow_risk <= 1.0:
            raise ValueError(f"overflow_risk must be within (0, 1], not {self.overflow_risk}")
        if min(self.overflow_cost, self.lookahead_cost, self.fill_value) < 0.0:
            raise ValueError("overflow_cost, lookahead_cost and fill_value must not be negative")
        if not 0.0 <= self.min_fill <= 1.0:
            raise ValueError(f"min_fill must be within 0..1, not {self.min_fill}")
        if self.revisit <= timedelta(0):
            raise ValueError("revisit must be positive")
        if not 0.0 <= self.consolidation_radius_m < math.inf:
            raise ValueError(
                f"consolidation_radius_m must be finite and not negative, not {self.consolidation_radius_m}"
            )
        if not 1.0 <= self.consolidation_factor < math.inf:
            raise ValueError(
                f"consolidation_factor must be finite and at least 1, not {self.consolidation_factor}"
            )
        if not self.sweep_days <= set(range(1, 8)):
            raise ValueError(f"sweep_days must be ISO weekdays 1..7, not {sorted(self.sweep_days)}")


DEFAULT_PARAMS = PolicyParams(
    overflow_risk=0.1,
    overflow_cost=50.0,
    lookahead_cost=10.0,
    fill_value=5.0,
    min_fill=0.3,
    revisit=timedelta(days=1),
    consolidation_radius_m=0.0,
    consolidation_factor=1.0,
    defer_isolated=False,
    sweep_days=frozenset(),
)


@dataclass(frozen=True, slots=True)
class SelectionPolicy:
    """Default parameters with overrides per stream, per commune and per (stream, commune).

    Resolution, field by field, most specific first: (stream, commune), commune, stream, default.
    """

    default: PolicyParams = DEFAULT_PARAMS
    streams: Mapping[str, PolicyParams] = field(default_factory=dict)
    communes: Mapping[str, PolicyParams] = field(default_factory=dict)
    stream_communes: Mapping[tuple[str, str], PolicyParams] = field(default_factory=dict)

    def resolve(self, stream: str, commune: str) -> ResolvedParams:
        """The parameters that apply to a container of `stream` in `commune`."""
        levels = [
            self.stream_communes.get((stream, commune)),
            self.communes.get(commune),
            self.streams.get(stream),
            self.default,
        ]
        values: dict[str, object] = {}
        for f in fields(PolicyParams):
            value = next(
                (getattr(p, f.name) for p in levels if p is not None and getattr(p, f.name) is not None), None
            )
            if value is None:
                raise ValueError(f"policy field {f.name} is set nowhere for stream {stream!r} in {commune!r}")
            values[f.name] = value
        return ResolvedParams(**values)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A container that could be visited, with what is known about it.

    `location` (latitude, longitude) lets the routing-aware rules find its neighbours; without one they
    leave it alone. `due_by` is when the caller's rules (a hygiene bound) make a visit mandatory whatever
    the fill, `due_reason` why; a sweep day takes the container when that falls before the next sweep.
    """

    container_id: str
    stream: str
    commune: str
    forecast: Forecast
    findings: Sequence[Finding] = ()
    open_overflow_report: bool = False
    location: tuple[float, float] | None = None
    due_by: datetime | None = None
    due_reason: str = ""


class DecisionKind(enum.Enum):
    """What the service date does with a container."""

    MANDATORY = "mandatory"
    OPTIONAL = "optional"
    EXCLUDED = "excluded"


@dataclass(frozen=True, slots=True)
class Decision:
    """The selection of one container for a service date, and why.

    `fill_at_service` is the forecast's expected fill at the service time; `prize` is zero unless OPTIONAL.
    """

    container_id: str
    kind: DecisionKind
    prize: float
    fill_at_service: float
    p_overflow_next: float
    p_overflow_after_next: float
    reason: str
    from_forecast_only: bool


def _when(t: datetime) -> str:
    return t.strftime("%a %d %b %H:%M")


def _next_sweep(service_time: datetime, days: frozenset[int]) -> datetime | None:
    """The next sweep after `service_time` when it is itself a sweep day; None otherwise."""
    if service_time.isoweekday() not in days:
        return None
    ahead = next(n for n in range(1, 8) if (service_time + timedelta(days=n)).isoweekday() in days)
    return service_time + timedelta(days=ahead)


def _forced(c: Candidate, service_time: datetime) -> str:
    """Why the container must be visited whatever its forecast (an alarm, a report, a due date); or ""."""
    alarms = [f for f in c.findings if f.active and f.kind in _ALARMS]
    if alarms:
        return f"{alarms[0].kind.value} alarm since {_when(alarms[0].time)}"
    if c.open_overflow_report:
        return "an overflow report is open"
    if c.due_by is not None and c.due_by <= service_time:
        return c.due_reason or f"due by {_when(c.due_by)}"
    return ""


def _decide(c: Candidate, service_time: datetime, p: ResolvedParams) -> Decision:
    """One container's decision on its own (before the routing-aware rules)."""
    fc = c.forecast
    fill = fc.fill_at(service_time)
    next_visit, after_next = service_time + p.revisit, service_time + 2 * p.revisit
    p_next, p_after = fc.p_overflow(next_visit), fc.p_overflow(after_next)

    def decision(kind: DecisionKind, reason: str, prize: float = 0.0) -> Decision:
        return Decision(c.container_id, kind, prize, fill, p_next, p_after, reason, fc.from_forecast_only)

    forced = _forced(c, service_time)
    if forced:
        return decision(DecisionKind.MANDATORY, forced)
    if p_next >= p.overflow_risk:
        return decision(
            DecisionKind.MANDATORY,
            f"would overflow before the next possible visit ({_when(next_visit)}): "
            f"P = {p_next:.0%} ≥ {p.overflow_risk:.0%}; expected fill {fill:.0%} at service",
        )
    if fill < p.min_fill:
        return decision(
            DecisionKind.EXCLUDED, f"expected fill {fill:.0%} at service is below {p.min_fill:.0%}"
        )
    sweep = _next_sweep(service_time, p.sweep_days)
    if sweep is not None and fc.p_overflow(sweep) >= p.overflow_risk:
        return decision(
            DecisionKind.MANDATORY,
            f"sweep day: would overflow before the next sweep ({_when(sweep)}); "
            f"expected fill {fill:.0%} at service",
        )
    if sweep is not None and c.due_by is not None and c.due_by < sweep:
        return decision(DecisionKind.MANDATORY, f"sweep day: due before the next sweep ({c.due_reason})")
    lookahead = p_after - p_next
    prize = p.overflow_cost * p_next + p.lookahead_cost * lookahead + p.fill_value * fill
    return decision(
        DecisionKind.OPTIONAL,
        f"expected fill {fill:.0%} at service; P(overflow) {p_next:.0%} before the next visit, "
        f"{p_after:.0%} before the one after ({_when(after_next)})",
        prize,
    )


def select_for_service_date(
    candidates: Sequence[Candidate], service_time: datetime, policy: SelectionPolicy = SelectionPolicy()
) -> list[Decision]:
    """For each candidate, in order: must, may or need the service at `service_time` not empty it?

    Parameters
    ----------
    candidates
        The containers to consider, each with its forecast made at or before `service_time`.
    service_time
        When the service is expected to pass (e.g. the middle of the shift); forecasts are read at it.
    policy
        Parameters per stream and commune.
    """
    params = [policy.resolve(c.stream, c.commune) for c in candidates]
    decisions = [_decide(c, service_time, p) for c, p in zip(candidates, params, strict=True)]
    anchors: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for c, d in zip(candidates, decisions, strict=True):
        if d.kind is DecisionKind.MANDATORY and c.location is not None:
            anchors[c.stream].append(c.location)
    return [
        _grouped(c, d, p, anchors.get(c.stream, ()))
        for c, d, p in zip(candidates, decisions, params, strict=True)
    ]


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Distance as the crow flies (equirectangular: exact enough within a few kilometres)."""
    lat = math.radians((a[0] + b[0]) / 2)
    dy = math.radians(b[0] - a[0])
    dx = math.radians(b[1] - a[1]) * math.cos(lat)
    return 6_371_000.0 * math.hypot(dx, dy)


def _grouped(
    c: Candidate, d: Decision, p: ResolvedParams, anchors: Sequence[tuple[float, float]]
) -> Decision:
    """An optional decision after the routing-aware rules: consolidated, deferred or as it was."""
    if d.kind is not DecisionKind.OPTIONAL or c.location is None:
        return d
    if p.consolidation_radius_m <= 0.0 and not p.defer_isolated:
        return d
    here = c.location
    nearest = min((_metres(here, a) for a in anchors), default=math.inf)
    if nearest <= p.consolidation_radius_m:
        return replace(
            d,
            prize=d.prize * p.consolidation_factor,
            reason=f"{d.reason}; a mandatory visit {nearest:.0f} m away (prize ×{p.consolidation_factor:g})",
        )
    if p.defer_isolated:
        return replace(
            d,
            kind=DecisionKind.EXCLUDED,
            prize=0.0,
            reason=f"deferred: no mandatory visit within {p.consolidation_radius_m:.0f} m and it can wait "
            f"until the next visit ({d.reason})",
        )
    return d
