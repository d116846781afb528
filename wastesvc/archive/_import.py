"""Restoring an archive into an instance where its tenant is empty, after checking the manifest."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from wastesvc.archive._export import FORMAT, MANIFEST
from wastesvc.archive._layout import SCHEMA_VERSION, TABLES, TableFile, decode

__all__ = ["ArchiveError", "import_tenant"]

_CHUNK = 1000


class ArchiveError(ValueError):
    """The archive cannot be imported: the message says which file and why."""


def import_tenant(engine: Engine, directory: Path) -> dict[str, int]:
    """Restores the archive in `directory`; returns the rows inserted per table.

    Raises
    ------
    ArchiveError
        The manifest is missing or of another version, a file is missing or altered (SHA-256), a cell
        cannot be read, or the tenant already has data in this instance.
    """
    manifest = _manifest(directory)
    tenant = str(manifest["tenant"])
    inserted: dict[str, int] = {}
    with engine.begin() as connection:
        _check_empty(connection, tenant)
        for spec in TABLES:
            inserted[spec.table.name] = _insert(connection, spec, tenant, directory / spec.file)
    return inserted


def _manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArchiveError(f"{path} not found: not a wastesvc export") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArchiveError(f"{path} cannot be read: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveError(f"{path} is not a {FORMAT} manifest")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise ArchiveError(
            f"{path}: schema version {manifest.get('schema_version')!r}, this wastesvc reads {SCHEMA_VERSION}"
        )
    listed = {str(entry["path"]): entry for entry in manifest.get("files", [])}
    for spec in TABLES:
        entry = listed.get(spec.file)
        if entry is None:
            raise ArchiveError(f"{path} does not list {spec.file}")
        try:
            digest = hashlib.sha256((directory / spec.file).read_bytes()).hexdigest()
        except OSError as exc:
            raise ArchiveError(f"{spec.file} cannot be read: {exc}") from None
        if digest != entry.get("sha256"):
            raise ArchiveError(f"{spec.file} does not match the manifest's SHA-256: altered or truncated")
    return manifest


def _check_empty(connection: Connection, tenant: str) -> None:
    for spec in TABLES:
        count = connection.execute(
            select(func.count()).select_from(spec.table).where(spec.table.c.tenant == tenant)
        ).scalar_one()
        if count:
            raise ArchiveError(
                f"tenants/{tenant} already has {count} row(s) in {spec.table.name}: "
                "import into an instance where it is empty"
            )


def _records(spec: TableFile, tenant: str, path: Path) -> Iterator[dict[str, Any]]:
    columns = {c.name: c for c in spec.columns}
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or sorted(header) != sorted(columns):
            raise ArchiveError(f"{spec.file}: columns {header} are not {sorted(columns)}")
        for line, cells in enumerate(reader, start=2):
            if len(cells) != len(header):
                raise ArchiveError(f"{spec.file} line {line}: {len(cells)} cells for {len(header)} columns")
            record: dict[str, Any] = {"tenant": tenant}
            for name, cell in zip(header, cells, strict=True):
                try:
                    record[name] = decode(columns[name], cell)
                except ValueError as exc:
                    raise ArchiveError(f"{spec.file} line {line}, column {name}: {exc}") from None
            yield record


def _insert(connection: Connection, spec: TableFile, tenant: str, path: Path) -> int:
    count = 0
    chunk: list[dict[str, Any]] = []
    for record in _records(spec, tenant, path):
        chunk.append(record)
        if len(chunk) == _CHUNK:
            connection.execute(spec.table.insert(), chunk)
            count, chunk = count + len(chunk), []
    if chunk:
        connection.execute(spec.table.insert(), chunk)
        count += len(chunk)
    return count
