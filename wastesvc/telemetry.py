"""The RPC interceptor that measures and logs every call: request id, status code, duration, ingest counts.

It sits outside `AuthInterceptor`, so refused calls (UNAUTHENTICATED, PERMISSION_DENIED) are counted and
logged like the others. The request id is the caller's ``x-request-id`` metadata when given (so a gateway's
id follows the call into our logs), else a fresh one; it is sent back as ``x-request-id`` initial metadata.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from wastesvc.auth import current_caller
from wastesvc.logs import start_request
from wastesvc.metrics import Metrics

__all__ = ["TelemetryInterceptor"]

access_log = logging.getLogger("wastesvc.access")

Context = grpc.aio.ServicerContext[Any, Any]
_REQUEST_ID = "x-request-id"
# Caller-chosen ids are echoed into logs; an overlong or binary one is replaced rather than trusted.
_MAX_REQUEST_ID = 128
# Health checks arrive every few seconds from a load balancer: counted, but logged only at debug level.
_QUIET_PREFIX = "/grpc.health.v1.Health/"
_CREATE_READING = "/wastesvc.v1.ReadingService/CreateReading"


def _request_id(context: Context) -> str:
    for key, value in context.invocation_metadata() or ():
        usable = isinstance(value, str) and 0 < len(value) <= _MAX_REQUEST_ID and value.isprintable()
        if key == _REQUEST_ID and usable:
            return str(value)
    # A label, not a secret: the pseudo-random generator is enough, and much cheaper than uuid4's
    # os.urandom on a busy machine.
    return f"{random.getrandbits(128):032x}"


class _Call:
    """One RPC being observed: started on arrival, finished once with its status."""

    def __init__(self, method: str, metrics: Metrics) -> None:
        self.method = method
        self._metrics = metrics
        self._began = time.perf_counter()

    async def begin(self, context: Context, *, streaming: bool = False) -> None:
        request_id = _request_id(context)
        start_request(request_id, self.method)
        if streaming:
            # A streaming handler may send its own initial metadata (WatchAlerts says "subscribed" so):
            # the id goes back with the trailers instead.
            context.set_trailing_metadata(((_REQUEST_ID, request_id),))
        else:
            await context.send_initial_metadata(((_REQUEST_ID, request_id),))

    def stored(self, response: Any) -> None:
        """Counts what an ingest response reports as stored (a single CreateReading stores one)."""
        count = 1 if self.method == _CREATE_READING else getattr(response, "stored_count", 0)
        caller = current_caller()
        if count and caller is not None:
            short = self.method.rsplit("/", 1)[-1]
            self._metrics.readings_stored.labels(caller.tenant, short).inc(count)

    def finish(self, context: Context, error: BaseException | None) -> None:
        elapsed = time.perf_counter() - self._began
        code = _code(context, error)
        self._metrics.rpc_requests.labels(self.method, code).inc()
        self._metrics.rpc_duration.labels(self.method, code).observe(elapsed)
        level = logging.DEBUG if self.method.startswith(_QUIET_PREFIX) else logging.INFO
        access_log.log(
            level,
            "%s %s %.1f ms",
            self.method,
            code,
            elapsed * 1000,
            extra={"code": code, "duration_ms": round(elapsed * 1000, 3)},
        )


def _code(context: Context, error: BaseException | None) -> str:
    code: object = context.code()  # None until a handler sets one, despite the stub's type
    if isinstance(code, grpc.StatusCode):
        return code.name
    if error is None:
        return grpc.StatusCode.OK.name
    if isinstance(error, asyncio.CancelledError):
        # gRPC cancels the handler at the caller's deadline as it does when the caller cancels.
        remaining = context.time_remaining()
        expired = remaining is not None and remaining <= 0
        return (grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED).name
    return grpc.StatusCode.UNKNOWN.name


class TelemetryInterceptor(grpc.aio.ServerInterceptor):
    """Counts, times and logs every RPC, with its request id, into `metrics` and ``wastesvc.access``."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        return _observed(handler, handler_call_details.method, self._metrics)


def _observed(handler: Any, method: str, metrics: Metrics) -> Any:
    """The same handler, observed from arrival to status."""
    if handler.unary_unary or handler.stream_unary:
        inner = handler.unary_unary or handler.stream_unary

        async def unary_response(request: Any, context: Context) -> Any:
            call = _Call(method, metrics)
            try:
                await call.begin(context)
                response = await inner(request, context)
                call.stored(response)
            except BaseException as error:
                call.finish(context, error)
                raise
            call.finish(context, None)
            return response

        make = (
            grpc.unary_unary_rpc_method_handler
            if handler.unary_unary
            else grpc.stream_unary_rpc_method_handler
        )
        return make(unary_response, handler.request_deserializer, handler.response_serializer)
    inner_stream = handler.unary_stream or handler.stream_stream

    async def stream_response(request: Any, context: Context) -> AsyncIterator[Any]:
        call = _Call(method, metrics)
        try:
            await call.begin(context, streaming=True)
            async for item in inner_stream(request, context):
                call.stored(item)
                yield item
        except BaseException as error:
            call.finish(context, error)
            raise
        call.finish(context, None)

    make = (
        grpc.unary_stream_rpc_method_handler
        if handler.unary_stream
        else grpc.stream_stream_rpc_method_handler
    )
    return make(stream_response, handler.request_deserializer, handler.response_serializer)
