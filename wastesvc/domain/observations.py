"""Observations from other city systems; container fill observations also become readings."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from google.type import latlng_pb2

from wastesvc.domain._common import (
    FUTURE_TOLERANCE,
    OLDEST,
    check_latlng,
    from_timestamp,
    resource_name,
    to_timestamp,
)
from wastesvc.domain._limits import check_message
from wastesvc.domain.readings import check_batch_size
from wastesvc.errors import FieldViolation, InvalidArgument, NotFound, ServiceError
from wastesvc.storage import ContainerRow, ObservationRow, ReadingInsert, Storage
from wastesvc.v1 import observations_pb2

__all__ = ["FILL_PROPERTY", "ResolvedObservation", "observation_proto", "resolve_observations"]

FILL_PROPERTY = ("WasteContainer", "fillingLevel")
_URN_PREFIX = "urn:ngsi-ld:WasteContainer:"
# UN/CEFACT common codes: C62 is "one" (a plain fraction), P1 is percent.
_FILL_SCALE = {"": 1.0, "C62": 1.0, "P1": 100.0}


def observation_proto(row: ObservationRow) -> observations_pb2.Observation:
    result = observations_pb2.Observation(
        name=resource_name(row.tenant, "observations", str(row.id)),
        source=row.source,
        entity_id=row.entity_id,
        entity_type=row.entity_type,
        property=row.property,
        unit=row.unit,
        observe_time=to_timestamp(row.observe_time),
        create_time=to_timestamp(row.create_time),
    )
    if row.number_value is not None:
        result.number_value = row.number_value
    elif row.string_value is not None:
        result.string_value = row.string_value
    elif row.bool_value is not None:
        result.bool_value = row.bool_value
    if row.lat is not None and row.lng is not None:
        result.location.CopyFrom(latlng_pb2.LatLng(latitude=row.lat, longitude=row.lng))
    return result


def _check(o: observations_pb2.Observation, p: str, now: datetime) -> list[FieldViolation]:
    limits = check_message(o, p)
    if limits:
        return limits
    v = [
        FieldViolation(f"{p}.{field}", "is required")
        for field in ("source", "entity_id", "entity_type", "property")
        if not getattr(o, field)
    ]
    if o.WhichOneof("value") is None:
        v.append(
            FieldViolation(f"{p}.number_value", "one of number_value, string_value, bool_value is required")
        )
    if not o.HasField("observe_time"):
        v.append(FieldViolation(f"{p}.observe_time", "is required"))
    elif from_timestamp(o.observe_time) > now + FUTURE_TOLERANCE:
        v.append(FieldViolation(f"{p}.observe_time", "is too far in the future; check the source clock"))
    elif from_timestamp(o.observe_time) < OLDEST:
        v.append(FieldViolation(f"{p}.observe_time", "is before 2000; check the source clock"))
    if o.WhichOneof("value") == "number_value" and not math.isfinite(o.number_value):
        v.append(FieldViolation(f"{p}.number_value", "must be a finite number"))
    if o.HasField("location"):
        v += check_latlng(o.location, True, f"{p}.location")
    if (o.entity_type, o.property) == FILL_PROPERTY:
        if o.WhichOneof("value") != "number_value":
            v.append(FieldViolation(f"{p}.number_value", "a fillingLevel must be a number"))
        elif o.unit not in _FILL_SCALE:
            v.append(
                FieldViolation(f"{p}.unit", "a fillingLevel unit must be C62 (fraction) or P1 (percent)")
            )
        elif math.isfinite(o.number_value) and not 0.0 <= o.number_value / _FILL_SCALE[o.unit] <= 1.0:
            v.append(FieldViolation(f"{p}.number_value", "a fillingLevel must be within 0..1 (0..100 in P1)"))
    return v


@dataclass(frozen=True, slots=True)
class ResolvedObservation:
    """An observation ready to store, and the container reading it carries, if any."""

    row: ObservationRow
    reading: ReadingInsert | None


def resolve_observations(
    storage: Storage,
    tenant: str,
    requests: Sequence[observations_pb2.CreateObservationRequest],
    *,
    now: datetime,
) -> list[ResolvedObservation | ServiceError]:
    """Validates each observation of a tenant's batch: per request, what to store or why not."""
    check_batch_size(len(requests), "requests")
    checked: list[ServiceError | None] = []
    for i, request in enumerate(requests):
        p = f"requests[{i}]"
        if request.parent and request.parent != f"tenants/{tenant}":
            checked.append(InvalidArgument([FieldViolation(f"{p}.parent", "must be empty or the batch's")]))
            continue
        violations = _check(request.observation, f"{p}.observation", now)
        checked.append(InvalidArgument(violations, reason="INVALID_OBSERVATION") if violations else None)
    fill_ids = [
        r.observation.entity_id.removeprefix(_URN_PREFIX)
        for r, error in zip(requests, checked, strict=True)
        if error is None and _is_fill(r.observation)
    ]
    containers = storage.get_many(ContainerRow, tenant, fill_ids)
    result: list[ResolvedObservation | ServiceError] = []
    for i, (request, error) in enumerate(zip(requests, checked, strict=True)):
        if error is not None:
            result.append(error)
            continue
        o = request.observation
        reading = None
        if _is_fill(o):
            row = containers.get(o.entity_id.removeprefix(_URN_PREFIX))
            if row is None:
                name = resource_name(tenant, "containers", o.entity_id.removeprefix(_URN_PREFIX))
                result.append(NotFound(name, field=f"requests[{i}].observation.entity_id"))
                continue
            reading = _reading(row, o)
        result.append(ResolvedObservation(_row(tenant, o, now), reading))
    return result


def _is_fill(o: observations_pb2.Observation) -> bool:
    return (o.entity_type, o.property) == FILL_PROPERTY


def _reading(row: ContainerRow, o: observations_pb2.Observation) -> ReadingInsert:
    when = from_timestamp(o.observe_time)
    return ReadingInsert(
        tenant=row.tenant,
        container_id=row.id,
        sensor_id=row.sensor_id or o.source,
        measure_time=when.replace(microsecond=when.microsecond // 1000 * 1000),
        fill=o.number_value / _FILL_SCALE[o.unit],
        distance_mm=None,
        battery_percent=None,
        temperature_c=None,
        tilted=False,
    )


def _row(tenant: str, o: observations_pb2.Observation, now: datetime) -> ObservationRow:
    kind = o.WhichOneof("value")
    return ObservationRow(
        tenant=tenant,
        source=o.source,
        entity_id=o.entity_id,
        entity_type=o.entity_type,
        property=o.property,
        number_value=o.number_value if kind == "number_value" else None,
        string_value=o.string_value if kind == "string_value" else None,
        bool_value=o.bool_value if kind == "bool_value" else None,
        unit=o.unit,
        observe_time=from_timestamp(o.observe_time),
        lat=o.location.latitude if o.HasField("location") else None,
        lng=o.location.longitude if o.HasField("location") else None,
        create_time=now,
    )
