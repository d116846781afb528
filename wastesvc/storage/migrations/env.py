"""Alembic environment: the service's metadata, batch mode so SQLite can alter tables."""

from __future__ import annotations

from alembic import context

from wastesvc.storage._tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
