"""Payload decoders: every golden vector, malformed frames, and random bytes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.lorawan.decoders import DECODERS, DecodeError, SensorReading, decode, payload_bytes

DATA = Path(__file__).parent / "data"
VECTORS: list[dict[str, Any]] = json.loads((DATA / "golden_payloads.json").read_text())

MODEL_OF_DEVICE = {
    "EM310-UDL": "milesight-em310-udl",
    "EM400-TLD": "milesight-em400-tld",
    "TEK 766 (RF)": "tekelek-tek766",
    "LDDS75 (firmware 1.1.4)": "dragino-ldds75",
    "DL-MBX": "decentlab-dl-mbx",
    "DF702": "dingtek-df702",
    "NPS405 (Smart Parking Sensor G4)": "nwave-nps405",
    "TPS110 Parking Lot Sensor (firmware 0.29.2)": "bosch-tps110",
}
# Computed by the Tekelek parser from a tank height, not sent by the sensor (see data/SOURCES.md).
DERIVED_KEYS = {"fill_level"}
# The Dingtek vendor float conversion is off by under 1e-5 degree (see data/SOURCES.md).
TOLERANCE = {"longitude": 1e-5, "latitude": 1e-5}

_NUMBER_WITH_UNIT = re.compile(r"^(-?\d+(?:\.\d+)?)(?: (?:mm|℃|°))?$")


def vendor_value(value: Any) -> Any:
    """The number inside a vendor's printed value: ``"2799 mm"`` → 2799, ``{"value": 2.9}`` → 2.9."""
    if isinstance(value, dict):
        return value["value"]
    if isinstance(value, str) and (match := _NUMBER_WITH_UNIT.match(value)):
        return float(match.group(1))
    return value


def decoded(vector: Mapping[str, Any]) -> SensorReading:
    model = MODEL_OF_DEVICE[vector["device_model"]]
    return decode(model, payload_bytes(vector["hex_payload"], "hex"), vector["f_port"])


def ids(vector: Mapping[str, Any]) -> str:
    return f"{vector['id']}-{vector['device_model'].split()[0]}"


@pytest.mark.parametrize("vector", VECTORS, ids=ids)
def test_golden_vector_fields(vector: dict[str, Any]) -> None:
    """The decoder gives every value of the vendor's own decoded example, under the vendor's names."""
    reading = decoded(vector)
    expected = {k: vendor_value(v) for k, v in vector["expected_decoded"].items() if k not in DERIVED_KEYS}
    assert set(expected) <= set(reading.fields), f"missing fields {set(expected) - set(reading.fields)}"
    for key, value in expected.items():
        assert reading.fields[key] == pytest.approx(value, abs=TOLERANCE.get(key, 1e-9)), key
    json.dumps(dict(reading.fields))  # fields go to logs and the quarantine as JSON


def _milesight(exp: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "distance_mm": exp.get("distance"),
        "battery_percent": exp.get("battery"),
        "temperature_celsius": exp.get("temperature"),
        "tilted": None if "position" not in exp else exp["position"] == "tilt",
    }


def _tekelek(exp: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "distance_mm": exp["ullage"] * 10,
        "battery_percent": exp.get("battery_remaining"),
        "temperature_celsius": exp["temp"],
    }


def _dragino(exp: Mapping[str, Any]) -> dict[str, Any]:
    return {"distance_mm": vendor_value(exp["Distance"]), "battery_volts": exp["Bat"]}


def _decentlab(exp: Mapping[str, Any]) -> dict[str, Any]:
    distance = exp.get("distance")
    return {
        "distance_mm": None if distance is None else vendor_value(distance),
        "battery_volts": vendor_value(exp["battery_voltage"]),
    }


def _dingtek(exp: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "distance_mm": vendor_value(exp["level"]),
        "temperature_celsius": vendor_value(exp["temperature"]),
        "tilted": exp["tilt"],
    }


def _parking(exp: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "distance_mm": None,
        "occupied": exp["occupied"],
        "temperature_celsius": exp.get("temperature"),
        "battery_volts": exp.get("battery_voltage"),
    }


NORMALIZED: Mapping[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "milesight-em310-udl": _milesight,
    "milesight-em400-tld": _milesight,
    "tekelek-tek766": _tekelek,
    "dragino-ldds75": _dragino,
    "decentlab-dl-mbx": _decentlab,
    "dingtek-df702": _dingtek,
    "nwave-nps405": _parking,
    "bosch-tps110": _parking,
}


@pytest.mark.parametrize("vector", VECTORS, ids=ids)
def test_golden_vector_normalized(vector: dict[str, Any]) -> None:
    """The normalized reading (mm, %, V, °C, tilt, occupancy) agrees with the vendor's decoded example."""
    reading = decoded(vector)
    expected = NORMALIZED[reading.model](vector["expected_decoded"])
    for attribute, value in expected.items():
        assert getattr(reading, attribute) == pytest.approx(value), attribute


@pytest.mark.parametrize("vector", [v for v in VECTORS if "decoder_context" in v], ids=ids)
def test_tekelek_fill_level_from_decoded_ullage(vector: dict[str, Any]) -> None:
    """The parser's fill level, recomputed from the decoded ullage and its tank height, matches."""
    tank = vector["decoder_context"]["device_profile_tank"]
    assert tank["form"] == "normal"
    ullage = decoded(vector).fields["ullage"]
    fill = (tank["height"] - ullage) / tank["height"] * 100
    assert fill == pytest.approx(vector["expected_decoded"]["fill_level"])


def test_every_model_has_a_golden_vector() -> None:
    """No decoder ships without at least one vendor example checked above."""
    assert set(DECODERS) == set(MODEL_OF_DEVICE.values())


def test_alarm_frame_raises_the_vendor_alarms() -> None:
    """EM400-TLD's alarm frame (GP03) yields the temperature and distance threshold alarms."""
    reading = decoded(next(v for v in VECTORS if v["id"] == "GP03"))
    assert reading.alarms == ("temperature_threshold", "distance_threshold")


@pytest.mark.parametrize("vector", VECTORS, ids=ids)
def test_truncated_frame_is_refused(vector: dict[str, Any]) -> None:
    """A golden frame cut by its last byte is refused with a DecodeError, never half-read."""
    model = MODEL_OF_DEVICE[vector["device_model"]]
    payload = payload_bytes(vector["hex_payload"], "hex")
    if model == "bosch-tps110" and len(payload) == 2:
        pytest.skip("a one-byte TPS110 heartbeat (no temperature) is a valid frame")
    with pytest.raises(DecodeError, match=model):
        decode(model, payload[:-1], vector["f_port"])


@pytest.mark.parametrize(
    ("model", "hex_payload", "f_port", "message"),
    [
        ("milesight-em310-udl", "017564 09 99 01", 85, "unknown channel 0x09"),
        ("milesight-em400-tld", "", 85, "empty frame"),
        ("dragino-ldds75", "0D3B0AEF00000001", 3, "fPort 3"),
        ("decentlab-dl-mbx", "03012F00020BB1", 1, "protocol version 3"),
        ("decentlab-dl-mbx", "02012F00040BB1", 1, "unknown sensor flags"),
        ("tekelek-tek766", "99000100018DF8AA", 16, "unknown message type 0x99"),
        ("dingtek-df702", "800001031107D000190000000000000081", 3, "parameter report"),
        ("nwave-nps405", "CA", 6, "no status"),
    ],
)
def test_malformed_frame_names_the_problem(model: str, hex_payload: str, f_port: int, message: str) -> None:
    """Each decoder says what is wrong with a frame it refuses."""
    with pytest.raises(DecodeError, match=message):
        decode(model, payload_bytes(hex_payload, "hex"), f_port)


def test_dragino_without_sensor_reports_no_distance() -> None:
    """LDDS75 distance 0 means "no sensor": no distance is sent, the alarm says why."""
    reading = decode("dragino-ldds75", payload_bytes("0D3B000000000001", "hex"), 2)
    assert reading.distance_mm is None
    assert reading.alarms == ("no_sensor",)


def test_decentlab_without_valid_sample_reports_no_distance() -> None:
    """DL-MBX distance with zero valid samples is not passed on as a level."""
    reading = decode("decentlab-dl-mbx", payload_bytes("02012F000304D200000BB1", "hex"), 1)
    assert reading.distance_mm is None
    assert reading.alarms == ("no_valid_sample",)


def test_payload_text_in_both_encodings() -> None:
    """The same frame given as hex and as base64 yields the same bytes; bad text is a DecodeError."""
    assert payload_bytes("01 75 5C", "hex") == payload_bytes("AXVc", "base64") == b"\x01\x75\x5c"
    with pytest.raises(DecodeError, match="hex"):
        payload_bytes("0G", "hex")
    with pytest.raises(DecodeError, match="base64"):
        payload_bytes("A*==", "base64")


def test_unknown_model_is_a_decode_error() -> None:
    """Asking for a decoder that does not exist is refused with the list of known ones."""
    with pytest.raises(DecodeError, match="milesight-em310-udl"):
        decode("acme-9000", b"\x00", 1)


@pytest.mark.parametrize("model", sorted(DECODERS))
@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=40), f_port=st.one_of(st.none(), st.integers(0, 255)))
def test_random_bytes_decode_or_raise_decode_error(model: str, payload: bytes, f_port: int | None) -> None:
    """Any bytes on any port either decode to JSON-able fields or raise DecodeError — nothing else."""
    try:
        reading = decode(model, payload, f_port)
    except DecodeError:
        return
    assert reading.model == model
    json.dumps(dict(reading.fields))
    assert reading.distance_mm is None or 0 <= reading.distance_mm <= 0xFFFF * 10
