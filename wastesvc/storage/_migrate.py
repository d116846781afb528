"""Schema migrations (Alembic): a database is brought to the newest schema when the service opens it.

`make migration MESSAGE="…"` writes a new revision from the difference between the models and the
migrations (`alembic revision --autogenerate`); `tests/test_migrations.py` fails while they differ.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, inspect, text

from wastesvc.storage._tables import metadata

__all__ = ["FIRST_RELEASE", "alembic_config", "upgrade"]

# The revision of the schema the first release made with `metadata.create_all`, without Alembic.
FIRST_RELEASE = "0001"
_SCRIPTS = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection, *, legacy_tenant: str = "grand-soissons") -> Config:
    """The Alembic configuration running on `connection`; rows of the first release go to `legacy_tenant`."""
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = connection
    config.attributes["legacy_tenant"] = legacy_tenant
    return config


def upgrade(
    engine: Engine,
    *,
    legacy_tenant: str = "grand-soissons",
    revision: str = "head",
    from_scratch: bool = False,
) -> None:
    """Brings the database to `revision`; a database of the first release is stamped first.

    An empty database gets the models' schema at once, stamped at the newest revision (the cookbook way:
    the migrations are for databases that hold data), unless `from_scratch` asks to run every migration.
    """
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Replicas starting together: one migrates, the others wait and then find nothing to do.
            connection.execute(text("SELECT pg_advisory_xact_lock(4747001)"))
        config = alembic_config(connection, legacy_tenant=legacy_tenant)
        tables = set(inspect(connection).get_table_names())
        if not tables and not from_scratch and revision == "head":
            metadata.create_all(connection)
            command.stamp(config, "head")
            return
        if tables and "alembic_version" not in tables:
            command.stamp(config, FIRST_RELEASE)
        command.upgrade(config, revision)
