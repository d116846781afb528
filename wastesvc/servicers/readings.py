"""ReadingService: unary, atomic batch and gateway streaming ingest, and listing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import grpc

from wastesvc.domain._common import decode_page_token, encode_page_token, page_size, parse_name
from wastesvc.domain.readings import reading_proto, resolve_readings
from wastesvc.errors import FieldViolation, InvalidArgument, NotFound, ServiceError
from wastesvc.servicers._base import as_single_request, in_thread, now, unary, unary_stream_errors
from wastesvc.storage import ContainerRow, ReadingInsert, ReadingRow, Storage
from wastesvc.v1 import readings_pb2, readings_pb2_grpc

__all__ = ["ReadingServicer"]

Context = grpc.aio.ServicerContext[Any, Any]


class ReadingServicer(readings_pb2_grpc.ReadingServiceServicer):
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def _ingest(
        self, requests: list[readings_pb2.CreateReadingRequest], parent: str
    ) -> tuple[list[ReadingInsert], list[ReadingRow], int]:
        inserts = resolve_readings(self.storage, requests, default_parent=parent, now=now())
        stored, duplicates = self.storage.insert_readings(inserts)
        return inserts, stored, duplicates

    @unary
    async def CreateReading(
        self, request: readings_pb2.CreateReadingRequest, context: Context
    ) -> readings_pb2.Reading:
        if not request.HasField("reading"):
            raise InvalidArgument([FieldViolation("reading", "is required")])
        single = readings_pb2.CreateReadingRequest(parent=request.parent, reading=request.reading)
        try:
            inserts, stored, _ = await in_thread(self._ingest, [single], request.parent)
        except (InvalidArgument, NotFound) as exc:
            # Field paths of a single create are relative to the request, not to a batch.
            raise as_single_request(exc) from exc
        if stored:
            return reading_proto(stored[0])
        # A re-delivery: answer with the reading already stored, as AIP-155 idempotency expects.
        key = inserts[0]
        rows = await in_thread(
            self.storage.list_readings,
            key.container_id,
            before=key.measure_time + timedelta(milliseconds=1),
            limit=1,
        )
        return reading_proto(rows[0])

    @unary
    async def BatchCreateReadings(
        self, request: readings_pb2.BatchCreateReadingsRequest, context: Context
    ) -> readings_pb2.BatchCreateReadingsResponse:
        _, stored, duplicates = await in_thread(self._ingest, list(request.requests), request.parent)
        return readings_pb2.BatchCreateReadingsResponse(
            readings=[reading_proto(r) for r in stored], duplicate_count=duplicates
        )

    @unary_stream_errors
    async def StreamReadings(
        self, request_iterator: AsyncIterator[readings_pb2.StreamReadingsRequest], context: Context
    ) -> AsyncIterator[readings_pb2.StreamReadingsResponse]:
        async for chunk in request_iterator:
            try:
                _, stored, duplicates = await in_thread(self._ingest, list(chunk.requests), "")
            except ServiceError as exc:
                exc.message = f"chunk {chunk.chunk_id!r}: {exc.message}"
                exc.metadata["chunk_id"] = chunk.chunk_id
                raise
            # The acknowledgement is sent only after the chunk's transaction committed.
            yield readings_pb2.StreamReadingsResponse(
                chunk_id=chunk.chunk_id, stored_count=len(stored), duplicate_count=duplicates
            )

    @unary
    async def ListReadings(
        self, request: readings_pb2.ListReadingsRequest, context: Context
    ) -> readings_pb2.ListReadingsResponse:
        container_id = parse_name(request.parent, "containers", "parent")
        limit = page_size(request.page_size, 100, 1000)
        context_key = {"parent": request.parent}
        before_key = decode_page_token(request.page_token, context_key)
        if await in_thread(self.storage.get, ContainerRow, container_id) is None:
            raise NotFound(request.parent, field="parent")
        before = datetime.fromisoformat(before_key) if before_key is not None else None
        rows = await in_thread(self.storage.list_readings, container_id, before=before, limit=limit + 1)
        token = (
            encode_page_token(rows[limit - 1].measure_time.isoformat(), context_key)
            if len(rows) > limit
            else ""
        )
        return readings_pb2.ListReadingsResponse(
            readings=[reading_proto(r) for r in rows[:limit]], next_page_token=token
        )
