"""Alembic environment: the service's metadata, batch mode so SQLite can alter tables."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlmodel.sql.sqltypes import AutoString

from wastesvc.storage._tables import UtcDateTime, metadata


def _render_item(kind: str, item: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """New revisions name plain SQL types, so they never import the models' Python types."""
    if kind == "type" and isinstance(item, UtcDateTime):
        return "sa.DateTime()"
    if kind == "type" and isinstance(item, AutoString):
        return "sa.String()"
    return False


connection = context.config.attributes["connection"]
context.configure(
    connection=connection, target_metadata=metadata, render_as_batch=True, render_item=_render_item
)
with context.begin_transaction():
    context.run_migrations()
