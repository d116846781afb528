"""ReadingService: unary, atomic batch and gateway streaming ingest, and listing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import grpc

from wastesvc.auth import authorize_read, denied_ingest
from wastesvc.domain._common import (
    decode_page_token,
    encode_page_token,
    page_size,
    parse_filter,
    parse_tenant,
    resource_name,
)
from wastesvc.domain.readings import (
    MAX_BATCH,
    reading_name,
    reading_proto,
    resolve_readings,
    stored_reading_proto,
)
from wastesvc.domain.resources import CONTAINERS
from wastesvc.errors import AlreadyExists, FieldViolation, InvalidArgument, NotFound, ServiceError
from wastesvc.monitor import Monitor
from wastesvc.servicers._base import (
    Crud,
    as_single_request,
    in_thread,
    now,
    unary,
    unary_stream_errors,
)
from wastesvc.servicers._coalesce import Coalescer
from wastesvc.storage import InsertOutcome, ReadingInsert, Storage
from wastesvc.v1 import common_pb2, readings_pb2, readings_pb2_grpc

__all__ = ["ReadingServicer"]

Context = grpc.aio.ServicerContext[Any, Any]


def _conflict(name: str) -> AlreadyExists:
    return AlreadyExists(
        name,
        message=f"{name} was stored before with other values; a reading is never overwritten",
        reason="READING_CONFLICT",
    )


# What became of one reading: resolved (or why not), its storage outcome, and the create_time stored.
_Resolved = tuple[ReadingInsert | ServiceError, InsertOutcome | None, datetime]


def _tenant_of(parent: str) -> str | None:
    """The tenant of `tenants/{tenant}/…`, or None for a malformed parent (refused when resolved)."""
    parts = parent.split("/")
    return parts[1] if len(parts) >= 2 and parts[0] == "tenants" else None


class ReadingServicer(readings_pb2_grpc.ReadingServiceServicer):
    def __init__(self, storage: Storage, monitor: Monitor | None = None) -> None:
        self.storage = storage
        self.containers = Crud(storage, CONTAINERS)
        self.monitor = monitor
        self._unary: Coalescer[readings_pb2.CreateReadingRequest, _Resolved] = Coalescer(
            self._ingest_together, MAX_BATCH
        )

    def _ingest_together(self, requests: list[readings_pb2.CreateReadingRequest]) -> list[_Resolved]:
        """Concurrent CreateReading calls in one transaction; each caller was authorized already."""
        items, outcomes, created = self._ingest(requests, "", allowed=lambda tenant: None)
        return [(item, outcome, created) for item, outcome in zip(items, outcomes, strict=True)]

    def _stored(self, outcomes: list[InsertOutcome | None]) -> None:
        """Wakes the monitor when readings were stored: they are assessed after the answer (in a round of
        the monitor, marked in the readings' own transaction, so a restart does not lose them)."""
        if self.monitor is not None and InsertOutcome.STORED in outcomes:
            self.monitor.readings_stored()

    def _ingest(
        self,
        requests: list[readings_pb2.CreateReadingRequest],
        parent: str,
        prefix: str = "requests",
        allowed: Callable[[str], ServiceError | None] = denied_ingest,
    ) -> tuple[list[ReadingInsert | ServiceError], list[InsertOutcome | None], datetime]:
        """Per request, what was resolved (or why not) and what storing it did; the create_time stored."""
        items = resolve_readings(
            self.storage, requests, default_parent=parent, now=now(), allowed=allowed, prefix=prefix
        )
        inserts = [item for item in items if isinstance(item, ReadingInsert)]
        stored, created = self.storage.insert_readings(inserts)
        outcomes = iter(stored)
        return items, [None if isinstance(item, ServiceError) else next(outcomes) for item in items], created

    @unary
    async def CreateReading(
        self, request: readings_pb2.CreateReadingRequest, context: Context
    ) -> readings_pb2.Reading:
        if not request.HasField("reading"):
            raise InvalidArgument([FieldViolation("reading", "is required")])
        # Checked here, in the caller's own context: the shared transaction runs outside of it.
        tenant = _tenant_of(request.parent)
        denied = denied_ingest(tenant) if tenant else None
        if denied is not None:
            raise denied
        single = readings_pb2.CreateReadingRequest(parent=request.parent, reading=request.reading)
        index, (item, outcome, created) = await self._unary.submit(single)
        self._stored([outcome])
        if isinstance(item, ServiceError):
            raise as_single_request(item, index)
        if outcome is InsertOutcome.STORED:  # stored as sent: no need to read it back
            return stored_reading_proto(item, created)
        row = await in_thread(self.storage.get_reading, item.tenant, item.container_id, item.measure_time)
        if row is None:  # deleted between the insert and this read
            raise NotFound(resource_name(item.tenant, "containers", item.container_id), field="parent")
        if outcome is InsertOutcome.CONFLICT:
            raise _conflict(reading_proto(row).name)
        # A re-delivery answers with the reading already stored, as AIP-155 idempotency expects.
        return reading_proto(row)

    @unary
    async def BatchCreateReadings(
        self, request: readings_pb2.BatchCreateReadingsRequest, context: Context
    ) -> readings_pb2.BatchCreateReadingsResponse:
        items, outcomes, _ = await in_thread(self._ingest, list(request.requests), request.parent)
        self._stored(outcomes)
        return _batch_response(items, outcomes)

    @unary_stream_errors
    async def StreamReadings(
        self, request_iterator: AsyncIterator[readings_pb2.StreamReadingsRequest], context: Context
    ) -> AsyncIterator[readings_pb2.StreamReadingsResponse]:
        async for chunk in request_iterator:
            try:
                items, outcomes, _ = await in_thread(self._ingest, list(chunk.requests), "")
            except ServiceError as exc:
                exc.message = f"chunk {chunk.chunk_id!r}: {exc.message}"
                exc.metadata["chunk_id"] = chunk.chunk_id
                raise
            self._stored(outcomes)
            # The acknowledgement is sent only after the chunk's transaction committed.
            response = readings_pb2.StreamReadingsResponse(chunk_id=chunk.chunk_id)
            _fill_response(response, items, outcomes)
            yield response

    @unary
    async def ListReadings(
        self, request: readings_pb2.ListReadingsRequest, context: Context
    ) -> readings_pb2.ListReadingsResponse:
        container = await self.containers.get_row(await self._by_sensor(request), "parent")
        tenant, container_id = container.tenant, container.id
        limit = page_size(request.page_size, 100, 1000)
        context_key = {"parent": request.parent, "filter": request.filter}
        before_key = decode_page_token(request.page_token, context_key)
        before = datetime.fromisoformat(before_key) if before_key is not None else None
        rows = await in_thread(
            self.storage.list_readings, tenant, container_id, before=before, limit=limit + 1
        )
        token = (
            encode_page_token(rows[limit - 1].measure_time.isoformat(), context_key)
            if len(rows) > limit
            else ""
        )
        return readings_pb2.ListReadingsResponse(
            readings=[reading_proto(r) for r in rows[:limit]], next_page_token=token
        )

    async def _by_sensor(self, request: readings_pb2.ListReadingsRequest) -> str:
        """The container listed: the parent, or for `…/containers/-` the one the sensor is fitted to."""
        if not request.parent.endswith("/containers/-"):
            if request.filter:
                raise InvalidArgument(
                    [FieldViolation("filter", "applies to the parent tenants/{t}/containers/-")]
                )
            return request.parent
        tenant = parse_tenant(request.parent.removesuffix("/containers/-"), "parent")
        sensor = parse_filter(request.filter, {"sensor_id": "sensor_id"}).get("sensor_id")
        if not sensor:
            raise InvalidArgument([FieldViolation("filter", 'the parent containers/- needs sensor_id = "…"')])
        authorize_read(tenant)
        holders = await in_thread(self.storage.container_ids_by_sensor, tenant, [sensor])
        if sensor not in holders:
            raise NotFound(f"a container of tenants/{tenant} with sensor {sensor!r}", field="filter")
        return resource_name(tenant, "containers", holders[sensor])


_Response = readings_pb2.BatchCreateReadingsResponse | readings_pb2.StreamReadingsResponse
_STORED, _DUPLICATE, _REJECTED = (
    common_pb2.ITEM_OUTCOME_STORED,
    common_pb2.ITEM_OUTCOME_DUPLICATE,
    common_pb2.ITEM_OUTCOME_REJECTED,
)


def _fill_response(
    response: _Response, items: list[ReadingInsert | ServiceError], outcomes: list[InsertOutcome | None]
) -> None:
    """Writes the per-item results and their counts into `response` in place: no intermediate result
    message per reading (building and then copying them was most of the response's time)."""
    results = response.results
    counts = {_STORED: 0, _DUPLICATE: 0, _REJECTED: 0}
    for item, outcome in zip(items, outcomes, strict=True):
        result = results.add()
        if isinstance(item, ServiceError):
            kind = _REJECTED
            result.error.CopyFrom(item.to_status())
        else:
            result.name = name = reading_name(item.tenant, item.container_id, item.measure_time)
            if outcome is InsertOutcome.STORED:
                kind = _STORED
            elif outcome is InsertOutcome.DUPLICATE:
                kind = _DUPLICATE
            else:
                kind = _REJECTED
                result.error.CopyFrom(_conflict(name).to_status())
        result.outcome = kind
        counts[kind] += 1
    response.stored_count = counts[_STORED]
    response.duplicate_count = counts[_DUPLICATE]
    response.rejected_count = counts[_REJECTED]


def _batch_response(
    items: list[ReadingInsert | ServiceError], outcomes: list[InsertOutcome | None]
) -> readings_pb2.BatchCreateReadingsResponse:
    response = readings_pb2.BatchCreateReadingsResponse()
    _fill_response(response, items, outcomes)
    return response
