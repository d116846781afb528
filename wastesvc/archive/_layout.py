"""What an archive holds: one CSV per table of a tenant, in a fixed column and row order.

Tables are read and written generically from their SQLAlchemy columns, so a column added to a table is
exported without touching this package; `SCHEMA_VERSION` says which layout an archive follows.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Column, Date, Float, Integer, LargeBinary, Table

from wastesvc.storage import (
    AlertRow,
    CollectionRow,
    ContainerRow,
    DepotRow,
    FacilityRow,
    ForecastRow,
    IncidentRow,
    ObservationRow,
    PlanRow,
    PolicyRow,
    ReadingRow,
    VehicleRow,
)
from wastesvc.storage._tables import UtcDateTime

__all__ = ["SCHEMA_VERSION", "TABLES", "TableFile", "decode", "encode"]

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class TableFile:
    """One table of the tenant and the CSV it is written to."""

    file: str
    table: Table
    order_by: tuple[str, ...]
    """Natural key: rows are written in this order, so two exports of the same data are identical."""

    @property
    def columns(self) -> list[Column[Any]]:
        """The exported columns: the tenant is the archive's, surrogate integer ids are the database's."""
        return [c for c in self.table.columns if c.name != "tenant" and not _surrogate(c)]


def _surrogate(column: Column[Any]) -> bool:
    return column.name == "id" and bool(column.primary_key) and isinstance(column.type, Integer)


def _table(model: Any) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


# In insertion order: parents (depots, containers) before the rows that refer to them.
TABLES = (
    TableFile("depots.csv", _table(DepotRow), ("id",)),
    TableFile("facilities.csv", _table(FacilityRow), ("id",)),
    TableFile("vehicles.csv", _table(VehicleRow), ("id",)),
    TableFile("containers.csv", _table(ContainerRow), ("id",)),
    TableFile("readings.csv", _table(ReadingRow), ("container_id", "measure_time")),
    TableFile("collections.csv", _table(CollectionRow), ("container_id", "collect_time", "source")),
    TableFile(
        "observations.csv",
        _table(ObservationRow),
        ("source", "entity_id", "property", "observe_time"),
    ),
    TableFile("route_plans.csv", _table(PlanRow), ("id",)),
    TableFile("alerts.csv", _table(AlertRow), ("container_id", "kind", "start_time", "create_time")),
    TableFile("incidents.csv", _table(IncidentRow), ("request_id",)),
    TableFile("forecasts.csv", _table(ForecastRow), ("container_id",)),
    TableFile("selection_policies.csv", _table(PolicyRow), ("update_time",)),
)


def _kind(column: Column[Any]) -> str:
    for sql_type, kind in _KINDS:
        if isinstance(column.type, sql_type):
            return kind
    return "text"


def _time(cell: str) -> datetime:
    value = datetime.fromisoformat(cell)
    if value.tzinfo is None:
        raise ValueError(f"time without a zone: {cell!r}")
    return value


def _bool(cell: str) -> bool:
    if cell not in ("true", "false"):
        raise ValueError(f"expected true or false, got {cell!r}")
    return cell == "true"


_KINDS: tuple[tuple[type[Any], str], ...] = (
    (UtcDateTime, "time"),
    (Date, "date"),
    (Boolean, "bool"),
    (Float, "float"),
    (Integer, "int"),
    (LargeBinary, "bytes"),
)
_ENCODE: dict[str, Callable[[Any], str]] = {
    "time": lambda value: value.isoformat(),
    "date": lambda value: value.isoformat(),
    "bool": lambda value: "true" if value else "false",
    "float": lambda value: repr(float(value)),  # the shortest text that reads back to the same double
    "int": str,
    "bytes": lambda value: base64.b64encode(value).decode("ascii"),
    "text": str,
}
_DECODE: dict[str, Callable[[str], Any]] = {
    "time": _time,
    "date": date.fromisoformat,
    "bool": _bool,
    "float": float,
    "int": int,
    "bytes": lambda cell: base64.b64decode(cell, validate=True),
    "text": lambda cell: cell,
}


def encode(column: Column[Any], value: Any) -> str:
    """The CSV cell of `value`: empty for NULL, ISO 8601 times, exact floats, base64 bytes."""
    return "" if value is None else _ENCODE[_kind(column)](value)


def decode(column: Column[Any], cell: str) -> Any:
    """The value of a CSV cell written by `encode`; raises ValueError for a cell that cannot be one."""
    if cell == "" and column.nullable:
        return None
    return _DECODE[_kind(column)](cell)
