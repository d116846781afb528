"""Milesight's channel format: a frame is a run of (channel id, channel type, value) groups.

The value's length depends on the pair, so an unknown pair stops decoding: the rest of the frame
cannot be framed, and the whole frame is refused rather than half read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from adapters.lorawan.decoders._reading import DecodeError

__all__ = ["ATTRIBUTE_CHANNELS", "Channel", "alarm_name", "position_name", "tilted", "walk_channels"]

# A channel's value length in bytes and what it adds to the decoded fields.
Channel = tuple[int, Callable[[bytes], dict[str, Any]]]

_LORAWAN_CLASSES = {0: "Class A", 1: "Class B", 2: "Class C", 3: "Class CtoB"}


def _lorawan_class(value: bytes) -> dict[str, Any]:
    return {"lorawan_class": _LORAWAN_CLASSES.get(value[0], "unknown")}


# Device attributes sent after a join or a reboot (identical on the EM300/EM400 families).
ATTRIBUTE_CHANNELS: Mapping[tuple[int, int], Channel] = {
    (0xFF, 0x01): (1, lambda v: {"ipso_version": f"v{v[0] >> 4}.{v[0] & 0x0F}"}),
    (0xFF, 0x09): (2, lambda v: {"hardware_version": f"v{v[0]:x}.{v[1] >> 4}"}),
    (0xFF, 0x0A): (2, lambda v: {"firmware_version": f"v{v[0]:x}.{v[1]:x}"}),
    (0xFF, 0xFF): (2, lambda v: {"tsl_version": f"v{v[0]}.{v[1]}"}),
    (0xFF, 0x16): (8, lambda v: {"sn": v.hex()}),
    (0xFF, 0x0F): (1, _lorawan_class),
    (0xFF, 0xFE): (1, lambda _v: {"reset_event": "reset"}),
    (0xFF, 0x0B): (1, lambda _v: {"device_status": "on"}),
}


def walk_channels(payload: bytes, channels: Mapping[tuple[int, int], Channel], model: str) -> dict[str, Any]:
    """Decode every channel group of ``payload`` into the vendor's field names.

    Raises
    ------
    DecodeError
        On an empty frame, an unknown (id, type) pair or a group cut short.
    """
    if not payload:
        raise DecodeError(f"{model}: empty frame")
    fields: dict[str, Any] = {}
    offset = 0
    while offset < len(payload):
        if offset + 2 > len(payload):
            raise DecodeError(f"{model}: frame ends inside a channel header at byte {offset}")
        key = (payload[offset], payload[offset + 1])
        channel = channels.get(key)
        if channel is None:
            raise DecodeError(f"{model}: unknown channel {key[0]:#04x} type {key[1]:#04x} at byte {offset}")
        length, read = channel
        start = offset + 2
        if start + length > len(payload):
            raise DecodeError(
                f"{model}: channel {key[0]:#04x}/{key[1]:#04x} needs {length} bytes, "
                f"{len(payload) - start} left"
            )
        fields.update(read(payload[start : start + length]))
        offset = start + length
    return fields


def position_name(value: int) -> str:
    """The vendor's name for a position byte (0 normal, 1 tilt)."""
    return {0: "normal", 1: "tilt"}.get(value, "unknown")


def alarm_name(value: int) -> str:
    """The vendor's name for a threshold-alarm status byte."""
    return {0: "threshold_alarm_release", 1: "threshold_alarm"}.get(value, "unknown")


def tilted(fields: Mapping[str, Any]) -> bool | None:
    """Whether a decoded frame reports the sensor tilted; ``None`` without a position channel."""
    position = fields.get("position")
    return None if position is None else position == "tilt"
