"""Limits every stored value must respect, checked on any message before it is used or stored.

A record accepted once is read by every client afterwards: a 40 MiB address, an infinite cost or a
duration of 2^63 s would break reads and plans for everybody, so they are refused when written.
"""

from __future__ import annotations

import math
from typing import Any

from google.protobuf import duration_pb2, timestamp_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from wastesvc.errors import FieldViolation

__all__ = ["DEFAULT_MAX_CHARS", "MAX_CHARS", "check_message", "check_text", "check_timestamp"]

# Per field name, the longest value accepted (in characters); the protos document the same numbers.
MAX_CHARS = {
    "street_address": 200,
    "locality": 100,
    "display_name": 100,
    "commune_code": 10,
    "isle": 64,
    "sensor_id": 64,
    "model_id": 64,
    "request_id": 128,
    "filter": 1000,
    "page_token": 1000,
    "detail": 500,
    "note": 500,
    "description": 2000,
    "reporter": 200,
}
# Anything else: names, ids and free text alike.
DEFAULT_MAX_CHARS = 300

# The range google.protobuf.Timestamp and Duration define (0001-01-01 .. 9999-12-31, ±10,000 years).
_MIN_SECONDS = -62_135_596_800
_MAX_SECONDS = 253_402_300_799
_MAX_DURATION_SECONDS = 315_576_000_000
_NANOS = 1_000_000_000


def _leaf(field: str) -> str:
    """`street_address` of `requests[2].container.street_address`, `equipment` of `equipment[0]`."""
    return field.rsplit(".", 1)[-1].split("[", 1)[0]


def check_text(value: str, field: str, max_chars: int | None = None) -> list[FieldViolation]:
    """Violations of one string: too long, a NUL character, or text that is not valid Unicode."""
    limit = max_chars if max_chars is not None else MAX_CHARS.get(_leaf(field), DEFAULT_MAX_CHARS)
    if len(value) > limit:
        return [FieldViolation(field, f"must be at most {limit} characters (got {len(value)})")]
    if "\x00" in value:
        return [FieldViolation(field, "must not contain NUL characters")]
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return [FieldViolation(field, "must be valid Unicode (no lone surrogates)")]
    return []


def check_timestamp(value: timestamp_pb2.Timestamp, field: str) -> list[FieldViolation]:
    """Violations of one Timestamp: outside the range google.protobuf.Timestamp defines."""
    if not (_MIN_SECONDS <= value.seconds <= _MAX_SECONDS and 0 <= value.nanos < _NANOS):
        return [FieldViolation(field, "must be a valid timestamp between years 1 and 9999")]
    return []


def _check_duration(value: duration_pb2.Duration, field: str) -> list[FieldViolation]:
    ok = abs(value.seconds) <= _MAX_DURATION_SECONDS and abs(value.nanos) < _NANOS
    # Seconds and nanos carry the same sign (google.protobuf.Duration).
    if ok and value.seconds and value.nanos and (value.seconds > 0) != (value.nanos > 0):
        ok = False
    return [] if ok else [FieldViolation(field, "must be a valid duration (seconds and nanos of one sign)")]


def _check_scalar(descriptor: FieldDescriptor, value: Any, field: str) -> list[FieldViolation]:
    if descriptor.type == FieldDescriptor.TYPE_STRING:
        return check_text(value, field)
    if descriptor.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT) and not math.isfinite(
        value
    ):
        return [FieldViolation(field, "must be a finite number")]
    return []


def check_message(message: Message, prefix: str) -> list[FieldViolation]:
    """Every set field of `message`, recursively: strings bounded and NUL-free, numbers finite,
    timestamps and durations within their defined range. Field paths start with `prefix`."""
    if isinstance(message, timestamp_pb2.Timestamp):
        return check_timestamp(message, prefix)
    if isinstance(message, duration_pb2.Duration):
        return _check_duration(message, prefix)
    out: list[FieldViolation] = []
    for descriptor, value in message.ListFields():
        path = f"{prefix}.{descriptor.name}" if prefix else descriptor.name
        repeated = descriptor.is_repeated
        items = list(enumerate(value)) if repeated else [(None, value)]
        for index, item in items:
            where = path if index is None else f"{path}[{index}]"
            if descriptor.type == FieldDescriptor.TYPE_MESSAGE:
                out += check_message(item, where)
            else:
                out += _check_scalar(descriptor, item, where)
    return out
