"""Decentlab DL-MBX ultrasonic distance sensor (protocol version 2).

Layout from the vendor's decoder (decentlab/decentlab-decoders ``DL-MBX``, MIT): version byte (2),
device id (uint16 BE), a uint16 BE flag word saying which sensor groups follow, then the groups as
uint16 BE words: flag bit 0 = distance (mm) and number of valid samples, bit 1 = battery (mV).
"""

from __future__ import annotations

from typing import Any

from adapters.lorawan.decoders._reading import DecodeError, SensorReading

__all__ = ["MODEL", "decode"]

MODEL = "decentlab-dl-mbx"

_PROTOCOL_VERSION = 2
_HEADER = 5
# (flag bit, field names of the group's words in order)
_GROUPS = ((0, ("distance", "number_of_valid_samples")), (1, ("battery_voltage",)))


def decode(payload: bytes, f_port: int | None) -> SensorReading:
    """Decode one DL-MBX uplink.

    A distance with zero valid samples is not a measurement: it is reported as absent with the
    ``no_valid_sample`` alarm.

    Raises
    ------
    DecodeError
        On another protocol version, unknown flag bits or a length that does not match the flags.
    """
    if len(payload) < _HEADER:
        raise DecodeError(f"{MODEL}: frame of {len(payload)} bytes, expected at least {_HEADER}")
    if payload[0] != _PROTOCOL_VERSION:
        raise DecodeError(f"{MODEL}: protocol version {payload[0]}, expected {_PROTOCOL_VERSION}")
    flags = int.from_bytes(payload[3:5], "big")
    if flags >> len(_GROUPS):
        raise DecodeError(f"{MODEL}: unknown sensor flags {flags:#06x}")
    present = [names for bit, names in _GROUPS if flags >> bit & 1]
    expected = _HEADER + 2 * sum(len(names) for names in present)
    if len(payload) != expected:
        raise DecodeError(f"{MODEL}: frame of {len(payload)} bytes, flags {flags:#06x} need {expected}")
    words = [int.from_bytes(payload[i : i + 2], "big") for i in range(_HEADER, len(payload), 2)]
    device_id = int.from_bytes(payload[1:3], "big")
    fields: dict[str, Any] = {"protocol_version": payload[0], "device_id": device_id}
    fields.update(zip((name for names in present for name in names), words, strict=True))
    if "battery_voltage" in fields:
        fields["battery_voltage"] /= 1000
    valid = fields.get("number_of_valid_samples", 0) > 0
    return SensorReading(
        model=MODEL,
        fields=fields,
        distance_mm=fields["distance"] if valid else None,
        battery_volts=fields.get("battery_voltage"),
        alarms=("no_valid_sample",) if "distance" in fields and not valid else (),
    )
