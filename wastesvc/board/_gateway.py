"""The board's HTTP side: the page, JSON read through the gRPC API, a plan's field events and the tenant's
alerts as SSE."""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import grpc
from aiohttp import web
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from google.type import date_pb2

from wastesvc.auth import issue_token, load_key
from wastesvc.config import Settings
from wastesvc.v1 import (
    alerts_pb2,
    alerts_pb2_grpc,
    dispatch_pb2,
    dispatch_pb2_grpc,
    planning_pb2,
    planning_pb2_grpc,
)

__all__ = ["Board", "start_board"]

_PAGE = resources.files("wastesvc.board").joinpath("static/index.html")
_BOARD_TOKEN_TTL_S = 30 * 24 * 3600.0
# The alerts a dispatcher still has to deal with; a resolved one leaves the board.
_UNRESOLVED = ("OPEN", "ACKNOWLEDGED")
_ALERTS_SHOWN = 200
_HTTP_ERRORS: dict[grpc.StatusCode, type[web.HTTPError]] = {
    grpc.StatusCode.NOT_FOUND: web.HTTPNotFound,
    grpc.StatusCode.INVALID_ARGUMENT: web.HTTPBadRequest,
    grpc.StatusCode.PERMISSION_DENIED: web.HTTPForbidden,
    grpc.StatusCode.UNAUTHENTICATED: web.HTTPUnauthorized,
}


@dataclass
class Board:
    """A running board: its URL and what stops it."""

    url: str
    runner: web.AppRunner
    channel: grpc.aio.Channel

    async def stop(self) -> None:
        # Closing the channel first ends the live event feeds, whose handlers would otherwise hold the
        # shutdown until its timeout.
        await self.channel.close()
        await self.runner.cleanup()


def _channel(target: str, settings: Settings) -> grpc.aio.Channel:
    if not settings.tls_ca_file:
        return grpc.aio.insecure_channel(target)
    with open(settings.tls_ca_file, "rb") as ca:
        return grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=ca.read()))


class _Gateway:
    def __init__(self, target: str, settings: Settings) -> None:
        self.settings = settings
        self.channel = _channel(target, settings)
        self.planning = planning_pb2_grpc.PlanningServiceStub(self.channel)
        self.dispatch = dispatch_pb2_grpc.DispatchServiceStub(self.channel)
        self.alerts = alerts_pb2_grpc.AlertServiceStub(self.channel)
        self.loopback_token = issue_token(
            load_key(settings.auth_key_file),
            tenant=settings.tenant,
            scopes={"read"},
            subject="operations-board",
            ttl_s=_BOARD_TOKEN_TTL_S,
        )

    def metadata(self, request: web.Request) -> tuple[tuple[str, str], ...]:
        """The caller's bearer token; a caller on loopback without one reads with the board's own."""
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return (("authorization", header),)
        peer = request.remote or ""
        try:
            local = ipaddress.ip_address(peer).is_loopback
        except ValueError:
            local = False
        if not local:
            raise web.HTTPUnauthorized(text="the board needs `Authorization: Bearer <token>` off loopback")
        return (("authorization", f"Bearer {self.loopback_token}"),)

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(text=_PAGE.read_text(encoding="utf-8"), content_type="text/html")

    async def plans(self, request: web.Request) -> web.Response:
        """Plans of a day (`?date=YYYY-MM-DD`, default today), newest first."""
        tz = ZoneInfo(self.settings.timezone)
        try:
            day = date.fromisoformat(request.query.get("date", "")) if request.query.get("date") else None
        except ValueError:
            raise web.HTTPBadRequest(text="date must be YYYY-MM-DD") from None
        day = day or datetime.now(tz).date()
        listing = planning_pb2.ListRoutePlansRequest(
            parent=f"tenants/{self.settings.tenant}",
            page_size=100,
            service_date=date_pb2.Date(year=day.year, month=day.month, day=day.day),
        )
        response = await self._call(self.planning.ListRoutePlans(listing, metadata=self.metadata(request)))
        return web.json_response([_summary(p) for p in response.route_plans])

    async def plan(self, request: web.Request) -> web.Response:
        """One plan whole (`?name=tenants/…/routePlans/…`), with its visits' statuses."""
        name = request.query.get("name", "")
        plan = await self._call(
            self.planning.GetRoutePlan(
                planning_pb2.GetRoutePlanRequest(name=name), metadata=self.metadata(request)
            )
        )
        return web.json_response(MessageToDict(plan, preserving_proto_field_name=True))

    async def events(self, request: web.Request) -> web.StreamResponse:
        """The plan's field events (`?plan=…`) as server-sent events, stored ones first, until the page
        goes away."""
        watch = dispatch_pb2.WatchFieldEventsRequest(parent=request.query.get("plan", ""))
        call = self.dispatch.WatchFieldEvents(watch, metadata=self.metadata(request))
        return await _relay(request, call, "field-event", lambda m: m)

    async def unresolved_alerts(self, request: web.Request) -> web.Response:
        """The tenant's open and acknowledged alerts, newest first."""
        found: list[alerts_pb2.Alert] = []
        for state in _UNRESOLVED:
            listing = alerts_pb2.ListAlertsRequest(
                parent=f"tenants/{self.settings.tenant}", page_size=_ALERTS_SHOWN, filter=f"state = {state}"
            )
            response = await self._call(self.alerts.ListAlerts(listing, metadata=self.metadata(request)))
            found.extend(response.alerts)
        found.sort(key=lambda a: a.create_time.ToNanoseconds(), reverse=True)
        return web.json_response(
            [MessageToDict(a, preserving_proto_field_name=True) for a in found[:_ALERTS_SHOWN]]
        )

    async def alert_events(self, request: web.Request) -> web.StreamResponse:
        """Every alert raised or changed from now on, as server-sent events."""
        watch = alerts_pb2.WatchAlertsRequest(parent=f"tenants/{self.settings.tenant}")
        call = self.alerts.WatchAlerts(watch, metadata=self.metadata(request))
        return await _relay(request, call, "alert", lambda m: m.alert)

    async def _call(self, call: Any) -> Any:
        try:
            return await call
        except grpc.aio.AioRpcError as error:
            kind = _HTTP_ERRORS.get(error.code(), web.HTTPBadGateway)
            raise kind(text=f"{error.code().name}: {error.details()}") from None


async def _relay(
    request: web.Request, call: Any, name: str, payload: Callable[[Any], Message]
) -> web.StreamResponse:
    """Forwards a server-streaming call as server-sent events named `name` until the page goes away."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    try:
        async for message in call:
            data = json.dumps(MessageToDict(payload(message), preserving_proto_field_name=True))
            await response.write(f"event: {name}\ndata: {data}\n\n".encode())
    except grpc.aio.AioRpcError as error:
        await response.write(f"event: failure\ndata: {json.dumps(error.details())}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        call.cancel()
        raise
    return response


def _summary(plan: planning_pb2.RoutePlan) -> dict[str, Any]:
    return {
        "name": plan.name,
        "state": planning_pb2.RoutePlanState.Name(plan.state).removeprefix("ROUTE_PLAN_STATE_"),
        "version": plan.version,
        "create_time": plan.create_time.ToJsonString(),
    }


async def start_board(listen: str, target: str, settings: Settings) -> Board:
    """Serves the board on `listen` (`host:port`, port 0 picks one), reading from the gRPC API at `target`.

    Raises
    ------
    OSError
        The board's address cannot be bound.
    """
    gateway = _Gateway(target, settings)
    app = web.Application()
    app.add_routes(
        [
            web.get("/", gateway.page),
            web.get("/api/plans", gateway.plans),
            web.get("/api/plan", gateway.plan),
            web.get("/api/events", gateway.events),
            web.get("/api/alerts", gateway.unresolved_alerts),
            web.get("/api/alert-events", gateway.alert_events),
        ]
    )

    # A page that goes away cancels its event feed (and the gRPC call behind it).
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=2.0)
    await runner.setup()
    host, _, port = listen.rpartition(":")
    site = web.TCPSite(runner, host or "127.0.0.1", int(port))
    try:
        await site.start()
    except OSError:
        await gateway.channel.close()
        await runner.cleanup()
        raise
    bound = runner.addresses[0][1]
    return Board(url=f"http://{host or '127.0.0.1'}:{bound}/", runner=runner, channel=gateway.channel)
