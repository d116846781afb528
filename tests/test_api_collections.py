"""ListCollections on a real channel: sensor-detected emptyings (assessed after ingest answered) and crew
reports, by container or over the tenant, filtered by source and time, paged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2

from tests.conftest import OTHER_TENANT, TENANT, Api, create_container
from tests.errors import assert_error, rpc_error
from wastesvc.storage import CollectionRow
from wastesvc.v1 import common_pb2, containers_pb2, readings_pb2

C1 = f"{TENANT}/containers/c1"
ALL = f"{TENANT}/containers/-"
SENSOR = containers_pb2.COLLECTION_SOURCE_SENSOR
CREW = containers_pb2.COLLECTION_SOURCE_CREW
NOW = datetime.now(UTC).replace(microsecond=0)


def _reading(hours_ago: float, fill: float) -> readings_pb2.Reading:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(NOW - timedelta(hours=hours_ago))
    return readings_pb2.Reading(measure_time=stamp, fill_fraction=fill)


async def _emptied_by_sensor(api: Api, container: str) -> tuple[datetime, datetime]:
    """Ingests a rising series, a drop and a new rise; returns the times either side of the drop."""
    rising = [_reading(20 - h, 0.3 + 0.05 * h) for h in range(10)]
    after = [_reading(9 - h, 0.05 + 0.01 * h) for h in range(8)]
    response = await api.readings.BatchCreateReadings(
        readings_pb2.BatchCreateReadingsRequest(
            requests=[readings_pb2.CreateReadingRequest(parent=container, reading=r) for r in rising + after]
        )
    )
    assert response.stored_count == len(rising + after)
    return rising[-1].measure_time.ToDatetime(UTC), after[0].measure_time.ToDatetime(UTC)


def _crew(api: Api, container_id: str, hours_ago: float) -> None:
    """A crew report, as a dispatch field event stores it."""
    api.service.storage.insert_collections(
        [
            CollectionRow(
                tenant=TENANT.removeprefix("tenants/"),
                container_id=container_id,
                collect_time=NOW - timedelta(hours=hours_ago),
                source="crew",
                route_plan=f"{TENANT}/routePlans/p1",
                visit_id="v1",
                weighed_kg=120.0,
                create_time=NOW,
            )
        ]
    )


async def _list(api: Api, parent: str = C1, **fields: Any) -> containers_pb2.ListCollectionsResponse:
    return await api.containers.ListCollections(
        containers_pb2.ListCollectionsRequest(parent=parent, **fields)
    )


@pytest.fixture
async def two(api: Api) -> Api:
    for container_id in ("c1", "c2"):
        await create_container(api, container_id, stream=common_pb2.WASTE_STREAM_RESIDUAL)
    return api


async def test_a_sensor_detected_emptying_is_listed_right_after_ingest(two: Api) -> None:
    """The detection runs after the answer; the listing waits for it."""
    before, after = await _emptied_by_sensor(two, C1)

    [collection] = (await _list(two)).collections

    assert collection.source == SENSOR
    assert collection.name.startswith(f"{C1}/collections/")
    assert before <= collection.collect_time.ToDatetime(UTC) <= after
    assert collection.HasField("observed_fill")
    assert not collection.HasField("weighed_kg")


async def test_filter_by_source_and_time_over_the_tenant(two: Api) -> None:
    """`containers/-` lists every container's; source and the half-open time range filter them."""
    await _emptied_by_sensor(two, C1)
    _crew(two, "c2", 30)
    _crew(two, "c1", 2)

    every = (await _list(two, ALL)).collections
    crew = (await _list(two, ALL, filter="source = CREW")).collections
    sensor = (await _list(two, ALL, filter="source = COLLECTION_SOURCE_SENSOR")).collections
    since = (NOW - timedelta(hours=24)).isoformat()
    recent_crew = (await _list(two, ALL, filter=f'source = CREW AND collected_after = "{since}"')).collections
    until = (NOW - timedelta(hours=2)).isoformat()
    older = (await _list(two, ALL, filter=f'collected_before = "{until}"')).collections

    times = [c.collect_time.ToDatetime(UTC) for c in every]
    assert times == sorted(times, reverse=True)
    assert len(every) == 3
    assert [(c.name.split("/collections/")[0], c.source) for c in crew] == [
        (C1, CREW),
        (f"{ALL[:-1]}c2", CREW),
    ]
    assert crew[0].route_plan == f"{TENANT}/routePlans/p1"
    assert crew[0].weighed_kg == 120.0
    assert [c.source for c in sensor] == [SENSOR]
    assert [c.name for c in recent_crew] == [crew[0].name]
    assert CREW in {c.source for c in older}
    assert crew[0].name not in {c.name for c in older}


async def test_pages_follow_each_other(two: Api) -> None:
    """Pages of one, newest first, end with an empty token; a token is bound to its query."""
    for hours_ago in (5, 4, 3):
        _crew(two, "c1", hours_ago)

    seen, token = [], ""
    while True:
        page = await _list(two, page_size=1, page_token=token)
        seen += [c.collect_time.ToDatetime(UTC) for c in page.collections]
        token = page.next_page_token
        if not token:
            break
    first = await _list(two, page_size=1)
    error = await rpc_error(_list(two, page_size=1, page_token=first.next_page_token, filter="source = CREW"))

    assert seen == [NOW - timedelta(hours=h) for h in (3, 4, 5)]
    assert_error(error, grpc.StatusCode.INVALID_ARGUMENT, "page_token")


@pytest.mark.parametrize(
    ("parent", "filter_", "code", "field"),
    [
        (f"{TENANT}/containers/nope", "", grpc.StatusCode.NOT_FOUND, "parent"),
        ("tenants/", "", grpc.StatusCode.INVALID_ARGUMENT, "parent"),
        (ALL, "source = TRUCK", grpc.StatusCode.INVALID_ARGUMENT, "filter"),
        (ALL, 'collected_after = "yesterday"', grpc.StatusCode.INVALID_ARGUMENT, "filter"),
        (ALL, 'collected_before = "0001-01-01T00:00:00+01:00"', grpc.StatusCode.INVALID_ARGUMENT, "filter"),
        (ALL, 'visit_id = "v1"', grpc.StatusCode.INVALID_ARGUMENT, "filter"),
        (f"{OTHER_TENANT}/containers/-", "", grpc.StatusCode.PERMISSION_DENIED, None),
    ],
)
async def test_bad_requests_are_clear_errors(
    two: Api, parent: str, filter_: str, code: grpc.StatusCode, field: str | None
) -> None:
    error = await rpc_error(_list(two, parent, filter=filter_))

    assert_error(error, code, field)
