"""Records that would break the service once stored are refused when written; tokens, filters, races."""

from __future__ import annotations

import asyncio
import base64
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2

from tests.conftest import OTHER_TENANT, TENANT, Api, container_message, create_fleet, token, window
from tests.errors import assert_error, rpc_error, violations
from wastesvc.client import open_channel
from wastesvc.config import Settings
from wastesvc.errors import Aborted, FailedPrecondition
from wastesvc.storage import ContainerRow, DepotRow, ReadingInsert, VehicleRow
from wastesvc.v1 import common_pb2, containers_pb2, fleet_pb2, readings_pb2, readings_pb2_grpc

INVALID = grpc.StatusCode.INVALID_ARGUMENT
DEPOT = f"{TENANT}/depots/ctm"


def _vehicle(**changes: Any) -> fleet_pb2.Vehicle:
    vehicle = fleet_pb2.Vehicle(
        display_name="Grue 2",
        capacity_liters=12000,
        capacity_kg=8000,
        streams=[common_pb2.WASTE_STREAM_GLASS],
        home_depot=DEPOT,
        shift=window((6, 0), (13, 30)),
        break_window=window((9, 30), (10, 30)),
        break_duration=duration_pb2.Duration(seconds=1800),
        cost_per_kilometer=1.2,
        cost_per_hour=45.0,
    )
    for field, value in changes.items():
        if isinstance(value, (duration_pb2.Duration, common_pb2.TimeWindow)):
            getattr(vehicle, field).CopyFrom(value)
        else:
            setattr(vehicle, field, value)
    return vehicle


async def _create_vehicle(api: Api, vehicle: fleet_pb2.Vehicle, vehicle_id: str = "v-bad") -> Any:
    untyped: Any = api.fleet
    return await untyped.CreateVehicle(
        fleet_pb2.CreateVehicleRequest(parent=TENANT, vehicle_id=vehicle_id, vehicle=vehicle)
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cost_per_kilometer", float("inf")),
        ("cost_per_kilometer", float("nan")),
        ("cost_per_hour", float("-inf")),
        ("cost_per_hour", 1e300),
    ],
)
async def test_vehicle_cost_must_be_finite_and_bounded(api: Api, field: str, value: float) -> None:
    """An infinite, NaN or absurd cost would fail every later plan: INVALID_ARGUMENT naming the field."""
    await create_fleet(api)
    err = await rpc_error(_create_vehicle(api, _vehicle(**{field: value})))
    assert_error(err, INVALID, f"vehicle.{field}")


@pytest.mark.parametrize(
    "duration",
    [
        duration_pb2.Duration(seconds=2**63 - 1),
        duration_pb2.Duration(seconds=2**62),
        duration_pb2.Duration(seconds=60, nanos=-5),
        duration_pb2.Duration(seconds=25 * 3600),
    ],
)
async def test_out_of_range_break_duration_is_invalid(api: Api, duration: duration_pb2.Duration) -> None:
    """A duration beyond a day or outside google.protobuf.Duration is refused; the fleet stays readable."""
    await create_fleet(api)
    err = await rpc_error(_create_vehicle(api, _vehicle(break_duration=duration)))
    assert_error(err, INVALID, "vehicle.break_duration")
    untyped: Any = api.fleet
    listed = await untyped.ListVehicles(fleet_pb2.ListVehiclesRequest(parent=TENANT))
    assert [v.name for v in listed.vehicles] == [f"{TENANT}/vehicles/gru-01"]


@pytest.mark.parametrize(
    ("shift", "break_window", "minutes"),
    [
        (window((6, 0), (13, 0)), window((14, 0), (15, 0)), 30),  # break window after the shift
        (window((6, 0), (13, 0)), window((12, 50), (13, 0)), 30),  # starts in time, ends after the shift
        (window((6, 0), (7, 0)), window((5, 0), (5, 30)), 10),  # break window before the shift
    ],
)
async def test_shift_that_cannot_hold_its_break_is_invalid(
    api: Api, shift: common_pb2.TimeWindow, break_window: common_pb2.TimeWindow, minutes: int
) -> None:
    """Settings that cannot work together are refused when written, not when the day is planned."""
    await create_fleet(api)
    vehicle = _vehicle(
        shift=shift, break_window=break_window, break_duration=duration_pb2.Duration(seconds=minutes * 60)
    )
    err = await rpc_error(_create_vehicle(api, vehicle))
    assert "shift cannot hold the break" in violations(err)["vehicle.break_window"]


async def test_break_in_the_shift_is_accepted(api: Api) -> None:
    """A break that starts in its window and ends before the shift does is fine, even at the edge."""
    await create_fleet(api)
    vehicle = _vehicle(
        shift=window((6, 0), (13, 0)),
        break_window=window((12, 0), (12, 30)),
        break_duration=duration_pb2.Duration(seconds=3600),
    )
    created = await _create_vehicle(api, vehicle, "v-edge")
    assert created.break_duration.seconds == 3600


async def test_update_that_breaks_the_break_is_invalid(api: Api) -> None:
    """Moving a shift so that the break no longer fits is refused on update too."""
    await create_fleet(api)
    untyped: Any = api.fleet
    current = await untyped.GetVehicle(fleet_pb2.GetVehicleRequest(name=f"{TENANT}/vehicles/gru-01"))
    current.shift.CopyFrom(window((5, 0), (6, 0)))
    err = await rpc_error(
        untyped.UpdateVehicle(
            fleet_pb2.UpdateVehicleRequest(
                vehicle=current, update_mask=field_mask_pb2.FieldMask(paths=["shift"])
            )
        )
    )
    assert "vehicle.break_window" in violations(err)


@pytest.mark.parametrize(
    ("field", "value", "limit"),
    [
        ("street_address", "x" * 201, "200"),
        ("locality", "y" * 101, "100"),
        ("isle", "i" * 65, "64"),
        ("sensor_id", "s" * 65, "64"),
    ],
)
async def test_long_strings_are_invalid(api: Api, field: str, value: str, limit: str) -> None:
    """Each string has a documented length limit; over it is INVALID_ARGUMENT with the limit."""
    container = container_message()
    setattr(container, field, value)
    untyped: Any = api.containers
    err = await rpc_error(
        untyped.CreateContainer(
            containers_pb2.CreateContainerRequest(parent=TENANT, container_id="c1", container=container)
        )
    )
    assert limit in violations(err)[f"container.{field}"]


async def test_huge_street_address_is_invalid_and_listing_still_works(api: Api) -> None:
    """A 1 MiB address is INVALID_ARGUMENT, a 32 MiB one over the receive limit; neither is stored."""
    untyped: Any = api.containers
    for size, code in [(1 << 20, INVALID), (32 << 20, grpc.StatusCode.RESOURCE_EXHAUSTED)]:
        container = container_message()
        container.street_address = "r" * size
        err = await rpc_error(
            untyped.CreateContainer(
                containers_pb2.CreateContainerRequest(parent=TENANT, container_id="c1", container=container)
            )
        )
        assert err.code() == code
    listed = await untyped.ListContainers(containers_pb2.ListContainersRequest(parent=TENANT))
    assert list(listed.containers) == []


async def test_nul_character_is_invalid(api: Api) -> None:
    """A NUL in a string is refused on every backend (PostgreSQL cannot store it)."""
    container = container_message()
    container.street_address = "rue\x00 de la Paix"
    untyped: Any = api.containers
    err = await rpc_error(
        untyped.CreateContainer(
            containers_pb2.CreateContainerRequest(parent=TENANT, container_id="c1", container=container)
        )
    )
    assert "NUL" in violations(err)["container.street_address"]


@pytest.mark.parametrize(
    "stamp",
    [
        timestamp_pb2.Timestamp(seconds=253_402_300_800),  # year 10000
        timestamp_pb2.Timestamp(seconds=2**62),
        timestamp_pb2.Timestamp(seconds=1_764_000_000, nanos=-1),
    ],
)
async def test_out_of_range_timestamps_are_invalid(api: Api, stamp: timestamp_pb2.Timestamp) -> None:
    """Timestamps outside google.protobuf.Timestamp are INVALID_ARGUMENT, on resources and on readings."""
    container = container_message()
    container.last_emptied_time.CopyFrom(stamp)
    untyped: Any = api.containers
    err = await rpc_error(
        untyped.CreateContainer(
            containers_pb2.CreateContainerRequest(parent=TENANT, container_id="c1", container=container)
        )
    )
    assert_error(err, INVALID, "container.last_emptied_time")

    readings: Any = api.readings
    reading = readings_pb2.Reading(fill_fraction=0.5, measure_time=stamp)
    err = await rpc_error(
        readings.CreateReading(
            readings_pb2.CreateReadingRequest(parent=f"{TENANT}/containers/c1", reading=reading)
        )
    )
    assert_error(err, INVALID, "reading.measure_time")


def _forged(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        _forged({"k": ["x", 1], "c": {"parent": TENANT}}),
        _forged({"k": {"a": 1}, "c": {"parent": TENANT}}) + "." + "AAAAAAAAAAAAAAAAAAAAAA",
        "not.a.token",
        "%%%.!!!",
    ],
)
async def test_forged_page_token_is_invalid(api: Api, token: str) -> None:
    """Page tokens are signed: an unsigned or altered one is INVALID_ARGUMENT, never INTERNAL."""
    untyped: Any = api
    for call, request in [
        (
            untyped.containers.ListContainers,
            containers_pb2.ListContainersRequest(parent=TENANT, page_token=token),
        ),
        (untyped.fleet.ListVehicles, fleet_pb2.ListVehiclesRequest(parent=TENANT, page_token=token)),
    ]:
        err = await rpc_error(call(request))
        assert_error(err, INVALID, "page_token")


async def test_tampered_page_token_is_invalid(api: Api) -> None:
    """A real token whose payload was edited no longer matches its signature."""
    untyped: Any = api.containers
    for i in range(3):
        await untyped.CreateContainer(
            containers_pb2.CreateContainerRequest(
                parent=TENANT, container_id=f"c{i}", container=container_message()
            )
        )
    first = await untyped.ListContainers(containers_pb2.ListContainersRequest(parent=TENANT, page_size=1))
    body, mac = first.next_page_token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["k"] = "c0"
    err = await rpc_error(
        untyped.ListContainers(
            containers_pb2.ListContainersRequest(
                parent=TENANT, page_size=1, page_token=f"{_forged(payload)}.{mac}"
            )
        )
    )
    assert_error(err, INVALID, "page_token")
    second = await untyped.ListContainers(
        containers_pb2.ListContainersRequest(parent=TENANT, page_size=1, page_token=first.next_page_token)
    )
    assert [c.name for c in second.containers] == [f"{TENANT}/containers/c1"]


@pytest.mark.parametrize(
    "filter_text",
    ['isle = "\\u12"', 'isle = "\\ud800"', 'isle = "a\\u0000b"', 'isle = "' + "x" * 2000 + '"'],
)
async def test_odd_filter_escapes_are_invalid(api: Api, filter_text: str) -> None:
    """A bad escape, a lone surrogate, a NUL or an overlong filter is INVALID_ARGUMENT, never INTERNAL."""
    untyped: Any = api.containers
    err = await rpc_error(
        untyped.ListContainers(containers_pb2.ListContainersRequest(parent=TENANT, filter=filter_text))
    )
    assert_error(err, INVALID, "filter")


# Races: a constraint taken or a row removed by a concurrent call ------------------------------------


async def test_storage_conflicts_are_aborted_or_failed_precondition(api: Api) -> None:
    """What a concurrent call changed between the checks and the commit is ABORTED / FAILED_PRECONDITION."""
    await create_fleet(api)
    storage = api.service.storage
    untyped: Any = api.containers
    await untyped.CreateContainer(
        containers_pb2.CreateContainerRequest(
            parent=TENANT, container_id="c1", container=container_message(sensor_id="S-1")
        )
    )
    row = await asyncio.to_thread(storage.get, ContainerRow, "grand-soissons", "c1")
    assert row is not None
    twin = ContainerRow(**{**row.model_dump(), "id": "c2"})  # the same sensor, as if checked concurrently
    with pytest.raises(Aborted):
        await asyncio.to_thread(storage.create, twin)
    await asyncio.to_thread(
        storage.create, ContainerRow(**{**row.model_dump(), "id": "c2", "sensor_id": None})
    )
    with pytest.raises(Aborted):  # an update fitting the sensor c1 took after the update's check
        await asyncio.to_thread(storage.update, twin)

    vehicle = await asyncio.to_thread(storage.get, VehicleRow, "grand-soissons", "gru-01")
    assert vehicle is not None
    orphan = VehicleRow(**{**vehicle.model_dump(), "id": "v2", "home_depot": "gone"})  # depot just deleted
    with pytest.raises(Aborted):
        await asyncio.to_thread(storage.create, orphan)
    with pytest.raises(FailedPrecondition):  # a vehicle was created on the depot after the check
        await asyncio.to_thread(storage.delete, DepotRow, "grand-soissons", "ctm")
    reading = ReadingInsert(
        tenant="grand-soissons",
        container_id="deleted",
        sensor_id="",
        measure_time=datetime.now(UTC),
        fill=0.5,
        distance_mm=None,
        battery_percent=None,
        temperature_c=None,
        tilted=False,
    )
    with pytest.raises(Aborted):  # the container was deleted while its reading came in
        await asyncio.to_thread(storage.insert_readings, [reading])


async def test_two_updates_claiming_one_sensor(api: Api) -> None:
    """Of two concurrent updates fitting the same sensor, one wins; the other is never INTERNAL."""
    untyped: Any = api.containers
    for cid in ("a", "b"):
        await untyped.CreateContainer(
            containers_pb2.CreateContainerRequest(
                parent=TENANT, container_id=cid, container=container_message()
            )
        )
    mask = field_mask_pb2.FieldMask(paths=["sensor_id"])
    calls = [
        untyped.UpdateContainer(
            containers_pb2.UpdateContainerRequest(
                container=containers_pb2.Container(name=f"{TENANT}/containers/{cid}", sensor_id="S-9"),
                update_mask=mask,
            )
        )
        for cid in ("a", "b")
    ]
    results = await asyncio.gather(*calls, return_exceptions=True)
    errors = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(errors) == 1, results
    assert errors[0].code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ABORTED)
    listed = await untyped.ListContainers(containers_pb2.ListContainersRequest(parent=TENANT))
    assert sorted(c.sensor_id for c in listed.containers) == ["", "S-9"]


# Conditional writes (etag) and unset vs zero --------------------------------------------------------


async def test_stale_etag_makes_update_and_delete_aborted(api: Api) -> None:
    """An update or delete carrying the etag of an older version is ABORTED; the current one goes through."""
    untyped: Any = api.containers
    first = await untyped.CreateContainer(
        containers_pb2.CreateContainerRequest(parent=TENANT, container_id="c1", container=container_message())
    )
    assert first.etag
    mask = field_mask_pb2.FieldMask(paths=["isle"])
    changed = await untyped.UpdateContainer(
        containers_pb2.UpdateContainerRequest(
            container=containers_pb2.Container(name=first.name, isle="I-1", etag=first.etag), update_mask=mask
        )
    )
    assert changed.etag != first.etag
    stale = await rpc_error(
        untyped.UpdateContainer(
            containers_pb2.UpdateContainerRequest(
                container=containers_pb2.Container(name=first.name, isle="I-2", etag=first.etag),
                update_mask=mask,
            )
        )
    )
    assert_error(stale, grpc.StatusCode.ABORTED, "container.etag")
    err = await rpc_error(
        untyped.DeleteContainer(containers_pb2.DeleteContainerRequest(name=first.name, etag=first.etag))
    )
    assert_error(err, grpc.StatusCode.ABORTED, "etag")
    current = await untyped.GetContainer(containers_pb2.GetContainerRequest(name=first.name))
    assert current.isle == "I-1"
    assert current.etag == changed.etag
    await untyped.DeleteContainer(containers_pb2.DeleteContainerRequest(name=first.name, etag=current.etag))


async def test_fleet_resources_carry_etags(api: Api) -> None:
    """Depots, facilities and vehicles have an etag too, checked on delete."""
    await create_fleet(api)
    untyped: Any = api.fleet
    vehicle = await untyped.GetVehicle(fleet_pb2.GetVehicleRequest(name=f"{TENANT}/vehicles/gru-01"))
    depot = await untyped.GetDepot(fleet_pb2.GetDepotRequest(name=DEPOT))
    assert vehicle.etag
    assert depot.etag
    err = await rpc_error(
        untyped.DeleteVehicle(fleet_pb2.DeleteVehicleRequest(name=vehicle.name, etag="0" * 20))
    )
    assert_error(err, grpc.StatusCode.ABORTED, "etag")
    await untyped.DeleteVehicle(fleet_pb2.DeleteVehicleRequest(name=vehicle.name, etag=vehicle.etag))


@pytest.mark.parametrize("kind", ["vehicle", "depot", "facility"])
async def test_a_stale_etag_makes_a_fleet_update_aborted(api: Api, kind: str) -> None:
    """An update based on a version read before someone else's update is ABORTED naming the etag."""
    await create_fleet(api)
    untyped: Any = api.fleet
    title = kind.capitalize()
    listed = await getattr(untyped, f"List{'Facilities' if kind == 'facility' else title + 's'}")(
        getattr(fleet_pb2, f"List{'Facilities' if kind == 'facility' else title + 's'}Request")(parent=TENANT)
    )
    read = getattr(listed, "facilities" if kind == "facility" else f"{kind}s")[0]
    mask = field_mask_pb2.FieldMask(paths=["display_name"])

    def update(display_name: str, etag: str) -> Any:
        patch = type(read)(name=read.name, display_name=display_name, etag=etag)
        request = getattr(fleet_pb2, f"Update{title}Request")(update_mask=mask, **{kind: patch})
        return getattr(untyped, f"Update{title}")(request)

    await update("first", read.etag)
    err = await rpc_error(update("second", read.etag))

    assert_error(err, grpc.StatusCode.ABORTED, f"{kind}.etag")


async def test_latest_fill_is_unset_without_a_reading_and_zero_when_empty(api: Api) -> None:
    """`latest_fill` is absent before any reading, and present (0) after a reading of an empty container."""
    untyped: Any = api.containers
    created = await untyped.CreateContainer(
        containers_pb2.CreateContainerRequest(parent=TENANT, container_id="c1", container=container_message())
    )
    assert not created.HasField("latest_fill")
    reading = readings_pb2.Reading(fill_fraction=0.0)
    reading.measure_time.FromDatetime(datetime.now(UTC))
    readings: Any = api.readings
    await readings.CreateReading(readings_pb2.CreateReadingRequest(parent=created.name, reading=reading))
    read = await untyped.GetContainer(containers_pb2.GetContainerRequest(name=created.name))
    assert read.HasField("latest_fill")
    assert read.latest_fill == 0.0


async def test_concurrent_unary_readings_share_a_transaction_but_not_their_errors(
    api: Api, settings: Settings
) -> None:
    """Concurrent CreateReading calls are stored together; each gets its own result, field path and
    authorization (a caller of another tenant is refused even when grouped with allowed calls)."""
    untyped: Any = api.containers
    await untyped.CreateContainer(
        containers_pb2.CreateContainerRequest(parent=TENANT, container_id="c1", container=container_message())
    )
    readings: Any = api.readings
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)

    def request(i: int, fill: float) -> readings_pb2.CreateReadingRequest:
        reading = readings_pb2.Reading(fill_fraction=fill)
        reading.measure_time.FromDatetime(start + timedelta(seconds=i))
        return readings_pb2.CreateReadingRequest(parent=f"{TENANT}/containers/c1", reading=reading)

    async with open_channel(api.address, settings, token(settings, tenant=OTHER_TENANT)) as other:
        foreign: Any = readings_pb2_grpc.ReadingServiceStub(other)
        calls = [readings.CreateReading(request(i, math.nan if i % 5 == 0 else 0.5)) for i in range(40)]
        calls += [foreign.CreateReading(request(100 + i, 0.5)) for i in range(5)]
        results = await asyncio.gather(*calls, return_exceptions=True)

    for i, result in enumerate(results[:40]):
        if i % 5 == 0:
            assert isinstance(result, grpc.aio.AioRpcError)
            assert_error(result, INVALID, "reading.fill_fraction")
        else:
            assert isinstance(result, readings_pb2.Reading), result
            assert result.fill == 0.5
    for result in results[40:]:
        assert isinstance(result, grpc.aio.AioRpcError)
        assert result.code() == grpc.StatusCode.PERMISSION_DENIED
    listed = await readings.ListReadings(
        readings_pb2.ListReadingsRequest(parent=f"{TENANT}/containers/c1", page_size=100)
    )
    assert len(listed.readings) == 32
    created = {r.name: r for r in results[:40] if isinstance(r, readings_pb2.Reading)}
    assert {r.name: r for r in listed.readings} == created  # create_time included
