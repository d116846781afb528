"""Reading validation, sensor geometry and proto conversion."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime

from wastesvc.domain._common import (
    FUTURE_TOLERANCE,
    OLDEST,
    from_timestamp,
    parse_name,
    parse_tenant,
    resource_name,
    to_timestamp,
)
from wastesvc.domain._limits import check_message
from wastesvc.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound, ServiceError
from wastesvc.fill import Limits, Reading, impossibility
from wastesvc.storage import ContainerRow, ReadingInsert, ReadingRow, Storage
from wastesvc.v1 import readings_pb2

__all__ = [
    "MAX_BATCH",
    "check_batch_size",
    "fill_from_distance",
    "reading_id",
    "reading_name",
    "reading_proto",
    "resolve_readings",
]

MAX_BATCH = 1000


def fill_from_distance(empty_distance_mm: int, full_distance_mm: int, distance_mm: float) -> float:
    """REFERENCE §5: fill = clamp((H_empty − d) / (H_empty − d_full), 0, 1)."""
    span = empty_distance_mm - full_distance_mm
    return min(1.0, max(0.0, (empty_distance_mm - distance_mm) / span))


def reading_id(measure_time: datetime) -> str:
    return measure_time.strftime("%Y%m%dT%H%M%S.") + f"{measure_time.microsecond // 1000:03d}Z"


def reading_name(tenant: str, container_id: str, measure_time: datetime) -> str:
    return f"{resource_name(tenant, 'containers', container_id)}/readings/{reading_id(measure_time)}"


def reading_proto(row: ReadingRow) -> readings_pb2.Reading:
    result = readings_pb2.Reading(
        name=reading_name(row.tenant, row.container_id, row.measure_time),
        sensor_id=row.sensor_id,
        measure_time=to_timestamp(row.measure_time),
        fill=row.fill,
        tilted=row.tilted,
        create_time=to_timestamp(row.create_time),
        outlier_reason=row.outlier,
    )
    if row.distance_mm is not None:
        result.distance_mm = row.distance_mm
    else:
        result.fill_fraction = row.fill
    if row.battery_percent is not None:
        result.battery_percent = row.battery_percent
    if row.temperature_c is not None:
        result.temperature_celsius = row.temperature_c
    return result


def _check_reading(reading: readings_pb2.Reading, p: str, now: datetime) -> list[FieldViolation]:
    v = check_message(reading, p)
    if v:
        return v
    if not reading.HasField("measure_time"):
        v.append(FieldViolation(f"{p}.measure_time", "is required"))
    else:
        when = from_timestamp(reading.measure_time)
        if when > now + FUTURE_TOLERANCE:
            v.append(
                FieldViolation(f"{p}.measure_time", f"is {when - now} in the future; check the sensor clock")
            )
        elif when < OLDEST:
            v.append(FieldViolation(f"{p}.measure_time", "is before 2000; check the sensor clock"))
    level = reading.WhichOneof("level")
    if level is None:
        v.append(FieldViolation(f"{p}.fill_fraction", "one of fill_fraction or distance_mm is required"))
    elif level == "fill_fraction" and not math.isfinite(reading.fill_fraction):
        # A finite fill outside 0..1 is an outlier to keep (see `_outlier`); NaN or infinity is no value.
        v.append(FieldViolation(f"{p}.fill_fraction", "must be a finite number"))
    elif level == "distance_mm" and reading.distance_mm < 0:
        v.append(FieldViolation(f"{p}.distance_mm", "must not be negative"))
    if reading.HasField("battery_percent") and not (0.0 <= reading.battery_percent <= 100.0):
        v.append(FieldViolation(f"{p}.battery_percent", "must be within [0, 100]"))
    if reading.HasField("temperature_celsius") and not (
        math.isfinite(reading.temperature_celsius) and -60.0 <= reading.temperature_celsius <= 200.0
    ):
        v.append(FieldViolation(f"{p}.temperature_celsius", "must be within [-60, 200]"))
    return v


def _target(
    request: readings_pb2.CreateReadingRequest, default_parent: str, p: str
) -> tuple[str, str | None]:
    """(tenant, container id or None for `containers/-`) of one request."""
    parent = request.parent or default_parent
    if parent.endswith("/containers/-"):
        tenant = parse_tenant(parent.removesuffix("/containers/-"), f"{p}.parent")
        if not request.reading.sensor_id:
            raise InvalidArgument(
                [
                    FieldViolation(
                        f"{p}.reading.sensor_id", "is required with parent tenants/{tenant}/containers/-"
                    )
                ]
            )
        return tenant, None
    return parse_name(parent, "containers", f"{p}.parent")


def _outlier(row: ContainerRow, reading: readings_pb2.Reading, raw_fill: float, now: datetime) -> str:
    """Why the reading cannot be true, or "" (the fill library's rule, with the container's depth)."""
    depth = row.empty_distance_mm if row.empty_distance_mm > row.full_distance_mm else None
    distance = reading.distance_mm if reading.WhichOneof("level") == "distance_mm" else None
    # A distance shorter than the full line is waste heaped above it, a true overflow: only a fill sent
    # as a fraction can be impossible by its value.
    fill = raw_fill if distance is None else min(1.0, max(0.0, raw_fill))
    frame = Reading(time=from_timestamp(reading.measure_time), fill=fill, distance_mm=distance)
    return impossibility(frame, now, Limits(container_depth_mm=depth)) or ""


def _insert(row: ContainerRow, reading: readings_pb2.Reading, p: str, now: datetime) -> ReadingInsert:
    if reading.WhichOneof("level") == "distance_mm":
        if row.empty_distance_mm <= row.full_distance_mm:
            name = resource_name(row.tenant, "containers", row.id)
            raise FailedPrecondition(
                f"{name} has no sensor geometry (model): a distance cannot become a fill",
                reason="CONTAINER_HAS_NO_MODEL",
                metadata={"resource": name, "field": f"{p}.reading.distance_mm"},
            )
        span = row.empty_distance_mm - row.full_distance_mm
        raw = (row.empty_distance_mm - reading.distance_mm) / span
        distance: int | None = reading.distance_mm
    else:
        raw, distance = reading.fill_fraction, None
    fill = min(1.0, max(0.0, raw))
    when = from_timestamp(reading.measure_time)
    return ReadingInsert(
        tenant=row.tenant,
        container_id=row.id,
        sensor_id=reading.sensor_id or (row.sensor_id or ""),
        # Keys are kept to the millisecond so a re-sent reading matches whatever the transport did.
        measure_time=when.replace(microsecond=when.microsecond // 1000 * 1000),
        fill=fill,
        distance_mm=distance,
        battery_percent=reading.battery_percent if reading.HasField("battery_percent") else None,
        temperature_c=reading.temperature_celsius if reading.HasField("temperature_celsius") else None,
        tilted=reading.tilted,
        outlier=_outlier(row, reading, raw, now),
    )


def check_batch_size(count: int, field: str) -> None:
    """A batch as a whole is malformed when empty or above MAX_BATCH items."""
    if count == 0:
        raise InvalidArgument([FieldViolation(field, "must contain at least one item")])
    if count > MAX_BATCH:
        raise InvalidArgument([FieldViolation(field, f"holds {count} items; at most {MAX_BATCH}")])


def resolve_readings(
    storage: Storage,
    requests: Sequence[readings_pb2.CreateReadingRequest],
    *,
    default_parent: str,
    now: datetime,
    allowed: Callable[[str], ServiceError | None] = lambda tenant: None,
    prefix: str = "requests",
) -> list[ReadingInsert | ServiceError]:
    """Validates each request and resolves its container: per request, what to store or why not.

    `allowed(tenant)` returns the error to give when the caller may not write to that tenant.
    """
    check_batch_size(len(requests), prefix)
    items: list[tuple[str, str | None] | ServiceError] = []
    for i, request in enumerate(requests):
        p = f"{prefix}[{i}]"
        try:
            tenant, container_id = _target(request, default_parent, p)
            denied = allowed(tenant)
            if denied is not None:
                raise denied
            violations = _check_reading(request.reading, f"{p}.reading", now)
            if violations:
                raise InvalidArgument(violations, reason="INVALID_READING")
            items.append((tenant, container_id))
        except ServiceError as error:
            items.append(error)
    resolved = _containers(storage, requests, items)
    result: list[ReadingInsert | ServiceError] = []
    for i, (request, item) in enumerate(zip(requests, items, strict=True)):
        p = f"{prefix}[{i}]"
        if isinstance(item, ServiceError):
            result.append(item)
            continue
        row = resolved.get(i)
        if row is None:
            tenant, container_id = item
            if container_id is None:
                result.append(
                    NotFound(
                        f"sensor {request.reading.sensor_id} in tenants/{tenant}",
                        field=f"{p}.reading.sensor_id",
                        reason="SENSOR_UNKNOWN",
                    )
                )
            else:
                result.append(
                    NotFound(resource_name(tenant, "containers", container_id), field=f"{p}.parent")
                )
            continue
        try:
            result.append(_insert(row, request.reading, p, now))
        except ServiceError as error:
            result.append(error)
    return result


def _containers(
    storage: Storage,
    requests: Sequence[readings_pb2.CreateReadingRequest],
    items: Sequence[tuple[str, str | None] | ServiceError],
) -> dict[int, ContainerRow]:
    """The container row of each resolvable request, by request index, in few queries per tenant."""
    by_tenant: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        if not isinstance(item, ServiceError):
            by_tenant.setdefault(item[0], []).append(i)
    found: dict[int, ContainerRow] = {}
    for tenant, indexes in by_tenant.items():
        sensors = [requests[i].reading.sensor_id for i in indexes if _container_of(items[i]) is None]
        by_sensor = storage.container_ids_by_sensor(tenant, sensors)
        ids = {
            i: _container_of(items[i]) or by_sensor.get(requests[i].reading.sensor_id, "") for i in indexes
        }
        rows = storage.get_many(ContainerRow, tenant, [c for c in ids.values() if c])
        found.update({i: rows[c] for i, c in ids.items() if c in rows})
    return found


def _container_of(item: tuple[str, str | None] | ServiceError) -> str | None:
    return None if isinstance(item, ServiceError) else item[1]
