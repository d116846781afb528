"""A TALQ 2.7.1 client of a lighting gateway (the Gateway API), acting for the city's CMS.

Every request body sent and every response received is validated against the TALQ OpenAPI documents;
a response that breaks them is an error, not data.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from adapters.talq.openapi import TalqSchemaError, TalqSchemas, talq_schemas

__all__ = ["TALQ_API_VERSION", "TalqClient", "TalqError"]

TALQ_API_VERSION = "2.7.1"
_PAGE = 500


class TalqError(Exception):
    """The gateway could not be reached, refused a request or answered outside the TALQ schema."""


class TalqClient:
    """Reads devices and log reports from a TALQ gateway and sends override commands to it.

    Parameters
    ----------
    base_url
        The gateway's TALQ API root, e.g. ``https://cms.example/talq/v2``.
    client_address
        This client's TALQ address (a UUID the gateway knows the CMS by).
    http
        The HTTP client (timeouts, TLS, authentication headers).
    """

    def __init__(
        self, base_url: str, client_address: str, http: httpx.AsyncClient, schemas: TalqSchemas | None = None
    ) -> None:
        self._base = base_url.rstrip("/")
        self._client_address = client_address
        self._http = http
        self._schemas = schemas or talq_schemas()

    async def _call(
        self,
        method: str,
        template: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        request_id: bool = False,
    ) -> tuple[int, Any]:
        params: dict[str, Any] = {"clientAddress": self._client_address, **(query or {})}
        if request_id:
            params["talqRequestId"] = str(uuid.uuid4())
        if body is not None:
            self._schemas.validate_request("gateway", method, template, body)
        try:
            response = await self._http.request(
                method,
                self._base + path,
                params=params,
                json=body,
                headers={"talq-api-version": TALQ_API_VERSION},
            )
        except httpx.HTTPError as error:
            raise TalqError(f"{method} {path}: {error}") from None
        try:
            answer = response.json() if response.content else None
        except ValueError:
            raise TalqError(f"{method} {path}: {response.status_code} with a body that is not JSON") from None
        try:
            self._schemas.validate_response("gateway", method, template, response.status_code, answer)
        except TalqSchemaError as error:
            raise TalqError(f"gateway answer outside the TALQ schema: {error}") from None
        if response.status_code >= 400:
            raise TalqError(f"{method} {path}: {response.status_code} {answer}")
        return response.status_code, answer

    async def devices(self) -> list[dict[str, Any]]:
        """Every device the gateway exposes (``GET /devices``, page by page)."""
        found: list[dict[str, Any]] = []
        while True:
            _, page = await self._call(
                "GET", "/devices", "/devices", query={"offset": len(found), "limit": _PAGE}
            )
            found += page
            if len(page) < _PAGE:
                return found

    async def log_report(self, logger_address: str) -> dict[str, Any]:
        """The current log report of a data logger (``GET /log-reports/{loggerAddress}``)."""
        _, report = await self._call("GET", "/log-reports/{loggerAddress}", f"/log-reports/{logger_address}")
        result: dict[str, Any] = report
        return result

    async def override(self, command: dict[str, Any]) -> int:
        """Send an override command (``POST /override-commands``); the gateway's status (201 or 202)."""
        status, _ = await self._call(
            "POST", "/override-commands", "/override-commands", body=command, request_id=True
        )
        return status
