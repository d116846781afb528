"""ObservationService: the generic contract for lighting, parking and city data platforms."""

from __future__ import annotations

from typing import Any

import grpc

from wastesvc.auth import authorize_ingest, authorize_read
from wastesvc.domain._common import (
    decode_page_token,
    encode_page_token,
    page_size,
    parse_filter,
    parse_tenant,
)
from wastesvc.domain.observations import ResolvedObservation, observation_proto, resolve_observations
from wastesvc.errors import FieldViolation, InvalidArgument, ServiceError
from wastesvc.monitor import Monitor
from wastesvc.servicers._base import as_single_request, in_thread, now, outcome_counts, unary
from wastesvc.storage import ObservationRow, ReadingInsert, Storage
from wastesvc.v1 import common_pb2, observations_pb2, observations_pb2_grpc

__all__ = ["ObservationServicer"]

Context = grpc.aio.ServicerContext[Any, Any]

_FILTERABLE = {f: f for f in ("source", "entity_type", "entity_id", "property")}

Outcome = ObservationRow | ServiceError | None  # stored, refused, or stored before


class ObservationServicer(observations_pb2_grpc.ObservationServiceServicer):
    def __init__(self, storage: Storage, monitor: Monitor | None = None) -> None:
        self.storage = storage
        self.monitor = monitor

    def _ingest(
        self, tenant: str, requests: list[observations_pb2.CreateObservationRequest]
    ) -> tuple[list[Outcome], list[ReadingInsert]]:
        """Per request: the stored row, the reason it was refused, or None when stored before; and the
        container readings of the observations newly stored."""
        items = resolve_observations(self.storage, tenant, requests, now=now())
        accepted = [item for item in items if isinstance(item, ResolvedObservation)]
        rows = self.storage.insert_observations(
            [item.row for item in accepted], [item.reading for item in accepted if item.reading]
        )
        new_readings = [
            item.reading for item, row in zip(accepted, rows, strict=True) if row is not None and item.reading
        ]
        stored = iter(rows)
        return [item if isinstance(item, ServiceError) else next(stored) for item in items], new_readings

    async def _ingested(
        self, tenant: str, requests: list[observations_pb2.CreateObservationRequest]
    ) -> list[Outcome]:
        """Stores the observations; the monitor assesses the containers whose fill they gave after the
        answer."""
        outcomes, readings = await in_thread(self._ingest, tenant, requests)
        if self.monitor is not None and readings:
            self.monitor.readings_stored()
        return outcomes

    @unary
    async def CreateObservation(
        self, request: observations_pb2.CreateObservationRequest, context: Context
    ) -> observations_pb2.Observation:
        tenant = parse_tenant(request.parent)
        authorize_ingest(tenant)
        if not request.HasField("observation"):
            raise InvalidArgument([FieldViolation("observation", "is required")])
        single = observations_pb2.CreateObservationRequest(observation=request.observation)
        outcome = (await self._ingested(tenant, [single]))[0]
        if isinstance(outcome, ServiceError):
            raise as_single_request(outcome)
        if outcome is not None:
            return observation_proto(outcome)
        # Re-delivery of the same observation: echo it without a name, as it was not stored again.
        return request.observation

    @unary
    async def BatchCreateObservations(
        self, request: observations_pb2.BatchCreateObservationsRequest, context: Context
    ) -> observations_pb2.BatchCreateObservationsResponse:
        tenant = parse_tenant(request.parent)
        authorize_ingest(tenant)
        outcomes = await self._ingested(tenant, list(request.requests))
        results = [_result(outcome) for outcome in outcomes]
        return observations_pb2.BatchCreateObservationsResponse(results=results, **outcome_counts(results))

    @unary
    async def ListObservations(
        self, request: observations_pb2.ListObservationsRequest, context: Context
    ) -> observations_pb2.ListObservationsResponse:
        tenant = parse_tenant(request.parent)
        authorize_read(tenant)
        where = parse_filter(request.filter, _FILTERABLE)
        limit = page_size(request.page_size, 100, 1000)
        query = {"parent": request.parent, **where}
        before = decode_page_token(request.page_token, query)
        rows = await in_thread(
            self.storage.list_observations, tenant, before_id=before, limit=limit + 1, where=where
        )
        token = encode_page_token(rows[limit - 1].id, query) if len(rows) > limit else ""
        return observations_pb2.ListObservationsResponse(
            observations=[observation_proto(r) for r in rows[:limit]], next_page_token=token
        )


def _result(outcome: Outcome) -> common_pb2.ItemResult:
    if isinstance(outcome, ServiceError):
        return common_pb2.ItemResult(outcome=common_pb2.ITEM_OUTCOME_REJECTED, error=outcome.to_status())
    if outcome is None:
        return common_pb2.ItemResult(outcome=common_pb2.ITEM_OUTCOME_DUPLICATE)
    return common_pb2.ItemResult(outcome=common_pb2.ITEM_OUTCOME_STORED, name=observation_proto(outcome).name)
