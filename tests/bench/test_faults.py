"""A short run of the fault benchmark's fuzz: no UNKNOWN or INTERNAL, no crash, data sound afterwards."""

from __future__ import annotations

from pathlib import Path

from bench._server import start_server, token_for
from bench.faults import check_consistent, fuzz, publish_day, remember_plausible, rpc_methods, seed


def test_fuzz_of_every_rpc_gets_only_deliberate_errors(db_url: str, tmp_path: Path) -> None:
    """A few generated bad requests per RPC on a real server with a published day, on both backends:
    each answered with a deliberate status (a RESOURCE_EXHAUSTED only for the receive limit or a cap
    with a retry delay)."""
    key = tmp_path / "fuzz.key"
    server = start_server(db_url, key)
    try:
        token = token_for(key)
        seed(server.address, token)
        names = publish_day(server.address, token)
        assert names["visit_id"]
        remember_plausible(names)
        report = fuzz(server, token, total=10 * len(rpc_methods()))
        assert report.requests >= 10 * len(rpc_methods())
        assert report.bad == []
        assert report.crashes == 0
        assert check_consistent(server.address, token, db_url) == []
    finally:
        assert server.stop() == 0
