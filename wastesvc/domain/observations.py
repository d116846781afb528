"""Observations from other city systems; container fill observations also become readings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from google.type import latlng_pb2

from wastesvc.domain._common import FUTURE_TOLERANCE, check_latlng, from_timestamp, to_timestamp
from wastesvc.errors import FieldViolation, InvalidArgument, NotFound
from wastesvc.storage import ContainerRow, ObservationRow, ReadingInsert, Storage
from wastesvc.v1 import observations_pb2

__all__ = ["FILL_PROPERTY", "MAX_BATCH", "observation_proto", "resolve_observations"]

MAX_BATCH = 1000
FILL_PROPERTY = ("WasteContainer", "fillingLevel")
_URN_PREFIX = "urn:ngsi-ld:WasteContainer:"
# UN/CEFACT common codes: C62 is "one" (a plain fraction), P1 is percent.
_FILL_SCALE = {"": 1.0, "C62": 1.0, "P1": 100.0}


def observation_proto(row: ObservationRow) -> observations_pb2.Observation:
    result = observations_pb2.Observation(
        name=f"observations/{row.id}",
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
    if o.HasField("location"):
        v += check_latlng(o.location, True, f"{p}.location")
    if (o.entity_type, o.property) == FILL_PROPERTY:
        if o.WhichOneof("value") != "number_value":
            v.append(FieldViolation(f"{p}.number_value", "a fillingLevel must be a number"))
        elif o.unit not in _FILL_SCALE:
            v.append(
                FieldViolation(f"{p}.unit", "a fillingLevel unit must be C62 (fraction) or P1 (percent)")
            )
        elif not 0.0 <= o.number_value / _FILL_SCALE[o.unit] <= 1.0:
            v.append(FieldViolation(f"{p}.number_value", "a fillingLevel must be within 0..1 (0..100 in P1)"))
    return v


def resolve_observations(
    storage: Storage, requests: Sequence[observations_pb2.CreateObservationRequest], *, now: datetime
) -> tuple[list[ObservationRow], list[ReadingInsert]]:
    """Validates a batch of observations and derives the container readings they carry."""
    if not requests:
        raise InvalidArgument([FieldViolation("requests", "must contain at least one observation")])
    if len(requests) > MAX_BATCH:
        raise InvalidArgument([FieldViolation("requests", f"holds {len(requests)}; at most {MAX_BATCH}")])
    violations: list[FieldViolation] = []
    for i, request in enumerate(requests):
        violations += _check(request.observation, f"requests[{i}].observation", now)
    if violations:
        raise InvalidArgument(violations)

    fills = [
        (i, r.observation)
        for i, r in enumerate(requests)
        if (r.observation.entity_type, r.observation.property) == FILL_PROPERTY
    ]
    containers = storage.get_many(ContainerRow, [o.entity_id.removeprefix(_URN_PREFIX) for _, o in fills])
    readings = []
    for i, o in fills:
        container_id = o.entity_id.removeprefix(_URN_PREFIX)
        row = containers.get(container_id)
        if row is None:
            raise NotFound(f"containers/{container_id}", field=f"requests[{i}].observation.entity_id")
        when = from_timestamp(o.observe_time)
        readings.append(
            ReadingInsert(
                container_id=row.id,
                sensor_id=row.sensor_id or o.source,
                measure_time=when.replace(microsecond=when.microsecond // 1000 * 1000),
                fill=o.number_value / _FILL_SCALE[o.unit],
                distance_mm=None,
                battery_percent=None,
                temperature_c=None,
                tilted=False,
            )
        )
    rows = []
    for request in requests:
        o = request.observation
        kind = o.WhichOneof("value")
        rows.append(
            ObservationRow(
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
        )
    return rows, readings
