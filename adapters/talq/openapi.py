"""Validation of TALQ 2.7.1 message bodies against the consortium's OpenAPI documents (``schemas/``).

A body is checked against the schema its API document gives for an operation (request body, or the
response of a status), and then every object in it whose ``type`` (``name`` for a light state) names a
concrete schema of a discriminated base (``Function``, ``Attribute``, ``LogData``, ``State``) is checked
against that concrete schema too: OpenAPI 3.0 discriminators on ``allOf`` bases are not enforced by the
JSON Schema validator itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, Literal

from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

__all__ = ["Api", "TalqSchemaError", "TalqSchemas", "talq_schemas"]

SCHEMAS = Path(__file__).parent / "schemas"
_BASE = "https://talq.invalid/oas/"
_FILES = {
    "cms": "talq-api-cms-2-7-1-online.json",
    "gateway": "talq-api-gateway-2-7-1-online.json",
    "model": "talq-data-model-2-7-1-online.json",
}
Api = Literal["cms", "gateway"]


class TalqSchemaError(ValueError):
    """A body that does not follow the TALQ schema; the message says where and why."""


def _pointer(*parts: str) -> str:
    return "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


class TalqSchemas:
    """The three TALQ documents, loaded once, and validators of operation bodies."""

    def __init__(self, folder: Path = SCHEMAS) -> None:
        self._documents = {name: json.loads((folder / file).read_text()) for name, file in _FILES.items()}
        self._registry: Registry[Any] = Registry().with_resources(
            (_BASE + file, Resource.from_contents(self._documents[name], default_specification=DRAFT4))
            for name, file in _FILES.items()
        )
        components = self._documents["model"]["components"]["schemas"]
        # Concrete schema name -> the discriminating property of its base.
        bases = {
            name: s["discriminator"]["propertyName"] for name, s in components.items() if "discriminator" in s
        }
        self._concrete: dict[str, str] = {}
        for name, schema in components.items():
            first = (schema.get("allOf") or [{}])[0].get("$ref", "")
            base = first.rpartition("/")[2]
            if base in bases:
                self._concrete[name] = bases[base]
        self._validators: dict[str, OAS30Validator] = {}

    def _validator(self, uri: str) -> OAS30Validator:
        if uri not in self._validators:
            self._validators[uri] = OAS30Validator(
                {"$ref": uri}, registry=self._registry, format_checker=oas30_format_checker
            )
        return self._validators[uri]

    def _operation(self, api: Api, method: str, path: str) -> dict[str, Any]:
        try:
            operation: dict[str, Any] = self._documents[api]["paths"][path][method.lower()]
        except KeyError:
            raise TalqSchemaError(f"the TALQ {api} API has no {method.upper()} {path}") from None
        return operation

    def _check(self, uri: str, body: Any, what: str) -> None:
        errors = sorted(self._validator(uri).iter_errors(body), key=lambda e: list(e.absolute_path))
        for instance, schema_name in _discriminated(body, self._concrete):
            model_uri = _BASE + _FILES["model"] + "#/" + _pointer("components", "schemas", schema_name)
            errors += list(self._validator(model_uri).iter_errors(instance))
        if errors:
            raise TalqSchemaError(f"{what}: {_describe(errors[0])}")

    def validate_request(self, api: Api, method: str, path: str, body: Any) -> None:
        """Check a request body of ``METHOD path`` (the path as the document writes it).

        Raises
        ------
        TalqSchemaError
            When the operation takes no body or ``body`` breaks its schema.
        """
        operation = self._operation(api, method, path)
        if "requestBody" not in operation:
            raise TalqSchemaError(f"{method.upper()} {path} takes no request body")
        pointer = _pointer(
            "paths", path, method.lower(), "requestBody", "content", "application/json", "schema"
        )
        self._check(_BASE + _FILES[api] + "#/" + pointer, body, f"{method.upper()} {path} request")

    def validate_response(self, api: Api, method: str, path: str, status: int, body: Any) -> None:
        """Check that ``status`` is a documented answer of ``METHOD path`` and ``body`` follows its schema.

        Raises
        ------
        TalqSchemaError
            On an undocumented status, or a body that breaks the schema (or one where none is documented).
        """
        responses = self._operation(api, method, path)["responses"]
        if str(status) not in responses:
            raise TalqSchemaError(f"{method.upper()} {path}: status {status} is not a documented response")
        if "content" not in responses[str(status)]:
            if body is not None:
                raise TalqSchemaError(f"{method.upper()} {path} {status}: the response documents no body")
            return
        pointer = _pointer(
            "paths", path, method.lower(), "responses", str(status), "content", "application/json", "schema"
        )
        self._check(_BASE + _FILES[api] + "#/" + pointer, body, f"{method.upper()} {path} {status} response")


def _discriminated(body: Any, concrete: dict[str, str]) -> Iterator[tuple[dict[str, Any], str]]:
    """Every object in ``body`` whose discriminating property names a concrete schema."""
    if isinstance(body, dict):
        for schema_name in (body.get("type"), body.get("name")):
            named = isinstance(schema_name, str) and schema_name in concrete
            if named and body.get(concrete[str(schema_name)]) == schema_name:
                yield body, str(schema_name)
        for value in body.values():
            yield from _discriminated(value, concrete)
    elif isinstance(body, list):
        for item in body:
            yield from _discriminated(item, concrete)


def _describe(error: ValidationError) -> str:
    where = "/".join(str(part) for part in error.absolute_path) or "(the body)"
    return f"at {where}: {error.message[:300]}"


@cache
def talq_schemas() -> TalqSchemas:
    """The TALQ schemas, loaded on first use (the data model is 3.4 MB)."""
    return TalqSchemas()
