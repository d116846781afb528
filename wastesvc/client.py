"""Client-side helpers shared by the CLI and the demo: planning a day, waiting, printing, saving sheets."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import grpc
from google.longrunning import operations_pb2, operations_pb2_grpc
from google.protobuf import duration_pb2
from google.type import date_pb2

from wastesvc.v1 import planning_pb2, planning_pb2_grpc

__all__ = ["PlanFailed", "optimize_day", "plan_summary", "save_sheets"]


class PlanFailed(RuntimeError):
    """The planning operation ended with an error."""


@dataclass(frozen=True)
class SavedSheets:
    """Where the sheets of a plan were written."""

    combined: Path
    per_vehicle: list[Path]


async def optimize_day(
    channel: grpc.aio.Channel, service_date: date, *, time_limit_s: float | None = None, poll_s: float = 1.0
) -> planning_pb2.RoutePlan:
    """Starts OptimizeRoutes for a day and waits for its plan."""
    planning = planning_pb2_grpc.PlanningServiceStub(channel)
    operations = operations_pb2_grpc.OperationsStub(channel)
    request = planning_pb2.OptimizeRoutesRequest(
        service_date=date_pb2.Date(year=service_date.year, month=service_date.month, day=service_date.day)
    )
    if time_limit_s:
        request.options.time_limit.FromTimedelta(timedelta(seconds=time_limit_s))
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
        path = out_dir / f"{stem}-{route.vehicle.removeprefix('vehicles/')}.pdf"
        path.write_bytes(one.content)
        per_vehicle.append(path)
    return SavedSheets(combined, per_vehicle)
