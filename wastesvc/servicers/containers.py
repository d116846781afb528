"""ContainerService."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import grpc
from google.protobuf import empty_pb2
from google.protobuf.message import Message

from wastesvc.auth import authorize_read
from wastesvc.domain._common import (
    STREAM_KEYS,
    decode_page_token,
    encode_page_token,
    filter_time,
    page_size,
    parse_filter,
    parse_name,
    parse_tenant,
)
from wastesvc.domain.collections import collection_filter, collection_proto
from wastesvc.domain.forecasts import forecast_message
from wastesvc.domain.resources import CONTAINERS, container_proto
from wastesvc.errors import FieldViolation, InvalidArgument, SensorInUse
from wastesvc.monitor import Monitor
from wastesvc.servicers._base import Crud, in_thread, now, unary
from wastesvc.storage import FULL_BEFORE, ContainerRow, Storage
from wastesvc.v1 import common_pb2, containers_pb2, containers_pb2_grpc

__all__ = ["ContainerServicer"]

Context = grpc.aio.ServicerContext[Any, Any]
_FILTERABLE = {
    "commune_code": "commune_code",
    "stream": "stream",
    "isle": "isle",
    "sensor_id": "sensor_id",
    FULL_BEFORE: FULL_BEFORE,
}


def _stream_filter_value(raw: str) -> str:
    """Accepts GLASS, WASTE_STREAM_GLASS or glass."""
    name = raw.upper()
    if not name.startswith("WASTE_STREAM_"):
        name = f"WASTE_STREAM_{name}"
    number = dict(common_pb2.WasteStream.items()).get(name, common_pb2.WASTE_STREAM_UNSPECIFIED)
    if number not in STREAM_KEYS:
        raise InvalidArgument([FieldViolation("filter", f"unknown stream {raw!r}")])
    return STREAM_KEYS[number]


class _ContainerCrud(Crud):
    async def check_references(self, resource: Message, prefix: str) -> None:
        # sensor_id is unique: say which container holds it rather than failing on the constraint.
        assert isinstance(resource, containers_pb2.Container)
        if not resource.sensor_id:
            return
        tenant, _ = parse_name(resource.name, "containers", f"{prefix}.name")
        holders = await in_thread(self.storage.container_ids_by_sensor, tenant, [resource.sensor_id])
        holder = holders.get(resource.sensor_id)
        if holder is not None and self.name(tenant, holder) != resource.name:
            raise SensorInUse(resource.sensor_id, self.name(tenant, holder), f"{prefix}.sensor_id")


class ContainerServicer(containers_pb2_grpc.ContainerServiceServicer):
    def __init__(self, storage: Storage, monitor: Monitor | None = None) -> None:
        self.storage = storage
        self.crud = _ContainerCrud(storage, CONTAINERS)
        self.monitor = monitor

    async def _with_latest(self, rows: list[ContainerRow]) -> list[containers_pb2.Container]:
        if not rows:
            return []
        tenant, ids = rows[0].tenant, [r.id for r in rows]
        # The forecast and last emptying shown follow every reading acknowledged before the call.
        if self.monitor is not None and await self.monitor.settled(tenant, ids):
            fresh = await in_thread(self.storage.get_many, ContainerRow, tenant, ids)
            rows = [fresh.get(r.id, r) for r in rows]
        latest = await in_thread(self.storage.latest_readings, tenant, ids)
        forecasts = await in_thread(self.storage.get_forecasts, tenant, ids)
        result = [container_proto(r, latest.get(r.id)) for r in rows]
        asked = now()
        for message, row in zip(result, rows, strict=True):
            if row.id in forecasts:
                message.forecast.CopyFrom(forecast_message(forecasts[row.id], asked))
        return result

    @unary
    async def GetContainer(
        self, request: containers_pb2.GetContainerRequest, context: Context
    ) -> containers_pb2.Container:
        row = await self.crud.get_row(request.name)
        return (await self._with_latest([row]))[0]

    @unary
    async def ListContainers(
        self, request: containers_pb2.ListContainersRequest, context: Context
    ) -> containers_pb2.ListContainersResponse:
        where: dict[str, Any] = dict(parse_filter(request.filter, _FILTERABLE))
        if "stream" in where:
            where["stream"] = _stream_filter_value(where["stream"])
        if FULL_BEFORE in where:
            where[FULL_BEFORE] = filter_time(where[FULL_BEFORE], FULL_BEFORE).isoformat()
            if self.monitor is not None:  # the filter reads the stored forecasts
                await self.monitor.settled_tenant_of(request.parent)
        rows, token = await self.crud.list(request.parent, request.page_size, request.page_token, where)
        scoped = self.crud.scoped(where)
        total = await in_thread(self.storage.count, ContainerRow, parse_tenant(request.parent), scoped)
        return containers_pb2.ListContainersResponse(
            containers=await self._with_latest(rows), next_page_token=token, total_size=total
        )

    @unary
    async def ListCollections(
        self, request: containers_pb2.ListCollectionsRequest, context: Context
    ) -> containers_pb2.ListCollectionsResponse:
        tenant, container_id = await self._collections_parent(request.parent)
        where = collection_filter(request.filter)
        limit = page_size(request.page_size, 100, 1000)
        query = {"parent": request.parent, "filter": request.filter}
        last = decode_page_token(request.page_token, query)
        before = None if last is None else (datetime.fromisoformat(last[0]), int(last[1]))
        if self.monitor is not None:  # sensor emptyings of every reading acknowledged before the call
            await self.monitor.settled(tenant, None if container_id is None else [container_id])
        rows = await in_thread(
            self.storage.list_collections_page,
            tenant,
            container_id,
            where=where,
            before=before,
            limit=limit + 1,
        )
        token = ""
        if len(rows) > limit:
            token = encode_page_token([rows[limit - 1].collect_time.isoformat(), rows[limit - 1].id], query)
        return containers_pb2.ListCollectionsResponse(
            collections=[collection_proto(r) for r in rows[:limit]], next_page_token=token
        )

    async def _collections_parent(self, parent: str) -> tuple[str, str | None]:
        """(tenant, container id) of ListCollections' parent; None for `tenants/{tenant}/containers/-`."""
        if parent.endswith("/containers/-"):
            tenant = parse_tenant(parent.removesuffix("/containers/-"))
            authorize_read(tenant)
            return tenant, None
        row = await self.crud.get_row(parent, "parent")
        return row.tenant, row.id

    @unary
    async def CreateContainer(
        self, request: containers_pb2.CreateContainerRequest, context: Context
    ) -> containers_pb2.Container:
        if not request.HasField("container"):
            raise InvalidArgument([FieldViolation("container", "is required")])
        return container_proto(
            await self.crud.create(request.parent, request.container, request.container_id)
        )

    @unary
    async def UpdateContainer(
        self, request: containers_pb2.UpdateContainerRequest, context: Context
    ) -> containers_pb2.Container:
        row = await self.crud.update(request.container, request.update_mask)
        return (await self._with_latest([row]))[0]

    @unary
    async def DeleteContainer(
        self, request: containers_pb2.DeleteContainerRequest, context: Context
    ) -> empty_pb2.Empty:
        return await self.crud.delete(request.name, request.etag)
