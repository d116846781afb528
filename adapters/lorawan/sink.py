"""Where decoded uplinks go: the `Sink` protocol and the per-item result it returns.

The service's ingest RPC sits behind this protocol, so the adapter does not depend on the shape of
the gRPC contract. Deduplication is the sink's job — a network server delivers at least once — and
each `NormalizedUplink` carries both keys it may use: (DevEUI, frame counter) and (DevEUI, measure time).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from adapters.lorawan.decoders import SensorReading
from adapters.lorawan.messages import Network

__all__ = ["ItemResult", "ItemStatus", "NormalizedUplink", "Sink"]


@dataclass(frozen=True, slots=True)
class NormalizedUplink:
    """A decoded uplink ready to be stored as a reading of the device's container.

    Attributes
    ----------
    network
        ``"tts"`` or ``"chirpstack"``.
    dev_eui
        Device EUI (upper-case hex), the sensor id the service binds to a container.
    f_cnt
        Uplink frame counter (resets when the device rejoins).
    f_port
        LoRaWAN port, ``None`` when unknown.
    measure_time
        When the frame was received, UTC.
    reading
        The decoded, normalized values; its ``distance_mm`` is set.
    """

    network: Network
    dev_eui: str
    f_cnt: int
    f_port: int | None
    measure_time: datetime
    reading: SensorReading


class ItemStatus(enum.Enum):
    """What the sink did with one uplink."""

    STORED = "stored"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class ItemResult:
    """The sink's answer for one uplink; ``reason`` says why it was rejected (e.g. unknown sensor)."""

    status: ItemStatus
    reason: str = ""


class Sink(Protocol):
    """Stores readings durably and reports one result per item, in order.

    ``store`` returns only once every STORED or DUPLICATE item is durable: the adapter acknowledges
    the uplinks to the broker right after. It raises (any exception) when it could not reach its
    store; the adapter then retries and acknowledges nothing meanwhile.
    """

    async def store(self, readings: Sequence[NormalizedUplink]) -> Sequence[ItemResult]:
        """Store ``readings``; one `ItemResult` per reading, in the same order."""
        ...
