"""Reading validation, sensor geometry and proto conversion."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from wastesvc.domain._common import FUTURE_TOLERANCE, from_timestamp, parse_name, to_timestamp
from wastesvc.errors import FieldViolation, InvalidArgument, NotFound
from wastesvc.storage import ContainerRow, ReadingInsert, ReadingRow, Storage
from wastesvc.v1 import readings_pb2

__all__ = [
    "MAX_BATCH",
    "fill_from_distance",
    "reading_id",
    "reading_proto",
    "resolve_readings",
]

MAX_BATCH = 1000
_OLDEST = datetime.fromisoformat("2000-01-01T00:00:00+00:00")


def fill_from_distance(empty_distance_mm: int, full_distance_mm: int, distance_mm: float) -> float:
    """REFERENCE §5: fill = clamp((H_empty − d) / (H_empty − d_full), 0, 1)."""
    span = empty_distance_mm - full_distance_mm
    return min(1.0, max(0.0, (empty_distance_mm - distance_mm) / span))


def reading_id(measure_time: datetime) -> str:
    return measure_time.strftime("%Y%m%dT%H%M%S.") + f"{measure_time.microsecond // 1000:03d}Z"


def reading_proto(row: ReadingRow) -> readings_pb2.Reading:
    result = readings_pb2.Reading(
        name=f"containers/{row.container_id}/readings/{reading_id(row.measure_time)}",
        sensor_id=row.sensor_id,
        measure_time=to_timestamp(row.measure_time),
        fill=row.fill,
        tilted=row.tilted,
        create_time=to_timestamp(row.create_time),
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
    v: list[FieldViolation] = []
    if not reading.HasField("measure_time"):
        v.append(FieldViolation(f"{p}.measure_time", "is required"))
    else:
        when = from_timestamp(reading.measure_time)
        if when > now + FUTURE_TOLERANCE:
            v.append(
                FieldViolation(f"{p}.measure_time", f"is {when - now} in the future; check the sensor clock")
            )
        elif when < _OLDEST:
            v.append(FieldViolation(f"{p}.measure_time", "is before 2000; check the sensor clock"))
    level = reading.WhichOneof("level")
    if level is None:
        v.append(FieldViolation(f"{p}.fill_fraction", "one of fill_fraction or distance_mm is required"))
    elif level == "fill_fraction" and not (0.0 <= reading.fill_fraction <= 1.0):
        v.append(FieldViolation(f"{p}.fill_fraction", "must be within [0, 1]"))
    elif level == "distance_mm" and reading.distance_mm < 0:
        v.append(FieldViolation(f"{p}.distance_mm", "must not be negative"))
    if reading.HasField("battery_percent") and not (0.0 <= reading.battery_percent <= 100.0):
        v.append(FieldViolation(f"{p}.battery_percent", "must be within [0, 100]"))
    if reading.HasField("temperature_celsius") and not (
        math.isfinite(reading.temperature_celsius) and -60.0 <= reading.temperature_celsius <= 200.0
    ):
        v.append(FieldViolation(f"{p}.temperature_celsius", "must be within [-60, 200]"))
    return v


def resolve_readings(
    storage: Storage,
    requests: Sequence[readings_pb2.CreateReadingRequest],
    *,
    default_parent: str,
    now: datetime,
    prefix: str = "requests",
) -> list[ReadingInsert]:
    """Validates a batch and resolves containers; raises for the whole batch so it stays atomic."""
    if not requests:
        raise InvalidArgument([FieldViolation(prefix, "must contain at least one reading")])
    if len(requests) > MAX_BATCH:
        raise InvalidArgument(
            [FieldViolation(prefix, f"holds {len(requests)} readings; at most {MAX_BATCH}")]
        )
    violations: list[FieldViolation] = []
    targets: list[tuple[str | None, str]] = []  # (container id or None for "-", sensor id)
    for i, request in enumerate(requests):
        p = f"{prefix}[{i}]"
        parent = request.parent or default_parent
        try:
            container_id = (
                parse_name(parent, "containers", f"{p}.parent") if parent != "containers/-" else None
            )
        except InvalidArgument as exc:
            violations += exc.violations
            container_id = None
        if parent == "containers/-" and not request.reading.sensor_id:
            violations.append(
                FieldViolation(f"{p}.reading.sensor_id", "is required with parent containers/-")
            )
        violations += _check_reading(request.reading, f"{p}.reading", now)
        targets.append((container_id, request.reading.sensor_id))
    if violations:
        raise InvalidArgument(violations)

    by_sensor = storage.container_ids_by_sensor([s for c, s in targets if c is None])
    ids = [c if c is not None else by_sensor.get(s, "") for c, s in targets]
    containers = storage.get_many(ContainerRow, [i for i in ids if i])
    result = []
    for i, (request, container_id) in enumerate(zip(requests, ids, strict=True)):
        p = f"{prefix}[{i}]"
        row = containers.get(container_id)
        if row is None:
            if targets[i][0] is None:
                raise NotFound(f"sensor {request.reading.sensor_id}", field=f"{p}.reading.sensor_id")
            raise NotFound(f"containers/{container_id}", field=f"{p}.parent")
        reading = request.reading
        if reading.WhichOneof("level") == "distance_mm":
            if row.empty_distance_mm <= row.full_distance_mm:
                raise InvalidArgument(
                    [
                        FieldViolation(
                            f"{p}.reading.distance_mm", f"containers/{row.id} has no sensor geometry (model)"
                        )
                    ]
                )
            fill = fill_from_distance(row.empty_distance_mm, row.full_distance_mm, reading.distance_mm)
            distance: int | None = reading.distance_mm
        else:
            fill, distance = reading.fill_fraction, None
        when = from_timestamp(reading.measure_time)
        result.append(
            ReadingInsert(
                container_id=row.id,
                sensor_id=reading.sensor_id or (row.sensor_id or ""),
                # Keys are kept to the millisecond so a re-sent reading matches whatever the transport did.
                measure_time=when.replace(microsecond=when.microsecond // 1000 * 1000),
                fill=fill,
                distance_mm=distance,
                battery_percent=reading.battery_percent if reading.HasField("battery_percent") else None,
                temperature_c=reading.temperature_celsius
                if reading.HasField("temperature_celsius")
                else None,
                tilted=reading.tilted,
            )
        )
    return result
