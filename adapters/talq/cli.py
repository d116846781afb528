"""``wastesvc-adapter talq``: poll a lighting gateway, receive its log reports, light night rounds."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from datetime import date
from pathlib import Path
from typing import Any

import grpc
import httpx
from aiohttp import web

from adapters.service_client import Wastesvc
from adapters.talq.bridge import light_round, poll, store_values
from adapters.talq.client import TalqClient, TalqError
from adapters.talq.config import ConfigError, TalqSettings, load_settings
from adapters.talq.observations import from_log_report
from adapters.talq.receiver import log_report_app

__all__ = ["add_parser"]

_log = logging.getLogger("adapters.talq")


def add_parser(adapters: Any) -> None:
    """Add the ``talq`` subcommand to ``adapters`` (an argparse subparsers object)."""
    parser: argparse.ArgumentParser = adapters.add_parser(
        "talq",
        help="connected lighting (TALQ 2.7.1): sensor values in, night-round light overrides out",
        description="Bridge a TALQ lighting gateway and wastesvc.",
    )
    parser.add_argument("--config", type=Path, required=True, help="TOML settings (see talq.example.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    poll_parser = actions.add_parser(
        "poll", help="read /devices and the loggers' reports, store observations"
    )
    poll_parser.add_argument("--every", type=float, default=0, help="poll again every this many seconds")
    poll_parser.set_defaults(handler=_poll)
    actions.add_parser("receive", help="serve POST /log-reports for the gateway").set_defaults(
        handler=_receive
    )
    light = actions.add_parser("light", help="raise the light along the night stops of a day's plan")
    light.add_argument(
        "--date", type=date.fromisoformat, default=date.today(), help="service date (YYYY-MM-DD)"
    )
    light.set_defaults(handler=_light)


def _settings(args: argparse.Namespace) -> TalqSettings:
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = load_settings(args.config)
    if not settings.token:
        raise ConfigError("no token for the service: set WASTESVC_TOKEN (wastesvc token --role …)")
    return settings


def _fail(error: Exception) -> int:
    print(f"wastesvc-adapter talq: {error}", file=sys.stderr)
    return 2


def _run(args: argparse.Namespace, job: Any) -> int:
    try:
        settings = _settings(args)
        asyncio.run(job(settings))
    except (ConfigError, TalqError, grpc.aio.AioRpcError, OSError) as error:
        return _fail(error)
    return 0


def _gateway(settings: TalqSettings, http: httpx.AsyncClient) -> TalqClient:
    if not settings.gateway:
        raise ConfigError("[talq] gateway: the TALQ gateway URL is not set")
    return TalqClient(settings.gateway, settings.client_address, http)


def _poll(args: argparse.Namespace) -> int:
    async def job(settings: TalqSettings) -> None:
        async with (
            grpc.aio.insecure_channel(settings.service) as channel,
            httpx.AsyncClient(timeout=30) as http,
        ):
            service = Wastesvc(channel, settings.tenant, settings.token)
            client = _gateway(settings, http)
            while True:
                counts = await poll(client, service, settings.source, settings.containers, settings.loggers)
                _log.info("observations: %s", dict(counts) or "none")
                if args.every <= 0:
                    return
                await asyncio.sleep(args.every)

    return _run(args, job)


def _receive(args: argparse.Namespace) -> int:
    async def job(settings: TalqSettings) -> None:
        host, _, port = settings.listen.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"[talq] listen must be host:port, got {settings.listen!r}")
        async with grpc.aio.insecure_channel(settings.service) as channel:
            service = Wastesvc(channel, settings.tenant, settings.token)

            async def handle(report: dict[str, Any]) -> None:
                counts = await store_values(
                    from_log_report(report), service, settings.source, settings.containers
                )
                _log.info("log report %s: %s", report.get("address"), dict(counts) or "nothing to store")

            runner = web.AppRunner(log_report_app(handle))
            await runner.setup()
            await web.TCPSite(runner, host, int(port)).start()
            _log.info("receiving TALQ log reports on http://%s/log-reports", settings.listen)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            try:
                await stop.wait()
            finally:
                await runner.cleanup()

    return _run(args, job)


def _light(args: argparse.Namespace) -> int:
    async def job(settings: TalqSettings) -> None:
        async with (
            grpc.aio.insecure_channel(settings.service) as channel,
            httpx.AsyncClient(timeout=30) as http,
        ):
            service = Wastesvc(channel, settings.tenant, settings.token)
            for lit in await light_round(_gateway(settings, http), service, args.date, settings.lighting):
                o = lit.override
                sent = "dry run" if lit.status is None else f"sent ({lit.status})"
                print(f"{o.start:%H:%M}-{o.end:%H:%M}Z\t{o.commune}\t{len(o.addresses)} luminaire(s)\t{sent}")

    return _run(args, job)
