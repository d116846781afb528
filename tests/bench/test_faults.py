"""A short run of the fault benchmark's fuzz: no UNKNOWN or INTERNAL, no crash, data sound afterwards."""

from __future__ import annotations

from pathlib import Path

from bench._server import start_server, token_for
from bench.faults import check_consistent, fuzz, rpc_methods, seed


def test_fuzz_of_every_rpc_gets_only_deliberate_errors(tmp_path: Path) -> None:
    """A few generated bad requests per RPC on a real server: each answered with a deliberate status."""
    db, key = tmp_path / "fuzz.db", tmp_path / "fuzz.key"
    server = start_server(f"sqlite:///{db}", key)
    try:
        token = token_for(key)
        seed(server.address, token)
        report = fuzz(server, token, total=10 * len(rpc_methods()))
        assert report.requests >= 10 * len(rpc_methods())
        assert report.bad == []
        assert report.crashes == 0
        assert check_consistent(server.address, token, db) == []
    finally:
        assert server.stop() == 0
