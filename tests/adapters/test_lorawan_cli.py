"""``wastesvc-adapter lorawan`` as a process: real Mosquitto, real HTTP, kill -9, quarantine commands."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
import pytest
from paho.mqtt import publish
from paho.mqtt.enums import CallbackAPIVersion

from tests.adapters.lorawan_support import EM310_FRAME, LDDS75_FRAME, chirpstack_uplink, tts_uplink

ADAPTER = Path(sys.executable).parent / "wastesvc-adapter"
T0 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
EM310 = "24E124136B502217"
LDDS75 = "A84041000181C061"
SECRET_ENV = "WASTESVC_TEST_TTS_WEBHOOK_SECRET"
SECRET = "hook-" + uuid.uuid4().hex


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class Setup:
    """A configuration file with topics, client id and webhook port unique to one test."""

    def __init__(self, directory: Path) -> None:
        self.run = f"wastesvc-cli-{uuid.uuid4().hex[:12]}"
        self.directory = directory
        self.config = directory / "lorawan.toml"
        self.readings = directory / "readings.jsonl"
        self.quarantine = directory / "quarantine.sqlite3"
        self.webhook_port = _free_port()
        self.write(profiles={})

    def write(self, profiles: dict[str, str]) -> None:
        profile_lines = "".join(f'"{name}" = "{model}"\n' for name, model in profiles.items())
        self.config.write_text(
            f"""
[mqtt]
broker = "mqtt://127.0.0.1:1883"
topics = ["v3/{self.run}@soissons/devices/+/up", "application/{self.run}/device/+/event/up"]
client_id = "{self.run}"
session_expiry_s = 300
reconnect_min_s = 1
reconnect_max_s = 2

[webhook]
listen = "127.0.0.1:{self.webhook_port}"
path = "/tts/uplink"
secret_header = "X-Webhook-Secret"
secret_env = "{SECRET_ENV}"

[quarantine]
path = "{self.quarantine}"

[devices]
"{EM310}" = "milesight-em310-udl"

[profiles]
{profile_lines}"""
        )

    def tts_topic(self) -> str:
        return f"v3/{self.run}@soissons/devices/em310-1/up"

    def chirpstack_topic(self, dev_eui: str) -> str:
        return f"application/{self.run}/device/{dev_eui.lower()}/event/up"

    def lines(self) -> list[dict[str, Any]]:
        if not self.readings.exists():
            return []
        return [json.loads(line) for line in self.readings.read_text().splitlines() if line.endswith("}")]

    def forget_session(self) -> None:
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=self.run, protocol=paho.MQTTv5)
        client.connect("127.0.0.1", 1883, clean_start=True)
        client.loop(timeout=1)
        client.disconnect()


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    made = Setup(tmp_path)
    yield made
    made.forget_session()


def cli(*args: str, setup: Setup) -> subprocess.CompletedProcess[str]:
    """Run ``wastesvc-adapter lorawan --config … ARGS`` to completion."""
    return subprocess.run(
        [str(ADAPTER), "lorawan", "--config", str(setup.config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, SECRET_ENV: SECRET},
        check=False,
    )


@asynccontextmanager
async def adapter(setup: Setup) -> AsyncIterator[asyncio.subprocess.Process]:
    """The adapter process, yielded once it is subscribed and its webhook listens."""
    process = await asyncio.create_subprocess_exec(
        str(ADAPTER), "lorawan", "--config", str(setup.config), "--sink-file", str(setup.readings),
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, SECRET_ENV: SECRET},
    )  # fmt: skip
    assert process.stderr is not None
    seen: list[str] = []
    try:
        while not (any("subscribed to" in s for s in seen) and any("webhook listening" in s for s in seen)):
            line = await asyncio.wait_for(process.stderr.readline(), timeout=20)
            assert line, f"adapter exited early: {''.join(seen)}"
            seen.append(line.decode())
        drain = asyncio.create_task(process.stderr.read())
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
    await drain


async def send(messages: list[tuple[str, bytes]]) -> None:
    batch: publish.MessagesList = [(topic, payload, 1, False) for topic, payload in messages]
    await asyncio.to_thread(publish.multiple, batch, hostname="127.0.0.1", port=1883)


async def until(condition: object, timeout: float = 30) -> None:
    assert callable(condition)
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_adapter_process_then_quarantine_commands(setup: Setup) -> None:
    """The process stores MQTT and webhook uplinks and quarantines the rest; list, show, replay, drop."""
    async with adapter(setup) as process:
        await send(
            [
                (setup.tts_topic(), tts_uplink(EM310, 1, EM310_FRAME, received_at=T0)),
                (setup.chirpstack_topic(LDDS75), chirpstack_uplink(LDDS75, 7, LDDS75_FRAME, time=T0)),
                (setup.tts_topic(), b"\x00garbage"),
            ]
        )
        async with httpx.AsyncClient(timeout=10) as client:
            body = tts_uplink(EM310, 2, EM310_FRAME, received_at=T0 + timedelta(minutes=30))
            url = f"http://127.0.0.1:{setup.webhook_port}/tts/uplink"
            response = await client.post(url, content=body, headers={"X-Webhook-Secret": SECRET})
        assert response.status_code == 202
        await until(
            lambda: len(setup.lines()) == 2 and cli("quarantine", "list", setup=setup).stdout.count("\n") == 2
        )
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=20) == 0
    # MQTT and the webhook race each other: compare in frame-counter order.
    assert sorted((r["dev_eui"], r["f_cnt"], r["distance_mm"]) for r in setup.lines()) == [
        (EM310, 1, 2116),
        (EM310, 2, 2116),
    ]

    listed = cli("quarantine", "list", setup=setup)
    assert listed.returncode == 0
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert rows[0][2:4] == ["chirpstack", f"mqtt:{setup.chirpstack_topic(LDDS75)}"]
    assert rows[0][5] == "unknown device A84041000181C061 (profile 'LDDS75')"
    assert rows[1][5].startswith("malformed tts message: not JSON")
    shown = cli("quarantine", "show", rows[1][0], setup=setup)
    assert shown.stdout == "\x00garbage\n"

    setup.write(profiles={"LDDS75": "dragino-ldds75"})  # the operator adds the missing profile
    replayed = cli("--sink-file", str(setup.readings), "quarantine", "replay", setup=setup)
    assert replayed.returncode == 0, replayed.stderr
    assert [line.split("\t")[1] for line in replayed.stdout.splitlines()] == ["stored", "quarantined"]
    assert setup.lines()[-1]["dev_eui"] == LDDS75
    assert cli("quarantine", "drop", rows[1][0], setup=setup).returncode == 0
    assert cli("quarantine", "list", setup=setup).stdout == ""
    dropped_again = cli("quarantine", "drop", rows[1][0], setup=setup)
    assert (dropped_again.returncode, "not in the quarantine" in dropped_again.stderr) == (2, True)


async def test_kill_9_loses_and_duplicates_nothing(setup: Setup) -> None:
    """Uplinks published across a kill -9 of the adapter are all stored, each exactly once."""
    # Mosquitto queues at most max_queued_messages (default 1000) beyond the in-flight window for a
    # client; at the kill at most 400 of the first half are left, plus the 500 sent meanwhile.
    total = 1000
    messages = [
        (setup.tts_topic(), tts_uplink(EM310, n, EM310_FRAME, received_at=T0 + timedelta(seconds=n)))
        for n in range(total)
    ]
    async with adapter(setup) as process:
        await send(messages[: total // 2])
        await until(lambda: len(setup.lines()) >= 100)
        process.kill()
        await process.wait()
    await send(messages[total // 2 :])  # while the adapter is down: the broker keeps them in the session
    async with adapter(setup) as process:
        await until(lambda: len(setup.lines()) >= total, timeout=60)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=20) == 0
    counters = [r["f_cnt"] for r in setup.lines()]
    assert sorted(counters) == list(range(total))  # none lost, none twice


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--service", "127.0.0.1:50051"], "no token for the service"),
        (
            [
                "--sink-file",
                "/dev/null",
                "--broker",
                "mqtt://127.0.0.1:1883",
                "--topic",
                "x",
                "--config",
                "/nonexistent.toml",
            ],
            "cannot read",
        ),
    ],
)
def test_refuses_to_start_with_a_clear_error(setup: Setup, args: list[str], message: str) -> None:
    """A service without a token or an unreadable configuration stops the start: exit 2 and the reason."""
    result = cli(*args, setup=setup)
    assert result.returncode == 2
    assert message in result.stderr


def test_nothing_to_receive_is_refused(tmp_path: Path) -> None:
    """Without a broker or a webhook address the adapter says so instead of idling."""
    result = subprocess.run(
        [str(ADAPTER), "lorawan", "--sink-file", str(tmp_path / "r.jsonl")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "nothing to receive" in result.stderr
