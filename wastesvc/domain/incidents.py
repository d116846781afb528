"""Incidents: validation of a report, proto ↔ row conversion and the listing's filter."""

from __future__ import annotations

from datetime import datetime

from wastesvc.domain._common import parse_filter, parse_name, resource_name, to_timestamp
from wastesvc.domain._limits import MAX_CHARS
from wastesvc.domain.alerts import enum_filter_value
from wastesvc.errors import FieldViolation, InvalidArgument
from wastesvc.storage import IncidentRow
from wastesvc.v1 import incidents_pb2

__all__ = ["OVERFLOWING", "incident_filter", "incident_proto", "incident_row", "same_report"]

OVERFLOWING = "overflowing"
_KINDS = {
    OVERFLOWING: incidents_pb2.INCIDENT_KIND_OVERFLOWING,
    "damaged": incidents_pb2.INCIDENT_KIND_DAMAGED,
    "blocked": incidents_pb2.INCIDENT_KIND_BLOCKED,
    "fire": incidents_pb2.INCIDENT_KIND_FIRE,
}
_KEY_OF_KIND = {int(number): key for key, number in _KINDS.items()}
_STATES = {"open": incidents_pb2.INCIDENT_STATE_OPEN, "resolved": incidents_pb2.INCIDENT_STATE_RESOLVED}
_MAX_DESCRIPTION = MAX_CHARS["description"]
_MAX_REPORTER = MAX_CHARS["reporter"]
_MAX_REQUEST_ID = 100


def incident_row(request: incidents_pb2.CreateIncidentRequest, tenant: str, now: datetime) -> IncidentRow:
    """The row to store for a report; every problem of the request at once as INVALID_ARGUMENT."""
    incident = request.incident
    violations: list[FieldViolation] = []
    if not request.request_id:
        violations.append(FieldViolation("request_id", "is required (an idempotency key, e.g. a UUID)"))
    elif len(request.request_id) > _MAX_REQUEST_ID:
        violations.append(FieldViolation("request_id", f"must be at most {_MAX_REQUEST_ID} characters"))
    kind = _KEY_OF_KIND.get(incident.kind)
    if kind is None:
        detail = "is required" if incident.kind == 0 else f"unknown kind {incident.kind}"
        violations.append(FieldViolation("incident.kind", detail))
    if len(incident.description) > _MAX_DESCRIPTION:
        violations.append(
            FieldViolation("incident.description", f"must be at most {_MAX_DESCRIPTION} characters")
        )
    if len(incident.reporter) > _MAX_REPORTER:
        violations.append(FieldViolation("incident.reporter", f"must be at most {_MAX_REPORTER} characters"))
    container_id = ""
    try:
        container_tenant, container_id = parse_name(incident.container, "containers", "incident.container")
        if container_tenant != tenant:
            violations.append(
                FieldViolation("incident.container", f"must be a container of tenants/{tenant}")
            )
    except InvalidArgument as exc:
        violations += exc.violations
    if violations:
        raise InvalidArgument(violations)
    assert kind is not None
    return IncidentRow(
        tenant=tenant,
        container_id=container_id,
        kind=kind,
        description=incident.description,
        reporter=incident.reporter,
        request_id=request.request_id,
        create_time=now,
    )


def same_report(stored: IncidentRow, sent: IncidentRow) -> bool:
    """Whether a re-sent report says what the one stored with its request_id said (a retry)."""
    fields = ("container_id", "kind", "description", "reporter")
    return all(getattr(stored, f) == getattr(sent, f) for f in fields)


def incident_proto(row: IncidentRow) -> incidents_pb2.Incident:
    result = incidents_pb2.Incident(
        name=resource_name(row.tenant, "incidents", str(row.id)),
        container=resource_name(row.tenant, "containers", row.container_id),
        kind=_KINDS[row.kind],
        description=row.description,
        reporter=row.reporter,
        state=_STATES[row.state],
        create_time=to_timestamp(row.create_time),
    )
    if row.resolve_time is not None:
        result.resolve_time.CopyFrom(to_timestamp(row.resolve_time))
    return result


def incident_filter(text: str, tenant: str) -> dict[str, str]:
    """ListIncidents' filter as column equalities: `state = OPEN AND kind = OVERFLOWING`."""
    where = parse_filter(text, {"state": "state", "kind": "kind", "container": "container_id"})
    if "state" in where:
        where["state"] = enum_filter_value(where["state"], _STATES, "incident_state_", "state")
    if "kind" in where:
        where["kind"] = enum_filter_value(where["kind"], _KINDS, "incident_kind_", "kind")
    if "container_id" in where:
        _, where["container_id"] = parse_name(where["container_id"], "containers", "filter")
    return where
