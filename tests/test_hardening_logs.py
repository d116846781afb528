"""Logs and errors keep secrets and client data out: no database password, no bound SQL values."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from wastesvc.server import database_label
from wastesvc.storage import open_storage


def test_start_up_label_hides_the_database_password() -> None:
    """The URL logged at start-up names the database but not its password."""
    label = database_label("postgresql://wastesvc:s3cr3t-pw@db.example:5432/wastesvc")
    assert "s3cr3t-pw" not in label
    assert "db.example:5432/wastesvc" in label


def test_sql_errors_do_not_carry_bound_values(tmp_path: Path) -> None:
    """A failing statement's exception (and so its logged traceback) omits the bound parameters."""
    storage = open_storage(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with pytest.raises(SQLAlchemyError) as raised, storage.engine.connect() as connection:
            connection.execute(text("SELECT no_such_column WHERE :v = :v"), {"v": "private-address-42"})
        assert "private-address-42" not in str(raised.value)
        assert "hidden" in str(raised.value)
    finally:
        storage.close()
