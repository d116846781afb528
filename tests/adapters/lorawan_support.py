"""Helpers for the LoRaWAN adapter tests: an in-memory sink and uplink messages of both networks."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from adapters.lorawan.sink import ItemResult, ItemStatus, NormalizedUplink

DATA = Path(__file__).parent / "data"
TTS_EXAMPLE: dict[str, Any] = json.loads((DATA / "tts_v3_uplink_example.json").read_text())

# Golden frames (data/golden_payloads.json): EM310-UDL GP01 on fPort 85, LDDS75 GP09 on fPort 2.
EM310_FRAME = bytes.fromhex("01755C03824408040001")
LDDS75_FRAME = bytes.fromhex("0D3B0AEF00000001")


class InMemorySink:
    """A sink keeping readings in a list, deduplicating on (DevEUI, fCnt) and on (DevEUI, measure time).

    ``unbound`` DevEUIs are rejected as the service rejects a sensor bound to no container;
    ``failures`` makes that many ``store`` calls raise, as an unreachable service would.
    """

    def __init__(self, unbound: Sequence[str] = (), failures: int = 0) -> None:
        self.stored: list[NormalizedUplink] = []
        self.duplicates = 0
        self.calls = 0
        self.failures = failures
        self._unbound = set(unbound)
        self._seen: set[tuple[str, object]] = set()

    async def store(self, readings: Sequence[NormalizedUplink]) -> Sequence[ItemResult]:
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("service unavailable")
        results = []
        for reading in readings:
            keys = {(reading.dev_eui, reading.f_cnt), (reading.dev_eui, reading.measure_time)}
            if reading.dev_eui in self._unbound:
                results.append(
                    ItemResult(ItemStatus.REJECTED, f"no container bound to sensor {reading.dev_eui}")
                )
            elif keys & self._seen:
                self.duplicates += 1
                results.append(ItemResult(ItemStatus.DUPLICATE))
            else:
                self._seen |= keys
                self.stored.append(reading)
                results.append(ItemResult(ItemStatus.STORED))
        return results


def tts_uplink(
    dev_eui: str, f_cnt: int, payload: bytes, *, f_port: int | None = 85, received_at: datetime
) -> bytes:
    """The documented TTS v3 uplink example with this device, counter, port, payload and time."""
    message = copy.deepcopy(TTS_EXAMPLE)
    message["end_device_ids"]["dev_eui"] = dev_eui
    uplink = message["uplink_message"]
    uplink["f_cnt"] = f_cnt
    uplink["frm_payload"] = base64.b64encode(payload).decode()
    uplink["received_at"] = received_at.isoformat().replace("+00:00", "Z")
    del uplink["decoded_payload"]  # the adapter decodes the bytes itself
    if f_port is not None:
        uplink["f_port"] = f_port
    return json.dumps(message).encode()


def chirpstack_uplink(
    dev_eui: str, f_cnt: int, payload: bytes, *, f_port: int = 2, time: datetime, profile: str = "LDDS75"
) -> bytes:
    """A ChirpStack v4 ``up`` event (JSON encoding of integration.UplinkEvent) from its field list."""
    event = {
        "deduplicationId": "3a5b3ad4-0d8b-4b1b-9a1c-53ad45b3f7d1",
        "time": time.isoformat().replace("+00:00", "Z"),
        "deviceInfo": {
            "tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242",
            "tenantName": "Grand Soissons",
            "applicationId": "0a5e0a6e-0f35-4c4a-9f8c-6d1e2c1f8b11",
            "applicationName": "bins",
            "deviceProfileId": "f1b4a0a4-7d3b-4bb5-8b07-7d0b5a5c2f10",
            "deviceProfileName": profile,
            "deviceName": f"bin-{dev_eui[-4:]}",
            "devEui": dev_eui.lower(),
            "tags": {},
        },
        "devAddr": "01a2b3c4",
        "adr": True,
        "dr": 5,
        "fCnt": f_cnt,
        "fPort": f_port,
        "confirmed": False,
        "data": base64.b64encode(payload).decode(),
        "rxInfo": [{"gatewayId": "0016c001f153a14c", "rssi": -97, "snr": 7.5}],
        "txInfo": {
            "frequency": 868100000,
            "modulation": {"lora": {"bandwidth": 125000, "spreadingFactor": 7}},
        },
    }
    return json.dumps(event).encode()
