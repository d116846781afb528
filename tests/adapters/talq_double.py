"""A TALQ 2.7.1 lighting gateway double served over real HTTP on loopback.

It serves ``GET /devices``, ``GET /log-reports/{loggerAddress}`` and ``POST /override-commands`` as
the TALQ Gateway API defines them, and checks every request it receives and every response it sends
against the OpenAPI documents, so a test fails when either side leaves the schema.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

from adapters.talq.openapi import TalqSchemaError, talq_schemas

__all__ = ["GatewayDouble", "filling_sensor", "lamp", "log_report", "serve_gateway"]


def _stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def lamp(address: str, latitude: float, longitude: float) -> dict[str, Any]:
    """A luminaire: a lamp actuator and a basic function carrying its location."""
    return {
        "address": address,
        "name": f"lamp-{address[:8]}",
        "class": "Luminaire",
        "functions": [
            {"id": "basic", "type": "BasicFunction", "location": {"type": "AttributeLocation",
             "value": {"latitude": latitude, "longitude": longitude}}},
            {"id": "lamp", "type": "LampActuatorFunction"},
        ],
    }  # fmt: skip


def filling_sensor(address: str, percent: int, temperature: float, at: datetime) -> dict[str, Any]:
    """A sensor node on a lamp post: filling level and temperature functions with values."""
    return {
        "address": address,
        "name": f"bin-{address[:8]}",
        "class": "SensorNode",
        "functions": [
            {"id": "fill", "type": "FillingLevelSensorFunction",
             "fillingPercentage": {"type": "AttributePercent", "value": percent, "timestamp": _stamp(at)}},
            {"id": "temp", "type": "TemperatureSensorFunction",
             "temperature": {"type": "AttributeFloat", "value": temperature, "timestamp": _stamp(at)}},
        ],
    }  # fmt: skip


def log_report(logger: str, entries: list[tuple[str, str, dict[str, Any], datetime]]) -> dict[str, Any]:
    """A log report of ``AttributeLogData`` entries ``(srcAddress, attributeName, attributeValue, time)``."""
    return {
        "address": logger,
        "entries": [
            {"data": {"type": "AttributeLogData", "srcAddress": src, "timestamp": _stamp(at),
                      "attributeName": name, "attributeValue": value}}
            for src, name, value, at in entries
        ],
    }  # fmt: skip


@dataclass
class GatewayDouble:
    """What the double serves and what it received."""

    url: str = ""
    devices: list[dict[str, Any]] = field(default_factory=list)
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    overrides: list[dict[str, Any]] = field(default_factory=list)
    schema_errors: list[str] = field(default_factory=list)
    check_answers: bool = True
    """False to serve whatever ``devices`` holds, to test the client's own checks."""


def _app(double: GatewayDouble) -> web.Application:
    schemas = talq_schemas()

    def answer(method: str, path: str, status: int, body: Any) -> web.Response:
        if double.check_answers:
            schemas.validate_response("gateway", method, path, status, body)
        return web.json_response(body, status=status) if body is not None else web.Response(status=status)

    def bad(request: web.Request, method: str, path: str, problem: str) -> web.Response:
        double.schema_errors.append(f"{method} {path}: {problem}")
        return answer(method, path, 400, [{"key": "payloadError"}])

    def header_problem(request: web.Request, need_request_id: bool) -> str | None:
        if "talq-api-version" not in request.headers:
            return "no talq-api-version header"
        names = ["clientAddress", "talqRequestId"] if need_request_id else ["clientAddress"]
        for name in names:
            try:
                uuid.UUID(request.query.get(name, ""))
            except ValueError:
                return f"{name} missing or not a UUID"
        return None

    async def devices(request: web.Request) -> web.Response:
        problem = header_problem(request, False)
        if problem:
            return bad(request, "GET", "/devices", problem)
        offset, limit = int(request.query.get("offset", 0)), int(request.query.get("limit", 1000))
        return answer("GET", "/devices", 200, double.devices[offset : offset + limit])

    async def reports(request: web.Request) -> web.Response:
        path = "/log-reports/{loggerAddress}"
        problem = header_problem(request, False)
        if problem:
            return bad(request, "GET", path, problem)
        report = double.reports.get(request.match_info["logger"])
        if report is None:
            return answer("GET", path, 404, [{"key": "resourceNotFound"}])
        return answer("GET", path, 200, report)

    async def override(request: web.Request) -> web.Response:
        problem = header_problem(request, True)
        if problem:
            return bad(request, "POST", "/override-commands", problem)
        command = json.loads(await request.read())
        try:
            schemas.validate_request("gateway", "POST", "/override-commands", command)
        except TalqSchemaError as error:
            return bad(request, "POST", "/override-commands", str(error))
        double.overrides.append(command)
        return answer("POST", "/override-commands", 201, None)

    app = web.Application()
    app.router.add_get("/talq/devices", devices)
    app.router.add_get("/talq/log-reports/{logger}", reports)
    app.router.add_post("/talq/override-commands", override)
    return app


@asynccontextmanager
async def serve_gateway() -> AsyncIterator[GatewayDouble]:
    """Run the double on a free loopback port for the block."""
    double = GatewayDouble()
    runner = web.AppRunner(_app(double))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    double.url = f"http://127.0.0.1:{port}/talq"
    try:
        yield double
    finally:
        await runner.cleanup()
