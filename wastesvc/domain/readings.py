"""Reading validation, sensor geometry and proto conversion."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from google.protobuf import timestamp_pb2

from wastesvc.domain._common import (
    FUTURE_TOLERANCE,
    OLDEST,
    parse_name,
    parse_tenant,
    resource_name,
    to_timestamp,
)
from wastesvc.domain._limits import DEFAULT_MAX_CHARS, MAX_CHARS, check_text, check_timestamp
from wastesvc.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound, ServiceError
from wastesvc.fill import Limits, Reading, impossibility
from wastesvc.storage import IngestTarget, ReadingInsert, ReadingRow, Storage
from wastesvc.v1 import readings_pb2

__all__ = [
    "MAX_BATCH",
    "check_batch_size",
    "check_reading",
    "fill_from_distance",
    "latest_accepted_us",
    "plainly_valid",
    "reading_id",
    "reading_name",
    "reading_proto",
    "resolve_readings",
    "stored_reading_proto",
]

MAX_BATCH = 1000


def fill_from_distance(empty_distance_mm: int, full_distance_mm: int, distance_mm: float) -> float:
    """REFERENCE §5: fill = clamp((H_empty − d) / (H_empty − d_full), 0, 1)."""
    span = empty_distance_mm - full_distance_mm
    return min(1.0, max(0.0, (empty_distance_mm - distance_mm) / span))


def reading_id(measure_time: datetime) -> str:
    t = measure_time  # formatted field by field: strftime was the largest cost of a batch's response
    return (
        f"{t.year:04d}{t.month:02d}{t.day:02d}T{t.hour:02d}{t.minute:02d}{t.second:02d}."
        f"{t.microsecond // 1000:03d}Z"
    )


def reading_name(tenant: str, container_id: str, measure_time: datetime) -> str:
    return f"{resource_name(tenant, 'containers', container_id)}/readings/{reading_id(measure_time)}"


def reading_proto(row: ReadingRow) -> readings_pb2.Reading:
    return stored_reading_proto(row, row.create_time)


def stored_reading_proto(row: ReadingRow | ReadingInsert, created: datetime) -> readings_pb2.Reading:
    """The API form of a reading stored at `created`; a reading just stored needs no `ReadingRow` (an ORM
    object costly to build)."""
    result = readings_pb2.Reading(
        name=reading_name(row.tenant, row.container_id, row.measure_time),
        sensor_id=row.sensor_id,
        measure_time=to_timestamp(row.measure_time),
        fill=row.fill,
        tilted=row.tilted,
        create_time=to_timestamp(created),
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


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _measured(stamp: timestamp_pb2.Timestamp) -> datetime:
    """`from_timestamp` of a checked Timestamp (nanos in 0..999,999,999), without protobuf's slower
    general conversion: the same value."""
    return _EPOCH + timedelta(seconds=stamp.seconds, microseconds=stamp.nanos // 1000)


def _check_limits(reading: readings_pb2.Reading, p: str) -> list[FieldViolation]:
    """`check_message` of a Reading, field by field: the same checks, messages and order, without the
    generic walk over descriptors (it was a large part of a batch's time)."""
    v: list[FieldViolation] = []
    for name in ("name", "sensor_id"):
        text = getattr(reading, name)
        if text:
            v += check_text(text, f"{p}.{name}")
    if reading.HasField("measure_time"):
        v += check_timestamp(reading.measure_time, f"{p}.measure_time")
    for name in ("fill_fraction", "fill", "battery_percent", "temperature_celsius"):
        if not math.isfinite(getattr(reading, name)):
            v.append(FieldViolation(f"{p}.{name}", "must be a finite number"))
    if reading.HasField("create_time"):
        v += check_timestamp(reading.create_time, f"{p}.create_time")
    if reading.outlier_reason:
        v += check_text(reading.outlier_reason, f"{p}.outlier_reason")
    return v


_MICROSECOND = timedelta(microseconds=1)
_OLDEST_US = (OLDEST - _EPOCH) // _MICROSECOND
_MAX_NAME = MAX_CHARS.get("name", DEFAULT_MAX_CHARS)
_MAX_SENSOR = MAX_CHARS["sensor_id"]


def _plain_text(text: str, limit: int) -> bool:
    # ASCII cannot hold a lone surrogate; any other text takes the full check.
    return len(text) <= limit and text.isascii() and "\x00" not in text


def plainly_valid(reading: readings_pb2.Reading, latest_us: int) -> bool:
    """True only when `check_reading` finds nothing, for the shape nearly every reading has (ASCII
    names, no `create_time` or `outlier_reason` sent): a few comparisons instead of the per-field checks
    that build violations. `latest_us` is the latest accepted `measure_time` in microseconds since the
    epoch (now + the future tolerance). False sends the reading to `check_reading`, which says why."""
    if reading.outlier_reason or reading.HasField("create_time"):
        return False
    if not (_plain_text(reading.name, _MAX_NAME) and _plain_text(reading.sensor_id, _MAX_SENSOR)):
        return False
    stamp = reading.measure_time  # unset reads as 1970, before OLDEST: refused below, as required
    nanos = stamp.nanos
    if not (
        0 <= nanos < 1_000_000_000 and _OLDEST_US <= stamp.seconds * 1_000_000 + nanos // 1000 <= latest_us
    ):
        return False
    level = reading.WhichOneof("level")
    if level is None or (level == "distance_mm" and reading.distance_mm < 0):
        return False
    # An unset optional number reads as 0.0, inside both ranges; NaN fails every comparison.
    return (
        math.isfinite(reading.fill_fraction)
        and math.isfinite(reading.fill)
        and 0.0 <= reading.battery_percent <= 100.0
        and -60.0 <= reading.temperature_celsius <= 200.0
    )


def latest_accepted_us(now: datetime) -> int:
    """The `latest_us` of `plainly_valid` at `now`."""
    return (now + FUTURE_TOLERANCE - _EPOCH) // _MICROSECOND


def check_reading(reading: readings_pb2.Reading, p: str, now: datetime) -> list[FieldViolation]:
    """Every violation of one reading, with field paths under `p` (the full check)."""
    v = _check_limits(reading, p)
    if v:
        return v
    if not reading.HasField("measure_time"):
        v.append(FieldViolation(f"{p}.measure_time", "is required"))
    else:
        when = _measured(reading.measure_time)
        if when > now + FUTURE_TOLERANCE:
            v.append(
                FieldViolation(f"{p}.measure_time", f"is {when - now} in the future; check the sensor clock")
            )
        elif when < OLDEST:
            v.append(FieldViolation(f"{p}.measure_time", "is before 2000; check the sensor clock"))
    level = reading.WhichOneof("level")
    if level is None:
        v.append(FieldViolation(f"{p}.fill_fraction", "one of fill_fraction or distance_mm is required"))
    elif level == "distance_mm" and reading.distance_mm < 0:
        v.append(FieldViolation(f"{p}.distance_mm", "must not be negative"))
    # A finite fill outside 0..1 is an outlier to keep (see `_outlier`); NaN or infinity was refused above.
    if reading.HasField("battery_percent") and not (0.0 <= reading.battery_percent <= 100.0):
        v.append(FieldViolation(f"{p}.battery_percent", "must be within [0, 100]"))
    if reading.HasField("temperature_celsius") and not (-60.0 <= reading.temperature_celsius <= 200.0):
        v.append(FieldViolation(f"{p}.temperature_celsius", "must be within [-60, 200]"))
    return v


def _target(parent: str, request: readings_pb2.CreateReadingRequest, p: str) -> tuple[str, str | None]:
    """(tenant, container id or None for `containers/-`) of one request."""
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


def _outlier(depth: Limits, reading: readings_pb2.Reading, when: datetime, raw: float, now: datetime) -> str:
    """Why the reading cannot be true, or "" (the fill library's rule, with the container's depth)."""
    distance = reading.distance_mm if reading.WhichOneof("level") == "distance_mm" else None
    # A distance shorter than the full line is waste heaped above it, a true overflow: only a fill sent
    # as a fraction can be impossible by its value.
    fill = raw if distance is None else min(1.0, max(0.0, raw))
    return impossibility(Reading(time=when, fill=fill, distance_mm=distance), now, depth) or ""


def _limits(target: IngestTarget) -> Limits:
    depth = target.empty_distance_mm if target.empty_distance_mm > target.full_distance_mm else None
    return Limits(container_depth_mm=depth)


def _insert(
    target: IngestTarget, limits: Limits, reading: readings_pb2.Reading, p: str, now: datetime
) -> ReadingInsert:
    if reading.WhichOneof("level") == "distance_mm":
        if target.empty_distance_mm <= target.full_distance_mm:
            name = resource_name(target.tenant, "containers", target.id)
            raise FailedPrecondition(
                f"{name} has no sensor geometry (model): a distance cannot become a fill",
                reason="CONTAINER_HAS_NO_MODEL",
                metadata={"resource": name, "field": f"{p}.reading.distance_mm"},
            )
        span = target.empty_distance_mm - target.full_distance_mm
        raw = (target.empty_distance_mm - reading.distance_mm) / span
        distance: int | None = reading.distance_mm
    else:
        raw, distance = reading.fill_fraction, None
    exact = _measured(reading.measure_time)
    # Keys are kept to the millisecond so a re-sent reading matches whatever the transport did.
    when = exact.replace(microsecond=exact.microsecond // 1000 * 1000)
    return ReadingInsert(
        tenant=target.tenant,
        container_id=target.id,
        sensor_id=reading.sensor_id or (target.sensor_id or ""),
        measure_time=when,
        fill=min(1.0, max(0.0, raw)),
        distance_mm=distance,
        battery_percent=reading.battery_percent if reading.HasField("battery_percent") else None,
        temperature_c=reading.temperature_celsius if reading.HasField("temperature_celsius") else None,
        tilted=reading.tilted,
        outlier=_outlier(limits, reading, exact, raw, now),
    )


def check_batch_size(count: int, field: str) -> None:
    """A batch as a whole is malformed when empty or above MAX_BATCH items."""
    if count == 0:
        raise InvalidArgument([FieldViolation(field, "must contain at least one item")])
    if count > MAX_BATCH:
        raise InvalidArgument([FieldViolation(field, f"holds {count} items; at most {MAX_BATCH}")])


# What one request names, once checked: (tenant, container id or None when chosen by its sensor).
_Target = tuple[str, str | None]


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

    `allowed(tenant)` returns the error to give when the caller may not write to that tenant. Containers
    are read from the database for every call (one query per tenant), so a container moved, changed or
    deleted by any replica is seen by the next batch.
    """
    check_batch_size(len(requests), prefix)
    items = _checked(requests, default_parent, now, allowed, prefix)
    found = _targets(storage, requests, items)
    limits: dict[tuple[str, str], Limits] = {}
    result: list[ReadingInsert | ServiceError] = []
    for i, (request, item) in enumerate(zip(requests, items, strict=True)):
        if isinstance(item, ServiceError):
            result.append(item)
            continue
        target = found.get(i)
        if target is None:
            result.append(_unknown(item, request, f"{prefix}[{i}]"))
            continue
        key = (target.tenant, target.id)
        if key not in limits:
            limits[key] = _limits(target)
        try:
            result.append(_insert(target, limits[key], request.reading, f"{prefix}[{i}]", now))
        except ServiceError as error:
            result.append(error)
    return result


def _checked(
    requests: Sequence[readings_pb2.CreateReadingRequest],
    default_parent: str,
    now: datetime,
    allowed: Callable[[str], ServiceError | None],
    prefix: str,
) -> list[_Target | ServiceError]:
    """Per request, its target or why it is refused, before any container is read."""
    parents: dict[str, _Target] = {}  # a batch names few parents: each parsed once
    denied: dict[str, ServiceError | None] = {}
    items: list[_Target | ServiceError] = []
    latest_us = latest_accepted_us(now)
    for i, request in enumerate(requests):
        p = f"{prefix}[{i}]"
        try:
            parent = request.parent or default_parent
            target = parents.get(parent)
            if target is None or target[1] is None:
                target = _target(parent, request, p)
                parents[parent] = target
            tenant = target[0]
            if tenant not in denied:
                denied[tenant] = allowed(tenant)
            refusal = denied[tenant]
            if refusal is not None:
                raise refusal
            if not plainly_valid(request.reading, latest_us):
                violations = check_reading(request.reading, f"{p}.reading", now)
                if violations:
                    raise InvalidArgument(violations, reason="INVALID_READING")
            items.append(target)
        except ServiceError as error:
            items.append(error)
    return items


def _unknown(item: _Target, request: readings_pb2.CreateReadingRequest, p: str) -> NotFound:
    tenant, container_id = item
    if container_id is None:
        return NotFound(
            f"sensor {request.reading.sensor_id} in tenants/{tenant}",
            field=f"{p}.reading.sensor_id",
            reason="SENSOR_UNKNOWN",
        )
    return NotFound(resource_name(tenant, "containers", container_id), field=f"{p}.parent")


def _targets(
    storage: Storage,
    requests: Sequence[readings_pb2.CreateReadingRequest],
    items: Sequence[_Target | ServiceError],
) -> dict[int, IngestTarget]:
    """The container of each resolvable request, by request index, in one query per tenant."""
    by_tenant: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        if not isinstance(item, ServiceError):
            by_tenant.setdefault(item[0], []).append(i)
    found: dict[int, IngestTarget] = {}
    for tenant, indexes in by_tenant.items():
        named = {c for i in indexes if (c := _container_of(items[i])) is not None}
        sensors = {requests[i].reading.sensor_id for i in indexes if _container_of(items[i]) is None}
        by_id, by_sensor = storage.ingest_targets(tenant, sorted(named), sorted(sensors))
        for i in indexes:
            container_id = _container_of(items[i])
            target = (
                by_id.get(container_id)
                if container_id is not None
                else by_sensor.get(requests[i].reading.sensor_id)
            )
            if target is not None:
                found[i] = target
    return found


def _container_of(item: _Target | ServiceError) -> str | None:
    return None if isinstance(item, ServiceError) else item[1]
