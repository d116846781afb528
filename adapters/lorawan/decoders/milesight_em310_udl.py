"""Milesight EM310-UDL ultrasonic distance sensor (waste bin fill level).

Frame layout from the vendor's README (Milesight-IoT/SensorDecoders, ``em-series/em310-udl``):
battery ``01 75`` (1 byte, %), distance ``03 82`` (uint16 LE, mm), position ``04 00`` (0 normal,
1 tilt), plus the device attribute channels ``ff xx``. Uplinks use fPort 85.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.lorawan.decoders._milesight import (
    ATTRIBUTE_CHANNELS,
    Channel,
    position_name,
    tilted,
    walk_channels,
)
from adapters.lorawan.decoders._reading import SensorReading

__all__ = ["MODEL", "decode"]

MODEL = "milesight-em310-udl"

_CHANNELS: Mapping[tuple[int, int], Channel] = {
    **ATTRIBUTE_CHANNELS,
    (0x01, 0x75): (1, lambda v: {"battery": v[0]}),
    (0x03, 0x82): (2, lambda v: {"distance": int.from_bytes(v, "little")}),
    (0x04, 0x00): (1, lambda v: {"position": position_name(v[0])}),
}


def decode(payload: bytes, f_port: int | None) -> SensorReading:
    """Decode one EM310-UDL frame.

    Raises
    ------
    DecodeError
        When the frame is empty, cut short or carries an unknown channel.
    """
    fields: dict[str, Any] = walk_channels(payload, _CHANNELS, MODEL)
    battery = fields.get("battery")
    return SensorReading(
        model=MODEL,
        fields=fields,
        distance_mm=fields.get("distance"),
        battery_percent=None if battery is None else float(battery),
        tilted=tilted(fields),
        alarms=("tilt",) if tilted(fields) else (),
    )
