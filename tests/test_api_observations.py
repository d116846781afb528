"""ObservationService through the gRPC API: generic observations and container fill observations."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import grpc
import pytest
from google.protobuf import timestamp_pb2
from google.type import latlng_pb2

from tests.conftest import TENANT, Api, create_container
from tests.errors import assert_error, assert_item_error, rpc_error, violations
from wastesvc.v1 import (
    containers_pb2,
    containers_pb2_grpc,
    observations_pb2,
    observations_pb2_grpc,
    readings_pb2,
    readings_pb2_grpc,
)

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


@dataclass(frozen=True)
class Rpc:
    """The `api` fixture with its stubs typed as the grpc.aio stubs they are (conftest types sync ones)."""

    api: Api
    containers: containers_pb2_grpc.ContainerServiceAsyncStub
    readings: readings_pb2_grpc.ReadingServiceAsyncStub
    observations: observations_pb2_grpc.ObservationServiceAsyncStub


@pytest.fixture
def rpc(api: Api) -> Rpc:
    """The stubs of the `api` fixture, for typed awaits."""
    untyped: Any = api
    return Rpc(api, untyped.containers, untyped.readings, untyped.observations)


def _at(minutes: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(BASE + timedelta(minutes=minutes))
    return stamp


def _parking(
    minutes: float = 0, spot: str = "P-042", value: str = "occupied"
) -> observations_pb2.Observation:
    return observations_pb2.Observation(
        source="parking:parkingmap",
        entity_id=spot,
        entity_type="ParkingSpot",
        property="occupancy",
        string_value=value,
        observe_time=_at(minutes),
        location=latlng_pb2.LatLng(latitude=49.3820, longitude=3.3230),
    )


def _streetlight(minutes: float = 0) -> observations_pb2.Observation:
    return observations_pb2.Observation(
        source="talq:cms-soissons",
        entity_id="SL-7",
        entity_type="Streetlight",
        property="illuminanceLevel",
        number_value=0.8,
        unit="C62",
        observe_time=_at(minutes),
    )


def _fill(
    value: float, unit: str = "P1", entity_id: str = "c1", minutes: float = 0
) -> observations_pb2.Observation:
    return observations_pb2.Observation(
        source="fiware:orion",
        entity_id=entity_id,
        entity_type="WasteContainer",
        property="fillingLevel",
        number_value=value,
        unit=unit,
        observe_time=_at(minutes),
    )


def _batch(
    observations: Sequence[observations_pb2.Observation],
) -> observations_pb2.BatchCreateObservationsRequest:
    return observations_pb2.BatchCreateObservationsRequest(
        parent=TENANT,
        requests=[
            observations_pb2.CreateObservationRequest(parent=TENANT, observation=o) for o in observations
        ],
    )


def _create(observation: observations_pb2.Observation) -> observations_pb2.CreateObservationRequest:
    return observations_pb2.CreateObservationRequest(parent=TENANT, observation=observation)


async def _listed(rpc: Rpc, filter_text: str = "") -> list[observations_pb2.Observation]:
    response = await rpc.observations.ListObservations(
        observations_pb2.ListObservationsRequest(parent=TENANT, filter=filter_text, page_size=1000)
    )
    return list(response.observations)


async def _readings(
    rpc: Rpc, container: str = "tenants/grand-soissons/containers/c1"
) -> list[readings_pb2.Reading]:
    response = await rpc.readings.ListReadings(readings_pb2.ListReadingsRequest(parent=container))
    return list(response.readings)


@pytest.fixture
async def c1(rpc: Rpc) -> Rpc:
    """One container `containers/c1`."""
    await create_container(rpc.api, "c1")
    return rpc


# Generic observations -------------------------------------------------------------------------------


async def test_parking_observation_is_stored_and_listed(rpc: Rpc) -> None:
    """A non-container observation is stored as sent and found with an entity_type filter."""
    created = await rpc.observations.CreateObservation(_create(_parking()))
    await rpc.observations.CreateObservation(_create(_streetlight()))

    expected = _parking()
    expected.name = created.name
    expected.create_time.CopyFrom(created.create_time)
    assert created == expected
    assert created.name.startswith("tenants/grand-soissons/observations/")
    assert await _listed(rpc, 'entity_type = "ParkingSpot"') == [created]
    assert len(await _listed(rpc)) == 2


async def test_observation_filters_combine(rpc: Rpc) -> None:
    """Filters on entity_type, property and entity_id combine with AND."""
    await rpc.observations.BatchCreateObservations(
        _batch([_parking(0, "P-1"), _parking(1, "P-2"), _parking(2, "P-1", "free"), _streetlight(0)])
    )

    found = await _listed(rpc, 'entity_type = "ParkingSpot" AND property = "occupancy" AND entity_id = "P-1"')

    assert [o.string_value for o in found] == ["free", "occupied"]


async def test_list_observations_newest_first_in_pages(rpc: Rpc) -> None:
    """ListObservations pages of 2 walk every observation once, most recently stored first."""
    for minute in range(5):
        await rpc.observations.CreateObservation(_create(_parking(minute)))

    seen: list[observations_pb2.Observation] = []
    token = ""
    for _ in range(5):
        page = await rpc.observations.ListObservations(
            observations_pb2.ListObservationsRequest(parent=TENANT, page_size=2, page_token=token)
        )
        seen += page.observations
        token = page.next_page_token
        if not token:
            break

    assert not token
    assert [o.observe_time for o in seen] == [_at(m) for m in reversed(range(5))]


async def test_observation_page_token_with_another_filter_is_invalid(rpc: Rpc) -> None:
    """A page token of one filter is INVALID_ARGUMENT with another filter."""
    await rpc.observations.BatchCreateObservations(_batch([_parking(0), _parking(1), _parking(2)]))
    page = await rpc.observations.ListObservations(
        observations_pb2.ListObservationsRequest(parent=TENANT, page_size=1)
    )
    assert page.next_page_token

    err = await rpc_error(
        rpc.observations.ListObservations(
            observations_pb2.ListObservationsRequest(
                parent=TENANT, page_token=page.next_page_token, filter='entity_type = "ParkingSpot"'
            )
        )
    )

    assert_error(err, INVALID, "page_token")


@pytest.mark.parametrize("filter_text", ['unit = "P1"', "entity_type", 'entity_type = "A" OR property = "b"'])
async def test_bad_observation_filter_is_invalid(rpc: Rpc, filter_text: str) -> None:
    """An unparsable filter or one on a non-filterable field is INVALID_ARGUMENT on filter."""
    err = await rpc_error(
        rpc.observations.ListObservations(
            observations_pb2.ListObservationsRequest(parent=TENANT, filter=filter_text)
        )
    )

    assert_error(err, INVALID, "filter")


# Container fill observations ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "fill"), [(85.0, "P1", 0.85), (0.4, "C62", 0.4), (0.25, "", 0.25), (100.0, "P1", 1.0)]
)
async def test_filling_level_becomes_a_reading(c1: Rpc, value: float, unit: str, fill: float) -> None:
    """A WasteContainer fillingLevel observation also stores a container reading with the fill fraction."""
    created = await c1.observations.CreateObservation(_create(_fill(value, unit)))

    assert created.number_value == value
    readings = await _readings(c1)
    assert len(readings) == 1
    assert readings[0].fill == pytest.approx(fill)
    assert readings[0].measure_time == _at(0)
    container = await c1.containers.GetContainer(
        containers_pb2.GetContainerRequest(name="tenants/grand-soissons/containers/c1")
    )
    assert container.latest_fill == pytest.approx(fill)


async def test_filling_level_accepts_ngsi_ld_urn(c1: Rpc) -> None:
    """An NGSI-LD entity id `urn:ngsi-ld:WasteContainer:c1` designates containers/c1."""
    await c1.observations.CreateObservation(_create(_fill(30.0, entity_id="urn:ngsi-ld:WasteContainer:c1")))

    assert [r.fill for r in await _readings(c1)] == pytest.approx([0.3])


async def test_filling_level_of_unknown_container_is_not_found(c1: Rpc) -> None:
    """A fillingLevel of a container that does not exist is NOT_FOUND on observation.entity_id."""
    err = await rpc_error(c1.observations.CreateObservation(_create(_fill(50.0, entity_id="ghost"))))

    info = assert_error(err, NOT_FOUND, "observation.entity_id")
    assert info.metadata["resource"] == "tenants/grand-soissons/containers/ghost"
    assert await _listed(c1) == []


async def test_filling_level_of_unknown_container_is_refused_alone(c1: Rpc) -> None:
    """In a batch the unknown container is refused by index; the other observations are stored."""
    batch = _batch([_parking(), _fill(40.0), _fill(50.0, entity_id="urn:ngsi-ld:WasteContainer:ghost")])

    response = await c1.observations.BatchCreateObservations(batch)

    info = assert_item_error(response.results[2], NOT_FOUND, "requests[2].observation.entity_id")
    assert info.metadata["resource"] == "tenants/grand-soissons/containers/ghost"
    assert (response.stored_count, response.rejected_count) == (2, 1)
    assert {o.entity_id for o in await _listed(c1)} == {"P-042", "c1"}
    assert [r.fill for r in await _readings(c1)] == pytest.approx([0.4])


@pytest.mark.parametrize(
    ("observation", "field"),
    [
        (_fill(150.0, "P1"), "observation.number_value"),
        (_fill(-5.0, "P1"), "observation.number_value"),
        (_fill(1.5, "C62"), "observation.number_value"),
        (_fill(80.0, "MMT"), "observation.unit"),
        (
            observations_pb2.Observation(
                source="s",
                entity_id="c1",
                entity_type="WasteContainer",
                property="fillingLevel",
                string_value="full",
                observe_time=_at(0),
            ),
            "observation.number_value",
        ),
    ],
    ids=["p1-150", "p1-negative", "c62-1.5", "unit-mm", "string"],
)
async def test_invalid_filling_level_is_invalid(
    c1: Rpc, observation: observations_pb2.Observation, field: str
) -> None:
    """A fillingLevel outside 0..1 (0..100 in P1), in another unit or not a number is INVALID_ARGUMENT."""
    err = await rpc_error(c1.observations.CreateObservation(_create(observation)))

    assert_error(err, INVALID, field)
    assert await _readings(c1) == []


_Required = Literal["string_value", "source", "entity_id", "entity_type", "property", "observe_time"]


def _without(field: _Required) -> Callable[[observations_pb2.Observation], None]:
    return lambda o: o.ClearField(field)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (_without("string_value"), "observation.number_value"),
        (_without("source"), "observation.source"),
        (_without("entity_id"), "observation.entity_id"),
        (_without("entity_type"), "observation.entity_type"),
        (_without("property"), "observation.property"),
        (_without("observe_time"), "observation.observe_time"),
        (lambda o: setattr(o.location, "latitude", -91.0), "observation.location.latitude"),
        (
            lambda o: o.observe_time.FromDatetime(datetime.now(UTC) + timedelta(hours=1)),
            "observation.observe_time",
        ),
    ],
    ids=[
        "no-value",
        "no-source",
        "no-entity-id",
        "no-entity-type",
        "no-property",
        "no-time",
        "lat",
        "future",
    ],
)
async def test_invalid_observation_names_the_field(
    rpc: Rpc, change: Callable[[observations_pb2.Observation], object], field: str
) -> None:
    """Each missing or bad observation field is INVALID_ARGUMENT with its path and ErrorInfo."""
    observation = _parking()
    change(observation)

    err = await rpc_error(rpc.observations.CreateObservation(_create(observation)))

    info = assert_error(err, INVALID, field)
    assert info.reason == "INVALID_OBSERVATION"
    assert set(violations(err)) == {field}


async def test_batch_with_one_bad_observation_stores_the_others(c1: Rpc) -> None:
    """One invalid observation is refused by index; the two others (and the fill reading) are stored."""
    batch = _batch([_parking(0), _fill(40.0, minutes=1), _fill(140.0, minutes=2)])

    response = await c1.observations.BatchCreateObservations(batch)

    assert_item_error(response.results[2], INVALID, "requests[2].observation.number_value")
    assert len(await _listed(c1)) == 2
    assert [r.fill for r in await _readings(c1)] == pytest.approx([0.4])


@pytest.mark.parametrize(
    ("number", "minute", "field"),
    [
        (float("nan"), 0, "requests[0].observation.number_value"),
        (3.0, -1, "requests[0].observation.observe_time"),
    ],
    ids=["nan", "year-1"],
)
async def test_observation_that_cannot_be_true_is_refused(
    c1: Rpc, number: float, minute: int, field: str
) -> None:
    """A NaN value, or a fillingLevel dated year 1, is refused rather than stored empty or as a reading."""
    observation = _fill(40.0)
    observation.number_value = number
    if minute < 0:
        observation.observe_time.FromDatetime(datetime(1, 1, 1, tzinfo=UTC))

    response = await c1.observations.BatchCreateObservations(_batch([observation]))

    assert_item_error(response.results[0], INVALID, field)
    assert await _readings(c1) == []


@pytest.mark.parametrize("size", [0, 1001])
async def test_observation_batch_size_is_checked(rpc: Rpc, size: int) -> None:
    """An empty batch or one of 1001 observations is INVALID_ARGUMENT on requests."""
    err = await rpc_error(
        rpc.observations.BatchCreateObservations(_batch([_parking(i) for i in range(size)]))
    )

    assert_error(err, INVALID, "requests")


# The limit common.proto gives every request, past gRPC's own 4 MiB default.
_MAX_REQUEST = 8 * 1024 * 1024


def _widest(i: int) -> observations_pb2.Observation:
    """An observation with every string it may carry at 300 characters of 4 UTF-8 bytes each."""
    wide = "\U0001f5d1" * 300
    return observations_pb2.Observation(
        source=wide,
        entity_id=wide[:-4] + f"{i:04d}",
        entity_type=wide,
        property=wide,
        string_value=wide,
        unit=wide,
        observe_time=_at(0),
        location=latlng_pb2.LatLng(latitude=49.3820, longitude=3.3230),
    )


def _padded(batch: observations_pb2.BatchCreateObservationsRequest, size: int) -> None:
    """Lengthens the first observation's string_value until `batch` is exactly `size` bytes."""
    observation = batch.requests[0].observation
    for _ in range(5):  # length prefixes grow with the string: a step or two more corrects them
        missing = size - batch.ByteSize()
        value = observation.string_value
        observation.string_value = value + "x" * missing if missing >= 0 else value[:missing]
    assert batch.ByteSize() == size


async def test_largest_observation_batch_is_received_and_8_mib_is_the_limit(rpc: Rpc) -> None:
    """The largest legitimate batch (1000 observations, every string at its limit in 4-byte characters)
    is over gRPC's 4 MiB default and is stored whole; a request of 8 MiB is still read, one byte more is
    RESOURCE_EXHAUSTED."""
    batch = _batch([_widest(i) for i in range(1000)])
    assert 4 * 1024 * 1024 < batch.ByteSize() < _MAX_REQUEST

    stored = await rpc.observations.BatchCreateObservations(batch)

    assert stored.stored_count == 1000
    _padded(batch, _MAX_REQUEST)
    at_limit = await rpc.observations.BatchCreateObservations(batch)
    assert_item_error(at_limit.results[0], INVALID, "requests[0].observation.string_value")
    assert at_limit.duplicate_count == 999
    _padded(batch, _MAX_REQUEST + 1)
    err = await rpc_error(rpc.observations.BatchCreateObservations(batch))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_duplicate_observation_batch_is_counted(c1: Rpc) -> None:
    """Re-sending a batch stores nothing new and reports every observation as duplicate."""
    batch = _batch([_parking(0), _streetlight(0), _fill(60.0, minutes=0), _fill(70.0, minutes=5)])

    first = await c1.observations.BatchCreateObservations(batch)
    second = await c1.observations.BatchCreateObservations(batch)

    assert first.stored_count == 4
    assert first.duplicate_count == 0
    assert all(r.name.startswith(f"{TENANT}/observations/") for r in first.results)
    assert second.stored_count == 0
    assert second.duplicate_count == 4
    assert len(await _listed(c1)) == 4
    assert [r.fill for r in await _readings(c1)] == pytest.approx([0.7, 0.6])


async def test_duplicate_inside_one_observation_batch_is_counted(rpc: Rpc) -> None:
    """The same observation twice in one batch is stored once and counted once as duplicate."""
    response = await rpc.observations.BatchCreateObservations(_batch([_parking(0), _parking(0)]))

    assert response.stored_count == 1
    assert response.duplicate_count == 1
    assert len(await _listed(rpc)) == 1


async def test_repeated_create_observation_is_not_an_error(rpc: Rpc) -> None:
    """CreateObservation of an observation already stored succeeds without storing it again."""
    await rpc.observations.CreateObservation(_create(_parking()))

    again = await rpc.observations.CreateObservation(_create(_parking()))

    assert again.string_value == "occupied"
    assert len(await _listed(rpc)) == 1
