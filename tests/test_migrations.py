"""Schema migrations: from an empty database and from the first release's, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from google.longrunning import operations_pb2
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url

from wastesvc.storage import ContainerRow, OperationRow, ReadingInsert, VehicleRow, open_storage
from wastesvc.storage._migrate import FIRST_RELEASE, alembic_config, upgrade
from wastesvc.storage._tables import metadata
from wastesvc.v1 import planning_pb2

NOW = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    url = make_url(db_url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    made = create_engine(url)
    yield made
    made.dispose()


def _differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection), metadata))


def test_migrations_from_an_empty_database_make_the_models_schema(engine: Engine) -> None:
    """Running every migration on an empty database gives exactly the schema the models declare."""
    upgrade(engine, from_scratch=True)
    assert _differences(engine) == []


def test_the_readings_foreign_key_comes_back_on_downgrade(engine: Engine) -> None:
    """Revision 0007 drops the readings' key to their container; going back to 0006 restores it."""
    upgrade(engine, from_scratch=True)

    def keys() -> list[str | None]:
        return [key["name"] for key in inspect(engine).get_foreign_keys("readings")]

    assert keys() == []
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0006")
    assert keys() == ["fk_readings_tenant_containers"]
    upgrade(engine, from_scratch=True)
    assert _differences(engine) == []


def test_an_empty_database_is_made_at_once_and_stamped(engine: Engine) -> None:
    """The shortcut for an empty database (create_all, then stamp) ends at the newest revision too."""
    upgrade(engine)
    with engine.connect() as connection:
        stamped = MigrationContext.configure(connection).get_current_revision()
    upgrade(engine, from_scratch=True)  # nothing left to do: no error, no change
    assert stamped is not None
    assert _differences(engine) == []


def test_a_first_release_database_keeps_its_rows_in_the_legacy_tenant(engine: Engine, db_url: str) -> None:
    """A database of the first release (no Alembic table, no tenants) is upgraded with every row kept."""
    upgrade(engine, revision=FIRST_RELEASE, from_scratch=True)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))  # the first release had none
        stamp = {"t": NOW.replace(tzinfo=None)}
        connection.execute(
            text(
                "INSERT INTO containers (id, commune_code, locality, street_address, lat, lng, stream,"
                " volume_l, model_id, empty_distance_mm, full_distance_mm, access_windows, service_s, isle,"
                " required_equipment, sensor_id, create_time, update_time) VALUES ('C1', '02722',"
                " 'Soissons', 'Place', 49.38, 3.32, 'glass', 3000, 'pav', 1800, 300, '[]', 120, '',"
                " 'crane', 'S1', :t, :t)"
            ),
            stamp,
        )
        connection.execute(
            text(
                "INSERT INTO depots (id, display_name, lat, lng, create_time, update_time)"
                " VALUES ('ctm', 'Centre', 49.37, 3.35, :t, :t)"
            ),
            stamp,
        )
        connection.execute(
            text(
                "INSERT INTO vehicles (id, display_name, capacity_l, capacity_kg, streams, home_depot,"
                " shift_start_s, shift_end_s, break_start_s, break_end_s, break_s, cost_per_km,"
                " cost_per_hour, daily_volume_cap_l, equipment, create_time, update_time) VALUES"
                " ('gru', 'Grue', 12000, 8000, 'glass', 'ctm', 21600, 48600, 0, 0, 0, 1.2, 45.0, 0, 'crane',"
                " :t, :t)"
            ),
            stamp,
        )
        connection.execute(
            text(
                "INSERT INTO readings (id, container_id, sensor_id, measure_time, fill, tilted, create_time)"
                " VALUES (7, 'C1', 'S1', :t, 0.8, false, :t)"
            ),
            stamp,
        )
        operation = operations_pb2.Operation(name="operations/op1", done=True)
        operation.response.Pack(
            planning_pb2.RoutePlan(
                name="routePlans/p1",
                routes=[
                    planning_pb2.VehicleRoute(
                        vehicle="vehicles/gru", visits=[planning_pb2.Visit(containers=["containers/C1"])]
                    )
                ],
            )
        )
        connection.execute(
            text(
                "INSERT INTO operations (id, request_id, done, body, create_time, update_time)"
                " VALUES ('op1', 'r1', true, :b, :t, :t)"
            ),
            {**stamp, "b": operation.SerializeToString()},
        )
        connection.execute(
            text("INSERT INTO route_plans (id, service_date, body, create_time) VALUES ('p1', :d, :b, :t)"),
            {**stamp, "d": NOW.date(), "b": operation.response.value},
        )

    storage = open_storage(db_url, legacy_tenant="grand-soissons")
    try:
        container = storage.get(ContainerRow, "grand-soissons", "C1")
        vehicle = storage.get(VehicleRow, "grand-soissons", "gru")
        assert container is not None
        assert container.sensor_id == "S1"
        assert vehicle is not None
        assert vehicle.home_depot == "ctm"
        assert [
            (r.id, r.fill) for r in storage.list_readings("grand-soissons", "C1", before=None, limit=5)
        ] == [(7, 0.8)]
        stored = storage.find_operation_by_request("grand-soissons", "r1")
        assert isinstance(stored, OperationRow)
        operation = operations_pb2.Operation.FromString(stored.body)
        plan = planning_pb2.RoutePlan()
        operation.response.Unpack(plan)
        assert operation.name == "tenants/grand-soissons/operations/op1"
        assert plan.name == "tenants/grand-soissons/routePlans/p1"
        assert plan.routes[0].vehicle == "tenants/grand-soissons/vehicles/gru"
        assert list(plan.routes[0].visits[0].containers) == ["tenants/grand-soissons/containers/C1"]
        plan_row = storage.get_plan("grand-soissons", "p1")
        assert plan_row is not None
        assert planning_pb2.RoutePlan.FromString(plan_row.body).name == plan.name
        # New readings get fresh ids after the copied ones (the PostgreSQL sequence was moved past them).
        later = ReadingInsert("grand-soissons", "C1", "S1", NOW.replace(hour=8), 0.1, None, None, None, False)
        storage.insert_readings([later])
        ids = [r.id for r in storage.list_readings("grand-soissons", "C1", before=None, limit=5)]
        assert len(ids) == 2
        assert ids[0] is not None
        assert ids[0] > 7
    finally:
        storage.close()
    assert _differences(engine) == []
