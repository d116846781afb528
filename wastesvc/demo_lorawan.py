"""The demo's LoRaWAN share: some sensors' readings travel as real frames through MQTT and the adapter.

Every tenth distance sensor of the scenario becomes a Milesight EM310-UDL: its readings are encoded as
EM310 frames, wrapped in The Things Stack v3 uplink messages and published at QoS 1 on the MQTT broker
of the settings (``mqtt_broker``), or on a broker embedded in this process (amqtt) when none is named.
``wastesvc-adapter lorawan`` runs as its own process, decodes them and stores them through the gRPC API
with a gateway token, so a newcomer sees a frame become a reading and then a stop on a sheet.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import grpc
import paho.mqtt.client as paho
from amqtt.broker import Broker  # type: ignore[import-untyped]
from paho.mqtt.enums import CallbackAPIVersion

from wastesvc.auth import ROLES, issue_token, load_key
from wastesvc.config import Settings
from wastesvc.simulate import SimulatedReading
from wastesvc.v1 import planning_pb2, readings_pb2, readings_pb2_grpc

__all__ = ["LorawanFeed", "em310_frame", "feed_through_lorawan", "split_lorawan"]

_SHARE = 10  # one distance sensor in ten reports over LoRaWAN
_TOPIC = "v3/bins@grand-soissons/devices/{}/up"
_MODEL = "milesight-em310-udl"
_WAIT_S = 120.0


def em310_frame(reading: SimulatedReading) -> bytes:
    """The EM310-UDL frame of a reading: battery (ch 01), distance in mm (ch 03), position (ch 04)."""
    assert reading.distance_mm is not None
    battery = max(0, min(100, reading.battery_pct))
    distance = max(0, min(0xFFFF, reading.distance_mm))
    return (
        bytes([0x01, 0x75, battery, 0x03, 0x82])
        + distance.to_bytes(2, "little")
        + bytes([0x04, 0x00, int(reading.tilt)])
    )


def split_lorawan(
    readings: Sequence[SimulatedReading],
) -> tuple[list[SimulatedReading], list[SimulatedReading]]:
    """The readings of the LoRaWAN sensors (all distance readings), and the others."""
    distance_only = {r.sensor_id for r in readings if r.distance_mm is not None} - {
        r.sensor_id for r in readings if r.distance_mm is None
    }
    chosen = set(sorted(distance_only)[::_SHARE])
    lorawan = [r for r in readings if r.sensor_id in chosen]
    return lorawan, [r for r in readings if r.sensor_id not in chosen]


def _uplink(reading: SimulatedReading, f_cnt: int) -> bytes:
    return json.dumps(
        {
            "end_device_ids": {
                "device_id": f"bin-{reading.sensor_id[-6:].lower()}",
                "dev_eui": reading.sensor_id,
            },
            "uplink_message": {
                "f_cnt": f_cnt,
                "f_port": 85,
                "frm_payload": base64.b64encode(em310_frame(reading)).decode(),
                "received_at": reading.measure_time.isoformat().replace("+00:00", "Z"),
            },
        }
    ).encode()


@dataclass(frozen=True)
class LorawanFeed:
    """What went through LoRaWAN: the readings sent, how many were stored, the broker used."""

    readings: Sequence[SimulatedReading]
    stored: int
    broker: str

    def story(self, plan: planning_pb2.RoutePlan, tz: ZoneInfo) -> str:
        """One LoRaWAN sensor followed from its last frame to its stop on a sheet (or why it has none)."""
        last = {r.container_id: r for r in sorted(self.readings, key=lambda r: r.measure_time)}
        for route in plan.routes:
            for visit in route.visits:
                for name in visit.containers:
                    reading = last.get(name.rsplit("/", 1)[-1])
                    if reading is not None:
                        when = visit.start_time.ToDatetime(tzinfo=UTC).astimezone(tz)
                        frame = em310_frame(reading).hex().upper()
                        return (
                            f"LoRaWAN: sensor {reading.sensor_id} sent frame {frame} "
                            f"(distance {reading.distance_mm} mm) → reading of {name} → stop at {when:%H:%M} "
                            f"on the sheet of {route.vehicle}"
                        )
        return "LoRaWAN: none of the LoRaWAN sensors' containers is due today"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def _broker(settings: Settings) -> AsyncIterator[tuple[str, int]]:
    """The settings' broker, or an amqtt broker embedded for the block."""
    if settings.mqtt_broker:
        parts = urlsplit(
            settings.mqtt_broker if "://" in settings.mqtt_broker else f"//{settings.mqtt_broker}"
        )
        yield parts.hostname or "127.0.0.1", parts.port or 1883
        return
    # amqtt and its state machine log every connection at INFO: the demo's own lines say what matters.
    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.WARNING)
    port = _free_port()
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
    )
    await broker.start()
    try:
        yield "127.0.0.1", port
    finally:
        await broker.shutdown()


def _publish(host: str, port: int, messages: list[tuple[str, bytes]]) -> None:
    """Publish at QoS 1 and wait until the broker has acknowledged every message."""
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"wastesvc-demo-{os.getpid()}", protocol=paho.MQTTv311
    )
    client.max_inflight_messages_set(100)
    client.max_queued_messages_set(0)
    client.connect(host, port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout=60)
    finally:
        client.disconnect()
        client.loop_stop()


def _adapter_config(
    workdir: Path, *, host: str, port: int, address: str, tenant: str, sensors: set[str]
) -> Path:
    config = workdir / "lorawan-demo.toml"
    devices = "\n".join(f'"{sensor}" = "{_MODEL}"' for sensor in sorted(sensors))
    config.write_text(
        f'[mqtt]\nbroker = "mqtt://{host}:{port}"\ntopics = ["{_TOPIC.format("+")}"]\n'
        f'client_id = "wastesvc-demo-lorawan"\nprotocol = "3.1.1"\n'
        f'[quarantine]\npath = "{workdir / "lorawan-quarantine.sqlite3"}"\n'
        f'[service]\ntarget = "{address}"\ntenant = "{tenant}"\n'
        f"[devices]\n{devices}\n"
    )
    return config


async def _stored(channel: grpc.aio.Channel, tenant: str, containers: set[str]) -> int:
    stub = readings_pb2_grpc.ReadingServiceStub(channel)
    total = 0
    for container in containers:
        token = ""
        while True:
            page = await stub.ListReadings(
                readings_pb2.ListReadingsRequest(
                    parent=f"tenants/{tenant}/containers/{container}", page_size=1000, page_token=token
                )
            )
            total += len(page.readings)
            token = page.next_page_token
            if not token:
                break
    return total


async def feed_through_lorawan(
    readings: Sequence[SimulatedReading],
    settings: Settings,
    address: str,
    channel: grpc.aio.Channel,
    workdir: Path,
) -> LorawanFeed:
    """Publish ``readings`` as uplinks and let a ``wastesvc-adapter lorawan`` process store them."""
    workdir.mkdir(parents=True, exist_ok=True)
    token = issue_token(
        load_key(settings.auth_key_file),
        tenant=settings.tenant,
        scopes=ROLES["gateway"],
        subject="demo-lorawan",
    )
    f_cnts: Counter[str] = Counter()
    messages = []
    for reading in sorted(readings, key=lambda r: r.measure_time):
        f_cnts[reading.sensor_id] += 1
        messages.append(
            (_TOPIC.format(reading.sensor_id.lower()), _uplink(reading, f_cnts[reading.sensor_id]))
        )
    async with _broker(settings) as (host, port):
        config = _adapter_config(
            workdir, host=host, port=port, address=address, tenant=settings.tenant, sensors=set(f_cnts)
        )
        log_path = workdir / "lorawan-adapter.log"
        with log_path.open("wb") as log:
            adapter = subprocess.Popen(
                [str(Path(sys.executable).parent / "wastesvc-adapter"), "lorawan", "--config", str(config)],
                env={**os.environ, "WASTESVC_TOKEN": token},
                stderr=log,
            )
            try:
                deadline = time.monotonic() + _WAIT_S
                while b"subscribed to" not in log_path.read_bytes():
                    if adapter.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"the LoRaWAN adapter did not start; see {log_path}")
                    await asyncio.sleep(0.1)
                await asyncio.to_thread(_publish, host, port, messages)
                containers = {r.container_id for r in readings}
                stored = await _stored(channel, settings.tenant, containers)
                while stored < len(readings) and time.monotonic() < deadline:
                    await asyncio.sleep(0.5)
                    stored = await _stored(channel, settings.tenant, containers)
            finally:
                adapter.terminate()
                await asyncio.to_thread(adapter.wait, 30)
    return LorawanFeed(readings, stored, f"{host}:{port}" + ("" if settings.mqtt_broker else " (embedded)"))
