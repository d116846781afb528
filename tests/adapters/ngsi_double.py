"""An NGSI-LD broker double over real HTTP on loopback: batch upsert and paged entity queries per tenant.

It checks what NGSI-LD requires of a request (``application/ld+json`` with an ``@context`` in every
entity, or plain JSON with none) and keeps the entities by ``NGSILD-Tenant``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["BrokerDouble", "serve_broker"]


@dataclass
class BrokerDouble:
    """The entities by tenant ("" for the default tenant) and the requests refused."""

    url: str = ""
    entities: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: defaultdict(dict))
    refused: list[str] = field(default_factory=list)
    upserts: int = 0


def _problem(status: int, title: str, double: BrokerDouble) -> web.Response:
    double.refused.append(title)
    body = {"type": "https://uri.etsi.org/ngsi-ld/errors/BadRequestData", "title": title}
    return web.json_response(body, status=status, content_type="application/problem+json")


def _app(double: BrokerDouble) -> web.Application:
    async def upsert(request: web.Request) -> web.Response:
        if request.content_type != "application/ld+json":
            return _problem(415, f"upsert needs application/ld+json, got {request.content_type}", double)
        batch = json.loads(await request.read())
        if not isinstance(batch, list) or not batch:
            return _problem(400, "the body must be a non-empty array of entities", double)
        for entity in batch:
            if "@context" not in entity or "id" not in entity or "type" not in entity:
                return _problem(400, f"entity without @context, id or type: {entity.get('id')}", double)
        tenant = request.headers.get("NGSILD-Tenant", "")
        created = any(e["id"] not in double.entities[tenant] for e in batch)
        for entity in batch:
            double.entities[tenant][entity["id"]] = entity
        double.upserts += 1
        if created:
            return web.json_response([e["id"] for e in batch], status=201)
        return web.Response(status=204)

    async def query(request: web.Request) -> web.Response:
        tenant = request.headers.get("NGSILD-Tenant", "")
        wanted = request.query.get("type")
        offset, limit = int(request.query.get("offset", 0)), int(request.query.get("limit", 20))
        matching = [e for e in double.entities[tenant].values() if e["type"] == wanted]
        return web.json_response(matching[offset : offset + limit], content_type="application/ld+json")

    app = web.Application()
    app.router.add_post("/ngsi-ld/v1/entityOperations/upsert", upsert)
    app.router.add_get("/ngsi-ld/v1/entities", query)
    return app


@asynccontextmanager
async def serve_broker() -> AsyncIterator[BrokerDouble]:
    """Run the double on a free loopback port for the block."""
    double = BrokerDouble()
    runner = web.AppRunner(_app(double))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    double.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield double
    finally:
        await runner.cleanup()
