"""The demo's LoRaWAN share: frames through a broker and the adapter process into a real server."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.lorawan.decoders import decode
from tests.adapters.test_lorawan_mqtt import mosquitto
from tests.conftest import TENANT, Api, create_container
from wastesvc.config import Settings
from wastesvc.demo_lorawan import em310_frame, feed_through_lorawan, split_lorawan
from wastesvc.simulate import SimulatedReading
from wastesvc.v1 import readings_pb2

__all__ = ["mosquitto"]  # the module fixture that starts the shared broker if it is down

SENSORS = {"c1": "24E1241300000A01", "c2": "24E1241300000A02"}
START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


def _reading(container: str, hours: int, distance: int, *, tilt: bool = False) -> SimulatedReading:
    return SimulatedReading(
        container_id=container, sensor_id=SENSORS[container], measure_time=START + timedelta(hours=hours),
        fill_fraction=None, distance_mm=distance, battery_pct=88, temperature_c=9.5, tilt=tilt,
    )  # fmt: skip


def test_the_frame_decodes_back_to_the_reading() -> None:
    """The EM310-UDL frame the demo builds reads back, through the adapter's decoder, as the same values."""
    decoded = decode("milesight-em310-udl", em310_frame(_reading("c1", 0, 1234, tilt=True)), 85)
    assert (decoded.distance_mm, decoded.battery_percent, decoded.tilted) == (1234, 88.0, True)


def test_one_distance_sensor_in_ten_goes_over_lorawan() -> None:
    """Only sensors reporting distances are chosen, all their readings go together, one in ten."""
    readings = [
        SimulatedReading(
            f"k{i}", f"{i:016X}", START, None if i < 40 else 0.5, 900 if i < 40 else None, 90, 9.0, False
        )
        for i in range(50)
    ]
    lorawan, rest = split_lorawan(readings)
    assert {r.sensor_id for r in lorawan} == {f"{i:016X}" for i in range(0, 40, 10)}
    assert len(lorawan) + len(rest) == 50


@pytest.mark.parametrize("broker", ["embedded", "mosquitto"])
async def test_frames_become_readings_through_the_adapter_process(
    api: Api, settings: Settings, tmp_path: Path, broker: str
) -> None:
    """Every published frame is stored, on an embedded broker and on the real Mosquitto."""
    for container, sensor in SENSORS.items():
        await create_container(api, container, sensor_id=sensor)
    readings = [_reading(c, h, 1500 - 50 * h) for c in SENSORS for h in range(6)]
    named = "mqtt://127.0.0.1:1883" if broker == "mosquitto" else ""
    feed = await feed_through_lorawan(
        readings, dataclasses.replace(settings, mqtt_broker=named), api.address, api.channel, tmp_path
    )
    listed = await api.readings.ListReadings(
        readings_pb2.ListReadingsRequest(parent=f"{TENANT}/containers/c2")
    )

    assert feed.stored == len(readings) == 12
    assert sorted(r.distance_mm for r in listed.readings) == [1500 - 50 * h for h in range(6)][::-1]
    assert feed.broker.endswith("(embedded)") == (broker == "embedded")
