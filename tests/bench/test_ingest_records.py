"""bench.ingest shares bench/results/ingest.json with other benchmarks: it replaces only its own records."""

from __future__ import annotations

import json
from pathlib import Path

from bench.ingest import PATHS, main, merge_records


def test_merge_keeps_other_paths_and_replaces_measured_ones() -> None:
    """Records of other paths and unmeasured backends stay; re-measured (path, backend) pairs change."""
    existing = [
        {"path": "mqtt-lorawan", "backend": "sqlite", "readings_per_s": 900},
        {"path": "batch", "backend": "sqlite", "readings_per_s": 1, "noop_readings_per_s": 2},
        {"path": "batch", "backend": "postgresql", "readings_per_s": 3, "noop_readings_per_s": 4},
    ]
    new = [{"path": "batch", "backend": "sqlite", "readings_per_s": 10, "noop_readings_per_s": 20}]

    merged = merge_records(existing, new)

    assert merged == [existing[0], existing[2], new[0]]


def test_a_short_run_measures_every_path_against_the_no_op(tmp_path: Path) -> None:
    """A small run on SQLite writes one record per path, with both servers' rates and CPU per reading."""
    output = tmp_path / "ingest.json"
    output.write_text(json.dumps([{"path": "mqtt-lorawan", "backend": "sqlite", "readings_per_s": 900}]))

    assert (
        main(
            [
                "--backends",
                "sqlite",
                "--batch",
                "2000",
                "--stream",
                "2000",
                "--unary",
                "100",
                "--output",
                str(output),
            ]
        )
        == 0
    )

    records = json.loads(output.read_text())
    assert records[0]["path"] == "mqtt-lorawan"
    measured = {r["path"]: r for r in records[1:]}
    assert sorted(measured) == sorted(PATHS)
    for record in measured.values():
        assert record["backend"] == "sqlite"
        assert record["readings_per_s"] > 0
        assert record["noop_readings_per_s"] > 0
        # Storing costs the service more CPU than answering costs the no-op (whose share of so short a
        # run may round to nothing: process CPU times advance in clock ticks of 10 ms).
        assert record["server_cpu_us"] > record["noop_server_cpu_us"] >= 0
