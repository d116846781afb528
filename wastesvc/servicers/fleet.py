"""FleetService: depots, disposal facilities and vehicles."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import empty_pb2
from google.protobuf.message import Message

from wastesvc.domain._common import parse_name
from wastesvc.domain.resources import DEPOTS, FACILITIES, VEHICLES, depot_proto, facility_proto, vehicle_proto
from wastesvc.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from wastesvc.servicers._base import Crud, in_thread, unary
from wastesvc.storage import DepotRow, Storage, VehicleRow
from wastesvc.v1 import fleet_pb2, fleet_pb2_grpc

__all__ = ["FleetServicer"]

Context = grpc.aio.ServicerContext[Any, Any]


class _VehicleCrud(Crud):
    async def check_references(self, resource: Message, prefix: str) -> None:
        assert isinstance(resource, fleet_pb2.Vehicle)
        tenant, _ = parse_name(resource.name, "vehicles", f"{prefix}.name")
        depot_tenant, depot_id = parse_name(resource.home_depot, "depots", f"{prefix}.home_depot")
        if depot_tenant != tenant:
            raise InvalidArgument(
                [FieldViolation(f"{prefix}.home_depot", f"must be a depot of tenants/{tenant}")]
            )
        if await in_thread(self.storage.get, DepotRow, tenant, depot_id) is None:
            raise NotFound(resource.home_depot, field=f"{prefix}.home_depot")


def _required(request: Message, field: str) -> None:
    if not request.HasField(field):
        raise InvalidArgument([FieldViolation(field, "is required")])


class FleetServicer(fleet_pb2_grpc.FleetServiceServicer):
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.depots = Crud(storage, DEPOTS)
        self.facilities = Crud(storage, FACILITIES)
        self.vehicles = _VehicleCrud(storage, VEHICLES)

    # Depots

    @unary
    async def CreateDepot(self, request: fleet_pb2.CreateDepotRequest, context: Context) -> fleet_pb2.Depot:
        _required(request, "depot")
        return depot_proto(await self.depots.create(request.parent, request.depot, request.depot_id))

    @unary
    async def GetDepot(self, request: fleet_pb2.GetDepotRequest, context: Context) -> fleet_pb2.Depot:
        return depot_proto(await self.depots.get_row(request.name))

    @unary
    async def ListDepots(
        self, request: fleet_pb2.ListDepotsRequest, context: Context
    ) -> fleet_pb2.ListDepotsResponse:
        rows, token = await self.depots.list(request.parent, request.page_size, request.page_token)
        return fleet_pb2.ListDepotsResponse(depots=[depot_proto(r) for r in rows], next_page_token=token)

    @unary
    async def UpdateDepot(self, request: fleet_pb2.UpdateDepotRequest, context: Context) -> fleet_pb2.Depot:
        return depot_proto(await self.depots.update(request.depot, request.update_mask))

    @unary
    async def DeleteDepot(self, request: fleet_pb2.DeleteDepotRequest, context: Context) -> empty_pb2.Empty:
        tenant, depot_id = parse_name(request.name, "depots")
        based = await in_thread(self.storage.count, VehicleRow, tenant, {"home_depot": depot_id})
        if based:
            raise FailedPrecondition(
                f"{request.name} is the home depot of {based} vehicle(s); move them first",
                reason="DEPOT_IN_USE",
                metadata={"resource": request.name},
            )
        return await self.depots.delete(request.name, request.etag)

    # Facilities

    @unary
    async def CreateFacility(
        self, request: fleet_pb2.CreateFacilityRequest, context: Context
    ) -> fleet_pb2.Facility:
        _required(request, "facility")
        return facility_proto(
            await self.facilities.create(request.parent, request.facility, request.facility_id)
        )

    @unary
    async def GetFacility(
        self, request: fleet_pb2.GetFacilityRequest, context: Context
    ) -> fleet_pb2.Facility:
        return facility_proto(await self.facilities.get_row(request.name))

    @unary
    async def ListFacilities(
        self, request: fleet_pb2.ListFacilitiesRequest, context: Context
    ) -> fleet_pb2.ListFacilitiesResponse:
        rows, token = await self.facilities.list(request.parent, request.page_size, request.page_token)
        return fleet_pb2.ListFacilitiesResponse(
            facilities=[facility_proto(r) for r in rows], next_page_token=token
        )

    @unary
    async def UpdateFacility(
        self, request: fleet_pb2.UpdateFacilityRequest, context: Context
    ) -> fleet_pb2.Facility:
        return facility_proto(await self.facilities.update(request.facility, request.update_mask))

    @unary
    async def DeleteFacility(
        self, request: fleet_pb2.DeleteFacilityRequest, context: Context
    ) -> empty_pb2.Empty:
        return await self.facilities.delete(request.name, request.etag)

    # Vehicles

    @unary
    async def CreateVehicle(
        self, request: fleet_pb2.CreateVehicleRequest, context: Context
    ) -> fleet_pb2.Vehicle:
        _required(request, "vehicle")
        return vehicle_proto(await self.vehicles.create(request.parent, request.vehicle, request.vehicle_id))

    @unary
    async def GetVehicle(self, request: fleet_pb2.GetVehicleRequest, context: Context) -> fleet_pb2.Vehicle:
        return vehicle_proto(await self.vehicles.get_row(request.name))

    @unary
    async def ListVehicles(
        self, request: fleet_pb2.ListVehiclesRequest, context: Context
    ) -> fleet_pb2.ListVehiclesResponse:
        rows, token = await self.vehicles.list(request.parent, request.page_size, request.page_token)
        return fleet_pb2.ListVehiclesResponse(
            vehicles=[vehicle_proto(r) for r in rows], next_page_token=token
        )

    @unary
    async def UpdateVehicle(
        self, request: fleet_pb2.UpdateVehicleRequest, context: Context
    ) -> fleet_pb2.Vehicle:
        return vehicle_proto(await self.vehicles.update(request.vehicle, request.update_mask))

    @unary
    async def DeleteVehicle(
        self, request: fleet_pb2.DeleteVehicleRequest, context: Context
    ) -> empty_pb2.Empty:
        return await self.vehicles.delete(request.name, request.etag)
