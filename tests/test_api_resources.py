"""ContainerService and FleetService through the gRPC API: CRUD, update masks, pagination, validation."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2
from google.protobuf.message import Message
from google.type import latlng_pb2

from tests.conftest import TENANT, Api, container_message, create_container, create_fleet, window
from tests.errors import assert_error, rpc_error, violations
from wastesvc.v1 import common_pb2, containers_pb2, containers_pb2_grpc, fleet_pb2, fleet_pb2_grpc

M = TypeVar("M", bound=Message)

GLASS = common_pb2.WASTE_STREAM_GLASS
RESIDUAL = common_pb2.WASTE_STREAM_RESIDUAL
INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND


@dataclass(frozen=True)
class Rpc:
    """The `api` fixture with its stubs typed as the grpc.aio stubs they are (conftest types sync ones)."""

    api: Api
    containers: containers_pb2_grpc.ContainerServiceAsyncStub
    fleet: fleet_pb2_grpc.FleetServiceAsyncStub


@pytest.fixture
def rpc(api: Api) -> Rpc:
    """The stubs of the `api` fixture, for typed awaits."""
    untyped: Any = api
    return Rpc(api, untyped.containers, untyped.fleet)


def _latlng(lat: float, lng: float) -> latlng_pb2.LatLng:
    return latlng_pb2.LatLng(latitude=lat, longitude=lng)


# Fully populated resources, and a second version with a different value in every writable field -------


def _container() -> containers_pb2.Container:
    container = container_message(sensor_id="SENS-0001", isle="I-12")
    container.access_windows.extend([window((6, 0), (12, 0))])
    container.service_duration.CopyFrom(duration_pb2.Duration(seconds=90))
    container.last_emptied_time.CopyFrom(timestamp_pb2.Timestamp(seconds=1_764_000_000))
    return container


def _other_container() -> containers_pb2.Container:
    return containers_pb2.Container(
        commune_code="02408",
        locality="Laon",
        street_address="Rue Châtelaine",
        location=_latlng(49.5641, 3.6199),
        stream=RESIDUAL,
        volume_liters=660,
        model=containers_pb2.ContainerModel(model_id="bac-660", empty_distance_mm=1100, full_distance_mm=150),
        access_windows=[window((5, 0), (7, 0)), window((14, 0), (16, 30))],
        service_duration=duration_pb2.Duration(seconds=45),
        sensor_id="SENS-0002",
    )


def _depot() -> fleet_pb2.Depot:
    return fleet_pb2.Depot(display_name="Centre technique", location=_latlng(49.37, 3.35))


def _other_depot() -> fleet_pb2.Depot:
    return fleet_pb2.Depot(display_name="Garage nord", location=_latlng(49.41, 3.30))


def _facility() -> fleet_pb2.Facility:
    return fleet_pb2.Facility(
        display_name="Quai verre",
        location=_latlng(49.39, 3.36),
        accepted_streams=[GLASS],
        opening_hours=window((5, 30), (18, 0)),
        dump_duration=duration_pb2.Duration(seconds=600),
    )


def _other_facility() -> fleet_pb2.Facility:
    return fleet_pb2.Facility(
        display_name="Centre de tri",
        location=_latlng(49.45, 3.42),
        accepted_streams=[RESIDUAL, common_pb2.WASTE_STREAM_PACKAGING],
        opening_hours=window((6, 0), (20, 0)),
        dump_duration=duration_pb2.Duration(seconds=900),
    )


def _vehicle() -> fleet_pb2.Vehicle:
    return fleet_pb2.Vehicle(
        display_name="Grue 1",
        capacity_liters=12000,
        capacity_kg=8000,
        streams=[GLASS],
        home_depot="tenants/grand-soissons/depots/ctm",
        shift=window((6, 0), (13, 30)),
        break_window=window((9, 30), (10, 30)),
        break_duration=duration_pb2.Duration(seconds=1800),
        cost_per_kilometer=1.2,
        cost_per_hour=45.0,
        daily_volume_cap_liters=30000,
    )


def _other_vehicle() -> fleet_pb2.Vehicle:
    return fleet_pb2.Vehicle(
        display_name="BOM 3",
        capacity_liters=16000,
        capacity_kg=9500,
        streams=[RESIDUAL, common_pb2.WASTE_STREAM_PACKAGING],
        home_depot="tenants/grand-soissons/depots/nord",
        shift=window((5, 0), (12, 0)),
        break_window=window((8, 30), (9, 30)),
        break_duration=duration_pb2.Duration(seconds=1200),
        cost_per_kilometer=1.5,
        cost_per_hour=50.0,
        daily_volume_cap_liters=40000,
    )


async def _no_setup(rpc: Rpc) -> None:
    return None


async def _two_depots(rpc: Rpc) -> None:
    for depot_id, depot in (("ctm", _depot()), ("nord", _other_depot())):
        await rpc.fleet.CreateDepot(
            fleet_pb2.CreateDepotRequest(parent=TENANT, depot_id=depot_id, depot=depot)
        )


def _mask(paths: list[str]) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=paths)


@dataclass(frozen=True)
class Kind(Generic[M]):
    """How to drive the CRUD methods of one resource collection."""

    collection: str
    sample: Callable[[], M]
    other: Callable[[], M]
    masked: str  # a field the update test names in the mask
    unmasked: str  # a field the update test changes in the patch but leaves out of the mask
    create: Callable[[Rpc, str, M], Awaitable[M]]
    get: Callable[[Rpc, str], Awaitable[M]]
    update: Callable[[Rpc, M, list[str]], Awaitable[M]]
    delete: Callable[[Rpc, str], Awaitable[object]]
    setup: Callable[[Rpc], Awaitable[None]] = _no_setup


KINDS: list[Kind[Any]] = [
    Kind(
        "containers",
        _container,
        _other_container,
        masked="volume_liters",
        unmasked="locality",
        create=lambda rpc, rid, m: rpc.containers.CreateContainer(
            containers_pb2.CreateContainerRequest(parent=TENANT, container_id=rid, container=m)
        ),
        get=lambda rpc, name: rpc.containers.GetContainer(containers_pb2.GetContainerRequest(name=name)),
        update=lambda rpc, m, paths: rpc.containers.UpdateContainer(
            containers_pb2.UpdateContainerRequest(container=m, update_mask=_mask(paths))
        ),
        delete=lambda rpc, name: rpc.containers.DeleteContainer(
            containers_pb2.DeleteContainerRequest(name=name)
        ),
    ),
    Kind(
        "depots",
        _depot,
        _other_depot,
        masked="location",
        unmasked="display_name",
        create=lambda rpc, rid, m: rpc.fleet.CreateDepot(
            fleet_pb2.CreateDepotRequest(parent=TENANT, depot_id=rid, depot=m)
        ),
        get=lambda rpc, name: rpc.fleet.GetDepot(fleet_pb2.GetDepotRequest(name=name)),
        update=lambda rpc, m, paths: rpc.fleet.UpdateDepot(
            fleet_pb2.UpdateDepotRequest(depot=m, update_mask=_mask(paths))
        ),
        delete=lambda rpc, name: rpc.fleet.DeleteDepot(fleet_pb2.DeleteDepotRequest(name=name)),
    ),
    Kind(
        "facilities",
        _facility,
        _other_facility,
        masked="opening_hours",
        unmasked="display_name",
        create=lambda rpc, rid, m: rpc.fleet.CreateFacility(
            fleet_pb2.CreateFacilityRequest(parent=TENANT, facility_id=rid, facility=m)
        ),
        get=lambda rpc, name: rpc.fleet.GetFacility(fleet_pb2.GetFacilityRequest(name=name)),
        update=lambda rpc, m, paths: rpc.fleet.UpdateFacility(
            fleet_pb2.UpdateFacilityRequest(facility=m, update_mask=_mask(paths))
        ),
        delete=lambda rpc, name: rpc.fleet.DeleteFacility(fleet_pb2.DeleteFacilityRequest(name=name)),
    ),
    Kind(
        "vehicles",
        _vehicle,
        _other_vehicle,
        masked="shift",
        unmasked="capacity_kg",
        create=lambda rpc, rid, m: rpc.fleet.CreateVehicle(
            fleet_pb2.CreateVehicleRequest(parent=TENANT, vehicle_id=rid, vehicle=m)
        ),
        get=lambda rpc, name: rpc.fleet.GetVehicle(fleet_pb2.GetVehicleRequest(name=name)),
        update=lambda rpc, m, paths: rpc.fleet.UpdateVehicle(
            fleet_pb2.UpdateVehicleRequest(vehicle=m, update_mask=_mask(paths))
        ),
        delete=lambda rpc, name: rpc.fleet.DeleteVehicle(fleet_pb2.DeleteVehicleRequest(name=name)),
        setup=_two_depots,
    ),
]


def _ids(kind: Kind[Any]) -> str:
    return kind.collection


def _copy(message: M) -> M:
    result = type(message)()
    result.CopyFrom(message)
    return result


def _copy_field(target: Message, source: Message, field: str) -> None:
    if target.DESCRIPTOR.fields_by_name[field].message_type is not None:
        getattr(target, field).CopyFrom(getattr(source, field))
    else:
        setattr(target, field, getattr(source, field))


def _time(stamp: timestamp_pb2.Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


async def _created(rpc: Rpc, kind: Kind[M], resource_id: str = "x-1") -> M:
    await kind.setup(rpc)
    return await kind.create(rpc, resource_id, kind.sample())


# CRUD round trips -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=_ids)
async def test_create_then_get_returns_what_was_sent(rpc: Rpc, kind: Kind[Any]) -> None:
    """Create and Get return the resource sent, plus its name and equal create/update times."""
    created = await _created(rpc, kind)

    expected = _copy(kind.sample())
    expected.name = f"{TENANT}/{kind.collection}/x-1"
    expected.create_time.CopyFrom(created.create_time)
    expected.update_time.CopyFrom(created.update_time)
    assert created.etag
    expected.etag = created.etag
    assert created == expected
    assert created.create_time == created.update_time
    assert abs(_time(created.create_time) - datetime.now(UTC)) < timedelta(minutes=1)
    assert await kind.get(rpc, expected.name) == created


@pytest.mark.parametrize("kind", KINDS, ids=_ids)
async def test_update_changes_only_masked_fields(rpc: Rpc, kind: Kind[Any]) -> None:
    """An update changes the fields named in update_mask and nothing else, and bumps update_time."""
    created = await _created(rpc, kind)
    patch = kind.other()
    patch.name = created.name
    assert getattr(patch, kind.masked) != getattr(created, kind.masked)
    assert getattr(patch, kind.unmasked) != getattr(created, kind.unmasked)

    updated = await kind.update(rpc, patch, [kind.masked])

    expected = _copy(created)
    _copy_field(expected, patch, kind.masked)
    expected.update_time.CopyFrom(updated.update_time)
    expected.etag = updated.etag
    assert updated == expected
    assert getattr(updated, kind.unmasked) == getattr(created, kind.unmasked)
    assert _time(updated.update_time) > _time(created.update_time)
    assert await kind.get(rpc, created.name) == updated


@pytest.mark.parametrize("kind", KINDS, ids=_ids)
async def test_update_star_replaces_every_writable_field(rpc: Rpc, kind: Kind[Any]) -> None:
    """With mask `*` every writable field takes the patch's value, unset ones included."""
    created = await _created(rpc, kind)
    patch = kind.other()
    patch.name = created.name

    updated = await kind.update(rpc, patch, ["*"])

    expected = _copy(patch)
    expected.create_time.CopyFrom(created.create_time)
    expected.update_time.CopyFrom(updated.update_time)
    expected.etag = updated.etag
    assert updated == expected
    assert await kind.get(rpc, created.name) == updated


@pytest.mark.parametrize("field", ["name", "create_time", "update_time", "etag"])
@pytest.mark.parametrize("kind", KINDS, ids=_ids)
async def test_update_of_output_only_field_is_invalid(rpc: Rpc, kind: Kind[Any], field: str) -> None:
    """Naming an output-only field in update_mask is INVALID_ARGUMENT on update_mask; nothing changes."""
    created = await _created(rpc, kind)
    patch = kind.other()
    patch.name = created.name

    err = await rpc_error(kind.update(rpc, patch, [kind.unmasked, field]))

    assert_error(err, INVALID, "update_mask")
    assert field in violations(err)["update_mask"]
    assert await kind.get(rpc, created.name) == created


async def test_update_of_container_latest_fill_is_invalid(rpc: Rpc) -> None:
    """latest_fill is computed from readings, so a client cannot set it through update_mask."""
    created = await create_container(rpc.api, "c1")
    patch = _copy(created)
    patch.latest_fill = 0.9

    err = await rpc_error(
        rpc.containers.UpdateContainer(
            containers_pb2.UpdateContainerRequest(container=patch, update_mask=_mask(["latest_fill"]))
        )
    )

    assert_error(err, INVALID, "update_mask")


async def test_update_without_mask_is_invalid(rpc: Rpc) -> None:
    """An empty update_mask is refused rather than silently updating nothing or everything."""
    created = await create_container(rpc.api, "c1")
    patch = _copy(created)
    patch.volume_liters = 660

    err = await rpc_error(
        rpc.containers.UpdateContainer(containers_pb2.UpdateContainerRequest(container=patch))
    )

    assert_error(err, INVALID, "update_mask")
    got = await rpc.containers.GetContainer(
        containers_pb2.GetContainerRequest(name="tenants/grand-soissons/containers/c1")
    )
    assert got.volume_liters == 3000


async def test_update_of_missing_container_is_not_found(rpc: Rpc) -> None:
    """Updating a container that does not exist is NOT_FOUND naming container.name."""
    patch = container_message()
    patch.name = "tenants/grand-soissons/containers/ghost"

    err = await rpc_error(
        rpc.containers.UpdateContainer(
            containers_pb2.UpdateContainerRequest(container=patch, update_mask=_mask(["locality"]))
        )
    )

    info = assert_error(err, NOT_FOUND, "container.name")
    assert info.metadata["resource"] == "tenants/grand-soissons/containers/ghost"


async def test_update_that_breaks_validation_is_invalid(rpc: Rpc) -> None:
    """The merged resource is validated: a masked latitude of 91 is refused and nothing is stored."""
    created = await create_container(rpc.api, "c1")
    patch = _copy(created)
    patch.location.latitude = 91.0

    err = await rpc_error(
        rpc.containers.UpdateContainer(
            containers_pb2.UpdateContainerRequest(container=patch, update_mask=_mask(["location"]))
        )
    )

    assert_error(err, INVALID, "container.location.latitude")
    got = await rpc.containers.GetContainer(
        containers_pb2.GetContainerRequest(name="tenants/grand-soissons/containers/c1")
    )
    assert got.location == created.location


async def test_update_with_sub_path_changes_only_that_sub_field(rpc: Rpc) -> None:
    """Mask `location.latitude` moves the container north without touching its longitude."""
    created = await create_container(rpc.api, "c1")
    patch = containers_pb2.Container(
        name="tenants/grand-soissons/containers/c1", location=_latlng(49.40, 3.0)
    )

    updated = await rpc.containers.UpdateContainer(
        containers_pb2.UpdateContainerRequest(container=patch, update_mask=_mask(["location.latitude"]))
    )

    assert updated.location == _latlng(49.40, created.location.longitude)


@pytest.mark.parametrize("path", ["bogus", "location.bogus", "access_windows.start_time", "*.name"])
async def test_update_mask_with_unknown_path_is_invalid(rpc: Rpc, path: str) -> None:
    """A mask path that does not name a writable (sub-)field is INVALID_ARGUMENT, never INTERNAL."""
    created = await create_container(rpc.api, "c1")

    err = await rpc_error(
        rpc.containers.UpdateContainer(
            containers_pb2.UpdateContainerRequest(container=created, update_mask=_mask([path]))
        )
    )

    assert_error(err, INVALID, "update_mask")
    assert path in violations(err)["update_mask"]


async def test_sensor_already_fitted_elsewhere_is_failed_precondition(rpc: Rpc) -> None:
    """A sensor_id is unique: reusing one on create or update is FAILED_PRECONDITION naming the holder."""
    await create_container(rpc.api, "c1", sensor_id="SENS-1")
    second = await create_container(rpc.api, "c2", sensor_id="SENS-2")

    create_err = await rpc_error(create_container(rpc.api, "c3", sensor_id="SENS-1"))
    second.sensor_id = "SENS-1"
    update_err = await rpc_error(
        rpc.containers.UpdateContainer(
            containers_pb2.UpdateContainerRequest(container=second, update_mask=_mask(["sensor_id"]))
        )
    )

    for err in (create_err, update_err):
        info = assert_error(err, grpc.StatusCode.FAILED_PRECONDITION, "container.sensor_id")
        assert info.metadata["resource"] == "tenants/grand-soissons/containers/c1"
    listed = await rpc.containers.ListContainers(containers_pb2.ListContainersRequest(parent=TENANT))
    assert [(c.name, c.sensor_id) for c in listed.containers] == [
        ("tenants/grand-soissons/containers/c1", "SENS-1"),
        ("tenants/grand-soissons/containers/c2", "SENS-2"),
    ]


async def test_update_keeping_own_sensor_is_accepted(rpc: Rpc) -> None:
    """Updating a container with `*` while keeping its own sensor_id is not a conflict."""
    created = await create_container(rpc.api, "c1", sensor_id="SENS-1")
    created.volume_liters = 4000

    updated = await rpc.containers.UpdateContainer(
        containers_pb2.UpdateContainerRequest(container=created, update_mask=_mask(["*"]))
    )

    assert (updated.sensor_id, updated.volume_liters) == ("SENS-1", 4000)


async def test_create_existing_id_with_its_own_sensor_is_already_exists(rpc: Rpc) -> None:
    """Re-creating a container with its own sensor is ALREADY_EXISTS on the container, not a conflict."""
    await create_container(rpc.api, "c1", sensor_id="SENS-1")

    err = await rpc_error(create_container(rpc.api, "c1", sensor_id="SENS-1"))

    info = assert_error(err, grpc.StatusCode.ALREADY_EXISTS)
    assert info.metadata["resource"] == "tenants/grand-soissons/containers/c1"


@pytest.mark.parametrize("kind", KINDS, ids=_ids)
async def test_delete_then_get_is_not_found(rpc: Rpc, kind: Kind[Any]) -> None:
    """After a delete, Get and a second Delete are NOT_FOUND with the name in ErrorInfo."""
    created = await _created(rpc, kind)

    await kind.delete(rpc, created.name)

    get_err = await rpc_error(kind.get(rpc, created.name))
    info = assert_error(get_err, NOT_FOUND, "name")
    assert info.metadata["resource"] == created.name
    assert info.reason == "RESOURCE_NOT_FOUND"
    delete_err = await rpc_error(kind.delete(rpc, created.name))
    assert_error(delete_err, NOT_FOUND, "name")


@pytest.mark.parametrize("kind", KINDS, ids=_ids)
async def test_create_twice_is_already_exists(rpc: Rpc, kind: Kind[Any]) -> None:
    """A second create with the same id is ALREADY_EXISTS and leaves the first resource as it was."""
    created = await _created(rpc, kind)

    err = await rpc_error(kind.create(rpc, "x-1", kind.other()))

    info = assert_error(err, grpc.StatusCode.ALREADY_EXISTS)
    assert info.reason == "RESOURCE_EXISTS"
    assert info.metadata["resource"] == created.name
    assert await kind.get(rpc, created.name) == created


@pytest.mark.parametrize("kind", KINDS, ids=_ids)
async def test_get_with_malformed_name_is_invalid(rpc: Rpc, kind: Kind[Any]) -> None:
    """A name from another collection is INVALID_ARGUMENT on name, not NOT_FOUND."""
    err = await rpc_error(kind.get(rpc, "elsewhere/x-1"))

    assert_error(err, INVALID, "name")


# Fleet references ---------------------------------------------------------------------------------------


async def test_delete_depot_with_vehicle_is_failed_precondition(rpc: Rpc) -> None:
    """A depot that is a vehicle's home cannot be deleted until the vehicle is gone."""
    await create_fleet(rpc.api)

    err = await rpc_error(
        rpc.fleet.DeleteDepot(fleet_pb2.DeleteDepotRequest(name="tenants/grand-soissons/depots/ctm"))
    )

    info = assert_error(err, grpc.StatusCode.FAILED_PRECONDITION)
    assert info.reason == "DEPOT_IN_USE"
    assert "tenants/grand-soissons/depots/ctm" in (err.details() or "")
    depot = await rpc.fleet.GetDepot(fleet_pb2.GetDepotRequest(name="tenants/grand-soissons/depots/ctm"))
    assert depot.name == "tenants/grand-soissons/depots/ctm"

    await rpc.fleet.DeleteVehicle(
        fleet_pb2.DeleteVehicleRequest(name="tenants/grand-soissons/vehicles/gru-01")
    )
    await rpc.fleet.DeleteDepot(fleet_pb2.DeleteDepotRequest(name="tenants/grand-soissons/depots/ctm"))
    listed = await rpc.fleet.ListDepots(fleet_pb2.ListDepotsRequest(parent=TENANT))
    assert list(listed.depots) == []


async def test_vehicle_with_unknown_home_depot_is_not_found(rpc: Rpc) -> None:
    """Creating a vehicle based at a missing depot is NOT_FOUND naming vehicle.home_depot."""
    vehicle = _vehicle()
    vehicle.home_depot = "tenants/grand-soissons/depots/nowhere"

    err = await rpc_error(
        rpc.fleet.CreateVehicle(
            fleet_pb2.CreateVehicleRequest(parent=TENANT, vehicle_id="v1", vehicle=vehicle)
        )
    )

    info = assert_error(err, NOT_FOUND, "vehicle.home_depot")
    assert info.metadata["resource"] == "tenants/grand-soissons/depots/nowhere"
    listed = await rpc.fleet.ListVehicles(fleet_pb2.ListVehiclesRequest(parent=TENANT))
    assert list(listed.vehicles) == []


async def test_vehicle_moved_to_unknown_depot_is_not_found(rpc: Rpc) -> None:
    """Updating home_depot to a missing depot is NOT_FOUND naming vehicle.home_depot; nothing changes."""
    await create_fleet(rpc.api)
    patch = fleet_pb2.Vehicle(
        name="tenants/grand-soissons/vehicles/gru-01", home_depot="tenants/grand-soissons/depots/nowhere"
    )

    err = await rpc_error(
        rpc.fleet.UpdateVehicle(
            fleet_pb2.UpdateVehicleRequest(vehicle=patch, update_mask=_mask(["home_depot"]))
        )
    )

    assert_error(err, NOT_FOUND, "vehicle.home_depot")
    vehicle = await rpc.fleet.GetVehicle(
        fleet_pb2.GetVehicleRequest(name="tenants/grand-soissons/vehicles/gru-01")
    )
    assert vehicle.home_depot == "tenants/grand-soissons/depots/ctm"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda v: v.ClearField("streams"), "vehicle.streams"),
        (lambda v: v.streams.append(42), "vehicle.streams[1]"),
        (lambda v: setattr(v, "capacity_kg", 0), "vehicle.capacity_kg"),
        (lambda v: v.ClearField("shift"), "vehicle.shift"),
        (lambda v: v.ClearField("break_window"), "vehicle.break_window"),
        (lambda v: setattr(v, "cost_per_hour", -1.0), "vehicle.cost_per_hour"),
    ],
    ids=["no-streams", "unknown-stream", "no-payload", "no-shift", "break-without-window", "negative-cost"],
)
async def test_invalid_vehicle_names_the_field(
    rpc: Rpc, change: Callable[[fleet_pb2.Vehicle], object], field: str
) -> None:
    """Each invalid vehicle field is INVALID_ARGUMENT with its path in BadRequest."""
    await _two_depots(rpc)
    vehicle = _vehicle()
    change(vehicle)

    err = await rpc_error(
        rpc.fleet.CreateVehicle(
            fleet_pb2.CreateVehicleRequest(parent=TENANT, vehicle_id="v1", vehicle=vehicle)
        )
    )

    assert_error(err, INVALID, field)


async def test_facility_without_streams_or_hours_is_invalid(rpc: Rpc) -> None:
    """A facility needs accepted streams and opening hours; both violations are reported together."""
    facility = fleet_pb2.Facility(display_name="Quai", location=_latlng(49.39, 3.36))

    err = await rpc_error(
        rpc.fleet.CreateFacility(
            fleet_pb2.CreateFacilityRequest(parent=TENANT, facility_id="f1", facility=facility)
        )
    )

    assert_error(err, INVALID, "facility.accepted_streams")
    assert set(violations(err)) == {"facility.accepted_streams", "facility.opening_hours"}


# Pagination and filters ---------------------------------------------------------------------------------

COUNT = 25


def _commune(i: int) -> str:
    return "02722" if i % 2 == 0 else "02408"


def _stream(i: int) -> common_pb2.WasteStream.ValueType:
    return GLASS if i % 3 == 0 else RESIDUAL


@pytest.fixture
async def many(rpc: Rpc) -> Rpc:
    """25 containers in 2 communes and 2 streams, created in shuffled order."""
    order = list(range(COUNT))
    random.Random(42).shuffle(order)
    for i in order:
        await create_container(rpc.api, f"c{i:02d}", commune=_commune(i), stream=_stream(i))
    return rpc


async def _walk(rpc: Rpc, filter_text: str, size: int) -> tuple[list[str], list[int], set[int]]:
    """All names over all pages, the page lengths and the total sizes seen."""
    names: list[str] = []
    lengths: list[int] = []
    totals: set[int] = set()
    token = ""
    while True:
        page = await rpc.containers.ListContainers(
            containers_pb2.ListContainersRequest(
                parent=TENANT, page_size=size, page_token=token, filter=filter_text
            )
        )
        names += [c.name for c in page.containers]
        lengths.append(len(page.containers))
        totals.add(page.total_size)
        token = page.next_page_token
        if not token:
            return names, lengths, totals
        assert len(lengths) <= COUNT, "the page token never ends"


def _expected(keep: Callable[[int], bool]) -> list[str]:
    return [f"tenants/grand-soissons/containers/c{i:02d}" for i in range(COUNT) if keep(i)]


async def test_pages_return_every_container_once_in_name_order(many: Rpc) -> None:
    """Walking pages of 10 yields all 25 containers exactly once, ordered by name, with total_size."""
    names, lengths, totals = await _walk(many, "", 10)

    assert names == _expected(lambda i: True)
    assert lengths == [10, 10, 5]
    assert totals == {COUNT}


async def test_default_page_size_returns_everything_below_fifty(many: Rpc) -> None:
    """page_size 0 means 50, so 25 containers come back in one page without a token."""
    page = await many.containers.ListContainers(containers_pb2.ListContainersRequest(parent=TENANT))

    assert len(page.containers) == COUNT
    assert page.next_page_token == ""


async def test_filter_by_commune(many: Rpc) -> None:
    """`commune_code = "02722"` keeps only the containers of Soissons, across pages."""
    names, _, totals = await _walk(many, 'commune_code = "02722"', 5)

    assert names == _expected(lambda i: _commune(i) == "02722")
    assert totals == {13}


@pytest.mark.parametrize(
    "filter_text", ["stream = GLASS", 'stream = "glass"', "stream = WASTE_STREAM_GLASS", "stream=glass"]
)
async def test_filter_by_stream(many: Rpc, filter_text: str) -> None:
    """The stream filter accepts the short enum name, the full name and the lower-case key."""
    names, _, totals = await _walk(many, filter_text, 4)

    assert names == _expected(lambda i: _stream(i) == GLASS)
    assert totals == {len(names)}


async def test_filters_combine_with_and(many: Rpc) -> None:
    """Two clauses joined by AND keep the containers matching both."""
    names, _, totals = await _walk(many, 'commune_code = "02408" AND stream = RESIDUAL', 3)

    expected = _expected(lambda i: _commune(i) == "02408" and _stream(i) == RESIDUAL)
    assert names == expected
    assert totals == {len(expected)}
    assert 0 < len(expected) < COUNT // 2


async def test_page_token_with_another_filter_is_invalid(many: Rpc) -> None:
    """A page token is bound to its query: reusing it with another filter is INVALID_ARGUMENT."""
    first = await many.containers.ListContainers(
        containers_pb2.ListContainersRequest(parent=TENANT, page_size=3, filter='commune_code = "02722"')
    )
    assert first.next_page_token

    err = await rpc_error(
        many.containers.ListContainers(
            containers_pb2.ListContainersRequest(
                parent=TENANT, page_size=3, page_token=first.next_page_token, filter="stream = GLASS"
            )
        )
    )

    assert_error(err, INVALID, "page_token")


async def test_garbage_page_token_is_invalid(many: Rpc) -> None:
    """A token the service did not issue is INVALID_ARGUMENT on page_token."""
    err = await rpc_error(
        many.containers.ListContainers(
            containers_pb2.ListContainersRequest(parent=TENANT, page_token="not-a-token!")
        )
    )

    assert_error(err, INVALID, "page_token")


@pytest.mark.parametrize(
    "filter_text",
    [
        'commune_code ~ "02722"',
        'commune_code = "02722" OR stream = GLASS',
        "commune_code =",
        "volume_liters = 3000",
        "stream = PLASTIC",
    ],
    ids=["operator", "or", "no-value", "unknown-field", "unknown-stream"],
)
async def test_bad_filter_is_invalid(many: Rpc, filter_text: str) -> None:
    """A filter that does not parse or names an unknown field or stream is INVALID_ARGUMENT on filter."""
    err = await rpc_error(
        many.containers.ListContainers(
            containers_pb2.ListContainersRequest(parent=TENANT, filter=filter_text)
        )
    )

    assert_error(err, INVALID, "filter")


async def test_negative_page_size_is_invalid(many: Rpc) -> None:
    """A negative page_size is INVALID_ARGUMENT on page_size."""
    err = await rpc_error(
        many.containers.ListContainers(containers_pb2.ListContainersRequest(parent=TENANT, page_size=-1))
    )

    assert_error(err, INVALID, "page_size")


async def test_fleet_lists_are_paginated(rpc: Rpc) -> None:
    """ListDepots walks its pages in name order with the same token scheme."""
    for i in (3, 0, 4, 1, 2):
        await rpc.fleet.CreateDepot(
            fleet_pb2.CreateDepotRequest(parent=TENANT, depot_id=f"d{i}", depot=_depot())
        )
    names: list[str] = []
    token = ""
    for _ in range(5):
        page = await rpc.fleet.ListDepots(
            fleet_pb2.ListDepotsRequest(parent=TENANT, page_size=2, page_token=token)
        )
        names += [d.name for d in page.depots]
        token = page.next_page_token
        if not token:
            break

    assert names == [f"tenants/grand-soissons/depots/d{i}" for i in range(5)]
    assert not token


# Container validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda c: setattr(c.location, "latitude", 91.0), "container.location.latitude"),
        (lambda c: setattr(c.location, "longitude", -180.5), "container.location.longitude"),
        (lambda c: c.ClearField("location"), "container.location"),
        (lambda c: setattr(c, "stream", 42), "container.stream"),
        (lambda c: setattr(c, "stream", 0), "container.stream"),
        (lambda c: setattr(c, "volume_liters", 0), "container.volume_liters"),
        (lambda c: setattr(c, "volume_liters", -660), "container.volume_liters"),
        (lambda c: setattr(c, "commune_code", ""), "container.commune_code"),
        (lambda c: c.access_windows.append(window((10, 0), (8, 0))), "container.access_windows[0].end_time"),
        (lambda c: setattr(c.model, "full_distance_mm", 1900), "container.model.empty_distance_mm"),
        (lambda c: setattr(c.service_duration, "seconds", -5), "container.service_duration"),
    ],
    ids=[
        "latitude-91",
        "longitude",
        "no-location",
        "stream-42",
        "stream-unspecified",
        "volume-0",
        "volume-negative",
        "no-commune",
        "window-end-before-start",
        "model-upside-down",
        "negative-service",
    ],
)
async def test_invalid_container_names_the_field(
    rpc: Rpc, change: Callable[[containers_pb2.Container], object], field: str
) -> None:
    """Each invalid container field is INVALID_ARGUMENT with its path and ErrorInfo; nothing is created."""
    container = container_message()
    change(container)

    err = await rpc_error(
        rpc.containers.CreateContainer(
            containers_pb2.CreateContainerRequest(parent=TENANT, container_id="c1", container=container)
        )
    )

    info = assert_error(err, INVALID, field)
    assert info.reason == "INVALID_ARGUMENT"
    assert set(violations(err)) == {field}
    listed = await rpc.containers.ListContainers(containers_pb2.ListContainersRequest(parent=TENANT))
    assert listed.total_size == 0


@pytest.mark.parametrize("container_id", ["", "has space", "-leading-dash", "a" * 64, "slash/inside", "é"])
async def test_bad_container_id_is_invalid(rpc: Rpc, container_id: str) -> None:
    """A container_id outside 1-63 of A-Z a-z 0-9 . _ - is INVALID_ARGUMENT on container_id."""
    err = await rpc_error(
        rpc.containers.CreateContainer(
            containers_pb2.CreateContainerRequest(
                parent=TENANT, container_id=container_id, container=container_message()
            )
        )
    )

    assert_error(err, INVALID, "container_id")


async def test_longest_container_id_is_accepted(rpc: Rpc) -> None:
    """63 characters is the upper bound of a valid id."""
    created = await create_container(rpc.api, "a" * 63)

    assert created.name == "tenants/grand-soissons/containers/" + "a" * 63


async def test_every_violation_is_reported_at_once(rpc: Rpc) -> None:
    """A container with several bad fields lists all of them, so a client fixes them in one go."""
    container = container_message(lat=95.0, volume=0, stream=common_pb2.WASTE_STREAM_UNSPECIFIED)

    err = await rpc_error(
        rpc.containers.CreateContainer(
            containers_pb2.CreateContainerRequest(parent=TENANT, container_id="bad id", container=container)
        )
    )

    assert_error(err, INVALID)
    assert set(violations(err)) == {
        "container_id",
        "container.location.latitude",
        "container.volume_liters",
        "container.stream",
    }


async def test_missing_container_is_invalid(rpc: Rpc) -> None:
    """CreateContainer without a container is INVALID_ARGUMENT on container."""
    err = await rpc_error(
        rpc.containers.CreateContainer(
            containers_pb2.CreateContainerRequest(parent=TENANT, container_id="c1")
        )
    )

    assert_error(err, INVALID, "container")
