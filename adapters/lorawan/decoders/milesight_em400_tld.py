"""Milesight EM400-TLD time-of-flight laser distance sensor (waste bin fill level).

Frame layout from the vendor's README and decoder (Milesight-IoT/SensorDecoders,
``em-series/em400-tld``): battery ``01 75`` (%), temperature ``03 67`` (int16 LE, 0.1 °C), distance
``04 82`` (uint16 LE, mm), position ``05 00``, and the alarm frames ``83 67`` (temperature + status),
``84 82`` (distance + status), ``88 00`` (disassembly), plus the attribute channels ``ff xx``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.lorawan.decoders._milesight import (
    ATTRIBUTE_CHANNELS,
    Channel,
    alarm_name,
    position_name,
    tilted,
    walk_channels,
)
from adapters.lorawan.decoders._reading import SensorReading

__all__ = ["MODEL", "decode"]

MODEL = "milesight-em400-tld"


def _temperature(value: bytes) -> float:
    return int.from_bytes(value[:2], "little", signed=True) / 10


def _distance(value: bytes) -> int:
    return int.from_bytes(value[:2], "little")


_CHANNELS: Mapping[tuple[int, int], Channel] = {
    **ATTRIBUTE_CHANNELS,
    (0x01, 0x75): (1, lambda v: {"battery": v[0]}),
    (0x03, 0x67): (2, lambda v: {"temperature": _temperature(v)}),
    (0x04, 0x82): (2, lambda v: {"distance": _distance(v)}),
    (0x05, 0x00): (1, lambda v: {"position": position_name(v[0])}),
    (0x83, 0x67): (3, lambda v: {"temperature": _temperature(v), "temperature_alarm": alarm_name(v[2])}),
    (0x84, 0x82): (3, lambda v: {"distance": _distance(v), "distance_alarm": alarm_name(v[2])}),
    (0x88, 0x00): (
        1,
        lambda v: {"disassembly_alarm": "device_abnormal_movement" if v[0] == 1 else "unknown"},
    ),
}


def _alarms(fields: Mapping[str, Any]) -> tuple[str, ...]:
    alarms = []
    if fields.get("temperature_alarm") == "threshold_alarm":
        alarms.append("temperature_threshold")
    if fields.get("distance_alarm") == "threshold_alarm":
        alarms.append("distance_threshold")
    if "disassembly_alarm" in fields:
        alarms.append("disassembly")
    if tilted(fields):
        alarms.append("tilt")
    return tuple(alarms)


def decode(payload: bytes, f_port: int | None) -> SensorReading:
    """Decode one EM400-TLD frame (periodic report or alarm).

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
        temperature_celsius=fields.get("temperature"),
        tilted=tilted(fields),
        alarms=_alarms(fields),
    )
