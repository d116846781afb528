"""Alembic migrations from an empty database and from the first release (b665c0f), SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from google.longrunning import operations_pb2
from sqlalchemy import MetaData, create_engine, text
from sqlalchemy.engine import Engine

from wastesvc.cli import main
from wastesvc.migrations import FIRST_RELEASE, current_revision, engine_url, head_revision, upgrade
from wastesvc.storage import ContainerRow, PlanRow, ReadingInsert, open_storage
from wastesvc.storage._tables import metadata
from wastesvc.v1 import planning_pb2

DATA = Path(__file__).parent / "data"
NOW = "2026-11-30 08:00:00"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on the test's fresh, empty database."""
    made = create_engine(engine_url(db_url))
    yield made
    made.dispose()


def _differences(engine: Engine, target: MetaData) -> list[object]:
    with engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection), target))


def _first_release(engine: Engine) -> None:
    """The schema exactly as the first release created it, and a little of its data."""
    sql = (DATA / f"schema_b665c0f.{engine.dialect.name}.sql").read_text(encoding="utf-8")
    plan = planning_pb2.RoutePlan(name="routePlans/20261130-abcd")
    visit = plan.routes.add(vehicle="vehicles/BOM-01").visits.add()
    visit.containers.extend(["containers/C1", "containers/C2"])
    operation = operations_pb2.Operation(name="operations/op-1", done=True)
    operation.response.Pack(plan)
    with engine.begin() as connection:
        lines = [line for line in sql.splitlines() if not line.startswith("--")]
        for statement in "\n".join(lines).split(";\n"):
            if statement.strip():
                connection.exec_driver_sql(statement)
        connection.execute(
            text("INSERT INTO depots VALUES ('CTM', 'Centre technique', 49.37, 3.35, :t, :t)"), {"t": NOW}
        )
        for container_id, sensor in (("C1", "S1"), ("C2", "S2")):
            connection.execute(
                text(
                    "INSERT INTO containers VALUES (:id, '02722', 'Soissons', 'Rue', 49.38, 3.32, 'glass',"
                    " 3000, 'pav-3m3', 1750, 350, '[]', 240, '', 'crane', :sensor, NULL, :t, :t)"
                ),
                {"id": container_id, "sensor": sensor, "t": NOW},
            )
        for hour in range(3):
            connection.execute(
                text(
                    "INSERT INTO readings (container_id, sensor_id, measure_time, fill, tilted, create_time)"
                    " VALUES ('C1', 'S1', :m, 0.5, false, :t)"
                ),
                {"m": f"2026-11-30 0{hour}:00:00", "t": NOW},
            )
        connection.execute(
            text("INSERT INTO route_plans VALUES ('20261130-abcd', '2026-11-30', :b, :t)"),
            {"b": plan.SerializeToString(), "t": NOW},
        )
        connection.execute(
            text("INSERT INTO operations VALUES ('op-1', 'req-1', true, :b, :t, :t)"),
            {"b": operation.SerializeToString(), "t": NOW},
        )


def test_upgrade_from_empty_gives_the_current_tables(engine: Engine) -> None:
    """An empty database upgraded to head has exactly the tables the service declares."""
    assert current_revision(engine) is None
    assert upgrade(engine) == head_revision()
    assert _differences(engine, metadata) == []


def test_first_revision_is_the_first_release_schema(engine: Engine) -> None:
    """Revision 0001 builds the very schema the first release created (tables, keys, indexes)."""
    _first_release(engine)
    released = MetaData()
    released.reflect(engine)
    with engine.begin() as connection:
        for table in reversed(released.sorted_tables):
            connection.execute(table.delete())
    released.drop_all(engine)
    assert upgrade(engine, FIRST_RELEASE) == FIRST_RELEASE
    assert _differences(engine, released) == []


def test_upgrade_from_the_first_release_keeps_every_row(engine: Engine, db_url: str) -> None:
    """A first-release database without alembic is recognised, migrated, and its rows join the tenant."""
    _first_release(engine)
    assert upgrade(engine, tenant="grand-soissons") == head_revision()
    assert _differences(engine, metadata) == []
    storage = open_storage(db_url)
    try:
        container = storage.get(ContainerRow, "grand-soissons", "C1")
        assert container is not None
        assert container.sensor_id == "S1"
        assert len(storage.list_readings("grand-soissons", "C1", before=None, limit=10)) == 3
        stored = storage.get_plan("grand-soissons", "20261130-abcd")
        assert isinstance(stored, PlanRow)
        plan = planning_pb2.RoutePlan.FromString(stored.body)
        assert plan.name == "tenants/grand-soissons/routePlans/20261130-abcd"
        assert plan.routes[0].vehicle == "tenants/grand-soissons/vehicles/BOM-01"
        assert list(plan.routes[0].visits[0].containers) == [
            "tenants/grand-soissons/containers/C1",
            "tenants/grand-soissons/containers/C2",
        ]
        row = storage.get_operation("op-1")
        assert row is not None
        assert row.tenant == "grand-soissons"
        operation = operations_pb2.Operation.FromString(row.body)
        assert operation.name == "tenants/grand-soissons/operations/op-1"
        inner = planning_pb2.RoutePlan()
        operation.response.Unpack(inner)
        assert inner.name == plan.name
        # New rows after migrated ones: the id sequences continue past the copied ids.
        reading = ReadingInsert(
            tenant="grand-soissons",
            container_id="C1",
            sensor_id="S1",
            measure_time=datetime(2026, 11, 30, 9, tzinfo=UTC),
            fill=0.6,
            distance_mm=None,
            battery_percent=None,
            temperature_c=None,
            tilted=False,
        )
        outcomes, _ = storage.insert_readings([reading])
        assert len(outcomes) == 1
    finally:
        storage.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cli_migrate(engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`wastesvc migrate` upgrades a first-release database, and a second run changes nothing."""
    _first_release(engine)
    monkeypatch.setenv("WASTESVC_DB_URL", db_url)
    assert main(["migrate"]) == 0
    assert current_revision(engine) == head_revision()
    assert main(["migrate"]) == 0
    assert current_revision(engine) == head_revision()
