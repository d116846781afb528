"""Smart Data Models validation of NGSI-LD entities, offline.

The SDM schemas describe an entity in its key-values form; a normalized NGSI-LD entity is reduced to
that form (a ``Property`` or ``GeoProperty`` to its ``value``, a ``Relationship`` to its ``object``)
and validated against ``schemas/{type}/schema.json``, whose ``$ref`` to the common schema's URL is
served from the copy in ``schemas/common/``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

__all__ = ["MODELS", "SdmError", "key_values", "validate_entity"]

SCHEMAS = Path(__file__).parent / "schemas"
MODELS = ("WasteContainer", "WasteContainerIsle", "WasteObserved", "Vehicle", "OnStreetParking")
_COMMON_URL = "https://smart-data-models.github.io/data-models/common-schema.json"
# NGSI-LD members that are not attributes of the model.
_CORE = {"id", "type", "@context"}


class SdmError(ValueError):
    """An entity that breaks its Smart Data Models schema, or of a model this adapter does not carry."""


def key_values(entity: dict[str, Any]) -> dict[str, Any]:
    """The key-values form of a normalized NGSI-LD entity (a key-values one is returned as is)."""
    reduced: dict[str, Any] = {}
    for name, member in entity.items():
        if name == "@context":
            continue
        if name in _CORE or not isinstance(member, dict) or "type" not in member:
            reduced[name] = member
        elif member["type"] == "Relationship":
            reduced[name] = member.get("object")
        elif member["type"] in ("Property", "GeoProperty"):
            value = member.get("value")
            # A typed JSON-LD literal ({"@type": "DateTime", "@value": "…"}) carries its text in @value.
            reduced[name] = value["@value"] if isinstance(value, dict) and "@value" in value else value
        else:
            reduced[name] = member  # a key-values GeoJSON value, for instance
    return reduced


@cache
def _validator(model: str) -> Draft202012Validator:
    common = json.loads((SCHEMAS / "common" / "common-schema.json").read_text())
    registry: Registry[Any] = Registry().with_resource(
        _COMMON_URL, Resource.from_contents(common, default_specification=DRAFT202012)
    )
    schema = json.loads((SCHEMAS / model / "schema.json").read_text())
    return Draft202012Validator(schema, registry=registry, format_checker=FormatChecker())


def validate_entity(entity: dict[str, Any]) -> None:
    """Check ``entity`` (normalized or key-values) against the schema of its ``type``.

    Raises
    ------
    SdmError
        Naming the first broken attribute and why.
    """
    model = entity.get("type")
    if model not in MODELS:
        raise SdmError(f"no Smart Data Models schema here for type {model!r} (carried: {', '.join(MODELS)})")
    errors = sorted(
        _validator(str(model)).iter_errors(key_values(entity)), key=lambda e: list(e.absolute_path)
    )
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(the entity)"
        raise SdmError(f"{entity.get('id')}: {model} at {where}: {errors[0].message[:300]}")
