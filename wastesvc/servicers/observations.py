"""ObservationService: the generic contract for lighting, parking and city data platforms."""

from __future__ import annotations

from typing import Any

import grpc

from wastesvc.domain._common import decode_page_token, encode_page_token, page_size, parse_filter
from wastesvc.domain.observations import observation_proto, resolve_observations
from wastesvc.errors import FieldViolation, InvalidArgument, NotFound
from wastesvc.servicers._base import as_single_request, in_thread, now, unary
from wastesvc.storage import ObservationRow, Storage
from wastesvc.v1 import observations_pb2, observations_pb2_grpc

__all__ = ["ObservationServicer"]

Context = grpc.aio.ServicerContext[Any, Any]
_FILTERABLE = {f: f for f in ("source", "entity_type", "entity_id", "property")}


class ObservationServicer(observations_pb2_grpc.ObservationServiceServicer):
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def _ingest(
        self, requests: list[observations_pb2.CreateObservationRequest]
    ) -> tuple[list[ObservationRow], int]:
        rows, readings = resolve_observations(self.storage, requests, now=now())
        return self.storage.insert_observations(rows, readings)

    @unary
    async def CreateObservation(
        self, request: observations_pb2.CreateObservationRequest, context: Context
    ) -> observations_pb2.Observation:
        if not request.HasField("observation"):
            raise InvalidArgument([FieldViolation("observation", "is required")])
        try:
            stored, _ = await in_thread(self._ingest, [request])
        except (InvalidArgument, NotFound) as exc:
            # Field paths of a single create are relative to the request, not to a batch.
            raise as_single_request(exc) from exc
        if stored:
            return observation_proto(stored[0])
        # Re-delivery of the same observation: echo it without a name, as it was not stored again.
        return request.observation

    @unary
    async def BatchCreateObservations(
        self, request: observations_pb2.BatchCreateObservationsRequest, context: Context
    ) -> observations_pb2.BatchCreateObservationsResponse:
        stored, duplicates = await in_thread(self._ingest, list(request.requests))
        return observations_pb2.BatchCreateObservationsResponse(
            observations=[observation_proto(r) for r in stored], duplicate_count=duplicates
        )

    @unary
    async def ListObservations(
        self, request: observations_pb2.ListObservationsRequest, context: Context
    ) -> observations_pb2.ListObservationsResponse:
        where = parse_filter(request.filter, _FILTERABLE)
        limit = page_size(request.page_size, 100, 1000)
        before = decode_page_token(request.page_token, where)
        rows = await in_thread(self.storage.list_observations, before_id=before, limit=limit + 1, where=where)
        token = encode_page_token(rows[limit - 1].id, where) if len(rows) > limit else ""
        return observations_pb2.ListObservationsResponse(
            observations=[observation_proto(r) for r in rows[:limit]], next_page_token=token
        )
