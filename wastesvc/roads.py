"""The path a truck drives between its visits, for the route exports and the printed sheets.

Where OSRM is configured the path follows the roads (`routing.OsrmRoutes`); otherwise, or when OSRM fails at
that moment, it is the straight line between consecutive places, and says so: an export or a sheet is never
refused for want of road geometry.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import routing

__all__ = ["LonLat", "RoadLegs", "RoadPath", "road_path"]

log = logging.getLogger(__name__)

LonLat = tuple[float, float]
Source = Literal["osrm", "straight", "straight_osrm_failed"]


class RoadLegs(Protocol):
    """What gives the road path between consecutive places: `routing.OsrmRoutes`."""

    def legs(self, locations: Sequence[routing.Location]) -> list[list[LonLat]]: ...


@dataclass(frozen=True)
class RoadPath:
    """The path through a sequence of places, one leg from each place to the next.

    `source` is "osrm" (the roads), "straight" (no OSRM configured) or "straight_osrm_failed" (OSRM was
    asked and failed; `error` says why).
    """

    legs: list[list[LonLat]]
    source: Source
    error: str = ""

    @property
    def line(self) -> list[LonLat]:
        """The legs joined into one polyline (each place once where two legs meet)."""
        out: list[LonLat] = []
        for leg in self.legs:
            out += leg[1:] if out else leg
        return out


def road_path(places: Sequence[tuple[float, float]], roads: RoadLegs | None) -> RoadPath:
    """The path through `places` ((latitude, longitude) pairs, in order), by road when `roads` is set.

    Blocking: `roads` asks a server over HTTP, so async callers run this in a thread.
    """
    straight = [[(a[1], a[0]), (b[1], b[0])] for a, b in itertools.pairwise(places)]
    if roads is None:
        return RoadPath(straight, "straight")
    try:
        legs = roads.legs([routing.Location(lat, lng) for lat, lng in places])
    except routing.OsrmUnavailable as error:
        return _fallback(straight, error.reason)
    except routing.ProblemError as error:
        return _fallback(straight, str(error))
    return RoadPath(legs, "osrm")


def _fallback(straight: list[list[LonLat]], reason: str) -> RoadPath:
    log.warning("road path unavailable, drawing straight lines: %s", reason)
    return RoadPath(straight, "straight_osrm_failed", f"OSRM could not give the road path: {reason}")
