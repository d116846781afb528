"""Ingest benchmark: LoRaWAN uplinks from Mosquitto through the adapter into the service on SQLite.

``python -m bench.ingest_lorawan`` (``make bench-ingest-lorawan``) starts its own Mosquitto (a config
file with ``max_queued_messages 0`` and persistence, on a free port), a ``wastesvc serve`` on a fresh
SQLite file and a ``wastesvc-adapter lorawan`` process; it publishes TTS v3 uplinks of Milesight EM310
frames at a paced rate, then counts what the service stored. Two runs: one undisturbed (throughput and
publish→stored latency), one where the adapter and then the service are killed with SIGKILL and started
again mid-run (nothing lost, nothing stored twice). Latency is a reading's ``create_time`` minus its
``received_at``, which the publisher sets to the publish time. Records go to
``bench/results/ingest.json`` (path ``mqtt-lorawan``), next to the other ingest paths' records.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import getpass
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import duration_pb2
from google.type import latlng_pb2

from bench._mqtt_publisher import publish_paced
from wastesvc.auth import ROLES, issue_token, load_key
from wastesvc.v1 import common_pb2, containers_pb2, containers_pb2_grpc

__all__ = ["main"]

RESULTS = Path(__file__).parent / "results" / "ingest.json"
PATH = "mqtt-lorawan"
TENANT = "bench"
TOPIC = "v3/bins@bench/devices/{}/up"
# Milesight EM310-UDL, golden vector GP01 (fPort 85): distance 2116 mm.
FRAME = base64.b64encode(bytes.fromhex("01755C03824408040001")).decode()
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _dev_eui(device: int) -> str:
    return f"24E1241300{device:06X}"


def _uplink(index: int, now: float, devices: int) -> tuple[str, bytes]:
    device = index % devices
    received = datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z")
    body = json.dumps(
        {
            "end_device_ids": {"device_id": f"bin-{device}", "dev_eui": _dev_eui(device)},
            "uplink_message": {
                "f_cnt": index // devices,
                "f_port": 85,
                "frm_payload": FRAME,
                "received_at": received,
                "version_ids": {"brand_id": "milesight-iot", "model_id": "em310-udl"},
            },
        }
    )
    return TOPIC.format(f"bin-{device}"), body.encode()


@dataclass
class _Stack:
    """The three processes of a run and where they keep their state."""

    workdir: Path
    mqtt_port: int
    grpc_port: int
    batch_max: int
    broker: subprocess.Popen[bytes] | None = None
    service: subprocess.Popen[bytes] | None = None
    adapter: subprocess.Popen[bytes] | None = None

    @property
    def db(self) -> Path:
        return self.workdir / "wastesvc.db"

    def _log(self, name: str) -> Any:
        return (self.workdir / f"{name}.log").open("ab")

    def start_broker(self) -> None:
        config = self.workdir / "mosquitto.conf"
        config.write_text(
            f"listener {self.mqtt_port} 127.0.0.1\n"
            "allow_anonymous true\n"
            # Run as root, mosquitto would drop to a user that cannot write the persistence file here.
            f"user {getpass.getuser()}\n"
            # The default (1000) drops QoS 1 messages for a session that falls behind.
            "max_queued_messages 0\n"
            "max_inflight_messages 0\n"
            "persistence true\n"
            f"persistence_location {self.workdir}/\n"
        )
        mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.broker = subprocess.Popen([mosquitto, "-c", str(config)], stderr=self._log("mosquitto"))
        _wait_port(self.mqtt_port)

    def service_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "WASTESVC_DB_URL": f"sqlite:///{self.db}",
            "WASTESVC_LISTEN": f"127.0.0.1:{self.grpc_port}",
            "WASTESVC_AUTH_KEY_FILE": str(self.workdir / "auth.key"),
        }

    def start_service(self) -> None:
        self.service = subprocess.Popen(
            [str(BIN / "wastesvc"), "serve"], env=self.service_env(), stderr=self._log("service")
        )
        _wait_port(self.grpc_port)

    def start_adapter(self) -> None:
        config = self.workdir / "lorawan.toml"
        config.write_text(
            f'[mqtt]\nbroker = "mqtt://127.0.0.1:{self.mqtt_port}"\n'
            f'topics = ["{TOPIC.format("+")}"]\nclient_id = "wastesvc-bench-lorawan"\n'
            f"batch_max = {self.batch_max}\n"
            '[profiles]\n"milesight-iot/em310-udl" = "milesight-em310-udl"\n'
            f'[quarantine]\npath = "{self.workdir / "quarantine.sqlite3"}"\n'
            f'[service]\ntarget = "127.0.0.1:{self.grpc_port}"\ntenant = "{TENANT}"\n'
        )
        token = issue_token(
            load_key(self.workdir / "auth.key"), tenant=TENANT, scopes=ROLES["gateway"], subject="bench"
        )
        self.adapter = subprocess.Popen(
            [str(BIN / "wastesvc-adapter"), "lorawan", "--config", str(config)],
            env={**os.environ, "WASTESVC_TOKEN": token},
            stderr=self._log("adapter"),
        )

    def wait_subscribed(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        log = self.workdir / "adapter.log"
        while b"subscribed to" not in log.read_bytes():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the adapter did not subscribe; see {log}")
            time.sleep(0.1)

    def cpu_s(self) -> dict[str, float]:
        """CPU seconds (user + system) used so far by each running process of the stack."""
        used = {}
        for name, process in (("broker", self.broker), ("service", self.service), ("adapter", self.adapter)):
            if process is not None and process.poll() is None:
                fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
                used[name] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return used

    def stop(self) -> None:
        for process in (self.adapter, self.service, self.broker):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on port {port}") from None
            time.sleep(0.05)


async def _create_containers(stack: _Stack, devices: int) -> None:
    token = issue_token(
        load_key(stack.workdir / "auth.key"), tenant=TENANT, scopes=ROLES["operator"], subject="bench"
    )
    metadata = (("authorization", f"Bearer {token}"),)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.grpc_port}") as channel:
        stub = containers_pb2_grpc.ContainerServiceStub(channel)

        async def create(device: int) -> None:
            container = containers_pb2.Container(
                commune_code="02722",
                locality="Soissons",
                street_address=f"Rue du banc {device}",
                location=latlng_pb2.LatLng(latitude=49.38 + device * 1e-5, longitude=3.32),
                stream=common_pb2.WASTE_STREAM_GLASS,
                volume_liters=3000,
                model=containers_pb2.ContainerModel(
                    model_id="pav-3m3", empty_distance_mm=2800, full_distance_mm=300
                ),
                sensor_id=_dev_eui(device),
                service_duration=duration_pb2.Duration(seconds=120),
            )
            request = containers_pb2.CreateContainerRequest(
                parent=f"tenants/{TENANT}", container_id=f"b{device}", container=container
            )
            await stub.CreateContainer(request, metadata=metadata)

        for start in range(0, devices, 200):
            await asyncio.gather(*(create(d) for d in range(start, min(devices, start + 200))))


def _stored(db: Path) -> list[tuple[str, str, str]]:
    """(container, measure time, create time) of every stored reading."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as connection:
        rows = connection.execute("SELECT container_id, measure_time, create_time FROM readings").fetchall()
    return [(str(a), str(b), str(c)) for a, b, c in rows]


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as connection:
            count: int = connection.execute("SELECT count(*) FROM readings").fetchone()[0]
            return count
    except sqlite3.Error:
        return -1  # the service is restarting


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def _kill_during(stack: _Stack, publish_s: float) -> int:
    """SIGKILL the adapter at a third of the publishing time and the service at two thirds."""
    await asyncio.sleep(publish_s / 3)
    assert stack.adapter is not None
    assert stack.service is not None
    stack.adapter.kill()
    stack.adapter.wait()
    await asyncio.sleep(0.5)
    stack.start_adapter()
    await asyncio.sleep(publish_s / 3)
    stack.service.kill()
    stack.service.wait()
    await asyncio.sleep(0.5)
    await asyncio.to_thread(stack.start_service)
    return 2


async def _run(uplinks: int, rate: float, devices: int, *, kills: bool, batch_max: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="wastesvc-bench-ingest-") as tmp:
        workdir = Path(os.environ.get("WASTESVC_BENCH_KEEP") or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        stack = _Stack(workdir, _free_port(), _free_port(), batch_max)
        try:
            stack.start_broker()
            stack.start_service()
            await _create_containers(stack, devices)
            stack.start_adapter()
            await asyncio.to_thread(stack.wait_subscribed)
            killer = asyncio.create_task(_kill_during(stack, uplinks / rate)) if kills else None
            await publish_paced(
                "127.0.0.1",
                stack.mqtt_port,
                messages=uplinks,
                rate=rate,
                message=lambda i, now: _uplink(i, now, devices),
            )
            killed = await killer if killer is not None else 0
            last, still = -1, time.monotonic()
            while (count := _count(stack.db)) < uplinks and time.monotonic() - still < 60:
                if count != last:
                    last, still = count, time.monotonic()
                await asyncio.sleep(0.2)
            rows = _stored(stack.db)
            # Load-independent cost: CPU per 1 000 readings (exact only without kills).
            cpu = {name: round(1e6 * used / uplinks) for name, used in stack.cpu_s().items()}
            print(f"cpu ms per 1000 readings (load average {os.getloadavg()[0]:.1f}): {cpu}", file=sys.stderr)
        finally:
            stack.stop()
    return _record(rows, uplinks, killed) | {"offered_per_s": rate}


def _record(rows: list[tuple[str, str, str]], published: int, kills: int) -> dict[str, Any]:
    def moment(text: str) -> float:
        return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()

    measured = [moment(m) for _, m, _ in rows]
    created = [moment(c) for _, _, c in rows]
    latencies_ms = [(c - m) * 1000 for m, c in zip(measured, created, strict=True)]
    distinct = len({(container, m) for container, m, _ in rows})
    span = max(created) - min(measured) if rows else 0.0
    return {
        "path": PATH,
        "backend": "sqlite",
        "readings_per_s": round(len(rows) / span) if span else 0,
        "p50_ms": round(_percentile(latencies_ms, 0.50), 1) if rows else None,
        "p99_ms": round(_percentile(latencies_ms, 0.99), 1) if rows else None,
        "published": published,
        "stored": distinct,
        "duplicates": len(rows) - distinct,
        "kills": kills,
    }


def _save(records: list[dict[str, Any]]) -> None:
    """Replace this path's records in the shared results file, keeping the other paths'."""
    existing: list[dict[str, Any]] = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    kept = [record for record in existing if record.get("path") != PATH]
    RESULTS.write_text(json.dumps(kept + records, indent=2) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the undisturbed and the killed run; print and save their records."""
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_lorawan", description=__doc__)
    parser.add_argument("--uplinks", type=int, default=100_000, help="uplinks published per run")
    parser.add_argument("--rate", type=float, default=6_000, help="publishing rate, uplinks per second")
    parser.add_argument("--devices", type=int, default=2_000, help="sensors (one container each)")
    parser.add_argument("--batch-max", type=int, default=2_000, help="the adapter's batch_max")
    parser.add_argument("--only", choices=["clean", "kills"], help="run only one of the two runs")
    parser.add_argument("--no-save", action="store_true", help="print the records only")
    args = parser.parse_args(argv)
    records = []
    for kills in (False, True):
        if args.only and args.only != ("kills" if kills else "clean"):
            continue
        record = asyncio.run(
            _run(args.uplinks, args.rate, args.devices, kills=kills, batch_max=args.batch_max)
        )
        print(json.dumps(record), flush=True)
        records.append(record)
    if not args.no_save:
        _save(records)
    lost = any(r["stored"] != r["published"] or r["duplicates"] for r in records)
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
