"""Bosch TPS110 parking lot sensor, firmware 0.29.2: status on fPort 1, heartbeat on fPort 2.

Layout from the vendor's codec in the TTN device repository (Apache-2.0 snapshot
brocaar/lorawan-devices, ``vendor/bosch/tps110-0292``): bit 0 of byte 0 = occupied; a heartbeat may
add the temperature (int8, °C) in byte 1.
"""

from __future__ import annotations

from typing import Any

from adapters.lorawan.decoders._reading import DecodeError, SensorReading

__all__ = ["MODEL", "decode"]

MODEL = "bosch-tps110"

_TYPES = {1: "parking status", 2: "heartbeat"}


def decode(payload: bytes, f_port: int | None) -> SensorReading:
    """Decode one TPS110 status or heartbeat frame.

    Raises
    ------
    DecodeError
        On another fPort (start-up, device information, debug) or a frame of the wrong length.
    """
    kind = _TYPES.get(f_port or 0)
    if kind is None:
        raise DecodeError(f"{MODEL}: fPort {f_port} carries no status or heartbeat")
    if len(payload) not in ((1,) if f_port == 1 else (1, 2)):
        raise DecodeError(f"{MODEL}: {kind} frame of {len(payload)} bytes")
    occupied = bool(payload[0] & 0x01)
    fields: dict[str, Any] = {"type": kind, "occupied": occupied}
    temperature = None
    if len(payload) == 2:
        temperature = float(int.from_bytes(payload[1:2], "big", signed=True))
        fields["temperature"] = int(temperature)
    return SensorReading(model=MODEL, fields=fields, temperature_celsius=temperature, occupied=occupied)
