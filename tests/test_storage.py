"""The storage interface behaves the same on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlmodel import Session

from wastesvc.errors import Aborted, AlreadyExists, NotFound
from wastesvc.storage import (
    CollectionRow,
    ContainerRow,
    InsertOutcome,
    ObservationRow,
    OperationRow,
    PlanRow,
    ReadingInsert,
    SqlStorage,
    open_storage,
)

NOW = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)


@pytest.fixture
def storage(db_url: str) -> Iterator[SqlStorage]:
    opened = open_storage(db_url)
    yield opened
    opened.close()


T = "grand-soissons"
OTHER = "champagne-picarde"


def _container(
    container_id: str, stream: str = "glass", commune: str = "02722", tenant: str = T
) -> ContainerRow:
    return ContainerRow(
        tenant=tenant,
        id=container_id,
        commune_code=commune,
        lat=49.38,
        lng=3.32,
        stream=stream,
        volume_l=3000,
        sensor_id=f"sensor-{container_id}",
        last_emptied_time=None,
        create_time=NOW,
        update_time=NOW,
    )


def _reading(container_id: str, minutes: int, fill: float, tenant: str = T) -> ReadingInsert:
    return ReadingInsert(
        tenant, container_id, "", NOW + timedelta(minutes=minutes), fill, None, None, None, False
    )


def test_resource_round_trip_and_paging(storage: SqlStorage) -> None:
    """Rows come back equal, list pages by id with filters, update and delete work."""
    for i in range(7):
        storage.create(_container(f"c{i}", stream="glass" if i % 2 else "paper"))
    with pytest.raises(AlreadyExists):
        storage.create(_container("c0"))
    got = storage.get(ContainerRow, T, "c3")
    assert got is not None
    assert got.model_dump() == _container("c3").model_dump()
    first = storage.list_page(ContainerRow, T, after=None, limit=3)
    second = storage.list_page(ContainerRow, T, after=first.last_key, limit=3)
    third = storage.list_page(ContainerRow, T, after=second.last_key, limit=3)
    assert [r.id for r in first.items + second.items + third.items] == [f"c{i}" for i in range(7)]
    assert third.last_key is None
    assert storage.count(ContainerRow, T, {"stream": "glass"}) == 3
    assert storage.container_ids_by_sensor(T, ["sensor-c2", "nope"]) == {"sensor-c2": "c2"}

    changed = _container("c1")
    changed.street_address = "Rue du Commerce"
    storage.update(changed)
    stored = storage.get(ContainerRow, T, "c1")
    assert stored is not None
    assert stored.street_address == "Rue du Commerce"
    with pytest.raises(NotFound):
        storage.update(_container("ghost"))
    assert storage.delete(ContainerRow, T, "c1") is True
    assert storage.delete(ContainerRow, T, "c1") is False


def test_tenants_share_ids_and_never_see_each_other(storage: SqlStorage) -> None:
    """The same id and sensor in two tenants are two rows; every query stays inside its tenant."""
    storage.create(_container("c0", commune="02722"))
    storage.create(_container("c0", commune="02131", tenant=OTHER))
    storage.insert_readings([_reading("c0", 0, 0.2), _reading("c0", 0, 0.9, tenant=OTHER)])

    mine = storage.get(ContainerRow, T, "c0")
    assert mine is not None
    assert mine.commune_code == "02722"
    assert [r.id for r in storage.list_page(ContainerRow, OTHER, after=None, limit=10).items] == ["c0"]
    assert storage.count(ContainerRow, T, {"commune_code": ("02131",)}) == 0
    assert storage.container_ids_by_sensor(OTHER, ["sensor-c0"]) == {"sensor-c0": "c0"}
    assert [r.fill for r in storage.list_readings(T, "c0", before=None, limit=5)] == [0.2]
    assert storage.latest_readings(OTHER, ["c0"])["c0"].fill == 0.9
    assert storage.delete(ContainerRow, OTHER, "c0") is True
    assert storage.get(ContainerRow, T, "c0") is not None
    assert len(storage.list_readings(T, "c0", before=None, limit=5)) == 1


def test_readings_are_idempotent_and_conflicts_are_told(storage: SqlStorage) -> None:
    """Re-inserting readings stores nothing new: the same values are duplicates, other values conflicts."""
    storage.create(_container("c0"))
    batch = [_reading("c0", m, m / 100) for m in range(10)]
    outcomes, _ = storage.insert_readings(batch)
    assert outcomes == [InsertOutcome.STORED] * 10
    again = [*batch[:5], _reading("c0", 42, 0.5), batch[0], _reading("c0", 3, 0.99), _reading("c0", 42, 0.6)]
    outcomes, _ = storage.insert_readings(again)
    assert outcomes == [
        *[InsertOutcome.DUPLICATE] * 5,
        InsertOutcome.STORED,
        InsertOutcome.DUPLICATE,
        InsertOutcome.CONFLICT,
        InsertOutcome.CONFLICT,
    ]
    newest = storage.list_readings(T, "c0", before=None, limit=3)
    assert [r.measure_time for r in newest] == [NOW + timedelta(minutes=m) for m in (42, 9, 8)]
    assert [r.fill for r in newest][:1] == [0.5]
    assert storage.latest_readings(T, ["c0"])["c0"].fill == 0.5
    assert len(storage.readings_since(T, NOW + timedelta(minutes=5))) == 6
    storage.delete(ContainerRow, T, "c0")
    assert storage.list_readings(T, "c0", before=None, limit=100) == []


def test_large_and_small_batches_store_alike(storage: SqlStorage) -> None:
    """A batch large enough for PostgreSQL's staging table (COPY) and a small one (column arrays) store
    the same readings and find the same re-deliveries and conflicts."""
    storage.create(_container("c0"))
    storage.create(_container("c1"))
    large = [_reading("c0", m, (m % 100) / 100) for m in range(300)]
    small = [_reading("c1", m, (m % 100) / 100) for m in range(3)]
    for batch in (large, small):
        outcomes, created = storage.insert_readings(batch)
        assert outcomes == [InsertOutcome.STORED] * len(batch)
        again = [*batch, _reading(batch[0].container_id, 1, 0.77)]
        outcomes, _ = storage.insert_readings(again)
        assert outcomes == [InsertOutcome.DUPLICATE] * len(batch) + [InsertOutcome.CONFLICT]
        stored = storage.list_readings(T, batch[0].container_id, before=None, limit=1000)
        assert [(r.measure_time, r.fill, r.create_time) for r in stored] == [
            (r.measure_time, r.fill, created) for r in batch[::-1]
        ]


def test_a_container_deleted_during_ingest_takes_its_new_readings(storage: SqlStorage) -> None:
    """Readings have no foreign key (migration 0007): a container deleted while a batch of its readings is
    being stored waits for that batch, then goes with every reading, none left behind; a batch for a
    container already gone is refused (Aborted) and stores nothing."""
    storage.create(_container("c0"))
    session = Session(storage.engine)
    storage._store_readings(session, [_reading("c0", m, 0.5) for m in range(3)])
    deleting = threading.Thread(target=storage.delete, args=(ContainerRow, T, "c0"))
    deleting.start()
    deleting.join(timeout=1.0)
    assert deleting.is_alive()  # waits for the readings' transaction
    session.commit()
    session.close()
    deleting.join(timeout=30)
    assert not deleting.is_alive()
    assert storage.get(ContainerRow, T, "c0") is None
    with storage.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM readings")).scalar_one() == 0
        with pytest.raises(Aborted):
            storage.insert_readings([_reading("c0", 9, 0.5)])
        assert connection.execute(text("SELECT count(*) FROM readings")).scalar_one() == 0


def test_a_batch_ending_in_a_duplicate_stores_the_rest_once(storage: SqlStorage) -> None:
    """A duplicate found after new readings of the same batch were written (SQLite's all-new attempt
    fails on its last row) leaves them stored once, with the batch's create_time, and finds the
    re-delivery; the same readings again are all duplicates."""
    storage.create(_container("c0"))
    storage.insert_readings([_reading("c0", 99, 0.4)])
    batch = [*(_reading("c0", m, m / 100) for m in range(5)), _reading("c0", 99, 0.4)]
    outcomes, created = storage.insert_readings(batch)
    assert outcomes == [*[InsertOutcome.STORED] * 5, InsertOutcome.DUPLICATE]
    stored = storage.list_readings(T, "c0", before=None, limit=10)
    assert [(r.measure_time, r.fill) for r in stored] == [(r.measure_time, r.fill) for r in batch[::-1]]
    assert {r.create_time for r in stored[1:]} == {created}
    outcomes, _ = storage.insert_readings(batch)
    assert outcomes == [InsertOutcome.DUPLICATE] * 6


def test_times_are_utc_whatever_the_zone_given(storage: SqlStorage) -> None:
    """12:00+02:00 is stored and read back as 10:00 UTC (SQLite would otherwise drop the zone)."""
    storage.create(_container("c0"))
    paris_summer = datetime(2026, 7, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    storage.insert_readings([ReadingInsert(T, "c0", "", paris_summer, 0.3, None, None, None, False)])
    read = storage.list_readings(T, "c0", before=None, limit=1)[0].measure_time
    assert read == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    assert read.utcoffset() == timedelta(0)


def test_observations_store_with_their_readings(storage: SqlStorage) -> None:
    """Observations and the readings derived from them commit together; re-deliveries come back None."""
    storage.create(_container("c0"))
    observation = ObservationRow(
        tenant=T,
        source="talq",
        entity_id="c0",
        entity_type="WasteContainer",
        property="fillingLevel",
        number_value=0.8,
        unit="C62",
        observe_time=NOW,
        create_time=NOW,
    )
    reading = ReadingInsert(T, "c0", "talq", NOW, 0.8, None, None, None, False)
    stored = storage.insert_observations([observation], [reading])
    assert len(stored) == 1
    assert stored[0] is not None
    assert stored[0].id is not None
    assert storage.insert_observations([observation], [reading]) == [None]
    assert [r.fill for r in storage.list_readings(T, "c0", before=None, limit=10)] == [0.8]
    listed = storage.list_observations(T, before_id=None, limit=10, where={"entity_type": "WasteContainer"})
    assert len(listed) == 1
    assert storage.list_observations(OTHER, before_id=None, limit=10) == []


def test_plans_and_operations_list_newest_first(storage: SqlStorage) -> None:
    """Plans and operations page newest first on (create_time, id); unfinished ones are found."""
    for i in range(3):
        storage.save_plan(
            PlanRow(
                tenant=T,
                id=f"p{i}",
                service_date=date(2026, 11, 30),
                body=b"x",
                create_time=NOW + timedelta(i),
            )
        )
        storage.save_operation(
            OperationRow(
                id=f"o{i}",
                tenant=T,
                request_id=f"r{i}",
                done=i != 1,
                body=b"y",
                create_time=NOW + timedelta(i),
                update_time=NOW,
            )
        )
    plans = storage.list_plans(T, before=None, limit=2)
    assert [p.id for p in plans] == ["p2", "p1"]
    before = (plans[-1].create_time, plans[-1].id)
    assert [p.id for p in storage.list_plans(T, before=before, limit=2)] == ["p0"]
    assert storage.list_plans(OTHER, before=None, limit=2) == []
    assert [o.id for o in storage.list_operations(T, before=None, limit=5)] == ["o2", "o1", "o0"]
    assert [o.id for o in storage.unfinished_operations()] == ["o1"]
    found = storage.find_operation_by_request(T, "r2")
    assert found is not None
    assert found.id == "o2"
    assert storage.find_operation_by_request(OTHER, "r2") is None
    plan = storage.get_plan(T, "p1")
    assert plan is not None
    assert plan.body == b"x"


def test_a_late_progress_update_does_not_reopen_an_ended_operation(storage: SqlStorage) -> None:
    """A cancelled step's progress save landing after the final save leaves the operation ended.

    The planner saves each state in a worker thread; a cancellation can let the final save overtake the
    one before it, and the operation then stayed "selecting" forever (a client waiting on it timed out).
    """

    def operation(body: bytes, done: bool) -> OperationRow:
        return OperationRow(
            id="o1", tenant=T, request_id="r1", done=done, body=body, create_time=NOW, update_time=NOW
        )

    storage.save_operation(operation(b"queued", done=False))
    storage.save_operation(operation(b"selecting", done=False))
    storage.save_operation(operation(b"cancelled", done=True))
    storage.save_operation(operation(b"selecting, saved late", done=False))
    stored = storage.get_operation("o1")
    assert stored is not None
    assert (stored.body, stored.done) == (b"cancelled", True)
    storage.save_operation(operation(b"request id released", done=True))
    stored = storage.get_operation("o1")
    assert stored is not None
    assert stored.body == b"request id released"


def test_collections_are_idempotent_and_move_last_emptied_forward(storage: SqlStorage) -> None:
    """Crew and sensor are two rows; re-sending stores nothing; last emptied only moves forward."""
    storage.create(_container("c0"))
    crew = CollectionRow(tenant=T, container_id="c0", collect_time=NOW, source="crew", weighed_kg=140.0)
    sensor = CollectionRow(
        tenant=T, container_id="c0", collect_time=NOW - timedelta(minutes=20), source="sensor"
    )
    older = CollectionRow(tenant=T, container_id="c0", collect_time=NOW - timedelta(days=3), source="crew")

    assert storage.insert_collections([crew, sensor]) == [True, True]
    assert storage.insert_collections([crew, older]) == [False, True]

    listed = storage.list_collections(T, ["c0"])
    assert [(c.source, c.collect_time) for c in listed] == [
        ("crew", NOW - timedelta(days=3)),
        ("sensor", NOW - timedelta(minutes=20)),
        ("crew", NOW),
    ]
    container = storage.get(ContainerRow, T, "c0")
    assert container is not None
    assert container.last_emptied_time == NOW
    assert storage.list_collections(OTHER, []) == []
    storage.delete(ContainerRow, T, "c0")
    assert storage.list_collections(T, ["c0"]) == []
