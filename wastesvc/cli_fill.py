"""`wastesvc alerts` and `wastesvc report`: the dispatch's view of alerts, and reporting an incident."""

from __future__ import annotations

import argparse
import uuid
from datetime import UTC

from wastesvc.client import open_channel
from wastesvc.config import Settings
from wastesvc.v1 import alerts_pb2, alerts_pb2_grpc, incidents_pb2, incidents_pb2_grpc

__all__ = ["add_commands", "run_alerts", "run_report"]

_INCIDENT_KINDS = {
    name.removeprefix("INCIDENT_KIND_").lower(): number
    for name, number in incidents_pb2.IncidentKind.items()
    if number != incidents_pb2.INCIDENT_KIND_UNSPECIFIED
}


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Adds the `alerts` and `report` subcommands."""
    alerts = commands.add_parser(
        "alerts", parents=[common], help="list the tenant's alerts, or watch them live"
    )
    alerts.add_argument("--target", default=None, help="server address (default: the listen setting)")
    alerts.add_argument("--filter", default="state = OPEN", help='AIP-160 filter (default "state = OPEN")')
    alerts.add_argument("--watch", action="store_true", help="then print new and changed alerts until Ctrl-C")

    report = commands.add_parser("report", parents=[common], help="report an incident on a container")
    report.add_argument("container", help="container id (or its full name tenants/{tenant}/containers/…)")
    report.add_argument("--kind", choices=sorted(_INCIDENT_KINDS), required=True)
    report.add_argument("--description", default="")
    report.add_argument("--reporter", default="wastesvc-cli")
    report.add_argument("--request-id", default=None, help="idempotency key (default: a new UUID)")
    report.add_argument("--target", default=None, help="server address (default: the listen setting)")


def _line(alert: alerts_pb2.Alert) -> str:
    kind = alerts_pb2.AlertKind.Name(alert.kind).removeprefix("ALERT_KIND_")
    state = alerts_pb2.AlertState.Name(alert.state).removeprefix("ALERT_STATE_")
    since = alert.start_time.ToDatetime(UTC).strftime("%Y-%m-%d %H:%M")
    container = alert.container.rsplit("/", 1)[-1]
    return "\t".join((alert.name, state, kind, container, f"since {since} UTC", alert.detail))


async def run_alerts(settings: Settings, args: argparse.Namespace) -> int:
    parent = f"tenants/{settings.tenant}"
    async with open_channel(args.target or settings.listen, settings) as channel:
        stub = alerts_pb2_grpc.AlertServiceStub(channel)
        token = ""
        while True:
            page = await stub.ListAlerts(
                alerts_pb2.ListAlertsRequest(parent=parent, filter=args.filter, page_token=token)
            )
            for alert in page.alerts:
                print(_line(alert), flush=True)
            token = page.next_page_token
            if not token:
                break
        if args.watch:
            async for message in stub.WatchAlerts(alerts_pb2.WatchAlertsRequest(parent=parent)):
                print(_line(message.alert), flush=True)
    return 0


async def run_report(settings: Settings, args: argparse.Namespace) -> int:
    parent = f"tenants/{settings.tenant}"
    container = args.container if "/" in args.container else f"{parent}/containers/{args.container}"
    request = incidents_pb2.CreateIncidentRequest(
        parent=parent,
        request_id=args.request_id or str(uuid.uuid4()),
        incident=incidents_pb2.Incident(
            container=container,
            kind=_INCIDENT_KINDS[args.kind],
            description=args.description,
            reporter=args.reporter,
        ),
    )
    async with open_channel(args.target or settings.listen, settings) as channel:
        incident = await incidents_pb2_grpc.IncidentServiceStub(channel).CreateIncident(request)
    print(incident.name)
    return 0
