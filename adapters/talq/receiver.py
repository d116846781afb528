"""The CMS side of ``POST /log-reports``: a lighting gateway pushes its log reports here.

The request is checked as the TALQ CMS API defines it (``talq-api-version`` header, ``clientAddress``
and ``talqRequestId`` query parameters, a ``LogReport`` body); a bad one gets 400 with TALQ error
messages. A report is answered 201 once its observations are stored; 422 when the service could not
take it, so the gateway sends it again.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from adapters.talq.openapi import TalqSchemaError, TalqSchemas, talq_schemas

__all__ = ["ReportHandler", "log_report_app"]

_log = logging.getLogger("adapters.talq")

ReportHandler = Callable[[dict[str, Any]], Awaitable[None]]


def _error(status: int, key: str, schemas: TalqSchemas, detail: str) -> web.Response:
    body = [{"key": key}]
    schemas.validate_response("cms", "POST", "/log-reports", status, body)
    _log.warning("log report refused (%d %s): %s", status, key, detail)
    return web.json_response(body, status=status)


def _is_uuid(text: str | None) -> bool:
    try:
        uuid.UUID(text or "")
    except ValueError:
        return False
    return True


def log_report_app(
    handle: ReportHandler, path: str = "/log-reports", schemas: TalqSchemas | None = None
) -> web.Application:
    """An aiohttp application taking ``POST path`` log reports and handing each to ``handle``."""
    checker = schemas or talq_schemas()

    async def receive(request: web.Request) -> web.Response:
        if "talq-api-version" not in request.headers:
            return _error(400, "headerMissing", checker, "no talq-api-version header")
        for name in ("clientAddress", "talqRequestId"):
            if name not in request.query:
                return _error(400, "parameterMissing", checker, f"no {name}")
            if not _is_uuid(request.query[name]):
                return _error(400, "parameterValueNotValid", checker, f"{name} is not a UUID")
        try:
            report = json.loads(await request.read())
            checker.validate_request("cms", "POST", "/log-reports", report)
        except (ValueError, TalqSchemaError) as error:
            return _error(400, "payloadError", checker, str(error))
        try:
            await handle(report)
        except Exception as error:  # the service is down or refused the batch: the gateway retries
            _log.exception("could not store log report %s", report.get("address"))
            return _error(422, "internalError", checker, str(error))
        checker.validate_response("cms", "POST", "/log-reports", 201, None)
        return web.Response(status=201)

    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.router.add_post(path, receive)
    return app
