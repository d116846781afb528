"""Client-side helpers shared by the CLI and the demo: planning a day, waiting, printing, saving sheets."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import grpc
from google.longrunning import operations_pb2, operations_pb2_grpc
from google.protobuf import duration_pb2
from google.type import date_pb2

from wastesvc.auth import ROLES, issue_token, load_key
from wastesvc.config import Settings
from wastesvc.v1 import planning_pb2, planning_pb2_grpc

__all__ = [
    "PlanFailed",
    "bearer_token",
    "client_token",
    "open_channel",
    "optimize_day",
    "plan_summary",
    "save_sheets",
]


class _Bearer:
    """Adds `authorization: Bearer <token>` to the metadata of a call."""

    def __init__(self, token: str, deadline_s: float) -> None:
        self._metadata = ("authorization", f"Bearer {token}")
        self._deadline_s = deadline_s

    def _details(self, details: Any) -> Any:
        metadata = grpc.aio.Metadata(*(details.metadata or ()), self._metadata)
        return details._replace(metadata=metadata)


# grpc.aio files a channel's interceptor under the first call type it implements: one class per type.
class _BearerUnaryUnary(_Bearer, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        # A unary call that sets no deadline gets one, so a stalled server never hangs the client.
        details = self._details(details)
        if details.timeout is None:
            details = details._replace(timeout=self._deadline_s)
        return await continuation(details, request)


class _BearerUnaryStream(_Bearer, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)


class _BearerStreamUnary(_Bearer, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(self._details(details), requests)


class _BearerStreamStream(_Bearer, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(self._details(details), requests)


def bearer_token(token: str, deadline_s: float) -> list[grpc.aio.ClientInterceptor]:
    """Channel interceptors that send `token` with every call, whatever its type, and give a unary call
    that sets no deadline one of `deadline_s` seconds."""
    return [
        _BearerUnaryUnary(token, deadline_s),
        _BearerUnaryStream(token, deadline_s),
        _BearerStreamUnary(token, deadline_s),
        _BearerStreamStream(token, deadline_s),
    ]


def client_token(settings: Settings) -> str:
    """The configured token or, on the server's machine, a short-lived operator token from its key."""
    if settings.token:
        return settings.token
    return issue_token(
        load_key(settings.auth_key_file),
        tenant=settings.tenant,
        scopes=ROLES["operator"],
        subject="wastesvc-cli",
        ttl_s=3600,
    )


def open_channel(target: str, settings: Settings, token: str | None = None) -> grpc.aio.Channel:
    """A channel to the service carrying a bearer token, over TLS when `tls_ca_file` is set; unary calls
    without a deadline get `call_deadline_s`."""
    interceptors = bearer_token(token or client_token(settings), settings.call_deadline_s)
    if not settings.tls_ca_file:
        return grpc.aio.insecure_channel(target, interceptors=interceptors)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=Path(settings.tls_ca_file).read_bytes(),
        private_key=Path(settings.tls_key_file).read_bytes() if settings.tls_key_file else None,
        certificate_chain=Path(settings.tls_cert_file).read_bytes() if settings.tls_cert_file else None,
    )
    return grpc.aio.secure_channel(target, credentials, interceptors=interceptors)


class PlanFailed(RuntimeError):
    """The planning operation ended with an error."""


@dataclass(frozen=True)
class SavedSheets:
    """Where the sheets of a plan were written."""

    combined: Path
    per_vehicle: list[Path]


async def optimize_day(
    channel: grpc.aio.Channel,
    tenant: str,
    service_date: date,
    *,
    time_limit_s: float | None = None,
    fill_threshold: float | None = None,
    poll_s: float = 1.0,
) -> planning_pb2.RoutePlan:
    """Starts OptimizeRoutes for a tenant's day and waits for its plan.

    With `fill_threshold`, every container expected at or above it is a mandatory visit (the operator's
    rule on top of the selection policy).
    """
    planning = planning_pb2_grpc.PlanningServiceStub(channel)
    operations = operations_pb2_grpc.OperationsStub(channel)
    request = planning_pb2.OptimizeRoutesRequest(
        parent=f"tenants/{tenant}",
        service_date=date_pb2.Date(year=service_date.year, month=service_date.month, day=service_date.day),
    )
    if time_limit_s:
        request.options.time_limit.FromTimedelta(timedelta(seconds=time_limit_s))
    if fill_threshold is not None:
        request.options.fill_threshold = fill_threshold
    operation = await planning.OptimizeRoutes(request)
    while not operation.done:
        operation = await operations.WaitOperation(
            operations_pb2.WaitOperationRequest(
                name=operation.name, timeout=duration_pb2.Duration(seconds=30)
            )
        )
        if not operation.done:
            await asyncio.sleep(poll_s)
    if operation.HasField("error"):
        raise PlanFailed(f"{operation.name}: {operation.error.message} (code {operation.error.code})")
    plan = planning_pb2.RoutePlan()
    operation.response.Unpack(plan)
    return plan


def _hours(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d}"


def plan_summary(plan: planning_pb2.RoutePlan, tz: ZoneInfo) -> str:
    """A few lines a dispatcher reads at a glance."""
    totals = plan.totals
    d = plan.service_date
    stops = sum(1 for r in plan.routes for v in r.visits if v.containers)
    lines = [
        f"Plan {plan.name} for {d.year:04d}-{d.month:02d}-{d.day:02d} ({plan.solver_status}, "
        f"solved in {plan.solve_duration.ToTimedelta().total_seconds():.1f} s)",
        f"  trucks {totals.vehicle_count}, stops {stops}, "
        f"containers {totals.container_count}, {totals.distance_meters / 1000:.1f} km, "
        f"{_hours(totals.duration.ToTimedelta().total_seconds())} of work, "
        f"{totals.collected_liters / 1000:.1f} m³ collected, skipped {totals.skipped_count}",
    ]
    for route in plan.routes:
        disposals = sum(1 for v in route.visits if v.kind == planning_pb2.VISIT_KIND_DISPOSAL)
        start = route.visits[0].start_time.ToDatetime(tzinfo=UTC).astimezone(tz)
        end = route.visits[-1].arrival_time.ToDatetime(tzinfo=UTC).astimezone(tz)
        lines.append(
            f"  {route.vehicle}: {route.container_count} containers, {route.distance_meters / 1000:.1f} km, "
            f"{disposals} disposal trip(s), {start:%H:%M}–{end:%H:%M}"
        )
    return "\n".join(lines)


async def save_sheets(channel: grpc.aio.Channel, plan: planning_pb2.RoutePlan, out_dir: Path) -> SavedSheets:
    """Writes the plan's sheets: one PDF with every truck and one PDF per truck."""
    planning = planning_pb2_grpc.PlanningServiceStub(channel)
    out_dir.mkdir(parents=True, exist_ok=True)
    d = plan.service_date
    stem = f"route-sheets-{d.year:04d}-{d.month:02d}-{d.day:02d}"
    sheets = await planning.RenderRouteSheets(planning_pb2.RenderRouteSheetsRequest(name=plan.name))
    combined = out_dir / f"{stem}.pdf"
    combined.write_bytes(sheets.content)
    per_vehicle = []
    for route in plan.routes:
        one = await planning.RenderRouteSheets(
            planning_pb2.RenderRouteSheetsRequest(name=plan.name, vehicle=route.vehicle)
        )
        path = out_dir / f"{stem}-{route.vehicle.rsplit('/', 1)[-1]}.pdf"
        path.write_bytes(one.content)
        per_vehicle.append(path)
    return SavedSheets(combined, per_vehicle)
