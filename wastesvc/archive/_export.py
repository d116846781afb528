"""Writing a tenant's archive: the table CSVs, then the derived views (GeoJSON, isles, sensors, plans)."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from sqlalchemy import String, select
from sqlalchemy.engine import Connection, Engine

from wastesvc.archive._layout import SCHEMA_VERSION, TABLES, TableFile, encode
from wastesvc.archive._ngsi import LatestFill, ngsi_documents
from wastesvc.v1 import planning_pb2

__all__ = ["MANIFEST", "export_tenant"]

MANIFEST = "manifest.json"
FORMAT = "wastesvc-export"
_PLACED = {
    "containers.csv": "containers.geojson",
    "depots.csv": "depots.geojson",
    "facilities.csv": "facilities.geojson",
}
# Tables whose rows the derived views need (GeoJSON, isles, sensors, plans, NGSI-LD); readings are streamed.
_KEPT = (*_PLACED, "vehicles.csv", "collections.csv", "route_plans.csv")
_SENSOR_COLUMNS = ("sensor_id", "container_id", "model_id", "empty_distance_mm", "full_distance_mm")
_ISLE_COLUMNS = ("isle", "commune_code", "lat", "lng", "streams", "container_ids")


def export_tenant(engine: Engine, tenant: str, directory: Path) -> dict[str, Any]:
    """Writes everything of `tenant` into `directory` (holding no archive yet); returns the manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / MANIFEST).exists():
        raise FileExistsError(f"{directory} already holds an archive ({MANIFEST}); choose an empty directory")
    entries: list[dict[str, Any]] = []
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # One snapshot for every table, while the service keeps writing.
            connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            kept: dict[str, list[dict[str, Any]]] = {}
            fills = LatestFill()
            for spec in TABLES:
                rows = _rows(connection, spec, tenant)
                if spec.file == "readings.csv":
                    rows = fills.watch(rows)
                collected: list[dict[str, Any]] = []
                count = _write_csv(
                    directory / spec.file, spec, _tee(rows, collected) if spec.file in _KEPT else rows
                )
                entries.append(_entry(directory, spec.file, count, spec.table.name))
                kept[spec.file] = collected
    entries += _derived(directory, kept)
    for path, entities in ngsi_documents(tenant, kept, fills).items():
        _write_json(directory / path, entities)
        entries.append(_entry(directory, path, len(entities), None))
    manifest = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "tenant": tenant,
        "files": sorted(entries, key=lambda e: str(e["path"])),
    }
    (directory / MANIFEST).write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return manifest


def _rows(connection: Connection, spec: TableFile, tenant: str) -> Iterator[dict[str, Any]]:
    table = spec.table
    order: list[Any] = []
    for name in spec.order_by:
        column = table.c[name]
        # Byte order on both backends, so SQLite and PostgreSQL exports of the same data are identical.
        if isinstance(column.type, String) and connection.dialect.name == "postgresql":
            order.append(column.collate("C"))
        else:
            order.append(column)
    query = select(*spec.columns).where(table.c.tenant == tenant).order_by(*order)
    result = connection.execution_options(stream_results=True, yield_per=2000).execute(query)
    for row in result:
        yield dict(row._mapping)


def _tee(rows: Iterator[dict[str, Any]], into: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for row in rows:
        into.append(row)
        yield row


def _write_csv(path: Path, spec: TableFile, rows: Iterator[dict[str, Any]]) -> int:
    columns = spec.columns
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([c.name for c in columns])
        for row in rows:
            writer.writerow([encode(c, row[c.name]) for c in columns])
            count += 1
    return count


def _entry(directory: Path, path: str, rows: int, table: str | None) -> dict[str, Any]:
    digest = hashlib.sha256((directory / path).read_bytes()).hexdigest()
    return {"path": path, "table": table, "rows": rows, "sha256": digest, "derived": table is None}


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _feature_collection(rows: list[dict[str, Any]]) -> dict[str, Any]:
    features = [
        {
            "type": "Feature",
            "id": row["id"],
            "geometry": {"type": "Point", "coordinates": [row["lng"], row["lat"]]},
            "properties": {k: _json_value(v) for k, v in row.items() if k not in ("id", "lat", "lng")},
        }
        for row in rows
    ]
    return {"type": "FeatureCollection", "features": features}


def _write_json(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _isles(containers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop-off points: containers sharing an isle id, placed at the first member's point."""
    members: dict[str, list[dict[str, Any]]] = {}
    for row in containers:
        if row["isle"]:
            members.setdefault(row["isle"], []).append(row)
    return [
        {
            "id": isle,
            "commune_code": rows[0]["commune_code"],
            "lat": rows[0]["lat"],
            "lng": rows[0]["lng"],
            "streams": ";".join(sorted({r["stream"] for r in rows})),
            "container_ids": ";".join(r["id"] for r in rows),
        }
        for isle, rows in sorted(members.items())
    ]


def _derived(directory: Path, kept: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Views for people and GIS tools; the import reads only the table CSVs."""
    entries = []
    for table_file, geojson in _PLACED.items():
        _write_json(directory / geojson, _feature_collection(kept[table_file]))
        entries.append(_entry(directory, geojson, len(kept[table_file]), None))
    isles = _isles(kept["containers.csv"])
    with (directory / "isles.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(_ISLE_COLUMNS)
        writer.writerows([[isle["id"], *(_plain(isle[c]) for c in _ISLE_COLUMNS[1:])] for isle in isles])
    entries.append(_entry(directory, "isles.csv", len(isles), None))
    _write_json(directory / "isles.geojson", _feature_collection(isles))
    entries.append(_entry(directory, "isles.geojson", len(isles), None))
    sensors = [row for row in kept["containers.csv"] if row["sensor_id"]]
    with (directory / "sensors.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(_SENSOR_COLUMNS)
        for row in sorted(sensors, key=lambda r: str(r["sensor_id"])):
            writer.writerow([row["sensor_id"], row["id"], *(row[c] for c in _SENSOR_COLUMNS[2:])])
    entries.append(_entry(directory, "sensors.csv", len(sensors), None))
    for plan in kept["route_plans.csv"]:
        message = planning_pb2.RoutePlan.FromString(plan["body"])
        path = f"route_plans/{plan['id']}.json"
        _write_json(directory / path, json.loads(json_format.MessageToJson(message, sort_keys=True)))
        entries.append(_entry(directory, path, 1, None))
    return entries


def _plain(value: Any) -> str:
    """A derived CSV cell: floats exact, the rest as text."""
    return repr(value) if isinstance(value, float) else str(value)
