"""PlanningService: OptimizeRoutes (long-running), route plans, route sheets."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import grpc
from google.longrunning import operations_pb2

from wastesvc.auth import authorize_read
from wastesvc.dispatch.lifecycle import STATES, overlay
from wastesvc.domain._common import (
    decode_page_token,
    encode_page_token,
    page_size,
    parse_name,
    parse_tenant,
    resource_name,
)
from wastesvc.domain.resources import container_proto, depot_proto, facility_proto, vehicle_proto
from wastesvc.errors import FieldViolation, InvalidArgument, NotFound
from wastesvc.monitor import Monitor
from wastesvc.planner import Planner
from wastesvc.roads import RoadLegs
from wastesvc.servicers._base import in_thread, unary
from wastesvc.sheets import render_route_sheets
from wastesvc.storage import ContainerRow, DepotRow, DispatchStore, FacilityRow, PlanRow, Storage, VehicleRow
from wastesvc.v1 import planning_pb2, planning_pb2_grpc

__all__ = ["PlanningServicer"]

Context = grpc.aio.ServicerContext[Any, Any]


class PlanningServicer(planning_pb2_grpc.PlanningServiceServicer):
    def __init__(
        self,
        storage: Storage,
        planner: Planner,
        dispatch: DispatchStore,
        roads: RoadLegs | None = None,
        monitor: Monitor | None = None,
    ) -> None:
        self.storage = storage
        self.monitor = monitor
        # OSRM's road paths for the sheets' maps, when configured.
        self.roads = roads
        self.planner = planner
        self.dispatch = dispatch

    @unary
    async def OptimizeRoutes(
        self, request: planning_pb2.OptimizeRoutesRequest, context: Context
    ) -> operations_pb2.Operation:
        # Validation and recording are quick; the solve itself runs in the planner's task and process.
        if self.monitor is not None:  # the plan selects from every reading acknowledged before the call
            await self.monitor.settled_tenant_of(request.parent)
        return await self.planner.start(request)

    async def _plan(self, name: str) -> planning_pb2.RoutePlan:
        tenant, plan_id = parse_name(name, "routePlans")
        authorize_read(tenant, commune_wide=True)
        row = await in_thread(self.storage.get_plan, tenant, plan_id)
        if row is None:
            raise NotFound(name, field="name")
        return await self._overlaid(row)

    async def _overlaid(self, row: PlanRow) -> planning_pb2.RoutePlan:
        """The stored plan with its life-cycle state and visit statuses."""
        state = await in_thread(self.dispatch.state, row.tenant, row.id)
        statuses = await in_thread(self.dispatch.statuses, row.tenant, row.id)
        return overlay(planning_pb2.RoutePlan.FromString(row.body), state, statuses)

    @unary
    async def GetRoutePlan(
        self, request: planning_pb2.GetRoutePlanRequest, context: Context
    ) -> planning_pb2.RoutePlan:
        return await self._plan(request.name)

    @unary
    async def ListRoutePlans(
        self, request: planning_pb2.ListRoutePlansRequest, context: Context
    ) -> planning_pb2.ListRoutePlansResponse:
        tenant = parse_tenant(request.parent)
        authorize_read(tenant, commune_wide=True)
        filters = _plan_filters(request)
        limit = page_size(request.page_size, 20, 100)
        query = {"parent": request.parent, **{k: str(v) for k, v in filters.items()}}
        key = decode_page_token(request.page_token, query)
        before = (datetime.fromisoformat(key[0]), key[1]) if key else None
        rows = await in_thread(self.dispatch.list_plans, tenant, before=before, limit=limit + 1, **filters)
        token = ""
        if len(rows) > limit:
            rows = rows[:limit]
            token = encode_page_token([rows[-1].create_time.isoformat(), rows[-1].id], query)
        return planning_pb2.ListRoutePlansResponse(
            route_plans=[await self._overlaid(r) for r in rows], next_page_token=token
        )

    @unary
    async def RenderRouteSheets(
        self, request: planning_pb2.RenderRouteSheetsRequest, context: Context
    ) -> planning_pb2.RouteSheets:
        return await self.render(request.name, request.vehicle)

    async def render(self, name: str, vehicle: str) -> planning_pb2.RouteSheets:
        """The sheets of plan `name` (one vehicle's when `vehicle` is set), unary or streamed."""
        request = planning_pb2.RenderRouteSheetsRequest(name=name, vehicle=vehicle)
        plan = await self._plan(request.name)
        tenant, _ = parse_name(request.name, "routePlans")
        if request.vehicle:
            parse_name(request.vehicle, "vehicles", "vehicle")
            if all(r.vehicle != request.vehicle for r in plan.routes):
                raise NotFound(f"{request.vehicle} in {request.name}", field="vehicle")
        container_ids = sorted({_id(c) for r in plan.routes for v in r.visits for c in v.containers})
        containers = await in_thread(self.storage.get_many, ContainerRow, tenant, container_ids)
        latest = await in_thread(self.storage.latest_readings, tenant, container_ids)
        vehicles = await in_thread(
            self.storage.get_many, VehicleRow, tenant, [_id(r.vehicle) for r in plan.routes]
        )
        sites = {v.site for r in plan.routes for v in r.visits if v.site}
        depots = await in_thread(
            self.storage.get_many, DepotRow, tenant, [_id(s) for s in sites if "/depots/" in s]
        )
        facilities = await in_thread(
            self.storage.get_many, FacilityRow, tenant, [_id(s) for s in sites if "/facilities/" in s]
        )
        rendered = await in_thread(
            render_route_sheets,
            plan,
            containers={
                resource_name(tenant, "containers", k): container_proto(v, latest.get(k))
                for k, v in containers.items()
            },
            vehicles={resource_name(tenant, "vehicles", k): vehicle_proto(v) for k, v in vehicles.items()},
            depots={resource_name(tenant, "depots", k): depot_proto(v) for k, v in depots.items()},
            facilities={
                resource_name(tenant, "facilities", k): facility_proto(v) for k, v in facilities.items()
            },
            vehicle=request.vehicle or None,
            tz=self.planner.timezone,
            roads=self.roads,
        )
        return planning_pb2.RouteSheets(
            content_type="application/pdf", content=rendered.pdf, page_count=rendered.page_count
        )


def _plan_filters(request: planning_pb2.ListRoutePlansRequest) -> dict[str, Any]:
    """The service date and state a listing asks for, as DispatchStore.list_plans arguments."""
    filters: dict[str, Any] = {}
    if request.HasField("service_date"):
        d = request.service_date
        try:
            filters["service_date"] = date(d.year, d.month, d.day)
        except ValueError:
            raise InvalidArgument([FieldViolation("service_date", "must be a full calendar date")]) from None
    if request.state:
        names = {number: name for name, number in STATES.items()}
        if request.state not in names:
            raise InvalidArgument([FieldViolation("state", "must be a known RoutePlanState")])
        filters["state"] = names[request.state]
    return filters


def _id(name: str) -> str:
    """The last segment of a resource name."""
    return name.rsplit("/", 1)[-1]
