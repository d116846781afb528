"""What PostgreSQL itself takes on this machine: the floor under the service's batched ingest.

`python -m bench.ingest_floor`: batches of 1,000 readings, already built as the service builds them
(`ReadingInsert` tuples), stored three ways without gRPC or the service's checks, on 1 and 4 connections
at once:

* `direct`: a binary COPY straight into the readings table (no idempotency, no container check): the
  most PostgreSQL takes here;
* `staged`: the service's statements for a batch, COPY into the staging table then INSERT … SELECT …
  ON CONFLICT DO NOTHING RETURNING, committed;
* `claimed`: `SqlStorage.insert_readings`, the whole storage call the service makes: staged, plus the
  claim that locks the batch's containers and marks them for assessment, in one transaction.

The `batch` record of `bench.ingest` (`bench/results/ingest.json`) adds gRPC, decoding and checks on top
of `claimed`. Writes `bench/results/ingest_floor.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session

from bench._commit import measured_commit
from bench._server import TENANT, fresh_postgres
from bench.ingest_phases import create_containers
from wastesvc.storage import ReadingInsert, SqlStorage, open_storage
from wastesvc.storage._sql import _copy_new_readings

__all__ = ["main"]

RESULTS = Path(__file__).resolve().parent / "results" / "ingest_floor.json"
CONTAINERS = 1_000
BATCH = 1_000
_DIRECT_TYPES = (
    *("text", "text", "text", "timestamp", "float8", "int4", "float8", "float8", "bool", "text"),
    "timestamp",  # create_time
)
_DIRECT_COPY = (
    f"COPY readings ({', '.join((*ReadingInsert._fields, 'create_time'))}) FROM STDIN (FORMAT BINARY)"
)

Batch = list[ReadingInsert]


def _batches(worker: int, count: int) -> list[Batch]:
    """`count` batches of distinct readings, one per container each, the times of `worker` alone."""
    start = datetime(2027, 1, 1, tzinfo=UTC) + timedelta(days=worker)
    return [
        [
            ReadingInsert(TENANT, f"c{c:03d}", "", start + timedelta(seconds=b), 0.5, None, 80.0, 12.0, False)
            for c in range(CONTAINERS)
        ]
        for b in range(count)
    ]


def _direct(storage: SqlStorage, batch: Batch) -> None:
    created = datetime.now(UTC).replace(tzinfo=None)
    with storage.engine.connect() as connection:
        # The driver's own connection and transaction: SQLAlchemy's has not begun one and would not commit.
        driver: Any = connection.connection.driver_connection
        with driver.cursor() as cursor, cursor.copy(_DIRECT_COPY) as copy:
            copy.set_types(_DIRECT_TYPES)
            for r in batch:
                copy.write_row((*r[:3], r.measure_time.replace(tzinfo=None), *r[4:], created))
        driver.commit()


def _staged(storage: SqlStorage, batch: Batch) -> None:
    with Session(storage.engine) as session:
        _copy_new_readings(session, batch, datetime.now(UTC))
        session.commit()


def _claimed(storage: SqlStorage, batch: Batch) -> None:
    storage.insert_readings(batch)


WAYS: dict[str, Callable[[SqlStorage, Batch], None]] = {
    "direct": _direct,
    "staged": _staged,
    "claimed": _claimed,
}


def _rate(storage: SqlStorage, way: str, connections: int, batches: int, round_: int) -> float:
    """Readings per second stored `way` by `connections` threads, each sending `batches` batches."""
    work = [_batches(round_ * connections + w, batches) for w in range(connections)]
    store = WAYS[way]

    def run(mine: list[Batch]) -> None:
        for batch in mine:
            store(storage, batch)

    with ThreadPoolExecutor(connections) as pool:
        started = time.perf_counter()
        for done in [pool.submit(run, mine) for mine in work]:
            done.result()  # a failed store ends the run: its rate would mean nothing
    return connections * batches * BATCH / (time.perf_counter() - started)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_floor", description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40, help="batches of 1,000 per connection and way")
    parser.add_argument("--pg-database", default="wastesvc_bench_floor", help="dropped and re-created")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    url = fresh_postgres(args.pg_database)
    if url is None:
        return 1
    storage = open_storage(url)
    assert isinstance(storage, SqlStorage)
    create_containers(storage, CONTAINERS)
    records = []
    load = [round(x, 2) for x in os.getloadavg()]
    for round_, (way, connections) in enumerate((way, n) for n in (1, 4) for way in WAYS):
        rate = _rate(storage, way, connections, args.batches, round_)
        records.append({"way": way, "connections": connections, "readings_per_s": round(rate)})
        print(f"{way:>8} {connections} connection(s): {rate:>9,.0f} readings/s", flush=True)
    storage.close()
    run = {
        "commit": measured_commit("wastesvc", "bench"),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "batch": BATCH,
        "batches_per_connection": args.batches,
        "load_average_before": load,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "records": records,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(run, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
