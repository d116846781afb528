"""`wastesvc` command line: the server, the solver worker, the demo, and the clients of dispatch."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import grpc

from wastesvc import cli_dispatch, cli_fill
from wastesvc.archive import ArchiveError, export_tenant, import_tenant
from wastesvc.auth import ROLES, issue_token, load_key
from wastesvc.client import PlanFailed, open_channel, optimize_day, plan_summary, save_sheets
from wastesvc.config import (
    MAX_SOLVER_TIME_LIMIT_S,
    MIN_SOLVER_TIME_LIMIT_S,
    ConfigError,
    Settings,
    check_time_limit,
    load_settings,
)
from wastesvc.demo import run_demo
from wastesvc.jobs import operation_outcome, run_worker
from wastesvc.logs import configure_logging
from wastesvc.metrics import WorkerMetrics, start_metrics_server
from wastesvc.server import ListenError, check_address, make_planner, serve
from wastesvc.storage import open_storage
from wastesvc.v1 import planning_pb2, planning_pb2_grpc

__all__ = ["main"]

DEMO_DB = Path("var/demo.db")


def _address(text: str) -> str:
    host, colon, port = text.rpartition(":")
    if not (colon and host and port.isdigit() and int(port) <= 65535):
        raise argparse.ArgumentTypeError(
            f"expected host:port such as 127.0.0.1:50051 or [::]:50051, got {text!r}"
        )
    return text


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def _time_limit(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    try:
        return check_time_limit(seconds)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _fill_fraction(text: str) -> float:
    try:
        fraction = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fill fraction, got {text!r}") from None
    if not 0.0 < fraction <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a fill fraction in (0, 1], got {text}")
    return fraction


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wastesvc", description=__doc__)
    config_help = "TOML settings file (else WASTESVC_CONFIG, then WASTESVC_* variables)"
    parser.add_argument("--config", help=config_help)
    # Also accepted after the subcommand; SUPPRESS keeps a --config given before it when none comes after.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help=config_help)
    listen_help = "host:port to listen on (default: the listen setting, 127.0.0.1:50051)"
    commands = parser.add_subparsers(dest="command", required=True)

    serve_command = commands.add_parser(
        "serve", parents=[common], help="run the gRPC server until SIGTERM/Ctrl-C"
    )
    serve_command.add_argument("--listen", type=_address, default=None, help=listen_help)

    demo = commands.add_parser(
        "demo",
        parents=[common],
        help="load Grand Soissons, simulate readings, plan today, print sheets",
    )
    demo.add_argument("--listen", type=_address, default=None, help=listen_help)
    demo.add_argument(
        "--out", type=Path, default=Path("out"), help="folder for the route sheets (default out/)"
    )
    demo.add_argument("--no-serve", action="store_true", help="exit after writing the sheets")

    plan = commands.add_parser(
        "plan", parents=[common], help="ask a running server to plan a day and wait for the plan"
    )
    plan.add_argument("--target", default=None, help="server address (default: the listen setting)")
    plan.add_argument("--date", type=_day, default=None, help="service day, YYYY-MM-DD, default today")
    plan.add_argument(
        "--time-limit",
        type=_time_limit,
        default=None,
        help=f"solver budget in seconds, {MIN_SOLVER_TIME_LIMIT_S:g} to {MAX_SOLVER_TIME_LIMIT_S:g} "
        "(default: the server's solver_time_limit_s)",
    )
    plan.add_argument(
        "--fill-threshold",
        type=_fill_fraction,
        default=None,
        help="empty every container expected at least this full, e.g. 0.8 (default: the selection policy)",
    )
    plan.add_argument("--out", type=Path, default=None, help="also write the sheets to this folder")

    worker = commands.add_parser(
        "worker", parents=[common], help="run planning jobs from the queue (job_broker_url) until SIGTERM"
    )
    worker.add_argument("--threads", type=int, default=None, help="jobs at once (default solver_processes)")
    worker.add_argument(
        "--metrics-listen",
        type=_address,
        default=None,
        help="serve Prometheus metrics on host:port/metrics (default: the metrics_listen setting; "
        "port 0 picks a free one)",
    )

    token = commands.add_parser(
        "token", parents=[common], help="issue a signed token (needs the server's auth key file)"
    )
    token.add_argument("--tenant", default=None, help="tenant it acts for (default: the tenant setting)")
    token.add_argument("--role", choices=sorted(ROLES), default="operator", help="what it may do")
    token.add_argument("--commune", action="append", default=[], help="limit to this INSEE code (repeat)")
    token.add_argument("--subject", default="wastesvc-cli", help="who it is for, kept in the logs")
    token.add_argument("--ttl-hours", type=float, default=24.0, help="validity in hours (default 24)")

    sheets = commands.add_parser("sheets", parents=[common], help="download the route sheets of a plan")
    sheets.add_argument("plan", help="plan id or name, tenants/{tenant}/routePlans/…")
    sheets.add_argument("--target", default=None, help="server address (default: the listen setting)")
    sheets.add_argument("--vehicle", default="", help="only this vehicle, tenants/{tenant}/vehicles/…")
    sheets.add_argument("--output", type=Path, required=True, help="PDF file to write")
    cli_dispatch.add_commands(commands, common)
    cli_fill.add_commands(commands, common)

    export = commands.add_parser(
        "export", parents=[common], help="write all of a tenant's data as CSV + GeoJSON with a manifest"
    )
    export.add_argument("directory", type=Path, help="folder to write (must hold no archive yet)")
    export.add_argument("--tenant", default=None, help="tenant to export (default: the tenant setting)")
    restore = commands.add_parser(
        "import", parents=[common], help="restore an export into a database where its tenant is empty"
    )
    restore.add_argument("directory", type=Path, help="folder written by `wastesvc export`")
    return parser


def _archive(settings: Settings, args: argparse.Namespace) -> int:
    storage = open_storage(settings.db_url)
    try:
        if args.command == "export":
            manifest = export_tenant(storage.engine, args.tenant or settings.tenant, args.directory)
            tables = [f for f in manifest["files"] if not f["derived"]]
            counts = ", ".join(f"{f['rows']} {f['table']}" for f in tables)
            print(f"exported tenants/{manifest['tenant']} to {args.directory}: {counts}")
        else:
            inserted = import_tenant(storage.engine, args.directory)
            counts = ", ".join(f"{rows} {table}" for table, rows in inserted.items())
            print(f"imported {args.directory}: {counts}")
    except (ArchiveError, FileExistsError) as exc:
        print(f"wastesvc: error: {exc}", file=sys.stderr)
        return 1
    finally:
        storage.close()
    return 0


async def _plan(settings: Settings, args: argparse.Namespace) -> int:
    tz = ZoneInfo(settings.timezone)
    today = datetime.now(tz).date()
    day = args.date or today
    if day < today:
        print(
            f"warning: {day} is in the past (today is {today} in {settings.timezone}); "
            "planning it anyway, from the latest readings",
            file=sys.stderr,
        )
    async with open_channel(args.target or settings.listen, settings) as channel:
        try:
            plan = await optimize_day(
                channel,
                settings.tenant,
                day,
                time_limit_s=args.time_limit,
                fill_threshold=args.fill_threshold,
            )
        except PlanFailed as exc:
            print(f"planning failed: {exc}", file=sys.stderr)
            return 1
        print(plan_summary(plan, tz))
        if args.out:
            saved = await save_sheets(channel, plan, args.out)
            print(f"route sheets: {saved.combined}")
    return 0


async def _sheets(settings: Settings, args: argparse.Namespace) -> int:
    async with open_channel(args.target or settings.listen, settings) as channel:
        stub = planning_pb2_grpc.PlanningServiceStub(channel)
        result = await stub.RenderRouteSheets(
            planning_pb2.RenderRouteSheetsRequest(
                name=cli_dispatch.plan_name(args.plan, settings.tenant), vehicle=args.vehicle
            )
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(result.content)
    print(f"{args.output}: {result.page_count} page(s)")
    return 0


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.job_broker_url:
        print("wastesvc: error: a worker needs job_broker_url (WASTESVC_JOB_BROKER_URL)", file=sys.stderr)
        return 2
    threads = args.threads or settings.solver_processes
    listen = args.metrics_listen or settings.metrics_listen
    storage = open_storage(settings.db_url)
    metrics = WorkerMetrics() if listen else None
    planner = make_planner(storage, settings, metrics)
    assert planner.queue is not None
    metrics_server = None
    if metrics is not None:
        metrics.watch_queue(planner.queue)
        try:
            metrics_server = start_metrics_server(listen, metrics)
        except OSError as exc:
            print(f"wastesvc: error: cannot serve metrics on {listen}: {exc}", file=sys.stderr)
            storage.close()
            return 1
        host = listen.rsplit(":", 1)[0]
        print(f"wastesvc worker: metrics on http://{host}:{metrics_server.port}/metrics", file=sys.stderr)
    print(f"wastesvc worker: {threads} thread(s) on queue {settings.job_queue}", file=sys.stderr, flush=True)
    try:
        run_worker(
            planner.queue,
            planner.run_stored,
            threads,
            outcome=lambda operation_id: operation_outcome(storage, operation_id),
            metrics=metrics,
        )
    finally:
        if metrics_server is not None:
            metrics_server.stop()
        storage.close()
    return 0


def _token(settings: Settings, args: argparse.Namespace) -> str:
    return issue_token(
        load_key(settings.auth_key_file),
        tenant=args.tenant or settings.tenant,
        scopes=ROLES[args.role],
        subject=args.subject,
        communes=args.commune,
        ttl_s=args.ttl_hours * 3600,
    )


def main(argv: list[str] | None = None) -> int:
    """Runs one subcommand; exit code 0, 1 when it failed, 2 for bad arguments or settings."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"wastesvc: error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_format)
    if getattr(args, "listen", None):
        settings = replace(settings, listen=args.listen)
    try:
        return _run(settings, args)
    except grpc.aio.AioRpcError as exc:
        print(f"{exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    except ListenError as exc:
        print(f"wastesvc: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    asyncio.run(serve(settings))
    return 0


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    # The demo loads the scenario afresh each time; its own database never touches a real one.
    if settings.db_url == Settings().db_url:
        # Before deleting: a demo already running on this address is still using that database.
        check_address(settings.listen)
        DEMO_DB.unlink(missing_ok=True)
        for suffix in ("-wal", "-shm"):
            Path(f"{DEMO_DB}{suffix}").unlink(missing_ok=True)
        settings = replace(settings, db_url=f"sqlite:///{DEMO_DB}")
    asyncio.run(run_demo(settings, args.out, keep_serving=not args.no_serve))
    return 0


def _print_token(settings: Settings, args: argparse.Namespace) -> int:
    print(_token(settings, args))
    return 0


# Each subcommand's handler: settings and arguments in, exit code out.
_COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "serve": _serve,
    "demo": _demo,
    "plan": lambda settings, args: asyncio.run(_plan(settings, args)),
    "sheets": lambda settings, args: asyncio.run(_sheets(settings, args)),
    "worker": _worker,
    "token": _print_token,
    "alerts": lambda settings, args: asyncio.run(cli_fill.run_alerts(settings, args)),
    "report": lambda settings, args: asyncio.run(cli_fill.run_report(settings, args)),
    "policy": lambda settings, args: asyncio.run(cli_fill.run_policy(settings, args)),
    "export": _archive,
    "import": _archive,
    **{
        name: lambda settings, args: asyncio.run(cli_dispatch.run_command(settings, args))
        for name in cli_dispatch.COMMANDS
    },
}


def _run(settings: Settings, args: argparse.Namespace) -> int:
    return _COMMANDS[args.command](settings, args)


if __name__ == "__main__":
    sys.exit(main())
