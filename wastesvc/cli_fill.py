"""`wastesvc alerts`, `wastesvc report` and `wastesvc policy`: the dispatch's view of alerts, reporting an
incident, and the tenant's selection policy."""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import UTC
from pathlib import Path

from google.protobuf import field_mask_pb2, json_format

from wastesvc.client import open_channel
from wastesvc.config import Settings
from wastesvc.v1 import (
    alerts_pb2,
    alerts_pb2_grpc,
    incidents_pb2,
    incidents_pb2_grpc,
    policies_pb2,
    policies_pb2_grpc,
)

__all__ = ["add_commands", "run_alerts", "run_policy", "run_report"]

_INCIDENT_KINDS = {
    name.removeprefix("INCIDENT_KIND_").lower(): number
    for name, number in incidents_pb2.IncidentKind.items()
    if number != incidents_pb2.INCIDENT_KIND_UNSPECIFIED
}


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Adds the `alerts`, `report` and `policy` subcommands."""
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

    policy = commands.add_parser(
        "policy", parents=[common], help="print the tenant's selection policy (JSON), or replace it"
    )
    policy.add_argument(
        "--set",
        type=Path,
        default=None,
        metavar="FILE.json",
        help="update it from this SelectionPolicy message in JSON, then print it",
    )
    policy.add_argument(
        "--mask",
        default="",
        help="comma-separated parts to replace: defaults, stream_overrides, commune_overrides "
        "(default: all three)",
    )
    policy.add_argument("--target", default=None, help="server address (default: the listen setting)")


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


def _policy_file(path: Path, name: str) -> policies_pb2.SelectionPolicy | str:
    """The policy in `path` for the tenant's `name`, or why it cannot be read."""
    try:
        message = json_format.Parse(path.read_text(encoding="utf-8"), policies_pb2.SelectionPolicy())
    except (OSError, UnicodeDecodeError, json_format.ParseError) as exc:
        return f"{path}: {exc}"
    message.name = message.name or name
    return message


async def run_policy(settings: Settings, args: argparse.Namespace) -> int:
    name = f"tenants/{settings.tenant}/selectionPolicy"
    update = None
    if args.set is not None:
        message = _policy_file(args.set, name)
        if isinstance(message, str):
            print(f"wastesvc: error: {message}", file=sys.stderr)
            return 2
        paths = [p.strip() for p in args.mask.split(",") if p.strip()]
        update = policies_pb2.UpdateSelectionPolicyRequest(
            selection_policy=message, update_mask=field_mask_pb2.FieldMask(paths=paths)
        )
    async with open_channel(args.target or settings.listen, settings) as channel:
        stub = policies_pb2_grpc.SelectionPolicyServiceStub(channel)
        if update is None:
            policy = await stub.GetSelectionPolicy(policies_pb2.GetSelectionPolicyRequest(name=name))
        else:
            policy = await stub.UpdateSelectionPolicy(update)
    print(json_format.MessageToJson(policy, indent=2))
    return 0
