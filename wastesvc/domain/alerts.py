"""Alerts: what a container's readings say (the fill library's health findings), and proto conversion.

`assess` turns a container's recent readings into the conditions that hold now; `reconcile` makes the
stored alerts agree with them: an alert is raised for a condition without an unresolved one (one per
container and kind, enforced by the table's `open_key`), and a self-clearing condition that no longer
holds resolves its alert.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from wastesvc.domain._common import parse_filter, resource_name, to_timestamp
from wastesvc.errors import FieldViolation, InvalidArgument
from wastesvc.fill import Finding, FindingKind, Reading, Severity, health_findings
from wastesvc.storage import AlertRow, ReadingInsert, Storage
from wastesvc.v1 import alerts_pb2

__all__ = [
    "ALARMS",
    "ALL_SELF_CLEARING",
    "SILENT",
    "Condition",
    "alarm_findings",
    "alert_filter",
    "alert_proto",
    "assess",
    "assess_since",
    "ended_alerts",
    "enum_filter_value",
    "impossible_condition",
    "reconcile",
    "to_fill_reading",
]

SILENT = "sensor_silent"
_OVERFLOW = "overflow"
_IMPOSSIBLE = "impossible_reading"
_KIND_OF_FINDING = {
    FindingKind.LOW_BATTERY: "low_battery",
    FindingKind.SILENT: SILENT,
    FindingKind.TILT: "tilted",
    FindingKind.FIRE: "fire",
    FindingKind.STUCK: "stuck_value",
}
# Alerts that make a container a mandatory visit while unresolved, as the fill library's findings.
ALARMS = {"fire": FindingKind.FIRE, "tilted": FindingKind.TILT}
# Conditions that end by themselves (a sensor heard again, a container set upright or emptied); an
# impossible reading stays on record until a person resolves its alert.
ALL_SELF_CLEARING = (*_KIND_OF_FINDING.values(), _OVERFLOW)
# A sensor's reading at or above this is a full container (ultrasonic sensors saturate near the lid).
_OVERFLOW_FILL = 0.98
# Who resolves an alert whose condition cleared.
_SERVICE_ACTOR = "wastesvc"

_KINDS = {
    "low_battery": alerts_pb2.ALERT_KIND_LOW_BATTERY,
    SILENT: alerts_pb2.ALERT_KIND_SENSOR_SILENT,
    "tilted": alerts_pb2.ALERT_KIND_TILTED,
    "fire": alerts_pb2.ALERT_KIND_FIRE,
    "stuck_value": alerts_pb2.ALERT_KIND_STUCK_VALUE,
    _IMPOSSIBLE: alerts_pb2.ALERT_KIND_IMPOSSIBLE_READING,
    _OVERFLOW: alerts_pb2.ALERT_KIND_OVERFLOW,
}
_STATES = {
    "open": alerts_pb2.ALERT_STATE_OPEN,
    "acknowledged": alerts_pb2.ALERT_STATE_ACKNOWLEDGED,
    "resolved": alerts_pb2.ALERT_STATE_RESOLVED,
}
_SEVERITIES = {
    "info": alerts_pb2.ALERT_SEVERITY_INFO,
    "warning": alerts_pb2.ALERT_SEVERITY_WARNING,
    "critical": alerts_pb2.ALERT_SEVERITY_CRITICAL,
}


@dataclass(frozen=True, slots=True)
class Condition:
    """A condition that holds on a container now: the alert it deserves."""

    kind: str
    severity: str
    start_time: datetime
    detail: str


def to_fill_reading(row: ReadingInsert) -> Reading:
    """The fill library's form of a stored (possible) reading."""
    return Reading(
        time=row.measure_time,
        fill=row.fill,
        distance_mm=row.distance_mm,
        battery=None if row.battery_percent is None else row.battery_percent / 100.0,
        temperature_c=row.temperature_c,
        tilted=row.tilted,
    )


def _condition(finding: Finding) -> Condition:
    return Condition(_KIND_OF_FINDING[finding.kind], finding.severity.value, finding.time, finding.detail)


def _overflow(readings: Sequence[Reading]) -> list[Condition]:
    """Full when the latest readings are at the sensor's top; it started with the first of them."""
    run = 0
    while run < len(readings) and (readings[-1 - run].fill or 0.0) >= _OVERFLOW_FILL:
        run += 1
    if run == 0:
        return []
    detail = f"fill {readings[-1].fill or 0.0:.0%}: the container is full"
    return [Condition(_OVERFLOW, "warning", readings[-run].time, detail)]


def assess(
    readings: Sequence[Reading], now: datetime, *, expected_rate_per_h: float | None
) -> list[Condition]:
    """The conditions that hold at `now`, from a container's possible readings (oldest first, in the fill
    library's form: `to_fill_reading`)."""
    return assess_since(readings, now, now, expected_rate_per_h=expected_rate_per_h)[0]


def assess_since(
    readings: Sequence[Reading], now: datetime, since: datetime, *, expected_rate_per_h: float | None
) -> tuple[list[Condition], list[Condition]]:
    """`assess`, and the episodes (tilt, fire, stuck value) that started at or after `since` and ended
    before the latest reading: conditions that came and went between two assessments."""
    findings = health_findings(readings, now, expected_rate_per_h=expected_rate_per_h)
    known = [f for f in findings if f.kind in _KIND_OF_FINDING]
    ended = [_condition(f) for f in known if not f.active and f.time >= since]
    return [_condition(f) for f in known if f.active] + _overflow(readings), ended


def impossible_condition(stored: Sequence[ReadingInsert], since: datetime) -> Condition | None:
    """The first impossible reading measured at or after `since`, as a condition; None without one."""
    for r in stored:
        if r.outlier and r.measure_time >= since:
            detail = f"reading of {r.measure_time.isoformat()} cannot be true: {r.outlier}"
            return Condition(_IMPOSSIBLE, "warning", r.measure_time, detail)
    return None


def ended_alerts(
    tenant: str, container_id: str, ended: Sequence[Condition], known: Sequence[AlertRow], now: datetime
) -> list[AlertRow]:
    """Resolved alerts for the ended episodes that `known` (the container's alerts) does not hold yet."""
    seen = {(a.kind, a.start_time) for a in known}
    return [
        AlertRow(
            tenant=tenant,
            container_id=container_id,
            kind=c.kind,
            severity=c.severity,
            detail=c.detail,
            state="resolved",
            actor=_SERVICE_ACTOR,
            start_time=c.start_time,
            create_time=now,
            update_time=now,
            resolve_time=now,
        )
        for c in ended
        if (c.kind, c.start_time) not in seen
    ]


def reconcile(
    storage: Storage,
    tenant: str,
    conditions: Mapping[str, Sequence[Condition]],
    *,
    checked: Collection[str],
    now: datetime,
) -> list[AlertRow]:
    """For each container of `conditions` (its conditions by container id): raises an alert per condition
    without an unresolved one, resolves those of `checked` kinds that no longer hold; returns the alerts
    created or changed."""
    stale = [
        f"{container_id}/{kind}"
        for container_id, holding in conditions.items()
        for kind in checked
        if kind not in {c.kind for c in holding}
    ]
    resolved = storage.resolve_open_alerts(tenant, stale, now, _SERVICE_ACTOR)
    raised = storage.raise_alerts(
        [
            AlertRow(
                tenant=tenant,
                container_id=container_id,
                kind=c.kind,
                severity=c.severity,
                detail=c.detail,
                open_key=f"{container_id}/{c.kind}",
                start_time=c.start_time,
                create_time=now,
                update_time=now,
            )
            for container_id, holding in conditions.items()
            for c in holding
        ]
    )
    return resolved + raised


def alarm_findings(rows: Sequence[AlertRow]) -> dict[str, list[Finding]]:
    """Unresolved fire and tilt alerts as active findings, by container id."""
    found: dict[str, list[Finding]] = {}
    for row in rows:
        if row.kind in ALARMS and row.state != "resolved":
            finding = Finding(ALARMS[row.kind], Severity.CRITICAL, row.start_time, row.detail, active=True)
            found.setdefault(row.container_id, []).append(finding)
    return found


def alert_proto(row: AlertRow) -> alerts_pb2.Alert:
    result = alerts_pb2.Alert(
        name=resource_name(row.tenant, "alerts", str(row.id)),
        kind=_KINDS.get(row.kind, alerts_pb2.ALERT_KIND_UNSPECIFIED),
        state=_STATES.get(row.state, alerts_pb2.ALERT_STATE_UNSPECIFIED),
        severity=_SEVERITIES.get(row.severity, alerts_pb2.ALERT_SEVERITY_UNSPECIFIED),
        container=resource_name(row.tenant, "containers", row.container_id),
        detail=row.detail,
        start_time=to_timestamp(row.start_time),
        create_time=to_timestamp(row.create_time),
        update_time=to_timestamp(row.update_time),
        actor=row.actor,
    )
    if row.acknowledge_time is not None:
        result.acknowledge_time.CopyFrom(to_timestamp(row.acknowledge_time))
    if row.resolve_time is not None:
        result.resolve_time.CopyFrom(to_timestamp(row.resolve_time))
    return result


def alert_filter(text: str, tenant: str) -> dict[str, str]:
    """ListAlerts' filter as column equalities: `state = OPEN AND kind = FIRE AND container = "…"`."""
    where = parse_filter(text, {"state": "state", "kind": "kind", "container": "container_id"})
    if "state" in where:
        where["state"] = enum_filter_value(where["state"], _STATES, "alert_state_", "state")
    if "kind" in where:
        where["kind"] = enum_filter_value(where["kind"], _KINDS, "alert_kind_", "kind")
    if "container_id" in where:
        prefix = resource_name(tenant, "containers", "")
        if not where["container_id"].startswith(prefix):
            raise InvalidArgument(
                [FieldViolation("filter", f"container must be a container of tenants/{tenant}")]
            )
        where["container_id"] = where["container_id"].removeprefix(prefix)
    return where


def enum_filter_value(raw: str, known: Mapping[str, int], prefix: str, field: str) -> str:
    """The stored key named by a filter's `OPEN`, `ALERT_STATE_OPEN` or `open` (prefix `alert_state_`)."""
    key = raw.lower().removeprefix(prefix)
    if key not in known:
        choices = ", ".join(k.upper() for k in known)
        raise InvalidArgument([FieldViolation("filter", f"unknown {field} {raw!r}; one of {choices}")])
    return key
