"""Light the streets a night or early-morning crew works in: a plan's stops as TALQ override commands.

Each container stop inside the night window lights the luminaires within ``radius_m`` of it from
``lead_s`` before the truck starts to ``trail_s`` after it leaves; a luminaire's overlapping slots
are merged. One ``OverrideCommand`` per slot raises the ``LevelState`` of its luminaires; its
``expiration`` hands them back to their normal control program, which is how TALQ restores a light
after an override. Communes choose whether they take part and whether commands are really sent
(dry run, the default, only logs them).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from wastesvc.v1 import containers_pb2, planning_pb2

__all__ = [
    "CommuneLighting",
    "LightingSettings",
    "Luminaire",
    "PlannedOverride",
    "luminaires",
    "plan_overrides",
]

_EARTH_RADIUS_M = 6_371_000.0


@dataclass(frozen=True, slots=True)
class CommuneLighting:
    """A commune's choice: take part at all, and send for real or only log."""

    enabled: bool = True
    dry_run: bool = True


@dataclass(frozen=True, slots=True)
class LightingSettings:
    """How much light, where and when.

    Attributes
    ----------
    level
        Light level (TALQ ``DimLevel``, 0-100 %) while a crew works.
    radius_m
        Luminaires this close to a stop are raised.
    lead_s, trail_s
        Light on this long before the planned start and after the planned end of a stop.
    night_start, night_end
        Local times between which a stop counts as "at night" (the window wraps past midnight).
    timezone
        The communes' time zone.
    default
        The choice of a commune not listed in ``communes``.
    communes
        Per-commune choices, by INSEE code.
    """

    level: int = 100
    radius_m: float = 60.0
    lead_s: int = 300
    trail_s: int = 300
    night_start: time = time(21, 0)
    night_end: time = time(7, 0)
    timezone: str = "Europe/Paris"
    default: CommuneLighting = field(default_factory=CommuneLighting)
    communes: Mapping[str, CommuneLighting] = field(default_factory=dict)

    def commune(self, code: str) -> CommuneLighting:
        """The choice of commune ``code``."""
        return self.communes.get(code, self.default)


@dataclass(frozen=True, slots=True)
class Luminaire:
    """A TALQ device with a lamp actuator and a position."""

    address: str
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class PlannedOverride:
    """Raise ``addresses`` from ``start`` to ``end``; ``dry_run`` when the commune only wants a log."""

    start: datetime
    end: datetime
    addresses: tuple[str, ...]
    commune: str
    dry_run: bool

    def command(self, level: int, reference: str) -> dict[str, Any]:
        """The TALQ ``OverrideCommand`` body."""
        return {
            "addresses": [{"resource": "devices", "address": address} for address in self.addresses],
            "targetCommand": {
                "state": {"name": "LevelState", "value": level},
                "reason": "override",
                "cmsRefId": reference,
                "start": _rfc3339(self.start),
                "expiration": _rfc3339(self.end),
            },
        }


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _position(function: Mapping[str, Any]) -> tuple[float, float] | None:
    location = (function.get("location") or {}).get("value")
    if isinstance(location, dict):
        latitude, longitude = location.get("latitude"), location.get("longitude")
        if isinstance(latitude, int | float) and isinstance(longitude, int | float):
            return float(latitude), float(longitude)
    return None


def luminaires(devices: Iterable[Mapping[str, Any]]) -> list[Luminaire]:
    """The devices with a ``LampActuatorFunction`` and a location (basic or location-sensor function)."""
    found = []
    for device in devices:
        functions = device.get("functions") or []
        if not any(f.get("type") == "LampActuatorFunction" for f in functions):
            continue
        positions = [p for f in functions if (p := _position(f)) is not None]
        if positions:
            found.append(Luminaire(str(device["address"]), *positions[0]))
    return found


def _distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lng1, lat2, lng2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(math.sqrt(h))


def _at_night(moment: datetime, settings: LightingSettings) -> bool:
    local = moment.astimezone(ZoneInfo(settings.timezone)).time()
    if settings.night_start <= settings.night_end:
        return settings.night_start <= local < settings.night_end
    return local >= settings.night_start or local < settings.night_end


def _merge(slots: Sequence[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(slots):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def plan_overrides(
    plan: planning_pb2.RoutePlan,
    containers: Mapping[str, containers_pb2.Container],
    lamps: Sequence[Luminaire],
    settings: LightingSettings,
) -> list[PlannedOverride]:
    """The override commands for ``plan``'s night stops, in time order.

    ``containers`` maps resource names to containers (for each stop's commune).
    """
    slots: dict[tuple[str, str], list[tuple[datetime, datetime]]] = defaultdict(list)
    lead, trail = timedelta(seconds=settings.lead_s), timedelta(seconds=settings.trail_s)
    for route in plan.routes:
        for visit in route.visits:
            if visit.kind != planning_pb2.VISIT_KIND_CONTAINER or not visit.containers:
                continue
            start = visit.start_time.ToDatetime(tzinfo=UTC)
            end = visit.end_time.ToDatetime(tzinfo=UTC)
            container = containers.get(visit.containers[0])
            if container is None or not _at_night(start, settings):
                continue
            if not settings.commune(container.commune_code).enabled:
                continue
            stop = (visit.location.latitude, visit.location.longitude)
            for lamp in lamps:
                if _distance_m(stop, (lamp.latitude, lamp.longitude)) <= settings.radius_m:
                    slots[(container.commune_code, lamp.address)].append((start - lead, end + trail))
    grouped: dict[tuple[str, datetime, datetime], list[str]] = defaultdict(list)
    for (commune, address), lamp_slots in slots.items():
        for start, end in _merge(lamp_slots):
            grouped[(commune, start, end)].append(address)
    return [
        PlannedOverride(start, end, tuple(sorted(addresses)), commune, settings.commune(commune).dry_run)
        for (commune, start, end), addresses in sorted(
            grouped.items(), key=lambda item: (item[0][1], item[0][0])
        )
    ]
