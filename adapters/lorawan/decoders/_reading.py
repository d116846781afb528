"""The normalized result of decoding one sensor frame, and the error raised instead of a guess."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DecodeError", "SensorReading", "require_length"]


class DecodeError(ValueError):
    """The frame cannot be decoded: wrong length, unknown message type or channel, missing fPort."""


@dataclass(frozen=True, slots=True)
class SensorReading:
    """What one frame says, in the service's units, with the vendor's own fields kept beside.

    Attributes
    ----------
    model
        Decoder key, for example ``"milesight-em310-udl"``.
    fields
        The values under the vendor's own names (numbers, booleans and the vendor's enum strings),
        JSON-serialisable, for logs and the quarantine.
    distance_mm
        Distance from the sensor to the waste surface; ``None`` when the frame carries no valid level.
    battery_percent, battery_volts
        Battery as the sensor reports it (percent or volts); ``None`` when absent.
    temperature_celsius
        Temperature; ``None`` when absent.
    tilted
        True when the sensor reports itself tilted; ``None`` when the frame does not say.
    alarms
        Alarm names raised by this frame, e.g. ``"distance_threshold"``, ``"fire"``, ``"low_battery"``.
    occupied
        Parking sensors only: whether the space is taken.
    """

    model: str
    fields: Mapping[str, Any]
    distance_mm: int | None = None
    battery_percent: float | None = None
    battery_volts: float | None = None
    temperature_celsius: float | None = None
    tilted: bool | None = None
    alarms: tuple[str, ...] = field(default=())
    occupied: bool | None = None


def require_length(payload: bytes, allowed: int | range, model: str) -> None:
    """Raise `DecodeError` unless ``len(payload)`` is ``allowed`` (or in it)."""
    ok = len(payload) in allowed if isinstance(allowed, range) else len(payload) == allowed
    if not ok:
        want = f"{allowed.start}..{allowed.stop - 1}" if isinstance(allowed, range) else str(allowed)
        raise DecodeError(f"{model}: frame of {len(payload)} bytes, expected {want}")
