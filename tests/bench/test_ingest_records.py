"""bench.ingest shares bench/results/ingest.json with other benchmarks: it replaces only its own records."""

from __future__ import annotations

from bench.ingest import merge_records


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
