"""DispatchService: plan life cycle, field events, re-plans, route exports and sheet ticks."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import grpc
from google.api import httpbody_pb2
from google.longrunning import operations_pb2
from grpc_status import rpc_status

from wastesvc.auth import authorize
from wastesvc.dispatch.events import apply_event, check_event
from wastesvc.dispatch.exports import CONTENT_TYPES, export_route
from wastesvc.dispatch.lifecycle import closed, overlay, parse_vehicle_route_name, published
from wastesvc.dispatch.ticks import SheetTicks, read_sheet_code, tick_events
from wastesvc.domain._common import from_timestamp, parse_name, resource_name, to_timestamp
from wastesvc.errors import FieldViolation, InvalidArgument, NotFound, PermissionDenied, ServiceError
from wastesvc.planner import Planner
from wastesvc.replanner import Replanner
from wastesvc.roads import RoadLegs
from wastesvc.servicers._base import in_thread, unary, unary_stream_errors
from wastesvc.servicers.planning import PlanningServicer
from wastesvc.storage import DispatchStore, FieldEventRow, PlanStateRow, Storage
from wastesvc.v1 import common_pb2, dispatch_pb2, dispatch_pb2_grpc, planning_pb2

__all__ = ["DispatchServicer"]

Context = grpc.aio.ServicerContext[Any, Any]
# Chunks of the streamed sheets stay well under gRPC's 4 MiB default receive limit.
CHUNK_BYTES = 1024 * 1024


def _authorize_any(tenant: str, scopes: tuple[str, ...]) -> None:
    """The caller may use one of `scopes` (a driver's token has `field`, a dispatcher's `read`)."""
    denied: ServiceError | None = None
    for scope in scopes:
        try:
            authorize(tenant, scope, commune_wide=True)
            return
        except PermissionDenied as error:
            denied = error
    assert denied is not None
    raise denied


class DispatchServicer(dispatch_pb2_grpc.DispatchServiceServicer):
    def __init__(
        self,
        storage: Storage,
        dispatch: DispatchStore,
        planning: PlanningServicer,
        planner: Planner,
        roads: RoadLegs | None = None,
    ) -> None:
        self.storage = storage
        # OSRM's road paths for the route exports, when configured.
        self.roads = roads
        self.replanner = Replanner(storage, dispatch, planner)
        self.dispatch = dispatch
        self.planning = planning
        # Events of one plan are applied one at a time: each reads the statuses the previous one wrote.
        self._locks: defaultdict[tuple[str, str], asyncio.Lock] = defaultdict(asyncio.Lock)
        # Live watchers of each plan's events (WatchFieldEvents), fed as events are stored.
        self._watchers: defaultdict[tuple[str, str], set[asyncio.Queue[dispatch_pb2.FieldEvent]]] = (
            defaultdict(set)
        )

    async def _load(
        self, name: str, field: str = "name"
    ) -> tuple[planning_pb2.RoutePlan, PlanStateRow, dict[str, Any]]:
        """The overlaid plan, its state and its visit statuses; NOT_FOUND when the plan is unknown."""
        tenant, plan_id = parse_name(name, "routePlans", field)
        row = await in_thread(self.storage.get_plan, tenant, plan_id)
        if row is None:
            raise NotFound(name, field=field)
        state = await in_thread(self.dispatch.state, tenant, plan_id)
        statuses = await in_thread(self.dispatch.statuses, tenant, plan_id)
        plan = overlay(planning_pb2.RoutePlan.FromString(row.body), state, statuses)
        return plan, state, statuses

    # Life cycle -----------------------------------------------------------------------------------

    @unary
    async def PublishRoutePlan(
        self, request: dispatch_pb2.PublishRoutePlanRequest, context: Context
    ) -> planning_pb2.RoutePlan:
        tenant, plan_id = parse_name(request.name, "routePlans")
        authorize(tenant, "plan", commune_wide=True)
        async with self._locks[(tenant, plan_id)]:
            _, state, _ = await self._load(request.name)
            rows = [published(state, request.name)]
            if state.previous_plan:
                previous = await in_thread(self.dispatch.state, tenant, state.previous_plan)
                rows.append(closed(previous, f"replaced by version {state.version}, {plan_id}"))
            await in_thread(self.dispatch.save_state, *rows)
        return (await self._load(request.name))[0]

    @unary
    async def CloseRoutePlan(
        self, request: dispatch_pb2.CloseRoutePlanRequest, context: Context
    ) -> planning_pb2.RoutePlan:
        tenant, plan_id = parse_name(request.name, "routePlans")
        authorize(tenant, "plan", commune_wide=True)
        async with self._locks[(tenant, plan_id)]:
            _, state, _ = await self._load(request.name)
            await in_thread(self.dispatch.save_state, closed(state, "closed by a dispatcher"))
        return (await self._load(request.name))[0]

    @unary
    async def GetVehicleRoute(
        self, request: dispatch_pb2.GetVehicleRouteRequest, context: Context
    ) -> planning_pb2.VehicleRoute:
        return await self._vehicle_route(request.name)

    async def _vehicle_route(self, name: str) -> planning_pb2.VehicleRoute:
        tenant, plan_id, _ = parse_vehicle_route_name(name)
        _authorize_any(tenant, ("read", "field"))
        plan, _, _ = await self._load(resource_name(tenant, "routePlans", plan_id))
        for route in plan.routes:
            if route.name == name:
                return route
        raise NotFound(name, field="name")

    # Field events ---------------------------------------------------------------------------------

    async def _record(
        self, parent: str, event: dispatch_pb2.FieldEvent, field: str
    ) -> tuple[dispatch_pb2.FieldEvent, bool]:
        """Stores one event; returns it as stored and whether it was new (False for a re-send)."""
        tenant, plan_id = parse_name(parent, "routePlans", "parent")
        authorize(tenant, "field", commune_wide=True)
        check_event(event, tenant, datetime.now(UTC), field)
        async with self._locks[(tenant, plan_id)]:
            plan, state, statuses = await self._load(parent, "parent")
            previous = await in_thread(self.dispatch.find_event, tenant, plan_id, event.event_id)
            applied = apply_event(plan, state, statuses, event, previous)
            if applied is None:
                assert previous is not None
                return _event_message(parent, previous), False
            recorded = await in_thread(self.dispatch.record, applied.event, applied.status, applied.state)
            if applied.collections:
                await in_thread(self.storage.insert_collections, applied.collections)
        stored = _event_message(parent, recorded.event)
        for queue in self._watchers[(tenant, plan_id)]:
            queue.put_nowait(stored)
        return stored, True

    @unary
    async def CreateFieldEvent(
        self, request: dispatch_pb2.CreateFieldEventRequest, context: Context
    ) -> dispatch_pb2.FieldEvent:
        event, _ = await self._record(request.parent, request.field_event, "field_event")
        return event

    async def StreamFieldEvents(
        self, request_iterator: AsyncIterator[dispatch_pb2.StreamFieldEventsRequest], context: Context
    ) -> AsyncIterator[dispatch_pb2.StreamFieldEventsResponse]:
        # Each event is stored before its acknowledgement is sent: a stream that breaks keeps every
        # acknowledged event. A bad event is acknowledged with its error; the stream goes on.
        async for request in request_iterator:
            event_id = request.field_event.event_id
            try:
                _, new = await self._record(request.parent, request.field_event, "field_event")
            except ServiceError as error:
                if isinstance(error, PermissionDenied):
                    await context.abort_with_status(rpc_status.to_status(error.to_status()))
                yield dispatch_pb2.StreamFieldEventsResponse(
                    event_id=event_id, outcome=common_pb2.ITEM_OUTCOME_REJECTED, error=error.to_status()
                )
                continue
            outcome = common_pb2.ITEM_OUTCOME_STORED if new else common_pb2.ITEM_OUTCOME_DUPLICATE
            yield dispatch_pb2.StreamFieldEventsResponse(event_id=event_id, outcome=outcome)

    @unary_stream_errors
    async def WatchFieldEvents(
        self, request: dispatch_pb2.WatchFieldEventsRequest, context: Context
    ) -> AsyncIterator[dispatch_pb2.FieldEvent]:
        tenant, plan_id = parse_name(request.parent, "routePlans", "parent")
        _authorize_any(tenant, ("read", "field"))
        await self._load(request.parent, "parent")
        queue: asyncio.Queue[dispatch_pb2.FieldEvent] = asyncio.Queue()
        # Registered before the replay, so nothing stored meanwhile is missed (a duplicate may be sent).
        self._watchers[(tenant, plan_id)].add(queue)
        try:
            for row in await in_thread(self.dispatch.events, tenant, plan_id):
                yield _event_message(request.parent, row)
            while True:
                yield await queue.get()
        finally:
            self._watchers[(tenant, plan_id)].discard(queue)

    @unary
    async def ListFieldEvents(
        self, request: dispatch_pb2.ListFieldEventsRequest, context: Context
    ) -> dispatch_pb2.ListFieldEventsResponse:
        tenant, plan_id = parse_name(request.parent, "routePlans", "parent")
        _authorize_any(tenant, ("read", "field"))
        await self._load(request.parent, "parent")
        vehicle_id = parse_name(request.vehicle, "vehicles", "vehicle")[1] if request.vehicle else None
        rows = await in_thread(self.dispatch.events, tenant, plan_id, vehicle_id)
        return dispatch_pb2.ListFieldEventsResponse(
            field_events=[_event_message(request.parent, r) for r in rows]
        )

    # Sheets ---------------------------------------------------------------------------------------

    @unary
    async def SubmitSheetTicks(
        self, request: dispatch_pb2.SubmitSheetTicksRequest, context: Context
    ) -> dispatch_pb2.SubmitSheetTicksResponse:
        code = read_sheet_code(request.sheet_code)
        tenant, _ = parse_name(code.plan, "routePlans", "sheet_code")
        authorize(tenant, "field", commune_wide=True)
        if not request.HasField("round_time"):
            raise InvalidArgument([FieldViolation("round_time", "is required")])
        plan, _, _ = await self._load(code.plan, "sheet_code")
        sheet = SheetTicks(code, list(request.ticks), from_timestamp(request.round_time))
        stored = []
        for event in tick_events(sheet, plan):
            stored.append((await self._record(code.plan, event, "ticks"))[0])
        return dispatch_pb2.SubmitSheetTicksResponse(field_events=stored)

    @unary
    async def ExportVehicleRoute(
        self, request: dispatch_pb2.ExportVehicleRouteRequest, context: Context
    ) -> httpbody_pb2.HttpBody:
        if request.format not in CONTENT_TYPES:
            raise InvalidArgument([FieldViolation("format", "must be GEOJSON, GPX or CSV")])
        route = await self._vehicle_route(request.name)
        # Asking OSRM for the road path blocks: off the event loop.
        data = await in_thread(export_route, route, request.format, self.roads)
        return httpbody_pb2.HttpBody(content_type=CONTENT_TYPES[request.format], data=data)

    @unary_stream_errors
    async def StreamRouteSheets(
        self, request: dispatch_pb2.StreamRouteSheetsRequest, context: Context
    ) -> AsyncIterator[httpbody_pb2.HttpBody]:
        sheets = await self.planning.render(request.name, request.vehicle)
        for start in range(0, len(sheets.content), CHUNK_BYTES):
            yield httpbody_pb2.HttpBody(
                content_type=sheets.content_type, data=sheets.content[start : start + CHUNK_BYTES]
            )

    @unary
    async def ReplanRoutes(
        self, request: dispatch_pb2.ReplanRoutesRequest, context: Context
    ) -> operations_pb2.Operation:
        if self.planning.monitor is not None:  # re-selects from every reading acknowledged before
            await self.planning.monitor.settled_tenant_of(request.name)
        return await self.replanner.start(request)


def _event_message(parent: str, row: FieldEventRow) -> dispatch_pb2.FieldEvent:
    event = dispatch_pb2.FieldEvent.FromString(row.body)
    event.name = f"{parent}/fieldEvents/{row.event_id}"
    event.receive_time.CopyFrom(to_timestamp(row.create_time))
    return event
