"""``wastesvc-adapter ngsi``: publish entities to the city's NGSI-LD broker; import from it."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from datetime import date
from typing import Any

import grpc
import httpx

from adapters.ngsi.broker import Broker, BrokerError
from adapters.ngsi.export import export, import_containers
from adapters.ngsi.sdm import SdmError
from adapters.service_client import Wastesvc

__all__ = ["add_parser"]


def add_parser(adapters: Any) -> None:
    """Add the ``ngsi`` subcommand to ``adapters`` (an argparse subparsers object)."""
    parser: argparse.ArgumentParser = adapters.add_parser(
        "ngsi",
        help="city data platform (NGSI-LD, Smart Data Models): export containers, isles, vehicles, "
        "collections; import",
        description="Bridge wastesvc and an NGSI-LD context broker. The service token is read from "
        "WASTESVC_TOKEN (export: a role with read; import: with write).",
    )
    parser.add_argument("--broker", required=True, help="broker base URL, e.g. http://127.0.0.1:1026")
    parser.add_argument("--broker-tenant", default="", help="NGSILD-Tenant header (empty: default tenant)")
    parser.add_argument("--service", default="127.0.0.1:50051", help="wastesvc gRPC target")
    parser.add_argument("--tenant", default="grand-soissons", help="wastesvc tenant")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    exporter = actions.add_parser(
        "export", help="upsert every container, isle, vehicle and recent collection"
    )
    exporter.add_argument(
        "--since",
        type=date.fromisoformat,
        default=None,
        help="collections of the plans from this day (YYYY-MM-DD; default a week ago)",
    )
    exporter.set_defaults(handler=_export)
    importer = actions.add_parser("import", help="create the broker's WasteContainers the service lacks")
    importer.add_argument("--commune", required=True, help="INSEE code of the imported containers' commune")
    importer.set_defaults(handler=_import)


def _run(args: argparse.Namespace, job: Any) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = os.environ.get("WASTESVC_TOKEN", "")
    if not token:
        print("wastesvc-adapter ngsi: set WASTESVC_TOKEN (wastesvc token --role …)", file=sys.stderr)
        return 2

    async def main() -> None:
        async with grpc.aio.insecure_channel(args.service) as channel, httpx.AsyncClient(timeout=60) as http:
            await job(Wastesvc(channel, args.tenant, token), Broker(args.broker, args.broker_tenant, http))

    try:
        asyncio.run(main())
    except (BrokerError, SdmError, grpc.aio.AioRpcError) as error:
        print(f"wastesvc-adapter ngsi: {error}", file=sys.stderr)
        return 2
    return 0


def _export(args: argparse.Namespace) -> int:
    async def job(service: Wastesvc, broker: Broker) -> None:
        result = await export(service, broker, args.tenant, args.since)
        print(f"{len(result.succeeded)} entities upserted, {len(result.errors)} refused")

    return _run(args, job)


def _import(args: argparse.Namespace) -> int:
    async def job(service: Wastesvc, broker: Broker) -> None:
        done = await import_containers(service, broker, args.commune)
        print(f"{len(done.created)} created, {len(done.existing)} already there, {len(done.refused)} refused")
        for entity_id, reason in done.refused.items():
            print(f"refused\t{entity_id}\t{reason}")

    return _run(args, job)
