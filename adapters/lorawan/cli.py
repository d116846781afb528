"""``wastesvc-adapter lorawan``: run the adapter, or list, show, replay and drop quarantined frames."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from adapters.lorawan.config import LorawanSettings, Overrides, load_settings
from adapters.lorawan.devices import ConfigError
from adapters.lorawan.file_sink import JsonLinesSink
from adapters.lorawan.ingest import Ingestor, Outcome
from adapters.lorawan.mqtt import MqttSubscriber
from adapters.lorawan.quarantine import Quarantine
from adapters.lorawan.service_sink import build_service_sink
from adapters.lorawan.sink import Sink
from adapters.lorawan.webhook import serve_webhook

__all__ = ["add_parser", "build_sink"]

_log = logging.getLogger("adapters.lorawan")


def build_sink(settings: LorawanSettings) -> Sink:
    """The sink named by the settings: the JSON-lines file when given, else the wastesvc service.

    Raises
    ------
    ConfigError
        When neither is given.
    """
    if settings.sink_file is not None:
        return JsonLinesSink(settings.sink_file)
    if settings.service:
        if not settings.token:
            raise ConfigError("no token for the service: set WASTESVC_TOKEN (wastesvc token --role gateway)")
        return build_service_sink(settings.service, settings.tenant, settings.token)
    raise ConfigError("no sink: give --service HOST:PORT (wastesvc) or --sink-file PATH")


def add_parser(adapters: Any) -> None:
    """Add the ``lorawan`` subcommand to ``adapters`` (an argparse subparsers object)."""
    parser: argparse.ArgumentParser = adapters.add_parser(
        "lorawan",
        help="LoRaWAN uplinks from The Things Stack v3 and ChirpStack v4 (MQTT, TTS webhook)",
        description="Receive LoRaWAN uplinks, decode them and store them as readings; "
        "quarantine what cannot be stored. Options override the configuration file.",
    )
    parser.add_argument(
        "--config", type=Path, help="TOML settings file (devices, broker, webhook, quarantine)"
    )
    parser.add_argument("--broker", help="MQTT broker, mqtt://host:port or mqtts://host:port")
    parser.add_argument(
        "--topic", action="append", default=[], help="topic filter to subscribe to (repeat for more)"
    )
    parser.add_argument("--client-id", help="fixed MQTT client id (the broker keeps the session under it)")
    parser.add_argument("--webhook", metavar="HOST:PORT", help="serve the TTS webhook receiver here")
    parser.add_argument("--quarantine", type=Path, help="quarantine SQLite file")
    parser.add_argument("--service", metavar="HOST:PORT", help="wastesvc gRPC target to store readings into")
    parser.add_argument("--sink-file", type=Path, help="append readings to this JSON-lines file instead")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every frame")
    parser.set_defaults(handler=_run)

    actions = parser.add_subparsers(dest="action", metavar="quarantine")
    quarantine = actions.add_parser("quarantine", help="work on the quarantined frames")
    commands = quarantine.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("list", help="one line per quarantined frame").set_defaults(handler=_list)
    show = commands.add_parser("show", help="print a frame's body as received")
    show.add_argument("id", type=int)
    show.set_defaults(handler=_show)
    replay = commands.add_parser("replay", help="try frames again (all when no id is given)")
    replay.add_argument("ids", type=int, nargs="*")
    replay.set_defaults(handler=_replay)
    drop = commands.add_parser("drop", help="delete frames for good")
    drop.add_argument("ids", type=int, nargs="+")
    drop.set_defaults(handler=_drop)


def _settings(args: argparse.Namespace) -> LorawanSettings:
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    overrides = Overrides(
        broker=args.broker,
        topics=args.topic,
        client_id=args.client_id,
        webhook=args.webhook,
        quarantine=args.quarantine,
        service=args.service,
        sink_file=args.sink_file,
    )
    return load_settings(args.config, overrides)


def _fail(error: Exception) -> int:
    print(f"wastesvc-adapter lorawan: {error}", file=sys.stderr)
    return 2


async def _serve(settings: LorawanSettings) -> None:
    # The sink's gRPC channel belongs to this event loop: it is built here, not before asyncio.run.
    sink = build_sink(settings)
    quarantine = Quarantine(settings.quarantine_path)
    ingestor = Ingestor(settings.models, sink, quarantine)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    tasks = []
    if settings.mqtt is not None:
        _log.info("subscribing to %s on %s:%d", settings.mqtt.topics, settings.mqtt.host, settings.mqtt.port)
        tasks.append(asyncio.create_task(MqttSubscriber(settings.mqtt, ingestor).run(stop)))
    if settings.webhook is not None:
        tasks.append(asyncio.create_task(serve_webhook(settings.webhook, ingestor, stop)))
    try:
        # A part that fails (say, the webhook port is taken) stops the others.
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        stop.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
    finally:
        quarantine.close()


def _run(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
        if settings.mqtt is None and settings.webhook is None:
            raise ConfigError("nothing to receive: configure [mqtt] broker (--broker) or [webhook] listen")
        asyncio.run(_serve(settings))
    except (ConfigError, OSError) as error:
        return _fail(error)
    return 0


def _list(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
    except ConfigError as error:
        return _fail(error)
    quarantine = Quarantine(settings.quarantine_path)
    try:
        frames = quarantine.frames()
    finally:
        quarantine.close()
    for frame in frames:
        when = frame.quarantined_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        print(
            f"{frame.id}\t{when}\t{frame.network or '-'}\t{frame.origin}\t"
            f"replays={frame.replays}\t{frame.reason}"
        )
    print(f"{len(frames)} frame(s) in {settings.quarantine_path}", file=sys.stderr)
    return 0


def _show(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
    except ConfigError as error:
        return _fail(error)
    quarantine = Quarantine(settings.quarantine_path)
    try:
        frames = quarantine.frames([args.id])
    finally:
        quarantine.close()
    if not frames:
        return _fail(LookupError(f"no frame {args.id} in the quarantine"))
    sys.stdout.buffer.write(frames[0].body + b"\n")
    return 0


def _replay(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
    except ConfigError as error:
        return _fail(error)
    quarantine = Quarantine(settings.quarantine_path)

    async def replay() -> dict[int, Outcome]:
        sink = build_sink(settings)  # its channel belongs to this event loop
        return await Ingestor(settings.models, sink, quarantine).replay(args.ids or None)

    try:
        outcomes = asyncio.run(replay())
    except Exception as error:  # no sink, or it could not store: nothing left the quarantine
        return _fail(error)
    finally:
        quarantine.close()
    for frame_id, outcome in sorted(outcomes.items()):
        print(f"{frame_id}\t{outcome.disposition.value}\t{outcome.reason}")
    missing = sorted(set(args.ids) - set(outcomes))
    if missing:
        return _fail(LookupError(f"not in the quarantine: {', '.join(map(str, missing))}"))
    return 0


def _drop(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
    except ConfigError as error:
        return _fail(error)
    quarantine = Quarantine(settings.quarantine_path)
    try:
        missing = [frame_id for frame_id in args.ids if not quarantine.remove(frame_id)]
    finally:
        quarantine.close()
    if missing:
        return _fail(LookupError(f"not in the quarantine: {', '.join(map(str, missing))}"))
    return 0
