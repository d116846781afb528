"""Nwave NPS405 parking sensor (occupancy): status frames on fPort 1, heartbeats on fPort 2.

Layout from the vendor's codec in the TTN device repository (Apache-2.0 snapshot
brocaar/lorawan-devices, ``vendor/nwave/nps405``). Status: bit 7 = occupied, bits 0-6 = how long the
previous state lasted, compressed (minutes: exact below 90, 5-minute steps to 240, hourly steps to
600, 127 = overflow). Heartbeat: bit 7 of byte 0 = occupied, its low bits = hardware health, byte 1 =
battery (2500 + 4·n mV), byte 2 = temperature (int8, ½ °C steps from 10 °C); the vendor codec
reads nothing of bytes 3-5 of the 6-byte heartbeat.
"""

from __future__ import annotations

from typing import Any

from adapters.lorawan.decoders._reading import DecodeError, SensorReading

__all__ = ["MODEL", "decode"]

MODEL = "nwave-nps405"

_OVERFLOW = 127
_STATUS_PORT, _HEARTBEAT_PORT = 1, 2
_HEARTBEAT_LENGTH = 6


def _previous_state(compressed: int) -> dict[str, Any]:
    """The vendor's expansion of the 7-bit previous-state duration (minutes, with its error)."""
    if compressed < 90:
        duration, error = compressed, 0
    elif compressed < 120:
        duration, error = 90 + (compressed - 90) * 5, 4
    elif compressed < _OVERFLOW:
        duration, error = 240 + (compressed - 120) * 60, 59
    else:
        return {
            "previous_state_duration": 660,
            "previous_state_duration_error": None,
            "previous_state_duration_overflow": True,
        }
    return {
        "previous_state_duration": duration,
        "previous_state_duration_error": error,
        "previous_state_duration_overflow": False,
    }


def _battery_health(millivolts: int, temperature: float) -> str:
    """The vendor's battery verdict; its thresholds drop by 100 mV below -5 °C."""
    low, critical = (3000, 2900) if temperature >= -5 else (2900, 2800)
    if millivolts >= low:
        return "normal"
    return "low" if millivolts >= critical else "critical"


def decode(payload: bytes, f_port: int | None) -> SensorReading:
    """Decode one NPS405 status or heartbeat frame.

    Raises
    ------
    DecodeError
        On another fPort (start-up, debug and tag frames are not read) or a frame too short.
    """
    occupied = bool(payload[0] >> 7) if payload else None
    if f_port == _STATUS_PORT and len(payload) == 1:
        fields = {"type": "parking_status", "occupied": occupied, **_previous_state(payload[0] & 0x7F)}
        return SensorReading(model=MODEL, fields=fields, occupied=occupied)
    if f_port == _HEARTBEAT_PORT and len(payload) == _HEARTBEAT_LENGTH:
        temperature = int.from_bytes(payload[2:3], "big", signed=True) / 2 + 10
        millivolts = 2500 + payload[1] * 4
        health = _battery_health(millivolts, temperature)
        fields = {
            "type": "heartbeat",
            "occupied": occupied,
            "battery_voltage": millivolts / 1000,
            "temperature": temperature,
            "battery_health": health,
            "hw_health_status": payload[0] & 0x7F,
        }
        return SensorReading(
            model=MODEL,
            fields=fields,
            battery_volts=millivolts / 1000,
            temperature_celsius=temperature,
            alarms=() if health == "normal" else ("low_battery",),
            occupied=occupied,
        )
    raise DecodeError(f"{MODEL}: no status (fPort 1, 1 byte) or heartbeat (fPort 2, 6 bytes) in this frame")
