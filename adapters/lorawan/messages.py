"""Uplink messages of The Things Stack v3 and ChirpStack v4, reduced to what the adapter needs.

The Things Stack (MQTT ``v3/{app}@{tenant}/devices/{device}/up``, and the same body by webhook):
``end_device_ids.dev_eui``, ``uplink_message.{f_cnt, f_port, frm_payload (base64), received_at,
version_ids}``. Fields whose value is empty, 0 or false are left out, so a missing ``f_cnt`` is 0 and
a missing ``f_port`` is unknown. The measure time is ``uplink_message.received_at`` — when the network
server received the frame, on its clock — falling back to the message's own ``received_at``; the
gateways' ``rx_metadata[].time`` is not used because only GPS-synchronised gateways set it reliably.

ChirpStack v4 (MQTT ``application/{app}/device/{dev_eui}/event/up``, JSON encoding of
``integration.UplinkEvent``): ``deviceInfo.{devEui, deviceProfileName}``, ``fCnt``, ``fPort``,
``data`` (base64), ``time`` — the event's timestamp set by ChirpStack — falling back to the first
gateway's ``gwTime`` or ``nsTime``. Proto3 JSON leaves out zero values too.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["MessageError", "Network", "Uplink", "parse_chirpstack_uplink", "parse_tts_uplink"]

Network = Literal["tts", "chirpstack"]

_DEV_EUI = re.compile(r"^[0-9A-Fa-f]{16}$")


class MessageError(ValueError):
    """The message is not a usable uplink: not JSON, or a required field missing or malformed."""


@dataclass(frozen=True, slots=True)
class Uplink:
    """One uplink as the network server delivered it, before its payload is decoded.

    Attributes
    ----------
    network
        ``"tts"`` or ``"chirpstack"``.
    dev_eui
        Device EUI, 16 upper-case hex digits.
    f_cnt
        Uplink frame counter.
    f_port
        LoRaWAN port; ``None`` when the message does not say.
    payload
        The application payload (FRMPayload) bytes.
    measure_time
        When the frame was received (see the module notes for which clock), timezone-aware UTC.
    device_profile
        A hint of the device model from the network server: ``brand_id/model_id`` on The Things
        Stack, the device-profile name on ChirpStack; ``None`` when absent.
    """

    network: Network
    dev_eui: str
    f_cnt: int
    f_port: int | None
    payload: bytes
    measure_time: datetime
    device_profile: str | None


def _object(body: bytes | str) -> Mapping[str, Any]:
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise MessageError(f"not JSON: {error}") from None
    if not isinstance(message, dict):
        raise MessageError(f"expected a JSON object, got {type(message).__name__}")
    return message


def _mapping(parent: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise MessageError(f"{where}{key} is missing or not an object")
    return value


def _dev_eui(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _DEV_EUI.match(value):
        raise MessageError(f"{where} is missing or not 16 hex digits: {value!r}")
    return value.upper()


def _counter(value: Any, name: str, *, upper: int) -> int:
    # bool is an int in Python; a JSON true is not a counter.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= upper:
        raise MessageError(f"{name} must be an integer in 0..{upper}, got {value!r}")
    return value


def _port(value: Any, name: str) -> int | None:
    return None if value is None else _counter(value, name, upper=255)


def _payload(value: Any, name: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise MessageError(f"{name} is missing: the uplink carries no application payload")
    try:
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error) as error:
        raise MessageError(f"{name} is not valid base64: {error}") from None


def _timestamp(*candidates: tuple[str, Any]) -> datetime:
    """The first candidate that is present, parsed as an RFC 3339 time (nanoseconds truncated)."""
    for name, value in candidates:
        if value is None:
            continue
        if not isinstance(value, str):
            raise MessageError(f"{name} is not a timestamp string: {value!r}")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise MessageError(f"{name} is not an RFC 3339 timestamp: {value!r}") from None
        if moment.tzinfo is None:
            raise MessageError(f"{name} has no UTC offset: {value!r}")
        return moment.astimezone(UTC)
    raise MessageError(f"no receive time ({', '.join(name for name, _ in candidates)})")


def parse_tts_uplink(body: bytes | str) -> Uplink:
    """Read a The Things Stack v3 uplink message (MQTT or webhook body).

    Raises
    ------
    MessageError
        When the body is not an uplink message or lacks a DevEUI, payload or receive time.
    """
    message = _object(body)
    ids = _mapping(message, "end_device_ids", "")
    uplink = _mapping(message, "uplink_message", "")
    version = uplink.get("version_ids")
    profile = None
    if isinstance(version, dict) and version.get("brand_id") and version.get("model_id"):
        profile = f"{version['brand_id']}/{version['model_id']}"
    return Uplink(
        network="tts",
        dev_eui=_dev_eui(ids.get("dev_eui"), "end_device_ids.dev_eui"),
        f_cnt=_counter(uplink.get("f_cnt", 0), "uplink_message.f_cnt", upper=2**32 - 1),
        f_port=_port(uplink.get("f_port"), "uplink_message.f_port"),
        payload=_payload(uplink.get("frm_payload"), "uplink_message.frm_payload"),
        measure_time=_timestamp(
            ("uplink_message.received_at", uplink.get("received_at")),
            ("received_at", message.get("received_at")),
        ),
        device_profile=profile,
    )


def parse_chirpstack_uplink(body: bytes | str) -> Uplink:
    """Read a ChirpStack v4 ``up`` event (JSON encoding).

    Raises
    ------
    MessageError
        When the body is not an uplink event or lacks a DevEUI, payload or time.
    """
    message = _object(body)
    info = _mapping(message, "deviceInfo", "")
    rx_info = message.get("rxInfo")
    first_gateway = (
        rx_info[0] if isinstance(rx_info, list) and rx_info and isinstance(rx_info[0], dict) else {}
    )
    profile = info.get("deviceProfileName")
    return Uplink(
        network="chirpstack",
        dev_eui=_dev_eui(info.get("devEui"), "deviceInfo.devEui"),
        f_cnt=_counter(message.get("fCnt", 0), "fCnt", upper=2**32 - 1),
        f_port=_port(message.get("fPort"), "fPort"),
        payload=_payload(message.get("data"), "data"),
        measure_time=_timestamp(
            ("time", message.get("time")),
            ("rxInfo[0].gwTime", first_gateway.get("gwTime")),
            ("rxInfo[0].nsTime", first_gateway.get("nsTime")),
        ),
        device_profile=profile if isinstance(profile, str) and profile else None,
    )
