"""`python -m bench.ingest_phases`: where a batch of readings spends its time in the service, by phase.

Runs the ReadingService's batch path in-process on a fresh database (SQLite, or PostgreSQL with
`--backend postgresql`): resolving and checking the requests, storing them (and marking their containers as
waiting), building the per-item response, and the assessment round that follows (alerts, emptyings,
forecasts of the touched containers: `Monitor.assess_pending`, which the service runs after answering), for
`--batches` batches of 1,000 readings over 100 containers, as `bench.ingest` sends them. Prints the median
milliseconds of each phase per batch over the last half of the batches (containers then have history, as in
service), and the readings per second the path carries with and without a round per batch. No gRPC, one
caller.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

from bench._server import TENANT, fresh_postgres
from bench.ingest import BATCH, CONTAINERS, Requests, _requests
from wastesvc.domain.readings import resolve_readings
from wastesvc.errors import ServiceError
from wastesvc.monitor import AlertHub, Monitor
from wastesvc.servicers.readings import _batch_response
from wastesvc.storage import ContainerRow, ReadingInsert, SqlStorage, open_storage

__all__ = ["PHASES", "create_containers", "main", "measure"]

PHASES = ("resolve", "store", "respond", "assess")


def create_containers(storage: SqlStorage, count: int = CONTAINERS) -> None:
    """Glass containers `c000`, `c001`, … of the benchmark tenant, stored directly."""
    now = datetime.now(UTC)
    for i in range(count):
        storage.create(
            ContainerRow(
                tenant=TENANT,
                id=f"c{i:03d}",
                commune_code="02722",
                stream="glass",
                volume_l=3000,
                lat=49.38,
                lng=3.32,
                create_time=now,
                update_time=now,
            )
        )


def _one_batch(storage: SqlStorage, monitor: Monitor, requests: Requests) -> list[float]:
    """Seconds spent in each phase of one batch."""
    marks = [time.perf_counter()]
    now = datetime.now(UTC)
    items = resolve_readings(storage, requests, default_parent="", now=now)
    marks.append(time.perf_counter())
    inserts = [item for item in items if isinstance(item, ReadingInsert)]
    stored, _ = storage.insert_readings(inserts)
    marks.append(time.perf_counter())
    outcomes = iter(stored)
    _batch_response(items, [None if isinstance(i, ServiceError) else next(outcomes) for i in items])
    marks.append(time.perf_counter())
    monitor.assess_pending(now)
    marks.append(time.perf_counter())
    return [b - a for a, b in pairwise(marks)]


def measure(db_url: str, batches: int) -> dict[str, float]:
    """Median milliseconds per batch of each phase over the last half of `batches` batches."""
    storage = open_storage(db_url)
    try:
        create_containers(storage)
        monitor = Monitor(storage, AlertHub())
        first = datetime.now(UTC).replace(microsecond=0) - timedelta(days=5)
        requests = _requests(first, batches * BATCH)
        timings = [
            _one_batch(storage, monitor, requests[k : k + BATCH]) for k in range(0, len(requests), BATCH)
        ]
    finally:
        storage.close()
    steady = timings[len(timings) // 2 :]
    return {phase: statistics.median(t[i] for t in steady) * 1000 for i, phase in enumerate(PHASES)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest_phases", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--batches", type=int, default=60, help="batches of 1,000 readings")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="wastesvc-phases-") as tmp:
        url = (
            f"sqlite:///{Path(tmp) / 'phases.db'}"
            if args.backend == "sqlite"
            else fresh_postgres("wastesvc_bench_phases")
        )
        if url is None:
            return 1
        ms = measure(url, args.batches)
    print(" ".join(f"{phase} {ms[phase]:.1f} ms" for phase in PHASES) + " (median per batch of 1,000)")
    without = ms["resolve"] + ms["store"] + ms["respond"]
    print(
        f"readings/s: {BATCH / (without + ms['assess']) * 1000:.0f} with the assessment, "
        f"{BATCH / without * 1000:.0f} without it (the answer's path)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
