"""Dingtek DF702 ultrasonic waste bin sensor (level, fire, tilt), data frames on fPort 3.

Layout from the vendor's codec in the TTN device repository (Apache-2.0 snapshot
brocaar/lorawan-devices, ``vendor/dingtek/df702``): a frame starts with ``0x80`` and ends with
``0x81``; byte 3 is the frame type (``0x03`` = parameter report, otherwise data) and byte 4 the length.
A 17-byte data frame has the level (uint16 BE, mm) in bytes 5-6, the temperature (°C) in byte 8, the
angle sign and value in bytes 9-10, full/fire in the nibbles of byte 11 and tilt/low-battery in those
of byte 12. A 25-byte data frame inserts a GPS fix (longitude then latitude, IEEE-754 float32 LE) in
bytes 8-15 and shifts the rest by 8. The level is the distance from the sensor down to the waste (the
device's full alarm fires when it drops below a threshold set in centimetres), so it maps to
``distance_mm``.
"""

from __future__ import annotations

import struct
from typing import Any

from adapters.lorawan.decoders._reading import DecodeError, SensorReading

__all__ = ["MODEL", "decode"]

MODEL = "dingtek-df702"

_SHORT, _WITH_GPS = 17, 25
_PARAMETER_FRAME = 0x03


def _status(payload: bytes, at: int) -> dict[str, Any]:
    """Temperature, angle and the four flags starting at the temperature byte ``at``."""
    sign = -1 if payload[at + 1] & 0x0F else 1
    return {
        "full": bool(payload[at + 3] >> 4),
        "fire": bool(payload[at + 3] & 0x0F),
        "tilt": bool(payload[at + 4] >> 4),
        "battery": bool(payload[at + 4] & 0x0F),
        "angle": sign * payload[at + 2],
        "temperature": payload[at],
    }


def decode(payload: bytes, f_port: int | None) -> SensorReading:
    """Decode one DF702 data frame.

    Raises
    ------
    DecodeError
        On another fPort, a frame without the 0x80/0x81 markers, a wrong length, or a parameter
        report (it carries settings, not a measurement).
    """
    if f_port != 3:
        raise DecodeError(f"{MODEL}: fPort {f_port} carries no measurement (expected 3)")
    if len(payload) not in (_SHORT, _WITH_GPS):
        raise DecodeError(f"{MODEL}: frame of {len(payload)} bytes, expected {_SHORT} or {_WITH_GPS}")
    if payload[0] != 0x80 or payload[-1] != 0x81:
        raise DecodeError(f"{MODEL}: frame does not start with 0x80 and end with 0x81")
    if payload[3] == _PARAMETER_FRAME:
        raise DecodeError(f"{MODEL}: parameter report, not a measurement")
    fields: dict[str, Any] = {"level": int.from_bytes(payload[5:7], "big")}
    if len(payload) == _WITH_GPS:
        longitude, latitude = struct.unpack_from("<ff", payload, 8)
        fields |= {"longitude": longitude, "latitude": latitude, **_status(payload, 16)}
    else:
        fields |= _status(payload, 8)
    flags = (("full", "full"), ("fire", "fire"), ("tilt", "tilt"), ("low_battery", "battery"))
    alarms = tuple(name for name, key in flags if fields[key])
    return SensorReading(
        model=MODEL,
        fields=fields,
        distance_mm=fields["level"],
        temperature_celsius=float(fields["temperature"]),
        tilted=fields["tilt"],
        alarms=alarms,
    )
