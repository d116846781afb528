"""End to end: an uplink on the real Mosquitto, the adapter, a real wastesvc server, a stored reading."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from adapters.lorawan.devices import DeviceModels
from adapters.lorawan.ingest import Ingestor
from adapters.lorawan.mqtt import MqttSettings, MqttSubscriber
from adapters.lorawan.quarantine import Quarantine
from adapters.lorawan.service_sink import ServiceSink
from tests.adapters.lorawan_support import EM310_FRAME, LDDS75_FRAME, chirpstack_uplink, tts_uplink
from tests.adapters.test_lorawan_mqtt import Topics, _forget_session, mosquitto, send
from tests.conftest import TENANT, Api, create_container, token
from wastesvc.config import Settings
from wastesvc.v1 import readings_pb2

__all__ = ["mosquitto"]  # the module fixture that starts the broker if it is down

EM310 = "24E124136B502217"
LDDS75 = "A84041000181C061"
MODELS = DeviceModels.from_config({EM310: "milesight-em310-udl", LDDS75: "dragino-ldds75"}, {})
MEASURED = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


@pytest.fixture
def mqtt_settings() -> Iterator[MqttSettings]:
    run = f"wastesvc-e2e-{uuid.uuid4().hex[:12]}"
    settings = MqttSettings(
        topics=(Topics(run).tts_filter, Topics(run).chirpstack_filter),
        client_id=f"wastesvc-lorawan-{run}",
        session_expiry_s=300,
        reconnect_min_s=1,
        reconnect_max_s=2,
        retry_min_s=0.05,
        retry_max_s=0.2,
    )
    yield settings
    _forget_session(settings)


async def test_an_uplink_becomes_a_reading_and_an_unbound_device_is_quarantined(
    api: Api, settings: Settings, mqtt_settings: MqttSettings, tmp_path: Path
) -> None:
    """EM310's frame is stored under its container; LDDS75, bound to none, is refused SENSOR_UNKNOWN."""
    await create_container(api, "c1", sensor_id=EM310)
    topics = Topics(mqtt_settings.client_id.removeprefix("wastesvc-lorawan-"))
    quarantine = Quarantine(tmp_path / "quarantine.sqlite3")
    async with grpc.aio.insecure_channel(api.address) as channel:
        sink = ServiceSink(channel, TENANT.removeprefix("tenants/"), token(settings, "gateway"))
        subscriber = MqttSubscriber(mqtt_settings, Ingestor(MODELS, sink, quarantine))
        stop = asyncio.Event()
        task = asyncio.create_task(subscriber.run(stop))
        await asyncio.wait_for(subscriber.subscribed.wait(), timeout=15)
        uplink = tts_uplink(EM310, 7, EM310_FRAME, received_at=MEASURED)
        await send(
            [
                (topics.tts("em310-1"), uplink),
                (topics.tts("em310-1"), uplink),  # re-delivered by the network server
                (topics.chirpstack(LDDS75), chirpstack_uplink(LDDS75, 40, LDDS75_FRAME, time=MEASURED)),
            ]
        )
        listed: list[readings_pb2.Reading] = []

        async def stored_and_quarantined() -> bool:
            response = await api.readings.ListReadings(
                readings_pb2.ListReadingsRequest(parent=f"{TENANT}/containers/c1")
            )
            listed[:] = response.readings
            return bool(listed) and len(quarantine.frames()) == 1

        deadline = asyncio.get_running_loop().time() + 15
        while not await stored_and_quarantined():
            assert asyncio.get_running_loop().time() < deadline, "uplinks not handled in time"
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(task, timeout=15)
    [refused] = quarantine.frames()
    quarantine.close()

    assert [(r.sensor_id, r.distance_mm, r.measure_time.ToDatetime(tzinfo=UTC)) for r in listed] == [
        (EM310, 2116, MEASURED)
    ]
    assert "SENSOR_UNKNOWN" in refused.reason
