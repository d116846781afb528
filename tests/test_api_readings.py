"""ReadingService through the gRPC API: validation, atomic and idempotent ingest, streaming, listing."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2

from tests.conftest import TENANT, Api, container_message, create_container
from tests.errors import assert_error, assert_item_error, rpc_error, violations
from wastesvc.v1 import common_pb2, containers_pb2, containers_pb2_grpc, readings_pb2, readings_pb2_grpc

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
STORED = common_pb2.ITEM_OUTCOME_STORED
# Whole milliseconds: the service keys readings to the millisecond.
BASE = datetime.now(UTC).replace(microsecond=123_000) - timedelta(days=1)


@dataclass(frozen=True)
class Rpc:
    """The `api` fixture with its stubs typed as the grpc.aio stubs they are (conftest types sync ones)."""

    api: Api
    containers: containers_pb2_grpc.ContainerServiceAsyncStub
    readings: readings_pb2_grpc.ReadingServiceAsyncStub


@pytest.fixture
def rpc(api: Api) -> Rpc:
    """The stubs of the `api` fixture, for typed awaits."""
    untyped: Any = api
    return Rpc(api, untyped.containers, untyped.readings)


def _stamp(when: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return stamp


def _at(minutes: float) -> timestamp_pb2.Timestamp:
    return _stamp(BASE + timedelta(minutes=minutes))


def _reading(minutes: float = 0, fill: float = 0.5, sensor_id: str = "") -> readings_pb2.Reading:
    return readings_pb2.Reading(measure_time=_at(minutes), fill_fraction=fill, sensor_id=sensor_id)


def _request(
    reading: readings_pb2.Reading, parent: str = "tenants/grand-soissons/containers/c1"
) -> readings_pb2.CreateReadingRequest:
    return readings_pb2.CreateReadingRequest(parent=parent, reading=reading)


def _batch(
    readings: Sequence[readings_pb2.Reading], parent: str = "tenants/grand-soissons/containers/c1"
) -> readings_pb2.BatchCreateReadingsRequest:
    return readings_pb2.BatchCreateReadingsRequest(
        parent=parent, requests=[readings_pb2.CreateReadingRequest(reading=r) for r in readings]
    )


async def _all_readings(
    rpc: Rpc, container: str = "tenants/grand-soissons/containers/c1"
) -> list[readings_pb2.Reading]:
    response = await rpc.readings.ListReadings(
        readings_pb2.ListReadingsRequest(parent=container, page_size=1000)
    )
    return list(response.readings)


async def _container(rpc: Rpc, name: str) -> containers_pb2.Container:
    container: containers_pb2.Container = await rpc.containers.GetContainer(
        containers_pb2.GetContainerRequest(name=name)
    )
    return container


@pytest.fixture
async def c1(rpc: Rpc) -> Rpc:
    """One glass container `containers/c1` with sensor SENS-1 and the default geometry (1800/300 mm)."""
    await create_container(rpc.api, "c1", sensor_id="SENS-1")
    return rpc


# Creating readings --------------------------------------------------------------------------------------


async def test_create_reading_round_trip(c1: Rpc) -> None:
    """CreateReading stores the reading under a name made of its measure time, and returns it whole."""
    reading = _reading(fill=0.42, sensor_id="SENS-1")
    reading.battery_percent = 87.5
    reading.temperature_celsius = 12.0
    reading.tilted = True

    created = await c1.readings.CreateReading(_request(reading))

    assert created.name == "tenants/grand-soissons/containers/c1/readings/" + BASE.strftime(
        "%Y%m%dT%H%M%S.123Z"
    )
    assert created.measure_time == reading.measure_time
    assert created.fill_fraction == pytest.approx(0.42)
    assert created.fill == pytest.approx(0.42)
    assert created.battery_percent == 87.5
    assert created.temperature_celsius == 12.0
    assert created.tilted
    assert created.sensor_id == "SENS-1"
    assert abs(created.create_time.ToDatetime(tzinfo=UTC) - datetime.now(UTC)) < timedelta(minutes=1)
    assert await _all_readings(c1) == [created]


async def test_create_reading_takes_the_container_sensor_by_default(c1: Rpc) -> None:
    """A reading sent without sensor_id is attributed to the container's fitted sensor."""
    created = await c1.readings.CreateReading(_request(_reading()))

    assert created.sensor_id == "SENS-1"
    assert not created.HasField("battery_percent")
    assert not created.HasField("temperature_celsius")


async def test_create_reading_of_stored_reading_returns_it(c1: Rpc) -> None:
    """Re-sending a stored reading returns the stored one (same name and create_time), not an error."""
    first = await c1.readings.CreateReading(_request(_reading(fill=0.3)))

    again = await c1.readings.CreateReading(_request(_reading(fill=0.3)))

    assert again.name == first.name
    assert again.create_time == first.create_time
    assert again == first
    assert len(await _all_readings(c1)) == 1


async def test_create_reading_by_sensor_id(c1: Rpc) -> None:
    """With parent `containers/-` the reading goes to the container the sensor is fitted to."""
    await create_container(c1.api, "c2", sensor_id="SENS-2")

    created = await c1.readings.CreateReading(
        _request(_reading(sensor_id="SENS-2"), "tenants/grand-soissons/containers/-")
    )

    assert created.name.startswith("tenants/grand-soissons/containers/c2/readings/")
    assert [r.name for r in await _all_readings(c1, "tenants/grand-soissons/containers/c2")] == [created.name]
    assert await _all_readings(c1, "tenants/grand-soissons/containers/c1") == []


async def test_batch_by_sensor_id_spreads_over_containers(c1: Rpc) -> None:
    """A gateway batch with default parent `containers/-` files each reading under its sensor's container."""
    await create_container(c1.api, "c2", sensor_id="SENS-2")
    batch = _batch(
        [_reading(0, 0.1, "SENS-1"), _reading(0, 0.2, "SENS-2"), _reading(5, 0.3, "SENS-1")],
        "tenants/grand-soissons/containers/-",
    )

    response = await c1.readings.BatchCreateReadings(batch)

    assert [r.name.split("/readings/")[0] for r in response.results] == [
        "tenants/grand-soissons/containers/c1",
        "tenants/grand-soissons/containers/c2",
        "tenants/grand-soissons/containers/c1",
    ]
    assert [r.fill for r in await _all_readings(c1, "tenants/grand-soissons/containers/c1")] == pytest.approx(
        [0.3, 0.1]
    )
    assert [r.fill for r in await _all_readings(c1, "tenants/grand-soissons/containers/c2")] == pytest.approx(
        [0.2]
    )


@pytest.mark.parametrize(
    ("distance", "fill"), [(1050, 0.5), (1800, 0.0), (300, 1.0), (2500, 0.0), (100, 1.0), (675, 0.75)]
)
async def test_distance_reading_is_converted_with_geometry(c1: Rpc, distance: int, fill: float) -> None:
    """A distance_mm reading is turned into `fill` with the model (empty 1800 mm, full 300 mm), clamped."""
    reading = readings_pb2.Reading(measure_time=_at(0), distance_mm=distance)

    created = await c1.readings.CreateReading(_request(reading))

    assert created.WhichOneof("level") == "distance_mm"
    assert created.distance_mm == distance
    assert created.fill == pytest.approx(fill)
    assert (await _all_readings(c1))[0].fill == pytest.approx(fill)


# Validation ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fill", [-0.01, 1.01, 85.0])
async def test_fill_outside_unit_interval_is_stored_as_outlier(c1: Rpc, fill: float) -> None:
    """A finite fill_fraction outside 0..1 is kept, clamped and flagged with why it cannot be true."""
    response = await c1.readings.BatchCreateReadings(_batch([_reading(fill=fill)]))

    assert response.results[0].outcome == common_pb2.ITEM_OUTCOME_STORED
    [stored] = await _all_readings(c1)
    assert "outside 0..1" in stored.outlier_reason
    assert stored.fill == pytest.approx(min(1.0, max(0.0, fill)))


async def test_non_finite_fill_in_create_is_invalid(c1: Rpc) -> None:
    """A NaN fill is no value at all: INVALID_ARGUMENT on reading.fill_fraction."""
    err = await rpc_error(c1.readings.CreateReading(_request(_reading(fill=float("nan")))))

    assert_error(err, INVALID, "reading.fill_fraction")
    assert set(violations(err)) == {"reading.fill_fraction"}


async def test_unknown_container_is_not_found(c1: Rpc) -> None:
    """A reading for a container that does not exist is NOT_FOUND naming it and the parent field."""
    err = await rpc_error(
        c1.readings.CreateReading(_request(_reading(), "tenants/grand-soissons/containers/ghost"))
    )

    info = assert_error(err, NOT_FOUND, "parent")
    assert info.metadata["resource"] == "tenants/grand-soissons/containers/ghost"


async def test_unknown_container_in_batch_is_not_found(c1: Rpc) -> None:
    """In a batch the item's NOT_FOUND names its parent by index; the other item is stored."""
    batch = _batch([_reading(0)])
    batch.requests.append(_request(_reading(1), "tenants/grand-soissons/containers/ghost"))

    response = await c1.readings.BatchCreateReadings(batch)

    info = assert_item_error(response.results[1], NOT_FOUND, "requests[1].parent")
    assert info.metadata["resource"] == "tenants/grand-soissons/containers/ghost"
    assert response.results[0].outcome == common_pb2.ITEM_OUTCOME_STORED
    assert [r.name for r in await _all_readings(c1)] == [response.results[0].name]


async def test_unknown_sensor_is_not_found(c1: Rpc) -> None:
    """With parent `containers/-` an unknown sensor is NOT_FOUND (SENSOR_UNKNOWN) for that item only."""
    response = await c1.readings.BatchCreateReadings(
        _batch(
            [_reading(0, sensor_id="NOPE"), _reading(1, sensor_id="SENS-1")],
            "tenants/grand-soissons/containers/-",
        )
    )

    info = assert_item_error(response.results[0], NOT_FOUND, "requests[0].reading.sensor_id")
    assert info.reason == "SENSOR_UNKNOWN"
    assert "NOPE" in info.metadata["resource"]
    assert response.results[1].outcome == common_pb2.ITEM_OUTCOME_STORED
    assert (response.stored_count, response.rejected_count) == (1, 1)


async def test_sensor_selection_needs_a_sensor_id(c1: Rpc) -> None:
    """Parent `containers/-` without a sensor_id is INVALID_ARGUMENT on reading.sensor_id."""
    err = await rpc_error(
        c1.readings.CreateReading(_request(_reading(), "tenants/grand-soissons/containers/-"))
    )

    assert_error(err, INVALID, "reading.sensor_id")


async def test_measure_time_far_in_future_is_invalid(c1: Rpc) -> None:
    """A reading measured 1 h ahead of the server clock is INVALID_ARGUMENT on its measure_time."""
    reading = _reading()
    reading.measure_time.CopyFrom(_stamp(datetime.now(UTC) + timedelta(hours=1)))

    response = await c1.readings.BatchCreateReadings(_batch([reading]))

    assert_item_error(response.results[0], INVALID, "requests[0].reading.measure_time")


async def test_measure_time_slightly_ahead_is_accepted(c1: Rpc) -> None:
    """Clock drift within the 10-minute tolerance is accepted."""
    reading = _reading()
    reading.measure_time.CopyFrom(_stamp(datetime.now(UTC) + timedelta(minutes=5)))

    created = await c1.readings.CreateReading(_request(reading))

    assert created.measure_time.seconds == reading.measure_time.seconds


@pytest.mark.parametrize(
    ("reading", "field"),
    [
        (readings_pb2.Reading(fill_fraction=0.5), "reading.measure_time"),
        (readings_pb2.Reading(measure_time=_at(0)), "reading.fill_fraction"),
        (readings_pb2.Reading(measure_time=_at(0), distance_mm=-1), "reading.distance_mm"),
        (
            readings_pb2.Reading(measure_time=_at(0), fill_fraction=0.5, battery_percent=101),
            "reading.battery_percent",
        ),
        (
            readings_pb2.Reading(measure_time=_at(0), fill_fraction=0.5, temperature_celsius=float("nan")),
            "reading.temperature_celsius",
        ),
        (
            readings_pb2.Reading(measure_time=timestamp_pb2.Timestamp(seconds=1), fill_fraction=0.5),
            "reading.measure_time",
        ),
    ],
    ids=["no-time", "no-level", "negative-distance", "battery", "temperature-nan", "before-2000"],
)
async def test_invalid_reading_names_the_field(c1: Rpc, reading: readings_pb2.Reading, field: str) -> None:
    """Each invalid reading field is INVALID_ARGUMENT with its path relative to CreateReadingRequest."""
    err = await rpc_error(c1.readings.CreateReading(_request(reading)))

    assert_error(err, INVALID, field)


async def test_empty_batch_is_invalid(c1: Rpc) -> None:
    """A batch without readings is INVALID_ARGUMENT on requests."""
    err = await rpc_error(c1.readings.BatchCreateReadings(_batch([])))

    assert_error(err, INVALID, "requests")


async def test_oversized_batch_is_invalid(c1: Rpc) -> None:
    """A batch of 1001 readings is INVALID_ARGUMENT on requests, and none of them is stored."""
    err = await rpc_error(c1.readings.BatchCreateReadings(_batch([_reading(i) for i in range(1001)])))

    assert_error(err, INVALID, "requests")
    assert await _all_readings(c1) == []


async def test_largest_batch_is_accepted(c1: Rpc) -> None:
    """A batch of exactly 1000 readings is stored whole."""
    response = await c1.readings.BatchCreateReadings(_batch([_reading(i) for i in range(1000)]))

    assert response.stored_count == 1000
    assert len(response.results) == 1000
    assert response.duplicate_count == 0


async def test_distance_reading_without_geometry_is_invalid(rpc: Rpc) -> None:
    """A distance_mm reading for a container without a model is FAILED_PRECONDITION CONTAINER_HAS_NO_MODEL."""
    container = container_message()
    container.ClearField("model")
    await rpc.containers.CreateContainer(
        containers_pb2.CreateContainerRequest(parent=TENANT, container_id="bare", container=container)
    )
    reading = readings_pb2.Reading(measure_time=_at(0), distance_mm=900)

    response = await rpc.readings.BatchCreateReadings(
        _batch([reading], "tenants/grand-soissons/containers/bare")
    )

    info = assert_item_error(
        response.results[0], grpc.StatusCode.FAILED_PRECONDITION, "requests[0].reading.distance_mm"
    )
    assert info.reason == "CONTAINER_HAS_NO_MODEL"
    assert await _all_readings(rpc, "tenants/grand-soissons/containers/bare") == []


# Per-item results and idempotency ------------------------------------------------------------------------


async def test_batch_with_one_bad_reading_stores_the_others(c1: Rpc) -> None:
    """One invalid reading is refused by index; the three others are stored (partial success)."""
    readings = [_reading(0, 0.1), _reading(1, 0.2), _reading(2, float("inf")), _reading(3, 0.4)]

    response = await c1.readings.BatchCreateReadings(_batch(readings))

    assert_item_error(response.results[2], INVALID, "requests[2].reading.fill_fraction")
    outcomes = [r.outcome for r in response.results]
    assert outcomes == [STORED, STORED, common_pb2.ITEM_OUTCOME_REJECTED, STORED]
    assert [r.measure_time for r in await _all_readings(c1)] == [_at(3), _at(1), _at(0)]
    container = await _container(c1, "tenants/grand-soissons/containers/c1")
    assert container.latest_reading_time == _at(3)


async def test_resent_reading_with_another_value_is_a_conflict(c1: Rpc) -> None:
    """The same container and time with another fill is refused (READING_CONFLICT), never overwritten."""
    await c1.readings.BatchCreateReadings(_batch([_reading(0, 0.4)]))

    response = await c1.readings.BatchCreateReadings(_batch([_reading(0, 0.9)]))
    err = await rpc_error(c1.readings.CreateReading(_request(_reading(0, 0.9))))

    info = assert_item_error(response.results[0], grpc.StatusCode.ALREADY_EXISTS)
    assert info.reason == "READING_CONFLICT"
    assert assert_error(err, grpc.StatusCode.ALREADY_EXISTS).reason == "READING_CONFLICT"
    assert [r.fill for r in await _all_readings(c1)] == [pytest.approx(0.4)]


async def test_redelivered_batch_is_stored_once(c1: Rpc) -> None:
    """Sending the same batch twice stores it once; the second answer counts every reading as duplicate."""
    batch = _batch([_reading(i, i / 10) for i in range(5)])

    first = await c1.readings.BatchCreateReadings(batch)
    second = await c1.readings.BatchCreateReadings(batch)

    assert first.stored_count == 5
    assert first.duplicate_count == 0
    assert second.stored_count == 0
    assert second.duplicate_count == 5
    assert [r.name for r in second.results] == [r.name for r in first.results]
    assert len(await _all_readings(c1)) == 5


async def test_partly_redelivered_batch_stores_only_new_readings(c1: Rpc) -> None:
    """A batch overlapping a stored one stores the new readings, in request order, and counts the rest."""
    await c1.readings.BatchCreateReadings(_batch([_reading(0), _reading(1)]))

    response = await c1.readings.BatchCreateReadings(_batch([_reading(3), _reading(1), _reading(2)]))

    assert [r.outcome for r in response.results] == [STORED, common_pb2.ITEM_OUTCOME_DUPLICATE, STORED]
    assert response.duplicate_count == 1
    assert len(await _all_readings(c1)) == 4


async def test_duplicate_inside_one_batch_is_stored_once(c1: Rpc) -> None:
    """The same reading twice in one batch is stored once and counted once as duplicate."""
    response = await c1.readings.BatchCreateReadings(_batch([_reading(0), _reading(0)]))

    assert response.stored_count == 1
    assert response.duplicate_count == 1
    assert len(await _all_readings(c1)) == 1


async def test_sub_millisecond_resend_is_a_duplicate(c1: Rpc) -> None:
    """Readings are keyed to the millisecond: a re-send differing by microseconds is a duplicate."""
    reading = _reading()
    await c1.readings.CreateReading(_request(reading))
    resent = _reading()
    resent.measure_time.nanos += 400_000

    response = await c1.readings.BatchCreateReadings(_batch([resent]))

    assert response.duplicate_count == 1
    assert len(await _all_readings(c1)) == 1


# Listing and the container's latest reading --------------------------------------------------------------


async def test_list_readings_newest_first_in_pages(c1: Rpc) -> None:
    """ListReadings pages of 3 over 7 readings walk them newest first, each exactly once."""
    order = [4, 0, 6, 2, 5, 1, 3]
    await c1.readings.BatchCreateReadings(_batch([_reading(10 * i, i / 10) for i in order]))

    pages: list[list[readings_pb2.Reading]] = []
    token = ""
    while True:
        page = await c1.readings.ListReadings(
            readings_pb2.ListReadingsRequest(
                parent="tenants/grand-soissons/containers/c1", page_size=3, page_token=token
            )
        )
        pages.append(list(page.readings))
        token = page.next_page_token
        if not token or len(pages) > 7:
            break

    assert [len(p) for p in pages] == [3, 3, 1]
    times = [r.measure_time for p in pages for r in p]
    assert times == [_at(10 * i) for i in reversed(range(7))]
    assert [r.fill for p in pages for r in p] == pytest.approx([i / 10 for i in reversed(range(7))])


async def test_list_readings_of_unknown_container_is_not_found(c1: Rpc) -> None:
    """Listing the readings of a missing container is NOT_FOUND naming parent."""
    err = await rpc_error(
        c1.readings.ListReadings(
            readings_pb2.ListReadingsRequest(parent="tenants/grand-soissons/containers/ghost")
        )
    )

    assert_error(err, NOT_FOUND, "parent")


async def test_reading_page_token_is_bound_to_its_parent(c1: Rpc) -> None:
    """A page token of one container's readings is INVALID_ARGUMENT for another container."""
    await create_container(c1.api, "c2")
    await c1.readings.BatchCreateReadings(_batch([_reading(i) for i in range(3)]))
    page = await c1.readings.ListReadings(
        readings_pb2.ListReadingsRequest(parent="tenants/grand-soissons/containers/c1", page_size=1)
    )
    assert page.next_page_token

    err = await rpc_error(
        c1.readings.ListReadings(
            readings_pb2.ListReadingsRequest(
                parent="tenants/grand-soissons/containers/c2", page_token=page.next_page_token
            )
        )
    )

    assert_error(err, INVALID, "page_token")


async def test_container_shows_latest_reading(c1: Rpc) -> None:
    """Container.latest_fill and latest_reading_time follow the newest reading, not the last received."""
    empty = await _container(c1, "tenants/grand-soissons/containers/c1")
    assert not empty.HasField("latest_reading_time")

    await c1.readings.BatchCreateReadings(_batch([_reading(0, 0.2), _reading(30, 0.6), _reading(15, 0.4)]))
    await c1.readings.CreateReading(_request(_reading(5, 0.9)))  # late delivery of an older reading

    container = await _container(c1, "tenants/grand-soissons/containers/c1")
    assert container.latest_fill == pytest.approx(0.6)
    assert container.latest_reading_time == _at(30)
    listed = await c1.containers.ListContainers(containers_pb2.ListContainersRequest(parent=TENANT))
    assert listed.containers[0].latest_fill == pytest.approx(0.6)
    assert listed.containers[0].latest_reading_time == _at(30)


async def test_deleting_a_container_deletes_its_readings(c1: Rpc) -> None:
    """A container re-created under a deleted one's id starts without readings."""
    await c1.readings.BatchCreateReadings(_batch([_reading(0), _reading(1)]))

    await c1.containers.DeleteContainer(
        containers_pb2.DeleteContainerRequest(name="tenants/grand-soissons/containers/c1")
    )
    await create_container(c1.api, "c1", sensor_id="SENS-1")

    assert await _all_readings(c1) == []
    container = await _container(c1, "tenants/grand-soissons/containers/c1")
    assert not container.HasField("latest_reading_time")


# StreamReadings -----------------------------------------------------------------------------------------


def _chunk(chunk_id: str, readings: Sequence[readings_pb2.Reading]) -> readings_pb2.StreamReadingsRequest:
    return readings_pb2.StreamReadingsRequest(
        chunk_id=chunk_id,
        requests=[_request(r, "tenants/grand-soissons/containers/-") for r in readings],
    )


async def _chunks(
    *chunks: readings_pb2.StreamReadingsRequest,
) -> AsyncIterator[readings_pb2.StreamReadingsRequest]:
    for chunk in chunks:
        yield chunk


async def _collect(
    call: AsyncIterable[readings_pb2.StreamReadingsResponse], into: list[readings_pb2.StreamReadingsResponse]
) -> None:
    async for ack in call:
        into.append(ack)


async def test_stream_acknowledges_chunks_in_order(c1: Rpc) -> None:
    """Each chunk is acknowledged, in order, as soon as it is stored, with its stored/duplicate counts."""
    call = c1.readings.StreamReadings()
    acks: list[readings_pb2.StreamReadingsResponse] = []
    sent = [
        _chunk("a", [_reading(0, 0.1, "SENS-1"), _reading(1, 0.2, "SENS-1")]),
        _chunk("b", [_reading(1, 0.2, "SENS-1"), _reading(2, 0.3, "SENS-1"), _reading(3, 0.4, "SENS-1")]),
        _chunk("c", [_reading(4, 0.5, "SENS-1")]),
    ]
    for chunk in sent:
        await call.write(chunk)
        ack = await call.read()  # each ack arrives before the next chunk is sent
        assert isinstance(ack, readings_pb2.StreamReadingsResponse)
        acks.append(ack)
    await call.done_writing()

    assert await call.read() == grpc.aio.EOF
    assert await call.code() == grpc.StatusCode.OK
    assert [(a.chunk_id, a.stored_count, a.duplicate_count) for a in acks] == [
        ("a", 2, 0),
        ("b", 2, 1),
        ("c", 1, 0),
    ]
    assert len(await _all_readings(c1)) == 5


async def test_stream_stops_at_invalid_chunk_and_keeps_acknowledged_ones(c1: Rpc) -> None:
    """A malformed 3rd chunk (empty) ends the stream with INVALID_ARGUMENT naming it; chunks 1-2 stay."""
    call = c1.readings.StreamReadings(
        _chunks(
            _chunk("gw-1", [_reading(0, 0.1, "SENS-1"), _reading(1, 0.2, "SENS-1")]),
            _chunk("gw-2", [_reading(2, 0.3, "SENS-1")]),
            _chunk("gw-3", []),
            _chunk("gw-4", [_reading(5, 0.5, "SENS-1")]),
        )
    )
    acks: list[readings_pb2.StreamReadingsResponse] = []

    err = await rpc_error(_collect(call, acks))

    assert [a.chunk_id for a in acks] == ["gw-1", "gw-2"]
    info = assert_error(err, INVALID, "requests")
    assert "gw-3" in (err.details() or "")
    assert info.metadata["chunk_id"] == "gw-3"
    stored = await _all_readings(c1)
    assert [r.measure_time for r in stored] == [_at(2), _at(1), _at(0)]


async def test_stream_chunk_with_a_bad_reading_acknowledges_per_item(c1: Rpc) -> None:
    """A chunk with one bad reading is acknowledged with that item refused and the others stored."""
    chunk = _chunk("gw-5", [_reading(3, 0.4, "SENS-1"), _reading(4, float("nan"), "SENS-1")])

    acks = [ack async for ack in c1.readings.StreamReadings(_chunks(chunk))]

    assert [(a.stored_count, a.rejected_count) for a in acks] == [(1, 1)]
    assert_item_error(acks[0].results[1], INVALID, "requests[1].reading.fill_fraction")


async def test_stream_chunk_with_unknown_sensor_is_not_found(c1: Rpc) -> None:
    """A reading of an unknown sensor is refused in the chunk's acknowledgement; the stream goes on."""
    chunks = _chunks(_chunk("x", [_reading(0, 0.1, "NOPE")]), _chunk("y", [_reading(1, 0.2, "SENS-1")]))

    acks = [ack async for ack in c1.readings.StreamReadings(chunks)]

    assert [(a.chunk_id, a.stored_count, a.rejected_count) for a in acks] == [("x", 0, 1), ("y", 1, 0)]
    info = assert_item_error(acks[0].results[0], NOT_FOUND, "requests[0].reading.sensor_id")
    assert info.reason == "SENSOR_UNKNOWN"


async def test_resent_chunk_is_acknowledged_as_duplicate(c1: Rpc) -> None:
    """A chunk sent again (the gateway missed the ack) is acknowledged with every reading as duplicate."""
    chunk = _chunk("gw-7", [_reading(i, 0.1 * i, "SENS-1") for i in range(4)])

    acks = [ack async for ack in c1.readings.StreamReadings(_chunks(chunk, chunk))]

    assert [(a.chunk_id, a.stored_count, a.duplicate_count) for a in acks] == [("gw-7", 4, 0), ("gw-7", 0, 4)]
    assert len(await _all_readings(c1)) == 4


async def test_stream_empty_chunk_is_invalid(c1: Rpc) -> None:
    """A chunk without readings ends the stream with INVALID_ARGUMENT on requests."""
    call = c1.readings.StreamReadings(_chunks(_chunk("empty", [])))

    acks: list[readings_pb2.StreamReadingsResponse] = []
    err = await rpc_error(_collect(call, acks))

    assert acks == []
    assert_error(err, INVALID, "requests")
