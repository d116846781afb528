"""The MQTT subscriber against the real Mosquitto on 127.0.0.1:1883 (and a private one for reconnects)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import paho.mqtt.client as paho
import pytest
from paho.mqtt import publish
from paho.mqtt.enums import CallbackAPIVersion

from adapters.lorawan.devices import DeviceModels
from adapters.lorawan.ingest import Ingestor
from adapters.lorawan.mqtt import MqttSettings, MqttSubscriber, network_of_topic
from adapters.lorawan.quarantine import Quarantine
from tests.adapters.lorawan_support import (
    EM310_FRAME,
    LDDS75_FRAME,
    InMemorySink,
    chirpstack_uplink,
    tts_uplink,
)

BROKER = ("127.0.0.1", 1883)
T0 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
EM310 = "24E124136B502217"
LDDS75 = "A84041000181C061"
MODELS = DeviceModels.from_config({EM310: "milesight-em310-udl"}, {"LDDS75": "dragino-ldds75"})


@dataclass(frozen=True)
class Topics:
    """Topics unique to one test, so tests sharing the broker do not see each other's messages."""

    run: str

    @property
    def tts_filter(self) -> str:
        return f"v3/{self.run}@soissons/devices/+/up"

    @property
    def chirpstack_filter(self) -> str:
        return f"application/{self.run}/device/+/event/up"

    def tts(self, device: str) -> str:
        return f"v3/{self.run}@soissons/devices/{device}/up"

    def chirpstack(self, dev_eui: str) -> str:
        return f"application/{self.run}/device/{dev_eui.lower()}/event/up"


def _broker_up(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture(scope="module", autouse=True)
def mosquitto() -> None:
    """The shared broker, started with the system configuration if it is down."""
    if not _broker_up(*BROKER):
        subprocess.run(["mosquitto", "-d", "-c", "/etc/mosquitto/mosquitto.conf"], check=True)
    assert _broker_up(*BROKER), "Mosquitto is not listening on 127.0.0.1:1883"


def _forget_session(settings: MqttSettings) -> None:
    """Connect once with a clean session so the broker drops the test's persistent session."""
    if settings.protocol == "5":
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=settings.client_id, protocol=paho.MQTTv5)
        client.connect(settings.host, settings.port, clean_start=True)
    else:
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=settings.client_id, clean_session=True)
        client.connect(settings.host, settings.port)
    client.loop(timeout=1)
    client.disconnect()


@pytest.fixture
def topics() -> Topics:
    return Topics(f"wastesvc-test-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def settings(topics: Topics) -> Iterator[MqttSettings]:
    mqtt = MqttSettings(
        topics=(topics.tts_filter, topics.chirpstack_filter),
        client_id=f"wastesvc-lorawan-{topics.run}",
        session_expiry_s=300,
        reconnect_min_s=1,
        reconnect_max_s=2,
        retry_min_s=0.05,
        retry_max_s=0.2,
    )
    yield mqtt
    _forget_session(mqtt)


@pytest.fixture
def quarantine(tmp_path: Path) -> Iterator[Quarantine]:
    store = Quarantine(tmp_path / "quarantine.sqlite3")
    yield store
    store.close()


@asynccontextmanager
async def running(settings: MqttSettings, sink: InMemorySink, quarantine: Quarantine) -> AsyncIterator[None]:
    """A subscriber running in the background, subscribed before the block starts."""
    subscriber = MqttSubscriber(settings, Ingestor(MODELS, sink, quarantine))
    stop = asyncio.Event()
    task = asyncio.create_task(subscriber.run(stop))
    try:
        await asyncio.wait_for(subscriber.subscribed.wait(), timeout=15)
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)


async def send(messages: list[tuple[str, bytes]], port: int = BROKER[1]) -> None:
    """Publish at QoS 1 and wait for the broker's acknowledgements."""
    batch: publish.MessagesList = [(topic, payload, 1, False) for topic, payload in messages]
    await asyncio.to_thread(publish.multiple, batch, hostname=BROKER[0], port=port)


async def until(condition: Callable[[], bool], timeout: float = 15) -> None:
    """Wait until ``condition()`` holds; fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def test_topic_shapes_name_the_network() -> None:
    """TTS and ChirpStack topics are told apart by shape; anything else is neither."""
    assert network_of_topic("v3/bins@soissons/devices/em310-1/up") == "tts"
    assert network_of_topic("application/0a5e/device/a84041000181c061/event/up") == "chirpstack"
    assert network_of_topic("v3/bins@soissons/devices/em310-1/join") is None


async def test_uplinks_of_both_networks_reach_the_sink_or_the_quarantine(
    topics: Topics, settings: MqttSettings, quarantine: Quarantine
) -> None:
    """TTS and ChirpStack uplinks are stored once (re-delivery included); bad frames are quarantined."""
    sink = InMemorySink()
    good_tts = tts_uplink(EM310, 7, EM310_FRAME, received_at=T0)
    async with running(settings, sink, quarantine):
        await send(
            [
                (topics.tts("em310-1"), good_tts),
                (topics.tts("em310-1"), good_tts),  # the network server delivers it again
                (topics.chirpstack(LDDS75), chirpstack_uplink(LDDS75, 40, LDDS75_FRAME, time=T0)),
                (topics.tts("em310-1"), b"{not json"),
                (
                    topics.chirpstack("0000000000000001"),
                    chirpstack_uplink("0000000000000001", 1, b"\x00", time=T0, profile="Other"),
                ),
                (topics.tts("em310-1"), tts_uplink(EM310, 8, b"\x01\x75", received_at=T0)),
                (
                    topics.tts("em310-1"),
                    tts_uplink(EM310, 9, EM310_FRAME, received_at=T0 + timedelta(minutes=30)),
                ),
            ]
        )
        await until(lambda: len(sink.stored) + sink.duplicates + len(quarantine.frames()) == 7)
    assert [(r.network, r.dev_eui, r.f_cnt, r.reading.distance_mm) for r in sink.stored] == [
        ("tts", EM310, 7, 2116),
        ("chirpstack", LDDS75, 40, 2799),
        ("tts", EM310, 9, 2116),
    ]
    assert sink.duplicates == 1
    reasons = [frame.reason for frame in quarantine.frames()]
    assert reasons[0].startswith("malformed tts message: not JSON")
    assert reasons[1] == "unknown device 0000000000000001 (profile 'Other')"
    assert reasons[2].startswith("undecodable frame from 24E124136B502217 (fCnt 8)")
    assert {frame.origin for frame in quarantine.frames()} == {
        f"mqtt:{topics.tts('em310-1')}",
        f"mqtt:{topics.chirpstack('0000000000000001')}",
    }

    # Everything was acknowledged: the next session with the same client id receives nothing again.
    again = InMemorySink()
    async with running(settings, again, quarantine):
        await asyncio.sleep(1.0)
    assert (again.stored, again.calls) == ([], 0)


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_unstored_uplink_is_delivered_again_after_a_restart(
    protocol: Literal["5", "3.1.1"], topics: Topics, settings: MqttSettings, quarantine: Quarantine
) -> None:
    """An uplink the sink could not store is not acknowledged: the next run of the adapter stores it."""
    settings = replace(settings, protocol=protocol)
    down = InMemorySink(failures=10**6)
    async with running(settings, down, quarantine):
        await send([(topics.tts("em310-1"), tts_uplink(EM310, 11, EM310_FRAME, received_at=T0))])
        await until(lambda: down.calls >= 2)  # received, and retried
    assert down.stored == []

    up = InMemorySink()
    async with running(settings, up, quarantine):
        await until(lambda: len(up.stored) == 1)
    assert (up.stored[0].dev_eui, up.stored[0].f_cnt) == (EM310, 11)


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_uplinks_sent_while_the_adapter_is_down_arrive_on_restart(
    protocol: Literal["5", "3.1.1"], topics: Topics, settings: MqttSettings, quarantine: Quarantine
) -> None:
    """The persistent session keeps the subscription and queues QoS 1 uplinks while the adapter is away."""
    settings = replace(settings, protocol=protocol)
    async with running(settings, InMemorySink(), quarantine):
        pass
    await send(
        [
            (
                topics.chirpstack(LDDS75),
                chirpstack_uplink(LDDS75, n, LDDS75_FRAME, time=T0 + timedelta(minutes=n)),
            )
            for n in range(5)
        ]
    )
    sink = InMemorySink()
    async with running(settings, sink, quarantine):
        await until(lambda: len(sink.stored) == 5)
    assert sorted(r.f_cnt for r in sink.stored) == [0, 1, 2, 3, 4]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@asynccontextmanager
async def private_broker(port: int) -> AsyncIterator[None]:
    """A Mosquitto of this test only (local-only default configuration), stopped at the end."""
    mosquitto = shutil.which("mosquitto")
    assert mosquitto is not None
    process = subprocess.Popen(
        [mosquitto, "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        await until(lambda: _broker_up("127.0.0.1", port), timeout=10)
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_reconnects_after_the_broker_restarts(
    topics: Topics, settings: MqttSettings, quarantine: Quarantine
) -> None:
    """When the broker goes away and comes back, the subscriber reconnects, subscribes again and stores."""
    port = _free_port()
    settings = replace(settings, port=port)
    sink = InMemorySink()
    subscriber = MqttSubscriber(settings, Ingestor(MODELS, sink, quarantine))
    stop = asyncio.Event()
    async with private_broker(port):
        task = asyncio.create_task(subscriber.run(stop))
        await asyncio.wait_for(subscriber.subscribed.wait(), timeout=15)
    await until(lambda: not subscriber.subscribed.is_set())
    await asyncio.sleep(1.5)  # at least one refused reconnect attempt
    try:
        async with private_broker(port):
            await asyncio.wait_for(subscriber.subscribed.wait(), timeout=15)
            await send(
                [(topics.tts("em310-1"), tts_uplink(EM310, 21, EM310_FRAME, received_at=T0))], port=port
            )
            await until(lambda: len(sink.stored) == 1)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)
    assert sink.stored[0].f_cnt == 21
