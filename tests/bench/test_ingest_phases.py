"""`bench.ingest_phases` on a small run: every phase of the batch path is timed."""

from __future__ import annotations

from pathlib import Path

from bench.ingest_phases import PHASES, measure


def test_every_phase_is_timed(tmp_path: Path) -> None:
    ms = measure(f"sqlite:///{tmp_path / 'phases.db'}", batches=2)

    assert sorted(ms) == sorted(PHASES)
    assert all(value > 0 for value in ms.values()), ms
