"""IncidentService: reports of citizens and agents about containers."""

from __future__ import annotations

from typing import Any

import grpc

from wastesvc.auth import authorize_read, authorize_write
from wastesvc.domain._common import decode_page_token, encode_page_token, page_size, parse_name, parse_tenant
from wastesvc.domain.incidents import incident_filter, incident_proto, incident_row, same_report
from wastesvc.errors import FieldViolation, InvalidArgument, NotFound
from wastesvc.servicers._base import in_thread, now, unary
from wastesvc.storage import ContainerRow, IncidentRow, Storage
from wastesvc.v1 import incidents_pb2, incidents_pb2_grpc

__all__ = ["IncidentServicer"]

Context = grpc.aio.ServicerContext[Any, Any]


class IncidentServicer(incidents_pb2_grpc.IncidentServiceServicer):
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    async def _row(self, name: str, *, write: bool = False) -> IncidentRow:
        tenant, incident_id = parse_name(name, "incidents")
        (authorize_write if write else authorize_read)(tenant)
        row = (
            await in_thread(self.storage.get_incident, tenant, int(incident_id))
            if incident_id.isdigit()
            else None
        )
        if row is None:
            raise NotFound(name, field="name")
        return row

    @unary
    async def CreateIncident(
        self, request: incidents_pb2.CreateIncidentRequest, context: Context
    ) -> incidents_pb2.Incident:
        tenant = parse_tenant(request.parent)
        authorize_write(tenant)
        if not request.HasField("incident"):
            raise InvalidArgument([FieldViolation("incident", "is required")])
        row = incident_row(request, tenant, now())
        if await in_thread(self.storage.get, ContainerRow, tenant, row.container_id) is None:
            raise NotFound(request.incident.container, field="incident.container")
        stored, created = await in_thread(self.storage.create_incident, row)
        if not created and not same_report(stored, row):
            raise InvalidArgument(
                [FieldViolation("request_id", "was already used for a different incident")],
                reason="REQUEST_ID_REUSED",
            )
        return incident_proto(stored)

    @unary
    async def GetIncident(
        self, request: incidents_pb2.GetIncidentRequest, context: Context
    ) -> incidents_pb2.Incident:
        return incident_proto(await self._row(request.name))

    @unary
    async def ListIncidents(
        self, request: incidents_pb2.ListIncidentsRequest, context: Context
    ) -> incidents_pb2.ListIncidentsResponse:
        tenant = parse_tenant(request.parent)
        authorize_read(tenant)
        where = incident_filter(request.filter, tenant)
        limit = page_size(request.page_size, 100, 1000)
        query = {"parent": request.parent, **where}
        before = decode_page_token(request.page_token, query)
        rows = await in_thread(
            self.storage.list_incidents, tenant, before_id=before, limit=limit + 1, where=where
        )
        token = encode_page_token(rows[limit - 1].id, query) if len(rows) > limit else ""
        return incidents_pb2.ListIncidentsResponse(
            incidents=[incident_proto(r) for r in rows[:limit]], next_page_token=token
        )

    @unary
    async def ResolveIncident(
        self, request: incidents_pb2.ResolveIncidentRequest, context: Context
    ) -> incidents_pb2.Incident:
        row = await self._row(request.name, write=True)
        if row.state != "resolved":
            row.state, row.resolve_time = "resolved", now()
            row = await in_thread(self.storage.save_incident, row)
        return incident_proto(row)
