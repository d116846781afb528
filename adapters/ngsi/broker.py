"""An NGSI-LD context broker client: batch upsert and paged entity queries (ETSI GS CIM 009).

Bodies go as ``application/ld+json`` (each entity carries its ``@context``); the broker tenant is the
``NGSILD-Tenant`` header. Every entity is validated against its Smart Data Models schema before it is
sent, and every entity read is validated before it is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from adapters.ngsi.sdm import SdmError, validate_entity

__all__ = ["Broker", "BrokerError", "UpsertResult"]

_BATCH = 100  # entities per upsert request
_PAGE = 100


class BrokerError(Exception):
    """The broker could not be reached or refused a request."""


class UpsertResult:
    """Ids the broker took and ids it refused (with its reason)."""

    def __init__(self) -> None:
        self.succeeded: list[str] = []
        self.errors: dict[str, str] = {}


class Broker:
    """A broker at ``url`` (e.g. ``http://broker:1026``) for ``tenant`` (empty: the default tenant)."""

    def __init__(self, url: str, tenant: str, http: httpx.AsyncClient) -> None:
        self._url = url.rstrip("/")
        self._headers = {"NGSILD-Tenant": tenant} if tenant else {}
        self._http = http

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, self._url + path, **kwargs)
        except httpx.HTTPError as error:
            raise BrokerError(f"{method} {path}: {error}") from None
        if response.status_code >= 400:
            raise BrokerError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response

    async def upsert(self, entities: Sequence[dict[str, Any]]) -> UpsertResult:
        """``POST /ngsi-ld/v1/entityOperations/upsert`` in batches (entities replaced or created).

        Raises
        ------
        SdmError
            Before anything is sent, when an entity breaks its schema.
        """
        for entity in entities:
            validate_entity(entity)
        result = UpsertResult()
        headers = {**self._headers, "Content-Type": "application/ld+json"}
        for start in range(0, len(entities), _BATCH):
            batch = list(entities[start : start + _BATCH])
            response = await self._request(
                "POST", "/ngsi-ld/v1/entityOperations/upsert", json=batch, headers=headers
            )
            if response.status_code == 207:  # partial success: {"success": [...], "errors": [...]}
                body = response.json()
                result.succeeded += body.get("success", [])
                for error in body.get("errors", []):
                    result.errors[str(error.get("entityId"))] = str(
                        error.get("error", {}).get("title", error)
                    )
            else:  # 201 or 204: every entity taken
                result.succeeded += [e["id"] for e in batch]
        return result

    async def entities(self, entity_type: str) -> list[dict[str, Any]]:
        """Every entity of ``entity_type`` (``GET /ngsi-ld/v1/entities``), each checked against its schema.

        Raises
        ------
        BrokerError
            When the broker answers something other than a list of entities, or one breaks its schema.
        """
        found: list[dict[str, Any]] = []
        headers = {**self._headers, "Accept": "application/ld+json"}
        while True:
            params: dict[str, Any] = {"type": entity_type, "limit": _PAGE, "offset": len(found)}
            response = await self._request("GET", "/ngsi-ld/v1/entities", params=params, headers=headers)
            page = response.json()
            if not isinstance(page, list) or not all(isinstance(e, dict) for e in page):
                raise BrokerError("GET /ngsi-ld/v1/entities: the answer is not a list of entities")
            for entity in page:
                try:
                    validate_entity(entity)
                except SdmError as error:
                    raise BrokerError(f"entity from the broker: {error}") from None
            found += page
            if len(page) < _PAGE:
                return found
