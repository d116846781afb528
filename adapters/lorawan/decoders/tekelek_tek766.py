"""Tekelek TEK 766 ultrasonic tank/bin sensor (ullage in centimetres).

Layout as read by the ZENNER ELEMENT IoT parser (ZennerIoT/element-parsers ``tekelek_766_rf.ex``, MIT,
written against Tekelek's "CF-5004-01 TEK 766 Payload Data Structure R1") and checked by hand on its
test frames. Byte 0 is the message type:

- ``0x10`` measurement (fPort 16) and ``0x45`` alarm: byte 2 holds the alarm bits (bit 0 = alarm 1),
  then groups of 4 bytes, newest first: ullage (uint16 BE, cm), temperature (int8, °C), and a byte
  whose high nibble is the sonic result code (``src``) and low nibble the sonic RSSI (``srssi``).
- ``0x30`` status (fPort 48), 18 bytes: hardware id (byte 3), software id (uint16 BE, bytes 4-5),
  unit RSSI (uint16 BE, bytes 7-8, reported negative), battery remaining % (bytes 9-10), measurement
  steps (bytes 11-12), scheduled transmit period (byte 13), then ullage, temperature, src/srssi as above.
"""

from __future__ import annotations

from typing import Any

from adapters.lorawan.decoders._reading import DecodeError, SensorReading, require_length

__all__ = ["MODEL", "decode"]

MODEL = "tekelek-tek766"

_MEASUREMENT, _STATUS, _ALARM = 0x10, 0x30, 0x45
_GROUP = 4
_STATUS_LENGTH = 18


def _group(payload: bytes, at: int) -> dict[str, Any]:
    """Ullage, temperature and sonic quality of the 4-byte measurement group at ``at``."""
    return {
        "ullage": int.from_bytes(payload[at : at + 2], "big"),
        "temp": int.from_bytes(payload[at + 2 : at + 3], "big", signed=True),
        "src": payload[at + 3] >> 4,
        "srssi": payload[at + 3] & 0x0F,
    }


def _measurement(payload: bytes, message_type: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    if len(payload) < 2 * _GROUP or len(payload) % _GROUP:
        raise DecodeError(f"{MODEL}: {message_type} frame of {len(payload)} bytes, expected 4 + 4·n (n ≥ 1)")
    fields: dict[str, Any] = {"message_type": message_type, **_group(payload, _GROUP)}
    alarms: list[str] = []
    if payload[2] & 0x01:
        fields["alarm1"] = 1
        alarms.append("alarm1")
    if payload[2] & 0xFE:
        # Only alarm 1 is attested by the parser's test frames; other bits are kept, not named.
        fields["alarm_bits"] = payload[2]
        alarms.append("unknown_alarm_bits")
    return fields, tuple(alarms)


def _status(payload: bytes) -> dict[str, Any]:
    require_length(payload, _STATUS_LENGTH, MODEL)
    return {
        "message_type": "status",
        "hardware_id": payload[3],
        "software_id": int.from_bytes(payload[4:6], "big"),
        "unit_rssi": -int.from_bytes(payload[7:9], "big"),
        "battery_remaining": int.from_bytes(payload[9:11], "big"),
        "measurement_steps": int.from_bytes(payload[11:13], "big"),
        "scheduled_tx_period": payload[13],
        **_group(payload, 14),
    }


def decode(payload: bytes, f_port: int | None) -> SensorReading:
    """Decode one TEK 766 uplink (measurement, alarm or status).

    Raises
    ------
    DecodeError
        On an unknown message type or a length that does not fit it.
    """
    if not payload:
        raise DecodeError(f"{MODEL}: empty frame")
    alarms: tuple[str, ...] = ()
    if payload[0] == _MEASUREMENT:
        fields, alarms = _measurement(payload, "measurement")
    elif payload[0] == _ALARM:
        fields, alarms = _measurement(payload, "alarm")
    elif payload[0] == _STATUS:
        fields = _status(payload)
    else:
        raise DecodeError(f"{MODEL}: unknown message type {payload[0]:#04x}")
    battery = fields.get("battery_remaining")
    return SensorReading(
        model=MODEL,
        fields=fields,
        distance_mm=fields["ullage"] * 10,
        battery_percent=None if battery is None else float(battery),
        temperature_celsius=float(fields["temp"]),
        alarms=alarms,
    )
