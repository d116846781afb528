"""google.longrunning.Operations for planning operations (AIP-151)."""

from __future__ import annotations

from typing import Any

import grpc
from google.longrunning import operations_pb2, operations_pb2_grpc
from google.protobuf import empty_pb2

from wastesvc.auth import authorize, authorize_read
from wastesvc.domain._common import parse_name, parse_tenant
from wastesvc.errors import NotFound
from wastesvc.planner import Planner
from wastesvc.servicers._base import in_thread, newest_first_page, unary
from wastesvc.storage import Storage

__all__ = ["OperationsServicer"]

Context = grpc.aio.ServicerContext[Any, Any]
_MAX_WAIT_S = 600.0
_REPLY_MARGIN_S = 0.25


class OperationsServicer(operations_pb2_grpc.OperationsServicer):
    def __init__(self, storage: Storage, planner: Planner) -> None:
        self.storage = storage
        self.planner = planner

    async def _get(self, name: str) -> operations_pb2.Operation:
        tenant, operation_id = parse_name(name, "operations")
        authorize_read(tenant, commune_wide=True)
        row = await in_thread(self.storage.get_operation, operation_id)
        if row is None or row.tenant != tenant:
            raise NotFound(name, field="name")
        return operations_pb2.Operation.FromString(row.body)

    @unary
    async def GetOperation(
        self, request: operations_pb2.GetOperationRequest, context: Context
    ) -> operations_pb2.Operation:
        return await self._get(request.name)

    @unary
    async def ListOperations(
        self, request: operations_pb2.ListOperationsRequest, context: Context
    ) -> operations_pb2.ListOperationsResponse:
        # `name` is the collection's parent (google.longrunning): `tenants/{tenant}`.
        authorize_read(parse_tenant(request.name, "name"), commune_wide=True)
        rows, token = await newest_first_page(
            self.storage.list_operations,
            request.name,
            request.page_size,
            request.page_token,
            default=50,
            maximum=500,
            field="name",
        )
        return operations_pb2.ListOperationsResponse(
            operations=[operations_pb2.Operation.FromString(r.body) for r in rows],
            next_page_token=token,
        )

    @unary
    async def CancelOperation(
        self, request: operations_pb2.CancelOperationRequest, context: Context
    ) -> empty_pb2.Empty:
        operation = await self._get(request.name)
        authorize(parse_name(request.name, "operations")[0], "plan", commune_wide=True)
        if not operation.done:
            self.planner.cancel(parse_name(request.name, "operations")[1])
        return empty_pb2.Empty()

    @unary
    async def WaitOperation(
        self, request: operations_pb2.WaitOperationRequest, context: Context
    ) -> operations_pb2.Operation:
        await self._get(request.name)
        timeout = (
            request.timeout.ToTimedelta().total_seconds() if request.HasField("timeout") else _MAX_WAIT_S
        )
        limit = min(timeout, _MAX_WAIT_S)
        remaining = context.time_remaining()
        if remaining is not None:
            # Answer with the latest state just before the caller's deadline instead of letting it expire.
            limit = min(limit, max(0.0, remaining - _REPLY_MARGIN_S))
        await self.planner.wait(parse_name(request.name, "operations")[1], limit)
        return await self._get(request.name)
