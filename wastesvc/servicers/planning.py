"""PlanningService: OptimizeRoutes (long-running), route plans, route sheets."""

from __future__ import annotations

from typing import Any

import grpc
from google.longrunning import operations_pb2

from wastesvc.auth import authorize_read
from wastesvc.domain._common import parse_name, parse_tenant, resource_name
from wastesvc.domain.resources import container_proto, depot_proto, facility_proto, vehicle_proto
from wastesvc.errors import NotFound
from wastesvc.planner import Planner
from wastesvc.servicers._base import in_thread, newest_first_page, unary
from wastesvc.sheets import render_route_sheets
from wastesvc.storage import ContainerRow, DepotRow, FacilityRow, Storage, VehicleRow
from wastesvc.v1 import planning_pb2, planning_pb2_grpc

__all__ = ["PlanningServicer"]

Context = grpc.aio.ServicerContext[Any, Any]


class PlanningServicer(planning_pb2_grpc.PlanningServiceServicer):
    def __init__(self, storage: Storage, planner: Planner) -> None:
        self.storage = storage
        self.planner = planner

    @unary
    async def OptimizeRoutes(
        self, request: planning_pb2.OptimizeRoutesRequest, context: Context
    ) -> operations_pb2.Operation:
        # Validation and recording are quick; the solve itself runs in the planner's task and process.
        return await self.planner.start(request)

    async def _plan(self, name: str) -> planning_pb2.RoutePlan:
        tenant, plan_id = parse_name(name, "routePlans")
        authorize_read(tenant, commune_wide=True)
        row = await in_thread(self.storage.get_plan, tenant, plan_id)
        if row is None:
            raise NotFound(name, field="name")
        return planning_pb2.RoutePlan.FromString(row.body)

    @unary
    async def GetRoutePlan(
        self, request: planning_pb2.GetRoutePlanRequest, context: Context
    ) -> planning_pb2.RoutePlan:
        return await self._plan(request.name)

    @unary
    async def ListRoutePlans(
        self, request: planning_pb2.ListRoutePlansRequest, context: Context
    ) -> planning_pb2.ListRoutePlansResponse:
        authorize_read(parse_tenant(request.parent), commune_wide=True)
        rows, token = await newest_first_page(
            self.storage.list_plans,
            request.parent,
            request.page_size,
            request.page_token,
            default=20,
            maximum=100,
        )
        return planning_pb2.ListRoutePlansResponse(
            route_plans=[planning_pb2.RoutePlan.FromString(r.body) for r in rows],
            next_page_token=token,
        )

    @unary
    async def RenderRouteSheets(
        self, request: planning_pb2.RenderRouteSheetsRequest, context: Context
    ) -> planning_pb2.RouteSheets:
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
        )
        return planning_pb2.RouteSheets(
            content_type="application/pdf", content=rendered.pdf, page_count=rendered.page_count
        )


def _id(name: str) -> str:
    """The last segment of a resource name."""
    return name.rsplit("/", 1)[-1]
