"""bench.ingest_floor stores every reading it counts, each way, on a real PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bench import ingest_floor
from bench._server import PG_ADMIN, fresh_postgres

pytestmark = pytest.mark.postgres


def test_every_way_stores_what_it_times(tmp_path: Path) -> None:
    output = tmp_path / "floor.json"
    database = "wastesvc_test_floor"

    assert ingest_floor.main(["--batches", "1", "--pg-database", database, "--output", str(output)]) == 0

    run = json.loads(output.read_text())
    assert [(r["way"], r["connections"]) for r in run["records"]] == [
        (way, n) for n in (1, 4) for way in ("direct", "staged", "claimed")
    ]
    assert all(r["readings_per_s"] > 0 for r in run["records"])
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{database}"
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT count(*) FROM readings")).scalar_one()
        pending = connection.execute(text("SELECT count(*) FROM pending_assessments")).scalar_one()
    engine.dispose()
    # 1 + 4 connections, one batch of 1,000 each, three ways; only `claimed` marks containers.
    assert stored == 3 * 5 * ingest_floor.BATCH
    assert pending == ingest_floor.CONTAINERS
    fresh_postgres(database)  # leaves an empty database behind, not a thousand containers
