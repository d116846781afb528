"""Error mapping and the generic CRUD used by every resource servicer."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar, cast

import grpc
from google.protobuf import empty_pb2, field_mask_pb2
from google.protobuf.message import Message
from grpc_status import rpc_status

from wastesvc.auth import authorize_read, authorize_write, commune_scope
from wastesvc.domain._common import (
    check_resource_id,
    decode_page_token,
    encode_page_token,
    page_size,
    parse_name,
    parse_tenant,
    resource_name,
)
from wastesvc.domain._limits import check_message
from wastesvc.domain.resources import ResourceKind, apply_update_mask, etag_of
from wastesvc.errors import (
    Aborted,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ServiceError,
)
from wastesvc.storage import OperationRow, PlanRow, Storage
from wastesvc.v1 import common_pb2, observations_pb2, readings_pb2

__all__ = ["Crud", "in_thread", "outcome_counts", "unary", "unary_stream_errors"]

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
Stamped = TypeVar("Stamped", PlanRow, OperationRow)


async def _abort(context: grpc.aio.ServicerContext[Any, Any], error: Exception) -> None:
    if isinstance(error, ServiceError):
        await context.abort_with_status(rpc_status.to_status(error.to_status()))
    # Anything else is our bug: say INTERNAL (never UNKNOWN) and keep the trace in the log.
    log.exception("internal error", exc_info=error)
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(error).__name__}")


F = TypeVar("F", bound=Callable[..., Any])


# Ingest checks each item itself, so that one bad reading or observation is refused alone (batches answer
# per item) and the hot path skips the generic walk over descriptors.
_CHECKED_PER_ITEM = (
    readings_pb2.CreateReadingRequest,
    readings_pb2.BatchCreateReadingsRequest,
    observations_pb2.CreateObservationRequest,
    observations_pb2.BatchCreateObservationsRequest,
)


def _check_request(request: Message) -> None:
    """INVALID_ARGUMENT for a request breaking the limits every field has (`check_message`): bounded
    NUL-free strings, finite numbers, timestamps and durations in range."""
    violations = check_message(request, "")
    if violations:
        raise InvalidArgument(violations)


def unary(method: F) -> F:
    """Checks the request's field limits (`_check_request`, but for ingest, which checks each item), maps
    ServiceError to its status code with details and other exceptions to INTERNAL."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            if not isinstance(request, _CHECKED_PER_ITEM):
                _check_request(request)
            return await method(self, request, context)
        except asyncio.CancelledError:
            raise
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await _abort(context, error)
            raise AssertionError("context.abort returned") from error

    return cast(F, wrapper)


def unary_stream_errors(method: F) -> F:
    """The same checks and mapping for streaming handlers (async generators); a client stream's
    messages are checked by the handler, one by one."""

    @functools.wraps(method)
    async def wrapper(
        self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        try:
            if isinstance(request, Message):
                _check_request(request)
            async for item in method(self, request, context):
                yield item
        except asyncio.CancelledError:
            raise
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await _abort(context, error)

    return cast(F, wrapper)


async def in_thread(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Runs blocking storage work off the event loop."""
    return await asyncio.to_thread(function, *args, **kwargs)


def now() -> datetime:
    return datetime.now(UTC)


class Crud:
    """Create/Get/List/Update/Delete of one resource collection of a tenant, following AIP-131..135.

    Resources with a `commune_code` (containers) are also kept within a commune agent's communes; the
    others (fleet) are `commune_wide`: only callers of the whole tenant reach them.
    """

    def __init__(self, storage: Storage, kind: ResourceKind[Any, Any], *, max_page: int = 1000) -> None:
        self.storage = storage
        self.kind = kind
        self.max_page = max_page
        self.commune_wide = "commune_code" not in kind.message_type.DESCRIPTOR.fields_by_name

    def name(self, tenant: str, resource_id: str) -> str:
        return resource_name(tenant, self.kind.collection, resource_id)

    def _in_communes(self, commune_code: str, field: str) -> None:
        communes = commune_scope()
        if communes is not None and commune_code not in communes:
            raise PermissionDenied(
                f"{field} {commune_code!r} is outside the caller's communes", reason="COMMUNE_DENIED"
            )

    async def create(self, parent: str, resource: Message, resource_id: str) -> Any:
        tenant = parse_tenant(parent)
        authorize_write(tenant, commune_wide=self.commune_wide)
        violations = check_resource_id(resource_id, f"{self.kind.singular}_id")
        violations += self.validate(resource)
        if violations:
            raise InvalidArgument(violations)
        if not self.commune_wide:
            self._in_communes(getattr(resource, "commune_code", ""), f"{self.kind.singular}.commune_code")
        named = type(resource)()
        named.CopyFrom(resource)
        # The name sent is ignored (AIP-133); the checks of references see the one being created.
        named.name = self.name(tenant, resource_id)  # type: ignore[attr-defined]
        await self.check_references(named, self.kind.singular)
        stamp = now()
        row = self.kind.to_row(named, tenant, resource_id, stamp, stamp)
        return await in_thread(self.storage.create, row)

    def validate(self, resource: Message) -> list[FieldViolation]:
        """Limits first (bounded, finite, in range), then the resource's own rules on sane values."""
        return check_message(resource, self.kind.singular) or self.kind.validate(resource, self.kind.singular)

    async def check_references(self, resource: Message, prefix: str) -> None:
        """Overridden where a resource names another one that must exist."""

    async def get_row(self, name: str, field: str = "name", *, write: bool = False) -> Any:
        tenant, resource_id = parse_name(name, self.kind.collection, field)
        (authorize_write if write else authorize_read)(tenant, commune_wide=self.commune_wide)
        row = await in_thread(self.storage.get, self.kind.row_type, tenant, resource_id)
        if row is None:
            raise NotFound(name, field=field)
        if not self.commune_wide:
            self._in_communes(row.commune_code, "commune_code")
        return row

    async def list(
        self, parent: str, size: int, token: str, where: dict[str, Any] | None = None
    ) -> tuple[list[Any], str]:
        tenant = parse_tenant(parent)
        authorize_read(tenant, commune_wide=self.commune_wide)
        where = self.scoped(where)
        limit = page_size(size, 50, self.max_page)
        query = {"parent": parent, **{k: list(v) if isinstance(v, tuple) else v for k, v in where.items()}}
        after = decode_page_token(token, query)
        page = await in_thread(
            self.storage.list_page, self.kind.row_type, tenant, after=after, limit=limit, where=where
        )
        next_token = encode_page_token(page.last_key, query) if page.last_key else ""
        return page.items, next_token

    def scoped(self, where: dict[str, Any] | None) -> dict[str, Any]:
        """A listing's filter narrowed to the caller's communes, if it is limited to some."""
        where = dict(where or {})
        communes = None if self.commune_wide else commune_scope()
        if communes is None:
            return where
        if "commune_code" in where:
            self._in_communes(where["commune_code"], "filter commune_code")
        else:
            where["commune_code"] = tuple(sorted(communes))
        return where

    async def update(self, patch: Message, mask: field_mask_pb2.FieldMask) -> Any:
        name = getattr(patch, "name", "")
        current = await self.get_row(name, f"{self.kind.singular}.name", write=True)
        self.check_etag(current, getattr(patch, "etag", ""), f"{self.kind.singular}.etag")
        merged = apply_update_mask(self.kind.to_proto(current), patch, mask, self.kind)
        violations = self.validate(merged)
        if violations:
            raise InvalidArgument(violations)
        if not self.commune_wide:
            self._in_communes(getattr(merged, "commune_code", ""), f"{self.kind.singular}.commune_code")
        await self.check_references(merged, self.kind.singular)
        row = self.kind.to_row(merged, current.tenant, current.id, current.create_time, now())
        return await in_thread(self.storage.update, row)

    def check_etag(self, row: Any, etag: str, field: str) -> None:
        """A conditional write (AIP-154): refused with ABORTED when the resource changed since read."""
        if etag and etag != etag_of(row):
            raise Aborted(
                f"{self.name(row.tenant, row.id)} changed since it was read; read it again and retry",
                metadata={"field": field, "resource": self.name(row.tenant, row.id)},
                reason="ETAG_MISMATCH",
            )

    async def delete(self, name: str, etag: str = "") -> empty_pb2.Empty:
        row = await self.get_row(name, write=True)
        self.check_etag(row, etag, "etag")
        deleted = await in_thread(self.storage.delete, self.kind.row_type, row.tenant, row.id)
        if not deleted:
            raise NotFound(name, field="name")
        return empty_pb2.Empty()


def outcome_counts(results: Iterable[common_pb2.ItemResult]) -> dict[str, int]:
    """The stored/duplicate/rejected counts of a batch's per-item results, as response fields."""
    count = Counter(r.outcome for r in results)
    return {
        "stored_count": count[common_pb2.ITEM_OUTCOME_STORED],
        "duplicate_count": count[common_pb2.ITEM_OUTCOME_DUPLICATE],
        "rejected_count": count[common_pb2.ITEM_OUTCOME_REJECTED],
    }


def as_single_request(error: ServiceError, index: int = 0) -> ServiceError:
    """The error of item `index` of a batch, with field paths relative to the single Create request."""
    single = f"requests[{index}]."
    if isinstance(error, InvalidArgument):
        return InvalidArgument(
            [FieldViolation(v.field.removeprefix(single), v.description) for v in error.violations],
            reason=error.reason,
        )
    if "field" in error.metadata:
        field = error.metadata["field"].removeprefix(single)
        error.metadata["field"] = field
        error.message = error.message.replace(f"({single}", "(")
        if isinstance(error, NotFound):
            error.field = field
    return error


async def newest_first_page(
    fetch: Callable[..., list[Stamped]],
    parent: str,
    size: int,
    token: str,
    *,
    default: int,
    maximum: int,
    field: str = "parent",
) -> tuple[list[Stamped], str]:
    """A page of a tenant's newest-first listing keyed on (create_time, id), and the next page's token."""
    tenant = parse_tenant(parent, field)
    limit = page_size(size, default, maximum)
    query = {"parent": parent}
    key = decode_page_token(token, query)
    before = (datetime.fromisoformat(key[0]), key[1]) if key else None
    rows = await in_thread(fetch, tenant, before=before, limit=limit + 1)
    if len(rows) <= limit:
        return rows, ""
    last = rows[limit - 1]
    return rows[:limit], encode_page_token([last.create_time.isoformat(), last.id], query)
