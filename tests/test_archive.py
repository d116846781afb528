"""`wastesvc export` / `wastesvc import`: a tenant's data out as CSV + GeoJSON and back, losslessly."""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

import ngsild
from adapters.ngsi.sdm import validate_entity
from tests.conftest import PG_ADMIN, Api, token
from wastesvc.archive import ArchiveError, export_tenant, import_tenant
from wastesvc.cli import main
from wastesvc.client import open_channel, optimize_day
from wastesvc.config import Settings
from wastesvc.demo import RURAL_TENANT, feed_readings, load_into
from wastesvc.scenario import load_builtin
from wastesvc.simulate import simulate_readings
from wastesvc.storage import CollectionRow, SqlStorage, open_storage

RURAL = f"tenants/{RURAL_TENANT}"


@pytest.fixture
def empty_db_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A second, empty database of the same kind as `db_url`: the instance an archive is restored into."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    name = f"wastesvc_restore_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
async def rural_instance(api: Api, settings: Settings) -> SqlStorage:
    """The rural tenant with its fleet, two days of readings and observations, emptyings and a plan."""
    scenario = load_builtin(RURAL_TENANT)
    now = datetime.now(UTC)
    async with open_channel(api.address, settings, token(settings, tenant=RURAL)) as channel:
        await load_into(channel, scenario, RURAL_TENANT)
        await feed_readings(channel, simulate_readings(scenario, now - timedelta(days=2), 2), RURAL_TENANT)
        await optimize_day(channel, RURAL_TENANT, now.date(), time_limit_s=1.0)
    storage = api.service.storage
    assert isinstance(storage, SqlStorage)
    storage.insert_collections(
        [
            CollectionRow(
                tenant=RURAL_TENANT,
                container_id=c.id,
                collect_time=now - timedelta(hours=30),
                source="crew",
                weighed_kg=None if i % 2 else 41.5,
                observed_fill=0.8,
                create_time=now,
            )
            for i, c in enumerate(scenario.containers[:5])
        ]
    )
    return storage


def _files(directory: Path) -> dict[str, bytes]:
    paths = sorted(p for p in directory.rglob("*") if p.is_file())
    return {str(p.relative_to(directory)): p.read_bytes() for p in paths}


async def test_round_trip_is_lossless(rural_instance: SqlStorage, empty_db_url: str, tmp_path: Path) -> None:
    """Export, import into an empty instance, export again: every file is byte for byte the same."""
    first = export_tenant(rural_instance.engine, RURAL_TENANT, tmp_path / "first")
    rows = {f["table"]: f["rows"] for f in first["files"] if not f["derived"]}
    scenario = load_builtin(RURAL_TENANT)
    assert rows["containers"] == len(scenario.containers)
    assert rows["vehicles"] == len(scenario.vehicles)
    assert (rows["depots"], rows["facilities"]) == (1, len(scenario.facilities))
    assert rows["readings"] > len(scenario.containers)
    assert rows["observations"] > 0
    assert rows["collections"] >= 5  # the 5 crew reports, and the emptyings the sensors showed
    assert rows["route_plans"] == 1

    restored = open_storage(empty_db_url)
    try:
        inserted = import_tenant(restored.engine, tmp_path / "first")
        assert inserted["readings"] == rows["readings"]
        second = export_tenant(restored.engine, RURAL_TENANT, tmp_path / "second")
    finally:
        restored.close()
    assert second == first
    assert _files(tmp_path / "first") == _files(tmp_path / "second")


async def test_archive_is_open_formats_with_a_checked_manifest(
    rural_instance: SqlStorage, tmp_path: Path
) -> None:
    """CSV and GeoJSON a GIS reads; the manifest's hashes catch an altered file; a full tenant refuses."""
    directory = tmp_path / "archive"
    manifest = export_tenant(rural_instance.engine, RURAL_TENANT, directory)
    assert manifest["schema_version"] == 1
    geojson = json.loads((directory / "containers.geojson").read_text(encoding="utf-8"))
    assert geojson["type"] == "FeatureCollection"
    lng, lat = geojson["features"][0]["geometry"]["coordinates"]
    assert 49.3 < lat < 49.72
    assert 3.68 < lng < 4.12
    with (directory / "isles.csv").open(encoding="utf-8") as handle:
        isles = list(csv.DictReader(handle))
    assert len(isles) == len(load_builtin(RURAL_TENANT).isles)
    plan_files = [f for f in manifest["files"] if f["path"].startswith("route_plans/")]
    assert len(plan_files) == 1
    _check_ngsi_ld(directory, manifest)

    with pytest.raises(ArchiveError, match="already has"):
        import_tenant(rural_instance.engine, directory)
    readings = directory / "readings.csv"
    readings.write_text(readings.read_text(encoding="utf-8").replace("0.", "1.", 1), encoding="utf-8")
    with pytest.raises(ArchiveError, match=r"readings\.csv does not match"):
        import_tenant(rural_instance.engine, directory)


def _check_ngsi_ld(directory: Path, manifest: dict[str, Any]) -> None:
    """The NGSI-LD files: listed, one entity per row, each valid against its Smart Data Models schema."""
    listed = {f["path"]: f["rows"] for f in manifest["files"]}
    rows = {f["table"]: f["rows"] for f in manifest["files"] if not f["derived"]}
    entities = {}
    for name, model in (
        ("containers", "WasteContainer"),
        ("isles", "WasteContainerIsle"),
        ("vehicles", "Vehicle"),
        ("collections", "WasteObserved"),
    ):
        found = json.loads((directory / f"ngsi-ld/{name}.jsonld").read_text(encoding="utf-8"))
        assert listed[f"ngsi-ld/{name}.jsonld"] == len(found) > 0
        for entity in found:
            assert entity["type"] == model
            assert entity["@context"][-1] == ngsild.CORE_CONTEXT
            validate_entity(entity)
        entities[name] = found
    assert len(entities["containers"]) == rows["containers"]
    assert len(entities["vehicles"]) == rows["vehicles"]
    assert len(entities["collections"]) == rows["collections"]
    assert len({e["id"] for e in entities["collections"]}) == rows["collections"]
    crew = [e for e in entities["collections"] if e["dataProvider"]["value"] == "crew"]
    assert {e["weight"]["value"] for e in crew if "weight" in e} == {41.5}
    assert {e["refWasteContainer"]["object"] for e in crew} <= {e["id"] for e in entities["containers"]}
    assert any("fillingLevel" in e for e in entities["containers"])


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_cli_export_and_import(
    rural_instance: SqlStorage, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`wastesvc export` then `wastesvc import` into another database; a second import is refused."""
    target = tmp_path / "cli"
    monkeypatch.setenv("WASTESVC_DB_URL", settings.db_url)
    assert main(["export", str(target), "--tenant", RURAL_TENANT]) == 0
    assert main(["export", str(target), "--tenant", RURAL_TENANT]) == 1  # never over an archive
    monkeypatch.setenv("WASTESVC_DB_URL", f"sqlite:///{tmp_path / 'other.db'}")
    assert main(["import", str(target)]) == 0
    assert main(["import", str(target)]) == 1
    assert main(["import", str(tmp_path / "nowhere")]) == 1
