"""Street parking pressure as planning constraints: avoid, or allow more time at, a saturated street.

The parking adapter sends the occupancy of street segments by hour as observations
(``entity_type`` ``OnStreetParking``, ``property`` ``occupancy``, a fraction, with the segment's
location). Occupancy follows the week (market days, school runs), so the expected occupancy of a
service date's hour is the mean of the observations of that hour on the same weekday over the last
weeks. A container near a segment (within `RADIUS_M`) cannot be visited in the hours the segment is
saturated, and takes longer when the street is busy at some hour of the day (the truck double-parks,
the crew walks further; a stop has one service time, whatever the hour).
When the saturated hours would leave a container no time at all, it keeps its windows and only takes
longer: the plan still reaches it.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from wastesvc.storage import ContainerRow, ObservationRow

__all__ = [
    "BUSY",
    "ENTITY_TYPE",
    "EXTRA_SERVICE_S",
    "PROPERTY",
    "RADIUS_M",
    "SATURATED",
    "ParkingEffect",
    "parking_effects",
]

ENTITY_TYPE = "OnStreetParking"
PROPERTY = "occupancy"
# Occupancy at or above which a truck cannot stop in the street, and at or above which a stop is slower.
SATURATED = 0.9
BUSY = 0.75
# Extra time at a stop in a busy street: double-parking, a longer walk with the bins.
EXTRA_SERVICE_S = 180
RADIUS_M = 60.0
WEEKS = 4
_DAY_S = 86_400
_EARTH_RADIUS_M = 6_371_000.0


@dataclass(frozen=True, slots=True)
class ParkingEffect:
    """What parking pressure does to one container on the service date.

    Attributes
    ----------
    forbidden
        ``(start_s, end_s)`` spans of the local day when the street is saturated.
    extra_service_s
        Extra service time (any busy or saturated hour near it).
    """

    forbidden: tuple[tuple[int, int], ...] = ()
    extra_service_s: int = 0

    def windows(self, access_windows: str) -> str:
        """The container's access windows (JSON ``[[start_s, end_s], …]``, empty = all day) less the
        forbidden spans; unchanged when nothing would be left."""
        if not self.forbidden:
            return access_windows
        allowed = [tuple(w) for w in json.loads(access_windows)] or [(0, _DAY_S)]
        for cut_start, cut_end in self.forbidden:
            allowed = [
                piece
                for start, end in allowed
                for piece in ((start, min(end, cut_start)), (max(start, cut_end), end))
                if piece[0] < piece[1]
            ]
        return json.dumps([list(w) for w in allowed]) if allowed else access_windows


def _distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, l1, p2, l2 = map(math.radians, (lat1, lng1, lat2, lng2))
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin((l2 - l1) / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(math.sqrt(h))


def _hourly(
    observations: Sequence[ObservationRow], service_date: date, timezone: ZoneInfo
) -> dict[tuple[float, float], dict[int, float]]:
    """Mean occupancy by segment location and local hour, over the same weekday of the last weeks."""
    samples: dict[tuple[float, float], dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for o in observations:
        if o.entity_type != ENTITY_TYPE or o.property != PROPERTY or o.number_value is None:
            continue
        if o.lat is None or o.lng is None:
            continue
        local = o.observe_time.astimezone(timezone)
        weeks_back = (service_date - local.date()).days / 7
        if local.weekday() != service_date.weekday() or not 0 <= weeks_back <= WEEKS:
            continue
        samples[(o.lat, o.lng)][local.hour].append(o.number_value)
    return {
        spot: {hour: sum(values) / len(values) for hour, values in hours.items()}
        for spot, hours in samples.items()
    }


def parking_effects(
    observations: Sequence[ObservationRow],
    containers: Sequence[ContainerRow],
    service_date: date,
    timezone: ZoneInfo,
) -> Mapping[str, ParkingEffect]:
    """The effect of parking pressure on each affected container (by id) on ``service_date``."""
    hourly = _hourly(observations, service_date, timezone)
    effects: dict[str, ParkingEffect] = {}
    for c in containers:
        saturated: set[int] = set()
        busy = False
        for (lat, lng), hours in hourly.items():
            if _distance_m(c.lat, c.lng, lat, lng) > RADIUS_M:
                continue
            saturated |= {hour for hour, occupancy in hours.items() if occupancy >= SATURATED}
            busy = busy or any(occupancy >= BUSY for occupancy in hours.values())
        if saturated or busy:
            spans = tuple((hour * 3600, (hour + 1) * 3600) for hour in sorted(saturated))
            effects[c.id] = ParkingEffect(spans, EXTRA_SERVICE_S)
    return effects
