"""Error mapping and the generic CRUD used by every resource servicer."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar, cast

import grpc
from google.protobuf import empty_pb2, field_mask_pb2
from google.protobuf.message import Message
from grpc_status import rpc_status

from wastesvc.domain._common import (
    check_resource_id,
    decode_page_token,
    encode_page_token,
    page_size,
    parse_name,
)
from wastesvc.domain.resources import ResourceKind, apply_update_mask
from wastesvc.errors import FieldViolation, InvalidArgument, NotFound, ServiceError
from wastesvc.storage import OperationRow, PlanRow, Storage

__all__ = ["Crud", "in_thread", "unary", "unary_stream_errors"]

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


def unary(method: F) -> F:
    """Maps ServiceError to its status code with details and other exceptions to INTERNAL."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
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
    """The same mapping for streaming handlers (async generators)."""

    @functools.wraps(method)
    async def wrapper(
        self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        try:
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
    """Create/Get/List/Update/Delete of one resource collection, following AIP-131..135."""

    def __init__(self, storage: Storage, kind: ResourceKind[Any, Any], *, max_page: int = 1000) -> None:
        self.storage = storage
        self.kind = kind
        self.max_page = max_page

    def _id(self, name: str) -> str:
        return parse_name(name, self.kind.collection)

    async def create(self, resource: Message, resource_id: str) -> Any:
        violations = check_resource_id(resource_id, f"{self.kind.singular}_id")
        violations += self.kind.validate(resource, self.kind.singular)
        if violations:
            raise InvalidArgument(violations)
        await self.check_references(resource, self.kind.singular)
        stamp = now()
        row = self.kind.to_row(resource, resource_id, stamp, stamp)
        return await in_thread(self.storage.create, row)

    async def check_references(self, resource: Message, prefix: str) -> None:
        """Overridden where a resource names another one that must exist."""

    async def get_row(self, name: str, field: str = "name") -> Any:
        row = await in_thread(
            self.storage.get, self.kind.row_type, parse_name(name, self.kind.collection, field)
        )
        if row is None:
            raise NotFound(name, field=field)
        return row

    async def list(self, size: int, token: str, where: dict[str, str] | None = None) -> tuple[list[Any], str]:
        limit = page_size(size, 50, self.max_page)
        after = decode_page_token(token, where)
        page = await in_thread(
            self.storage.list_page, self.kind.row_type, after=after, limit=limit, where=where
        )
        next_token = encode_page_token(page.last_key, where) if page.last_key else ""
        return page.items, next_token

    async def update(self, patch: Message, mask: field_mask_pb2.FieldMask) -> Any:
        name = getattr(patch, "name", "")
        current = await self.get_row(name, f"{self.kind.singular}.name")
        merged = apply_update_mask(self.kind.to_proto(current), patch, mask, self.kind)
        violations = self.kind.validate(merged, self.kind.singular)
        if violations:
            raise InvalidArgument(violations)
        await self.check_references(merged, self.kind.singular)
        row = self.kind.to_row(merged, current.id, current.create_time, now())
        return await in_thread(self.storage.update, row)

    async def delete(self, name: str) -> empty_pb2.Empty:
        deleted = await in_thread(self.storage.delete, self.kind.row_type, self._id(name))
        if not deleted:
            raise NotFound(name, field="name")
        return empty_pb2.Empty()


def as_single_request(error: InvalidArgument | NotFound) -> InvalidArgument | NotFound:
    """The error of a one-element batch, with field paths relative to the single Create request."""
    if isinstance(error, InvalidArgument):
        return InvalidArgument(
            [FieldViolation(v.field.removeprefix("requests[0]."), v.description) for v in error.violations]
        )
    return NotFound(error.metadata["resource"], field=(error.field or "").removeprefix("requests[0]."))


async def newest_first_page(
    fetch: Callable[..., list[Stamped]], size: int, token: str, *, default: int, maximum: int
) -> tuple[list[Stamped], str]:
    """A page of a newest-first listing keyed on (create_time, id), with the token for the next page."""
    limit = page_size(size, default, maximum)
    key = decode_page_token(token)
    before = (datetime.fromisoformat(key[0]), key[1]) if key else None
    rows = await in_thread(fetch, before=before, limit=limit + 1)
    if len(rows) <= limit:
        return rows, ""
    last = rows[limit - 1]
    return rows[:limit], encode_page_token([last.create_time.isoformat(), last.id])
