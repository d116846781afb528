"""Logs and errors keep secrets and client data out: no database password, no bound SQL values."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from wastesvc.config import Settings
from wastesvc.server import database_label, serve
from wastesvc.storage import open_storage


def test_start_up_label_hides_the_database_password() -> None:
    """The URL logged at start-up names the database but not its password."""
    label = database_label("postgresql://wastesvc:s3cr3t-pw@db.example:5432/wastesvc")
    assert "s3cr3t-pw" not in label
    assert "db.example:5432/wastesvc" in label


def _with_password(db_url: str) -> str:
    """The test database's URL with a password (the test server trusts local connections: it is ignored)."""
    return make_url(db_url).set(password="secret-pw").render_as_string(hide_password=False)


def _where(db_url: str) -> str:
    """How a log names the database: host, port and name."""
    database = make_url(db_url)
    return f"{database.host}:{database.port}/{database.database}"


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_start_up_log_line_hides_the_database_password(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The line `serve` logs at start-up names the database without its password: the record itself, before
    any formatter could mask it."""
    settings = Settings(
        db_url=_with_password(db_url), listen="127.0.0.1:0", auth_key_file=str(tmp_path / "auth.key")
    )

    async def stop(_address: str) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # handled by serve, as an operator's stop would be

    with caplog.at_level(logging.INFO):
        await serve(replace(settings, grace_s=0), on_ready=stop)

    messages = [record.getMessage() for record in caplog.records]
    assert [m for m in messages if "listening on" in m and _where(db_url) in m]
    assert [m for m in messages if "secret-pw" in m] == []


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_serve_logs_no_database_password(db_url: str, tmp_path: Path) -> None:
    """`wastesvc serve` on a PostgreSQL URL with a password names the database in what it writes to stderr
    but never the password, from start-up to shutdown."""
    env = {
        **os.environ,
        "WASTESVC_DB_URL": _with_password(db_url),
        "WASTESVC_LISTEN": "127.0.0.1:0",
        "WASTESVC_AUTH_KEY_FILE": str(tmp_path / "auth.key"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "wastesvc.cli", "serve"], env=env, stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    lines: list[str] = []
    try:
        for line in process.stderr:
            lines.append(line)
            if "listening on" in line:
                break
        # Once it answers, serve has its SIGTERM handler (it logs "listening" a moment before setting it).
        with grpc.insecure_channel(lines[-1].split("listening on ")[1].split()[0]) as channel:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=30)
    finally:
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=30)
    assert process.returncode == 0
    assert _where(db_url) in lines[-1]
    assert "secret-pw" not in "".join(lines) + rest


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
