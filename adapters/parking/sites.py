"""The static part: parking places described in the French national schema (etalab schema-stationnement).

The CSV is checked against the schema's own Table Schema (``schemas/schema.json``): the constraints it
uses (required, integer / number / boolean types, pattern, enum, minimum, maximum) are applied to every
row; a row that breaks one is reported with its line and field, and left out.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Site", "SiteError", "read_sites"]

SCHEMA = Path(__file__).parent / "schemas" / "schema.json"
_TRUE, _FALSE = {"true", "True", "TRUE", "1"}, {"false", "False", "FALSE", "0"}


class SiteError(ValueError):
    """A CSV row that breaks the schema; the message gives the line and the field."""


@dataclass(frozen=True, slots=True)
class Site:
    """A parking place: schema ``id``, name, INSEE code, address, capacity and position."""

    id: str
    name: str
    insee: str
    address: str
    places: int
    latitude: float
    longitude: float


def _typed(field: dict[str, Any], text: str) -> Any:
    kind = field.get("type", "string")
    if kind == "integer":
        return int(text)
    if kind == "number":
        return float(text)
    if kind == "boolean":
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise ValueError(f"{text!r} is not a boolean")
    return text


def _check(field: dict[str, Any], text: str) -> Any:
    constraints = field.get("constraints", {})
    if text == "":
        if constraints.get("required"):
            raise ValueError("is required")
        return None
    value = _typed(field, text)
    if "pattern" in constraints and not re.fullmatch(constraints["pattern"], text):
        raise ValueError(f"{text!r} does not match {constraints['pattern']}")
    if "enum" in constraints and value not in constraints["enum"]:
        raise ValueError(f"{text!r} is not one of {constraints['enum']}")
    if "minimum" in constraints and value < constraints["minimum"]:
        raise ValueError(f"{value} is below {constraints['minimum']}")
    if "maximum" in constraints and value > constraints["maximum"]:
        raise ValueError(f"{value} is above {constraints['maximum']}")
    return value


def read_sites(path: Path) -> tuple[list[Site], list[SiteError]]:
    """The valid rows of ``path`` as sites, and an error for each invalid row (``,`` or ``;`` separated)."""
    fields = {f["name"]: f for f in json.loads(SCHEMA.read_text())["fields"]}
    text = path.read_text(encoding="utf-8-sig")
    dialect = ";" if text.split("\n", 1)[0].count(";") > text.split("\n", 1)[0].count(",") else ","
    sites, errors = [], []
    for line, row in enumerate(csv.DictReader(text.splitlines(), delimiter=dialect), start=2):
        values: dict[str, Any] = {}
        try:
            for name, field in fields.items():
                try:
                    values[name] = _check(field, (row.get(name) or "").strip())
                except ValueError as error:
                    raise SiteError(f"{path.name} line {line}, {name}: {error}") from None
        except SiteError as error:
            errors.append(error)
            continue
        sites.append(
            Site(
                id=values["id"],
                name=values["nom"],
                insee=values["insee"],
                address=values["adresse"] or "",
                places=values["nb_places"],
                latitude=values["Ylat"],
                longitude=values["Xlong"],
            )
        )
    return sites, errors
