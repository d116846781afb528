"""The sheet code: which plan, truck and plan version a printed sheet belongs to, as a QR-friendly text.

Format (an opaque URI, so that a phone's scanner shows it as text rather than opening a browser)::

    wastesvc:sheet?t=<tenant>&plan=<plan id>&vehicle=<vehicle id>&v=<version>

The ids are the segments of the resource names (`tenants/{t}/routePlans/{plan}`,
`tenants/{t}/vehicles/{vehicle}`), the version
is the plan's `create_time` in UTC as `YYYYMMDDTHHMMSSZ` (`0` when the plan has none). Values are
percent-encoded (RFC 3986). Readers ignore keys they do not know, so keys may be added later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs, quote

from google.protobuf import timestamp_pb2

__all__ = ["SheetCode", "parse_sheet_code"]

_PREFIX = "wastesvc:sheet?"


def _segments(name: str, collection: str) -> tuple[str, str]:
    """(tenant, id) of `tenants/{tenant}/{collection}/{id}`."""
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "tenants" or parts[2] != collection:
        raise ValueError(f"{name!r} is not a name of the form tenants/{{tenant}}/{collection}/{{id}}")
    return parts[1], parts[3]


@dataclass(frozen=True)
class SheetCode:
    """What a sheet's QR code says.

    Attributes
    ----------
    plan : str
        The plan's resource name, `tenants/{tenant}/routePlans/{plan}`.
    vehicle : str
        The truck's resource name, `tenants/{tenant}/vehicles/{vehicle}`.
    version : str
        The plan version the sheet was printed from (see the module docstring).
    """

    plan: str
    vehicle: str
    version: str

    def text(self) -> str:
        """The code as printed in the QR symbol."""
        tenant, plan = _segments(self.plan, "routePlans")
        fields = (
            ("t", tenant),
            ("plan", plan),
            ("vehicle", _segments(self.vehicle, "vehicles")[1]),
            ("v", self.version),
        )
        return _PREFIX + "&".join(f"{key}={quote(value, safe='')}" for key, value in fields)


def version_of(create_time: timestamp_pb2.Timestamp) -> str:
    """The version of a plan made at `create_time`: a compact UTC time, or `0` when it is unset."""
    if not (create_time.seconds or create_time.nanos):
        return "0"
    return datetime.fromtimestamp(create_time.seconds, tz=UTC).strftime("%Y%m%dT%H%M%SZ")


def parse_sheet_code(text: str) -> SheetCode:
    """Read back the code printed on a sheet.

    Parameters
    ----------
    text : str
        The decoded QR text, e.g.
        `wastesvc:sheet?t=grand-soissons&plan=2026-11-30-a1&vehicle=bom-01&v=20261129T174500Z`.

    Returns
    -------
    SheetCode
        The plan and vehicle as full resource names, and the version.

    Raises
    ------
    ValueError
        When `text` is not a wastesvc sheet code, or a field is missing, empty or given twice.
    """
    stripped = text.strip()
    if not stripped.startswith(_PREFIX):
        raise ValueError(f"not a wastesvc sheet code (expected it to start with {_PREFIX!r}): {text!r}")
    try:
        fields = parse_qs(stripped.removeprefix(_PREFIX), keep_blank_values=True, strict_parsing=True)
    except ValueError as error:
        raise ValueError(f"malformed sheet code {text!r}: {error}") from None
    values: dict[str, str] = {}
    for key in ("t", "plan", "vehicle", "v"):
        found = fields.get(key, [])
        if len(found) != 1 or not found[0]:
            problem = "missing" if not found else "given twice" if len(found) > 1 else "empty"
            raise ValueError(f"sheet code {text!r}: field {key!r} is {problem}")
        values[key] = found[0]
    tenant = f"tenants/{values['t']}"
    return SheetCode(
        plan=f"{tenant}/routePlans/{values['plan']}",
        vehicle=f"{tenant}/vehicles/{values['vehicle']}",
        version=values["v"],
    )
