"""A real `wastesvc serve` process for the service benchmarks, and the token to call it with."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from wastesvc.auth import ROLES, issue_token, load_key

__all__ = ["PG_ADMIN", "ServerProcess", "fresh_postgres", "start_server", "token_for"]

# The PostgreSQL the tests use (`WASTESVC_TEST_PG`); the benchmarks make their own database on it.
PG_ADMIN = os.environ.get("WASTESVC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TENANT = "grand-soissons"


@dataclass
class ServerProcess:
    """A running server: its process, address and the stderr lines it wrote so far."""

    process: subprocess.Popen[str]
    address: str
    log: list[str]

    def stop(self) -> int:
        """SIGTERM, then the exit code (SIGKILL after 30 s)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()


def start_server(db_url: str, key_file: Path, extra: Sequence[str] = ()) -> ServerProcess:
    """Starts `python -m wastesvc.cli serve` on a free port and waits until it listens."""
    env = {
        **os.environ,
        "WASTESVC_DB_URL": db_url,
        "WASTESVC_LISTEN": "127.0.0.1:0",
        "WASTESVC_AUTH_KEY_FILE": str(key_file),
        "WASTESVC_GRACE_S": "2",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "wastesvc.cli", "serve", *extra], env=env, stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    log: list[str] = []
    for line in process.stderr:
        log.append(line)
        match = re.search(r"listening on (\S+:\d+)", line)
        if match:
            # Keep draining stderr, or a full pipe would one day block the server's logging.
            threading.Thread(target=lambda: log.extend(process.stderr or ()), daemon=True).start()
            return ServerProcess(process, match.group(1), log)
    raise RuntimeError(f"server exited with {process.wait()} before listening:\n{''.join(log)}")


def token_for(key_file: Path, role: str = "operator") -> str:
    """A bearer token of `role` for the benchmark tenant, signed with the server's key."""
    return issue_token(load_key(key_file), tenant=TENANT, scopes=ROLES[role], subject=f"bench-{role}")


def fresh_postgres(name: str) -> str | None:
    """The URL of an empty database `name` on PG_ADMIN's server; None when PostgreSQL is not reachable."""
    admin = make_url(PG_ADMIN).set(drivername="postgresql+psycopg")
    try:
        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
    except Exception as exc:  # no server, no rights: the caller reports PostgreSQL as skipped
        print(f"PostgreSQL not available ({type(exc).__name__}: {exc})", file=sys.stderr)
        return None
    return admin.set(database=name).render_as_string(hide_password=False)
