"""Network-server messages: The Things Stack v3 uplinks and ChirpStack v4 up events."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.lorawan.messages import MessageError, parse_chirpstack_uplink, parse_tts_uplink
from tests.adapters.lorawan_support import LDDS75_FRAME, TTS_EXAMPLE, chirpstack_uplink

T0 = datetime(2026, 11, 30, 6, 15, tzinfo=UTC)


def test_documented_tts_example() -> None:
    """The TTS docs' uplink example: DevEUI, counter, payload, network-server receive time, model hint."""
    uplink = parse_tts_uplink(json.dumps(TTS_EXAMPLE))
    assert uplink.network == "tts"
    assert uplink.dev_eui == TTS_EXAMPLE["end_device_ids"]["dev_eui"]
    assert uplink.f_cnt == TTS_EXAMPLE["uplink_message"]["f_cnt"]
    assert uplink.f_port is None  # the documented example leaves it out
    assert uplink.payload == base64.b64decode(TTS_EXAMPLE["uplink_message"]["frm_payload"])
    assert uplink.measure_time == datetime.fromisoformat(TTS_EXAMPLE["uplink_message"]["received_at"])
    assert uplink.device_profile == "the-things-products/the-things-uno"


def test_tts_falls_back_to_the_message_receive_time() -> None:
    """Without uplink_message.received_at, the message's received_at is the measure time."""
    message: dict[str, Any] = json.loads(json.dumps(TTS_EXAMPLE))
    del message["uplink_message"]["received_at"]
    uplink = parse_tts_uplink(json.dumps(message))
    assert uplink.measure_time == datetime.fromisoformat(TTS_EXAMPLE["received_at"])


def test_tts_zero_counter_is_left_out() -> None:
    """TTS omits a zero f_cnt: the counter is 0, not an error."""
    message: dict[str, Any] = json.loads(json.dumps(TTS_EXAMPLE))
    del message["uplink_message"]["f_cnt"]
    assert parse_tts_uplink(json.dumps(message)).f_cnt == 0


def test_chirpstack_up_event() -> None:
    """A ChirpStack v4 up event: DevEUI upper-cased, counter, port, base64 data, time, profile name."""
    uplink = parse_chirpstack_uplink(chirpstack_uplink("a84041000181c061", 12, LDDS75_FRAME, time=T0))
    assert (uplink.network, uplink.dev_eui, uplink.f_cnt, uplink.f_port) == (
        "chirpstack",
        "A84041000181C061",
        12,
        2,
    )
    assert uplink.payload == LDDS75_FRAME
    assert uplink.measure_time == T0
    assert uplink.device_profile == "LDDS75"


def test_chirpstack_without_time_uses_the_gateway_time() -> None:
    """An event without ``time`` takes the first gateway's gwTime."""
    event = json.loads(chirpstack_uplink("A84041000181C061", 1, LDDS75_FRAME, time=T0))
    del event["time"]
    event["rxInfo"][0]["gwTime"] = "2026-11-30T06:14:59.5Z"
    uplink = parse_chirpstack_uplink(json.dumps(event))
    assert uplink.measure_time == datetime(2026, 11, 30, 6, 14, 59, 500000, tzinfo=UTC)


def _tts_with(**uplink_fields: Any) -> str:
    message: dict[str, Any] = json.loads(json.dumps(TTS_EXAMPLE))
    message["uplink_message"].update(uplink_fields)
    return json.dumps(message)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"{", "not JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b"{}", "end_device_ids is missing"),
        (_tts_with(frm_payload="***"), "frm_payload is not valid base64"),
        (_tts_with(frm_payload=""), "carries no application payload"),
        (_tts_with(f_cnt=-1), "f_cnt must be an integer"),
        (_tts_with(f_cnt=True), "f_cnt must be an integer"),
        (_tts_with(f_port=300), "f_port must be an integer in 0..255"),
        (_tts_with(received_at="yesterday"), "not an RFC 3339 timestamp"),
        (_tts_with(received_at="2026-11-30T06:15:00"), "no UTC offset"),
    ],
)
def test_malformed_tts_message_names_the_field(body: bytes | str, message: str) -> None:
    """Each way a TTS message can be unusable gives a MessageError that says which."""
    with pytest.raises(MessageError, match=message):
        parse_tts_uplink(body)


def test_tts_message_without_dev_eui() -> None:
    """An ABP device registered without DevEUI cannot be bound to a container: refused by name."""
    message: dict[str, Any] = json.loads(json.dumps(TTS_EXAMPLE))
    del message["end_device_ids"]["dev_eui"]
    with pytest.raises(MessageError, match=r"end_device_ids\.dev_eui"):
        parse_tts_uplink(json.dumps(message))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"deviceInfo": None}, "deviceInfo is missing"),
        ({"data": None}, "data is missing"),
        ({"fCnt": "7"}, "fCnt must be an integer"),
        ({"time": None, "rxInfo": []}, "no receive time"),
    ],
)
def test_malformed_chirpstack_event_names_the_field(change: dict[str, Any], message: str) -> None:
    """Each way a ChirpStack event can be unusable gives a MessageError that says which."""
    event = json.loads(chirpstack_uplink("A84041000181C061", 1, LDDS75_FRAME, time=T0))
    event.update(change)
    with pytest.raises(MessageError, match=message):
        parse_chirpstack_uplink(json.dumps({k: v for k, v in event.items() if v is not None}))
