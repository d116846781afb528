"""Schema migrations (alembic): `upgrade` brings any wastesvc database to the current schema.

Revisions live in ``versions/``: ``0001`` is the schema of the first release (commit b665c0f, one implicit
tenant), ``0002`` adds tenants and the collections table. Databases created before migrations existed carry
no ``alembic_version`` table; `upgrade` recognises them by their columns (no ``tenant`` column: the first
release) and stamps them before upgrading, so ``wastesvc migrate`` works on every database ever created.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import URL, Connection, Engine, make_url

__all__ = ["FIRST_RELEASE", "current_revision", "engine_url", "head_revision", "upgrade"]

FIRST_RELEASE = "0001"
_TENANTS = "0002"
_HERE = Path(__file__).parent


def _config(connection: Connection, tenant: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_HERE))
    config.attributes["connection"] = connection
    config.attributes["tenant"] = tenant
    return config


def engine_url(db_url: str) -> URL:
    """`db_url` with the driver the service uses (psycopg 3 for a bare ``postgresql://``)."""
    url = make_url(db_url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url


def head_revision() -> str:
    """The newest revision this wastesvc knows."""
    head = ScriptDirectory(str(_HERE)).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The database's revision, or None when alembic never ran on it."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _unversioned_revision(connection: Connection) -> str | None:
    """The revision of a database created without alembic (by an older `create_all`), from its columns."""
    inspector = inspect(connection)
    if not inspector.has_table("containers"):
        return None
    columns = {c["name"] for c in inspector.get_columns("containers")}
    return _TENANTS if "tenant" in columns else FIRST_RELEASE


def upgrade(engine: Engine, revision: str = "head", *, tenant: str = "grand-soissons") -> str:
    """Migrates the database to `revision`; rows of the first release go to `tenant`. Returns the revision."""
    with engine.begin() as connection:
        config = _config(connection, tenant)
        if MigrationContext.configure(connection).get_current_revision() is None:
            found = _unversioned_revision(connection)
            if found is not None:
                command.stamp(config, found)
        command.upgrade(config, revision)
        reached = MigrationContext.configure(connection).get_current_revision()
    assert reached is not None
    return reached
