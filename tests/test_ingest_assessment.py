"""Assessment after the answer: readings stored are marked in their own transaction, assessed in rounds
coalesced per container, after a restart too, and reads of what they derive wait for it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import TENANT, Api, api_on, token
from wastesvc.client import open_channel
from wastesvc.config import Settings
from wastesvc.metrics import Metrics
from wastesvc.monitor import AlertHub, Monitor
from wastesvc.server import create_server
from wastesvc.storage import ContainerRow, ReadingInsert, SqlStorage, open_storage
from wastesvc.v1 import alerts_pb2, alerts_pb2_grpc, containers_pb2

T = TENANT.removeprefix("tenants/")
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def storage(db_url: str) -> Iterator[SqlStorage]:
    opened = open_storage(db_url)
    for container_id in ("c1", "c2"):
        opened.create(
            ContainerRow(
                tenant=T,
                id=container_id,
                commune_code="02722",
                lat=49.38,
                lng=3.32,
                stream="glass",
                volume_l=3000,
                create_time=NOW,
                update_time=NOW,
            )
        )
    yield opened
    opened.close()


def _reading(container_id: str, hours_ago: float, **values: object) -> ReadingInsert:
    fields: dict[str, object] = {"fill": 0.4, "battery_percent": 80.0, "tilted": False} | values
    return ReadingInsert(
        T,
        container_id,
        "",
        NOW - timedelta(hours=hours_ago),
        float(fields["fill"]),  # type: ignore[arg-type]
        None,
        fields["battery_percent"],  # type: ignore[arg-type]
        None,
        bool(fields["tilted"]),
    )


def _alerts(storage: SqlStorage) -> list[tuple[str, str, str]]:
    rows = storage.list_alerts(T, before_id=None, limit=100)
    return sorted((a.container_id, a.kind, a.state) for a in rows)


def test_a_container_touched_many_times_waits_once(storage: SqlStorage) -> None:
    """Three transactions on one container leave one waiting row; a round takes it once."""
    for hours_ago in (3, 2, 1):
        storage.insert_readings([_reading("c1", hours_ago)])
    storage.insert_readings([_reading("c2", 1)])

    assert storage.pending_containers(T) == {"c1", "c2"}
    claimed = storage.claim_assessments(10, NOW, NOW + timedelta(minutes=2))
    assert [(r.container_id, r.first_measure_time) for r in claimed] == [
        ("c1", NOW - timedelta(hours=3)),
        ("c2", NOW - timedelta(hours=1)),
    ]
    storage.finish_assessments(claimed)
    assert storage.pending_containers(T) == set()


def test_a_waiting_container_is_rewritten_only_for_an_earlier_reading(storage: SqlStorage) -> None:
    """Later readings of a container already waiting, not leased, leave its row as it is (rewriting
    every row of a batch was most of the cost of a PostgreSQL batch); an earlier one moves its start."""
    storage.insert_readings([_reading("c1", 2)])
    storage.insert_readings([_reading("c1", 1)])
    [claimed] = storage.claim_assessments(10, NOW, NOW + timedelta(minutes=2))
    assert (claimed.first_measure_time, claimed.generation) == (NOW - timedelta(hours=2), 0)
    storage.finish_assessments([claimed])

    storage.insert_readings([_reading("c1", 0.5)])
    storage.insert_readings([_reading("c1", 3)])  # a sensor's backlog, sent late
    [claimed] = storage.claim_assessments(10, NOW, NOW + timedelta(minutes=2))
    assert claimed.first_measure_time == NOW - timedelta(hours=3)


def test_a_reading_stored_during_a_round_keeps_its_container_waiting(storage: SqlStorage) -> None:
    """A reading committed after the claim is not lost: the row stays, free for the next round at once."""
    storage.insert_readings([_reading("c1", 2)])
    claimed = storage.claim_assessments(10, NOW, NOW + timedelta(minutes=2))
    storage.insert_readings([_reading("c1", 1)])
    storage.finish_assessments(claimed)

    assert storage.pending_containers(T) == {"c1"}
    [again] = storage.claim_assessments(10, NOW, NOW + timedelta(minutes=2))
    assert again.first_measure_time == NOW - timedelta(hours=2)


def test_a_held_container_is_taken_again_only_once_its_lease_ended(storage: SqlStorage) -> None:
    """Another round skips a held row; past the lease (its replica died) a round takes it."""
    storage.insert_readings([_reading("c1", 1)])
    lease_end = NOW + timedelta(minutes=2)
    assert len(storage.claim_assessments(10, NOW, lease_end)) == 1

    assert storage.claim_assessments(10, NOW + timedelta(minutes=1), lease_end) == []
    later = lease_end + timedelta(seconds=1)
    assert [r.container_id for r in storage.claim_assessments(10, later, later)] == ["c1"]


def test_a_duplicate_marks_nothing(storage: SqlStorage) -> None:
    """A re-delivered reading stores nothing, so nothing waits for an assessment."""
    storage.insert_readings([_reading("c1", 1)])
    storage.finish_assessments(storage.claim_assessments(10, NOW, NOW + timedelta(minutes=2)))

    storage.insert_readings([_reading("c1", 1)])

    assert storage.pending_containers(T) == set()


def test_a_round_raises_alerts_and_records_a_condition_that_came_and_went(storage: SqlStorage) -> None:
    """One round over readings that tilted and stood up again, with a flat battery: the tilt is on record
    resolved, the battery alert is open; running the round again records nothing twice."""
    storage.insert_readings([_reading("c1", 3), _reading("c1", 2, tilted=True)])
    storage.insert_readings([_reading("c1", 1, battery_percent=3.0)])
    monitor = Monitor(storage, AlertHub())

    claimed, changed = monitor.assess_pending(NOW)

    assert [r.container_id for r in claimed] == ["c1"]
    expected = [("c1", "low_battery", "open"), ("c1", "tilted", "resolved")]
    assert sorted((a.container_id, a.kind, a.state) for a in changed) == expected
    assert _alerts(storage) == expected
    monitor.assess_containers(T, {"c1": NOW - timedelta(hours=3)}, NOW)
    assert _alerts(storage) == expected


def test_backlog_and_lag_are_scraped(storage: SqlStorage) -> None:
    """The gauges count the containers waiting and the age of the oldest unassessed reading."""
    metrics = Metrics()
    metrics.watch_storage(storage)
    storage.insert_readings([_reading("c1", 1), _reading("c2", 1)])

    def gauges() -> dict[str, float]:
        families = text_string_to_metric_families(metrics.exposition().decode())
        return {s.name: s.value for f in families for s in f.samples if s.name.startswith("wastesvc_assess")}

    waiting = gauges()
    assert waiting["wastesvc_assessment_backlog"] == 2
    assert waiting["wastesvc_assessment_lag_seconds"] >= 0
    storage.finish_assessments(storage.claim_assessments(10, NOW, NOW + timedelta(minutes=2)))
    assert gauges() == {"wastesvc_assessment_backlog": 0, "wastesvc_assessment_lag_seconds": 0}


async def test_readings_stored_before_a_restart_are_assessed_after_it(
    storage: SqlStorage, settings: Settings
) -> None:
    """Readings acknowledged but not assessed when the server died (here: stored while none ran) are
    assessed by the next server, and a read waits for it."""
    storage.insert_readings([_reading("c1", 1, battery_percent=3.0)])

    service, port = await create_server(settings.listen, settings)
    try:
        address = f"127.0.0.1:{port}"
        async with open_channel(address, settings, token(settings)) as channel:
            api: Api = api_on(service, address, channel)
            listed = await alerts_pb2_grpc.AlertServiceStub(channel).ListAlerts(
                alerts_pb2.ListAlertsRequest(parent=TENANT)
            )
            container = await api.containers.GetContainer(
                containers_pb2.GetContainerRequest(name=f"{TENANT}/containers/c1")
            )
    finally:
        await service.stop(None)

    assert [(a.kind, a.state) for a in listed.alerts] == [
        (alerts_pb2.ALERT_KIND_LOW_BATTERY, alerts_pb2.ALERT_STATE_OPEN)
    ]
    assert container.HasField("forecast")
    assert storage.pending_containers(T) == set()
