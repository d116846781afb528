"""Containers, depots, facilities and vehicles: validation and proto ↔ row conversion."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from google.protobuf import field_mask_pb2
from google.protobuf.message import Message
from google.type import latlng_pb2

from wastesvc.domain._common import (
    check_duration,
    check_latlng,
    check_window,
    from_timestamp,
    parse_name,
    resource_name,
    seconds_to_timeofday,
    stream_from_key,
    stream_key,
    timeofday_to_seconds,
    to_duration,
    to_timestamp,
)
from wastesvc.errors import FieldViolation, InvalidArgument
from wastesvc.storage import ContainerRow, DepotRow, FacilityRow, ReadingRow, VehicleRow
from wastesvc.v1 import common_pb2, containers_pb2, fleet_pb2

__all__ = ["CONTAINERS", "DEPOTS", "FACILITIES", "VEHICLES", "ResourceKind", "apply_update_mask", "etag_of"]

Row = TypeVar("Row", ContainerRow, DepotRow, FacilityRow, VehicleRow)
Msg = TypeVar("Msg", bound=Message)


def _stream_violations(values: Any, field: str, *, required: bool) -> list[FieldViolation]:
    if required and not values:
        return [FieldViolation(field, "at least one stream is required")]
    violations = []
    for i, value in enumerate(values):
        try:
            stream_key(value, f"{field}[{i}]")
        except InvalidArgument as exc:
            violations += exc.violations
    return violations


_EQUIPMENT = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


def _equipment_violations(values: Any, field: str) -> list[FieldViolation]:
    return [
        FieldViolation(f"{field}[{i}]", "must be a lower-case word (a-z, 0-9, -), at most 32 characters")
        for i, value in enumerate(values)
        if not _EQUIPMENT.match(value)
    ]


def etag_of(row: ContainerRow | DepotRow | FacilityRow | VehicleRow) -> str:
    """The version of a stored resource (AIP-154): every write moves update_time."""
    stamp = f"{row.tenant}/{row.id}@{row.update_time.isoformat()}".encode()
    return hashlib.sha256(stamp).hexdigest()[:20]


def _window(start_s: int, end_s: int) -> common_pb2.TimeWindow:
    return common_pb2.TimeWindow(
        start_time=seconds_to_timeofday(start_s), end_time=seconds_to_timeofday(end_s)
    )


# Containers -----------------------------------------------------------------------------------------


def _validate_container(c: containers_pb2.Container, p: str) -> list[FieldViolation]:
    v: list[FieldViolation] = []
    if not c.commune_code:
        v.append(FieldViolation(f"{p}.commune_code", "is required (INSEE code, for example 02722)"))
    v += check_latlng(c.location, c.HasField("location"), f"{p}.location")
    try:
        stream_key(c.stream, f"{p}.stream")
    except InvalidArgument as exc:
        v += exc.violations
    if c.volume_liters <= 0:
        v.append(FieldViolation(f"{p}.volume_liters", "must be positive"))
    if c.HasField("model") and c.model.empty_distance_mm <= c.model.full_distance_mm:
        v.append(FieldViolation(f"{p}.model.empty_distance_mm", "must be greater than full_distance_mm"))
    if c.HasField("model") and c.model.full_distance_mm < 0:
        v.append(FieldViolation(f"{p}.model.full_distance_mm", "must not be negative"))
    for i, window in enumerate(c.access_windows):
        v += check_window(window, f"{p}.access_windows[{i}]")
    v += check_duration(c.service_duration, f"{p}.service_duration")
    v += _equipment_violations(c.required_equipment, f"{p}.required_equipment")
    return v


def _container_row(
    c: containers_pb2.Container, tenant: str, row_id: str, created: datetime, now: datetime
) -> ContainerRow:
    windows = [
        [timeofday_to_seconds(w.start_time), timeofday_to_seconds(w.end_time)] for w in c.access_windows
    ]
    return ContainerRow(
        tenant=tenant,
        id=row_id,
        commune_code=c.commune_code,
        locality=c.locality,
        street_address=c.street_address,
        lat=c.location.latitude,
        lng=c.location.longitude,
        stream=stream_key(c.stream, "container.stream"),
        volume_l=c.volume_liters,
        model_id=c.model.model_id,
        empty_distance_mm=c.model.empty_distance_mm,
        full_distance_mm=c.model.full_distance_mm,
        access_windows=json.dumps(windows),
        service_s=round(c.service_duration.ToTimedelta().total_seconds()),
        isle=c.isle,
        required_equipment=",".join(sorted(set(c.required_equipment))),
        sensor_id=c.sensor_id or None,
        last_emptied_time=from_timestamp(c.last_emptied_time) if c.HasField("last_emptied_time") else None,
        create_time=created,
        update_time=now,
    )


def container_proto(row: ContainerRow, latest: ReadingRow | None = None) -> containers_pb2.Container:
    result = containers_pb2.Container(
        name=resource_name(row.tenant, "containers", row.id),
        commune_code=row.commune_code,
        locality=row.locality,
        street_address=row.street_address,
        location=latlng_pb2.LatLng(latitude=row.lat, longitude=row.lng),
        stream=stream_from_key(row.stream),
        volume_liters=row.volume_l,
        access_windows=[_window(s, e) for s, e in json.loads(row.access_windows)],
        service_duration=to_duration(row.service_s),
        isle=row.isle,
        required_equipment=[e for e in row.required_equipment.split(",") if e],
        sensor_id=row.sensor_id or "",
        create_time=to_timestamp(row.create_time),
        update_time=to_timestamp(row.update_time),
        etag=etag_of(row),
    )
    if row.model_id or row.empty_distance_mm:
        result.model.CopyFrom(
            containers_pb2.ContainerModel(
                model_id=row.model_id,
                empty_distance_mm=row.empty_distance_mm,
                full_distance_mm=row.full_distance_mm,
            )
        )
    if row.last_emptied_time is not None:
        result.last_emptied_time.CopyFrom(to_timestamp(row.last_emptied_time))
    if latest is not None:
        result.latest_fill = latest.fill
        result.latest_reading_time.CopyFrom(to_timestamp(latest.measure_time))
    return result


# Depots ---------------------------------------------------------------------------------------------


def _validate_depot(d: fleet_pb2.Depot, p: str) -> list[FieldViolation]:
    return check_latlng(d.location, d.HasField("location"), f"{p}.location")


def _depot_row(d: fleet_pb2.Depot, tenant: str, row_id: str, created: datetime, now: datetime) -> DepotRow:
    return DepotRow(
        tenant=tenant,
        id=row_id,
        display_name=d.display_name,
        lat=d.location.latitude,
        lng=d.location.longitude,
        create_time=created,
        update_time=now,
    )


def depot_proto(row: DepotRow) -> fleet_pb2.Depot:
    return fleet_pb2.Depot(
        name=resource_name(row.tenant, "depots", row.id),
        display_name=row.display_name,
        location=latlng_pb2.LatLng(latitude=row.lat, longitude=row.lng),
        create_time=to_timestamp(row.create_time),
        update_time=to_timestamp(row.update_time),
        etag=etag_of(row),
    )


# Facilities -----------------------------------------------------------------------------------------


def _validate_facility(f: fleet_pb2.Facility, p: str) -> list[FieldViolation]:
    v = check_latlng(f.location, f.HasField("location"), f"{p}.location")
    v += _stream_violations(f.accepted_streams, f"{p}.accepted_streams", required=True)
    if not f.HasField("opening_hours"):
        v.append(FieldViolation(f"{p}.opening_hours", "is required"))
    else:
        v += check_window(f.opening_hours, f"{p}.opening_hours")
    v += check_duration(f.dump_duration, f"{p}.dump_duration")
    return v


def _facility_row(
    f: fleet_pb2.Facility, tenant: str, row_id: str, created: datetime, now: datetime
) -> FacilityRow:
    return FacilityRow(
        tenant=tenant,
        id=row_id,
        display_name=f.display_name,
        lat=f.location.latitude,
        lng=f.location.longitude,
        streams=",".join(stream_key(s, "facility.accepted_streams") for s in f.accepted_streams),
        open_s=timeofday_to_seconds(f.opening_hours.start_time),
        close_s=timeofday_to_seconds(f.opening_hours.end_time),
        dump_s=round(f.dump_duration.ToTimedelta().total_seconds()),
        create_time=created,
        update_time=now,
    )


def facility_proto(row: FacilityRow) -> fleet_pb2.Facility:
    return fleet_pb2.Facility(
        name=resource_name(row.tenant, "facilities", row.id),
        display_name=row.display_name,
        location=latlng_pb2.LatLng(latitude=row.lat, longitude=row.lng),
        accepted_streams=[stream_from_key(s) for s in row.streams.split(",")],
        opening_hours=_window(row.open_s, row.close_s),
        dump_duration=to_duration(row.dump_s),
        create_time=to_timestamp(row.create_time),
        update_time=to_timestamp(row.update_time),
        etag=etag_of(row),
    )


# Vehicles -------------------------------------------------------------------------------------------


# Euros per km or per hour; beyond this a cost is a unit mistake and overflows the solver's integer costs.
MAX_COST = 10_000.0


def _break_fits_shift(x: fleet_pb2.Vehicle, p: str) -> list[FieldViolation]:
    """The break starts within its window and ends within the shift, as the solver requires."""
    shift_start, shift_end = timeofday_to_seconds(x.shift.start_time), timeofday_to_seconds(x.shift.end_time)
    earliest = max(timeofday_to_seconds(x.break_window.start_time), shift_start)
    if (
        earliest > timeofday_to_seconds(x.break_window.end_time)
        or earliest + x.break_duration.seconds > shift_end
    ):
        return [
            FieldViolation(
                f"{p}.break_window",
                "the shift cannot hold the break: it must start within both "
                "break_window and shift, and end by the shift's end",
            )
        ]
    return []


def _validate_vehicle(x: fleet_pb2.Vehicle, p: str) -> list[FieldViolation]:
    v: list[FieldViolation] = []
    if x.capacity_liters <= 0:
        v.append(FieldViolation(f"{p}.capacity_liters", "must be positive"))
    if x.capacity_kg <= 0:
        v.append(FieldViolation(f"{p}.capacity_kg", "must be positive"))
    v += _stream_violations(x.streams, f"{p}.streams", required=True)
    try:
        parse_name(x.home_depot, "depots", f"{p}.home_depot")
    except InvalidArgument as exc:
        v += exc.violations
    if not x.HasField("shift"):
        v.append(FieldViolation(f"{p}.shift", "is required"))
    else:
        v += check_window(x.shift, f"{p}.shift")
    if x.HasField("break_window"):
        v += check_window(x.break_window, f"{p}.break_window")
    v += check_duration(x.break_duration, f"{p}.break_duration")
    if x.break_duration.seconds > 0 and not x.HasField("break_window"):
        v.append(FieldViolation(f"{p}.break_window", "is required when break_duration is set"))
    elif not v and x.break_duration.seconds > 0:
        v += _break_fits_shift(x, p)
    for field in ("cost_per_kilometer", "cost_per_hour"):
        if not 0 <= getattr(x, field) <= MAX_COST:
            v.append(FieldViolation(f"{p}.{field}", f"must be within [0, {MAX_COST:g}]"))
    if x.daily_volume_cap_liters < 0:
        v.append(FieldViolation(f"{p}.daily_volume_cap_liters", "must not be negative"))
    v += _equipment_violations(x.equipment, f"{p}.equipment")
    v += _compartment_violations(x, p)
    return v


def _compartment_violations(x: fleet_pb2.Vehicle, p: str) -> list[FieldViolation]:
    """Compartments with room, each stream of the vehicle in exactly one of them."""
    v: list[FieldViolation] = []
    seen: set[int] = set()
    for i, c in enumerate(x.compartments):
        where = f"{p}.compartments[{i}]"
        v += _stream_violations(c.streams, f"{where}.streams", required=True)
        if c.capacity_liters <= 0:
            v.append(FieldViolation(f"{where}.capacity_liters", "must be positive"))
        if c.capacity_kg <= 0:
            v.append(FieldViolation(f"{where}.capacity_kg", "must be positive"))
        if seen & set(c.streams):
            v.append(FieldViolation(f"{where}.streams", "a stream goes in one compartment only"))
        seen |= set(c.streams)
    if x.compartments and seen != set(x.streams):
        v.append(FieldViolation(f"{p}.compartments", "their streams must be exactly the vehicle's streams"))
    return v


def _vehicle_row(
    x: fleet_pb2.Vehicle, tenant: str, row_id: str, created: datetime, now: datetime
) -> VehicleRow:
    return VehicleRow(
        tenant=tenant,
        id=row_id,
        display_name=x.display_name,
        capacity_l=x.capacity_liters,
        capacity_kg=x.capacity_kg,
        streams=",".join(stream_key(s, "vehicle.streams") for s in x.streams),
        home_depot=x.home_depot.rsplit("/", 1)[-1],
        shift_start_s=timeofday_to_seconds(x.shift.start_time),
        shift_end_s=timeofday_to_seconds(x.shift.end_time),
        break_start_s=timeofday_to_seconds(x.break_window.start_time),
        break_end_s=timeofday_to_seconds(x.break_window.end_time),
        break_s=x.break_duration.seconds,
        cost_per_km=x.cost_per_kilometer,
        cost_per_hour=x.cost_per_hour,
        daily_volume_cap_l=x.daily_volume_cap_liters,
        equipment=",".join(sorted(set(x.equipment))),
        create_time=created,
        update_time=now,
        compartments=json.dumps(
            [
                [
                    ",".join(stream_key(s, "vehicle.compartments") for s in c.streams),
                    c.capacity_liters,
                    c.capacity_kg,
                ]
                for c in x.compartments
            ]
        ),
    )


def vehicle_proto(row: VehicleRow) -> fleet_pb2.Vehicle:
    result = fleet_pb2.Vehicle(
        name=resource_name(row.tenant, "vehicles", row.id),
        display_name=row.display_name,
        capacity_liters=row.capacity_l,
        capacity_kg=row.capacity_kg,
        streams=[stream_from_key(s) for s in row.streams.split(",")],
        home_depot=resource_name(row.tenant, "depots", row.home_depot),
        shift=_window(row.shift_start_s, row.shift_end_s),
        break_duration=to_duration(row.break_s),
        cost_per_kilometer=row.cost_per_km,
        cost_per_hour=row.cost_per_hour,
        daily_volume_cap_liters=row.daily_volume_cap_l,
        equipment=[e for e in row.equipment.split(",") if e],
        create_time=to_timestamp(row.create_time),
        update_time=to_timestamp(row.update_time),
        compartments=[
            fleet_pb2.Compartment(
                streams=[stream_from_key(s) for s in streams.split(",")],
                capacity_liters=litres,
                capacity_kg=kilos,
            )
            for streams, litres, kilos in json.loads(row.compartments)
        ],
        etag=etag_of(row),
    )
    if row.break_s:
        result.break_window.CopyFrom(_window(row.break_start_s, row.break_end_s))
    return result


# The table that drives the generic CRUD servicer ------------------------------------------------------


@dataclass(frozen=True)
class ResourceKind(Generic[Row, Msg]):
    """How one resource collection validates, converts and names itself."""

    collection: str  # `containers`, the first segment of names
    singular: str  # `container`, the request field holding the resource
    row_type: type[Row]
    message_type: type[Msg]
    validate: Callable[[Msg, str], list[FieldViolation]]
    to_row: Callable[[Msg, str, str, datetime, datetime], Row]
    to_proto: Callable[[Row], Msg]
    output_only: frozenset[str]


_OUTPUT_ONLY = frozenset({"name", "create_time", "update_time", "etag"})

CONTAINERS: ResourceKind[ContainerRow, containers_pb2.Container] = ResourceKind(
    "containers",
    "container",
    ContainerRow,
    containers_pb2.Container,
    _validate_container,
    _container_row,
    container_proto,
    _OUTPUT_ONLY | {"latest_fill", "latest_reading_time", "forecast"},
)
DEPOTS: ResourceKind[DepotRow, fleet_pb2.Depot] = ResourceKind(
    "depots", "depot", DepotRow, fleet_pb2.Depot, _validate_depot, _depot_row, depot_proto, _OUTPUT_ONLY
)
FACILITIES: ResourceKind[FacilityRow, fleet_pb2.Facility] = ResourceKind(
    "facilities",
    "facility",
    FacilityRow,
    fleet_pb2.Facility,
    _validate_facility,
    _facility_row,
    facility_proto,
    _OUTPUT_ONLY,
)
VEHICLES: ResourceKind[VehicleRow, fleet_pb2.Vehicle] = ResourceKind(
    "vehicles",
    "vehicle",
    VehicleRow,
    fleet_pb2.Vehicle,
    _validate_vehicle,
    _vehicle_row,
    vehicle_proto,
    _OUTPUT_ONLY,
)


def apply_update_mask(
    current: Msg, patch: Msg, mask: field_mask_pb2.FieldMask, kind: ResourceKind[Any, Msg]
) -> Msg:
    """`current` with the masked fields of `patch` (AIP-134); `*` replaces every writable field."""
    writable = {f.name for f in current.DESCRIPTOR.fields} - kind.output_only
    if not mask.paths:
        raise InvalidArgument(
            [FieldViolation("update_mask", "is required; use * to replace every writable field")]
        )
    paths = sorted(writable) if list(mask.paths) == ["*"] else list(mask.paths)
    # A sub-path must name real fields too (`location.latitude`), or MergeMessage raises KeyError.
    descriptor: Any = current.DESCRIPTOR  # types-protobuf's union is refused by IsValidForDescriptor
    bad = [
        p
        for p in paths
        if p.split(".")[0] not in writable
        or not field_mask_pb2.FieldMask(paths=[p]).IsValidForDescriptor(descriptor)
    ]
    if bad:
        raise InvalidArgument(
            [FieldViolation("update_mask", f"{p!r} is not a writable field of {kind.singular}") for p in bad]
        )
    merged = type(current)()
    merged.CopyFrom(current)
    field_mask_pb2.FieldMask(paths=paths).MergeMessage(
        patch, merged, replace_message_field=True, replace_repeated_field=True
    )
    return merged
