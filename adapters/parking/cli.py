"""``wastesvc-adapter parking``: street occupancy into wastesvc, planned stops out as no-parking windows."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

import grpc
import httpx

from adapters.ngsi.broker import Broker, BrokerError
from adapters.parking.bridge import poll_occupancy, publish_windows
from adapters.parking.no_parking import PublishError
from adapters.parking.occupancy import by_id
from adapters.parking.sites import read_sites
from adapters.service_client import Wastesvc

__all__ = ["add_parser"]


def add_parser(adapters: Any) -> None:
    """Add the ``parking`` subcommand to ``adapters`` (an argparse subparsers object)."""
    parser: argparse.ArgumentParser = adapters.add_parser(
        "parking",
        help="street parking: occupancy in (FIWARE OnStreetParking), no-parking windows out",
        description="Bridge a parking service and wastesvc. The service token is read from WASTESVC_TOKEN "
        "(poll: gateway role; publish: a role with read).",
    )
    parser.add_argument("--service", default="127.0.0.1:50051", help="wastesvc gRPC target")
    parser.add_argument("--tenant", default="grand-soissons", help="wastesvc tenant")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    poll = actions.add_parser("poll", help="store the occupancy of every OnStreetParking of a broker")
    poll.add_argument("--broker", required=True, help="NGSI-LD broker of the parking service")
    poll.add_argument("--broker-tenant", default="", help="NGSILD-Tenant header")
    poll.add_argument("--sites", type=Path, help="static parking places, CSV of the French schema")
    poll.add_argument("--source", default="parking", help="the observations' source")
    poll.add_argument("--every", type=float, default=0, help="poll again every this many seconds")
    poll.set_defaults(handler=_poll)
    publish = actions.add_parser("publish", help="send a day's planned stops as no-parking windows")
    publish.add_argument("--url", required=True, help="the parking service's endpoint (POST, JSON array)")
    publish.add_argument("--date", type=date.fromisoformat, default=date.today(), help="YYYY-MM-DD")
    publish.set_defaults(handler=_publish)


def _run(args: argparse.Namespace, job: Any) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = os.environ.get("WASTESVC_TOKEN", "")
    if not token:
        print("wastesvc-adapter parking: set WASTESVC_TOKEN (wastesvc token --role …)", file=sys.stderr)
        return 2

    async def main() -> None:
        async with grpc.aio.insecure_channel(args.service) as channel, httpx.AsyncClient(timeout=60) as http:
            await job(Wastesvc(channel, args.tenant, token), http)

    try:
        asyncio.run(main())
    except (BrokerError, PublishError, grpc.aio.AioRpcError, OSError) as error:
        print(f"wastesvc-adapter parking: {error}", file=sys.stderr)
        return 2
    return 0


def _poll(args: argparse.Namespace) -> int:
    sites = {}
    if args.sites is not None:
        try:
            found, errors = read_sites(args.sites)
        except OSError as error:
            print(f"wastesvc-adapter parking: {error}", file=sys.stderr)
            return 2
        for problem in errors:
            print(f"skipped: {problem}", file=sys.stderr)
        sites = by_id(found)

    async def job(service: Wastesvc, http: httpx.AsyncClient) -> None:
        broker = Broker(args.broker, args.broker_tenant, http)
        while True:
            counts = await poll_occupancy(broker, service, sites, args.source)
            print(dict(counts) or "no OnStreetParking entity", flush=True)
            if args.every <= 0:
                return
            await asyncio.sleep(args.every)

    return _run(args, job)


def _publish(args: argparse.Namespace) -> int:
    async def job(service: Wastesvc, http: httpx.AsyncClient) -> None:
        print(f"{await publish_windows(service, http, args.url, args.date)} no-parking window(s) sent")

    return _run(args, job)
