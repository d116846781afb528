"""Small shared helpers: names, streams, times, pagination tokens, request checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import duration_pb2, timestamp_pb2
from google.type import latlng_pb2, timeofday_pb2

from wastesvc.domain._limits import DEFAULT_MAX_CHARS, MAX_CHARS, check_text
from wastesvc.errors import FieldViolation, InvalidArgument
from wastesvc.v1 import common_pb2

__all__ = [
    "FUTURE_TOLERANCE",
    "OLDEST",
    "STREAM_KEYS",
    "check_latlng",
    "check_resource_id",
    "check_tenant_names",
    "decode_page_token",
    "encode_page_token",
    "filter_time",
    "from_timestamp",
    "page_size",
    "parse_filter",
    "parse_name",
    "parse_tenant",
    "resource_name",
    "seconds_to_timeofday",
    "set_page_token_key",
    "stream_from_key",
    "stream_key",
    "timeofday_to_seconds",
    "to_duration",
    "to_timestamp",
]

# Sensor clocks drift and gateways buffer; more than this ahead of the server clock is a bad clock.
FUTURE_TOLERANCE = timedelta(minutes=10)
# Older than this is a sensor clock never set, not a measurement.
OLDEST = datetime(2000, 1, 1, tzinfo=UTC)

STREAM_KEYS: dict[common_pb2.WasteStream.ValueType, str] = {
    common_pb2.WASTE_STREAM_RESIDUAL: "residual",
    common_pb2.WASTE_STREAM_PACKAGING: "packaging",
    common_pb2.WASTE_STREAM_PAPER: "paper",
    common_pb2.WASTE_STREAM_GLASS: "glass",
    common_pb2.WASTE_STREAM_BIOWASTE: "biowaste",
}
_STREAM_BY_KEY: dict[str, common_pb2.WasteStream.ValueType] = {
    key: value for value, key in STREAM_KEYS.items()
}
# The same mapping keyed by plain numbers, as requests carry whatever number a client sent.
_KEY_BY_NUMBER: dict[int, str] = {int(number): key for number, key in STREAM_KEYS.items()}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def stream_key(value: int, field: str) -> str:
    """The storage key of a WasteStream value; unset or unknown numbers are a field violation."""
    key = _KEY_BY_NUMBER.get(value)
    if key is None:
        detail = "must be set" if value == 0 else f"unknown stream {value}"
        raise InvalidArgument([FieldViolation(field, detail)])
    return key


def stream_from_key(key: str) -> common_pb2.WasteStream.ValueType:
    return _STREAM_BY_KEY[key]


def check_resource_id(value: str, field: str) -> list[FieldViolation]:
    if not _ID.match(value):
        return [
            FieldViolation(field, "must be 1-63 characters among A-Z a-z 0-9 . _ - and start alphanumeric")
        ]
    return []


_TENANT = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


def parse_tenant(parent: str, field: str = "parent") -> str:
    """The tenant id in `tenants/{tenant}`; anything else is INVALID_ARGUMENT naming `field`."""
    tenant = parent.removeprefix("tenants/")
    if not parent.startswith("tenants/") or not _TENANT.match(tenant):
        raise InvalidArgument(
            [FieldViolation(field, f"must look like tenants/{{tenant}} (a-z, 0-9, -), got {_shown(parent)}")]
        )
    return tenant


def parse_name(name: str, collection: str, field: str = "name") -> tuple[str, str]:
    """(tenant, id) of `tenants/{tenant}/{collection}/{id}`; a malformed name is INVALID_ARGUMENT."""
    parts = name.split("/")
    if (
        len(parts) != 4
        or parts[0] != "tenants"
        or not _TENANT.match(parts[1])
        or parts[2] != collection
        or not _ID.match(parts[3])
    ):
        raise InvalidArgument(
            [
                FieldViolation(
                    field, f"must look like tenants/{{tenant}}/{collection}/{{id}}, got {_shown(name)}"
                )
            ]
        )
    return parts[1], parts[3]


def check_tenant_names(tenant: str, names: Iterable[tuple[str, str, str]]) -> list[FieldViolation]:
    """Violations among `(field, name, collection)`: a malformed name, or one outside `tenants/{tenant}`."""
    violations: list[FieldViolation] = []
    for field, name, collection in names:
        try:
            owner, _ = parse_name(name, collection, field)
        except InvalidArgument as exc:
            violations += exc.violations
            continue
        if owner != tenant:
            violations.append(FieldViolation(field, f"must be in tenants/{tenant}"))
    return violations


def resource_name(tenant: str, collection: str, resource_id: str) -> str:
    """`tenants/{tenant}/{collection}/{id}`."""
    return f"tenants/{tenant}/{collection}/{resource_id}"


def _shown(value: str) -> str:
    # Echo at most a short prefix: a client's 5 KB name must not overflow the reply's headers.
    return repr(value if len(value) <= 80 else value[:80] + "…")


def check_latlng(location: latlng_pb2.LatLng, present: bool, field: str) -> list[FieldViolation]:
    if not present:
        return [FieldViolation(field, "is required")]
    violations = []
    if not -90.0 <= location.latitude <= 90.0:
        violations.append(FieldViolation(f"{field}.latitude", "must be within [-90, 90]"))
    if not -180.0 <= location.longitude <= 180.0:
        violations.append(FieldViolation(f"{field}.longitude", "must be within [-180, 180]"))
    return violations


def timeofday_to_seconds(value: timeofday_pb2.TimeOfDay) -> int:
    return int(value.hours * 3600 + value.minutes * 60 + value.seconds)


def seconds_to_timeofday(seconds: int) -> timeofday_pb2.TimeOfDay:
    return timeofday_pb2.TimeOfDay(hours=seconds // 3600, minutes=seconds % 3600 // 60, seconds=seconds % 60)


def check_timeofday(value: timeofday_pb2.TimeOfDay, field: str) -> list[FieldViolation]:
    # 24:00 is allowed as an end of day, as google.type.TimeOfDay permits.
    ok = 0 <= value.hours <= 24 and 0 <= value.minutes < 60 and 0 <= value.seconds < 60 and value.nanos == 0
    if ok and value.hours == 24 and (value.minutes or value.seconds):
        ok = False
    return [] if ok else [FieldViolation(field, "must be a valid time of day between 00:00 and 24:00")]


def check_window(window: common_pb2.TimeWindow, field: str) -> list[FieldViolation]:
    violations = check_timeofday(window.start_time, f"{field}.start_time")
    violations += check_timeofday(window.end_time, f"{field}.end_time")
    if not violations and timeofday_to_seconds(window.end_time) < timeofday_to_seconds(window.start_time):
        violations.append(FieldViolation(f"{field}.end_time", "must not be before start_time"))
    return violations


# A service, dump or break longer than a day is a unit mistake, and would overflow day arithmetic.
MAX_TASK_DURATION = timedelta(hours=24)


def check_duration(value: duration_pb2.Duration, field: str) -> list[FieldViolation]:
    if value.seconds < 0 or value.nanos < 0:
        return [FieldViolation(field, "must not be negative")]
    if value.seconds > MAX_TASK_DURATION.total_seconds():
        return [FieldViolation(field, "must be at most 24 hours")]
    return []


def to_timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value.astimezone(UTC))
    return stamp


def from_timestamp(value: timestamp_pb2.Timestamp) -> datetime:
    return value.ToDatetime(tzinfo=UTC)


def to_duration(seconds: float) -> duration_pb2.Duration:
    result = duration_pb2.Duration()
    result.FromTimedelta(timedelta(seconds=seconds))
    return result


def page_size(requested: int, default: int, maximum: int, field: str = "page_size") -> int:
    if requested < 0:
        raise InvalidArgument([FieldViolation(field, "must not be negative")])
    return min(requested or default, maximum)


# Page tokens are signed so a client can only hand back a token this service issued: an altered or forged
# one is refused before its content is read. The server sets a key derived from its auth key; until then a
# random per-process key is used.
_token_key = {"key": secrets.token_bytes(32)}


def set_page_token_key(key: bytes) -> None:
    """Sign page tokens with a key derived from `key` (so tokens survive a restart of the server)."""
    _token_key["key"] = hmac.new(key, b"wastesvc page token", hashlib.sha256).digest()


def _mac(payload: bytes) -> bytes:
    return hmac.new(_token_key["key"], payload, hashlib.sha256).digest()[:16]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_page_token(key: Any, context: Mapping[str, Any] | None = None) -> str:
    payload = json.dumps({"k": key, "c": dict(context or {})}, separators=(",", ":"), sort_keys=True).encode()
    return f"{_b64(payload)}.{_b64(_mac(payload))}"


def decode_page_token(token: str, context: Mapping[str, Any] | None = None, field: str = "page_token") -> Any:
    """The key stored in a token; a token from another query (filter changed) is rejected (AIP-158)."""
    if not token:
        return None
    not_ours = InvalidArgument([FieldViolation(field, "is not a token this service issued")])
    try:
        body, mac = token.split(".")
        payload = _unb64(body)
        if not hmac.compare_digest(_unb64(mac), _mac(payload)):
            raise not_ours
        decoded = json.loads(payload)
        key, stored_context = decoded["k"], decoded["c"]
    except (ValueError, KeyError, TypeError):
        raise not_ours from None
    if stored_context != dict(context or {}):
        raise InvalidArgument([FieldViolation(field, "belongs to a different query (filter changed)")])
    return key


_CLAUSE = re.compile(r'^\s*([a-z_]+)\s*=\s*("(?:[^"\\]|\\.)*"|[A-Za-z0-9_.-]+)\s*$')


def parse_filter(text: str, allowed: Mapping[str, str], field: str = "filter") -> dict[str, str]:
    """An AIP-160 subset: `a = "x" AND b = Y`; returns {column: value} using `allowed` {field: column}."""
    if len(text) > MAX_CHARS["filter"]:
        raise InvalidArgument([FieldViolation(field, f"must be at most {MAX_CHARS['filter']} characters")])
    if not text.strip():
        return {}
    result: dict[str, str] = {}
    for clause in re.split(r"\s+AND\s+", text.strip()):
        match = _CLAUSE.match(clause)
        if not match:
            raise InvalidArgument(
                [FieldViolation(field, f'cannot parse {clause!r}; use field = "value" AND …')]
            )
        name, raw = match.groups()
        if name not in allowed:
            raise InvalidArgument(
                [FieldViolation(field, f"cannot filter on {name!r}; allowed: {', '.join(sorted(allowed))}")]
            )
        result[allowed[name]] = _filter_value(raw, name, field)
    return result


def filter_time(raw: str, name: str, field: str = "filter") -> datetime:
    """A filter's RFC 3339 time with its offset, in UTC."""
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        # Year 1 or 9999 with an offset has no UTC form.
        utc = when.astimezone(UTC) if when.tzinfo is not None else None
    except (ValueError, OverflowError):
        utc = None
    if utc is None:
        raise InvalidArgument(
            [FieldViolation(field, f'{name} must be an RFC 3339 time such as "2026-12-02T18:00:00Z"')]
        )
    return utc


def _filter_value(raw: str, name: str, field: str) -> str:
    """A bare word, or a quoted string with JSON escapes; a bad escape or lone surrogate is refused."""
    if not raw.startswith('"'):
        return raw
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidArgument([FieldViolation(field, f"the value of {name} has a bad escape")]) from None
    if not isinstance(value, str):  # pragma: no cover - the pattern only admits a quoted string
        raise InvalidArgument([FieldViolation(field, f"the value of {name} must be a string")])
    violations = check_text(value, field, max_chars=DEFAULT_MAX_CHARS)
    if violations:
        raise InvalidArgument([FieldViolation(field, f"the value of {name} {violations[0].description}")])
    return value
