"""The dispatcher's subcommands: `plans` lists plans by date and state, `publish` hands one to the crews,
`ticks` types a printed sheet's ticks back as field events. A bare plan id is in the settings' tenant."""

from __future__ import annotations

import argparse
import csv
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from google.type import date_pb2

from wastesvc.client import open_channel
from wastesvc.config import Settings
from wastesvc.domain._common import to_timestamp
from wastesvc.sheets import parse_sheet_code
from wastesvc.v1 import dispatch_pb2, dispatch_pb2_grpc, planning_pb2, planning_pb2_grpc

__all__ = ["COMMANDS", "add_commands", "run_command"]

COMMANDS = ("plans", "publish", "ticks")
_STATES = {"draft", "published", "in_progress", "closed"}


def plan_name(text: str, tenant: str) -> str:
    """A plan's full name from itself or its bare id."""
    return text if text.startswith("tenants/") else f"tenants/{tenant}/routePlans/{text}"


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    target = "server address (default: the listen setting)"
    plans = commands.add_parser("plans", parents=[common], help="list plans, newest first")
    plans.add_argument("--target", default=None, help=target)
    plans.add_argument(
        "--date", type=date.fromisoformat, default=None, help="only this service day, YYYY-MM-DD"
    )
    plans.add_argument("--state", choices=sorted(_STATES), default=None, help="only plans in this state")

    publish = commands.add_parser("publish", parents=[common], help="publish a plan to the crews")
    publish.add_argument("plan", help="plan id or name")
    publish.add_argument("--target", default=None, help=target)

    ticks = commands.add_parser("ticks", parents=[common], help="type a sheet's ticks back as field events")
    ticks.add_argument("code", help="the sheet's QR code text, wastesvc:sheet?t=…&plan=…&vehicle=…&v=…")
    ticks.add_argument(
        "csv", type=Path, help="CSV with a header stop,emptied,fill,code (emptied: x or empty; fill 0..1)"
    )
    ticks.add_argument(
        "--round-time", required=True, help="when the round started, local HH:MM of the plan's day"
    )
    ticks.add_argument("--target", default=None, help=target)


def _ticks(path: Path) -> list[dispatch_pb2.SheetTick]:
    result = []
    with path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            try:
                tick = dispatch_pb2.SheetTick(
                    stop_number=int(row["stop"]),
                    emptied=row.get("emptied", "").strip().lower() in {"x", "1", "yes", "oui"},
                    anomaly_code=row.get("code", "").strip(),
                )
                if row.get("fill", "").strip():
                    tick.observed_fill = float(row["fill"])
            except (KeyError, ValueError) as exc:
                raise ValueError(f"{path}:{line}: {exc}") from None
            result.append(tick)
    return result


async def run_command(settings: Settings, args: argparse.Namespace) -> int:
    async with open_channel(args.target or settings.listen, settings) as channel:
        planning: planning_pb2_grpc.PlanningServiceAsyncStub = planning_pb2_grpc.PlanningServiceStub(channel)
        dispatch: dispatch_pb2_grpc.DispatchServiceAsyncStub = dispatch_pb2_grpc.DispatchServiceStub(channel)
        if args.command == "plans":
            request = planning_pb2.ListRoutePlansRequest(parent=f"tenants/{settings.tenant}", page_size=100)
            if args.date:
                request.service_date.CopyFrom(
                    date_pb2.Date(year=args.date.year, month=args.date.month, day=args.date.day)
                )
            if args.state:
                request.state = planning_pb2.RoutePlanState.Value(f"ROUTE_PLAN_STATE_{args.state.upper()}")
            for plan in (await planning.ListRoutePlans(request)).route_plans:
                d = plan.service_date
                state = planning_pb2.RoutePlanState.Name(plan.state).removeprefix("ROUTE_PLAN_STATE_")
                day = f"{d.year:04d}-{d.month:02d}-{d.day:02d}"
                totals = f"{plan.totals.vehicle_count} truck(s)\t{plan.totals.container_count} container(s)"
                print(f"{plan.name.rsplit('/', 1)[-1]}\t{day}\t{state}\tv{plan.version}\t{totals}")
        elif args.command == "publish":
            plan = await dispatch.PublishRoutePlan(
                dispatch_pb2.PublishRoutePlanRequest(name=plan_name(args.plan, settings.tenant))
            )
            print(f"{plan.name}: {planning_pb2.RoutePlanState.Name(plan.state)}")
        else:
            return await _submit_ticks(settings, args, planning, dispatch)
    return 0


async def _submit_ticks(
    settings: Settings,
    args: argparse.Namespace,
    planning: planning_pb2_grpc.PlanningServiceAsyncStub,
    dispatch: dispatch_pb2_grpc.DispatchServiceAsyncStub,
) -> int:
    try:
        ticks = _ticks(args.csv)
        hour, minute = (int(x) for x in args.round_time.split(":"))
    except (OSError, ValueError) as exc:
        print(f"wastesvc ticks: {exc}", file=sys.stderr)
        return 2
    try:
        code = parse_sheet_code(args.code)
    except ValueError as exc:
        print(f"wastesvc ticks: {exc}", file=sys.stderr)
        return 2
    plan = await planning.GetRoutePlan(planning_pb2.GetRoutePlanRequest(name=code.plan))
    d = plan.service_date
    start = datetime(d.year, d.month, d.day, hour, minute, tzinfo=ZoneInfo(settings.timezone))
    response = await dispatch.SubmitSheetTicks(
        dispatch_pb2.SubmitSheetTicksRequest(
            sheet_code=args.code, ticks=ticks, round_time=to_timestamp(start)
        )
    )
    for event in response.field_events:
        kind = dispatch_pb2.FieldEventKind.Name(event.kind).removeprefix("FIELD_EVENT_KIND_")
        print(f"{event.visit_id}\t{kind}\t{event.name}")
    return 0
