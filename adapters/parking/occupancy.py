"""Real-time occupancy of street parking (FIWARE ``OnStreetParking``) as wastesvc observations.

Each entity (normalized NGSI-LD or key-values, checked against its Smart Data Models schema) gives one
observation of ``occupancy``, a fraction: ``occupiedSpotNumber / totalSpotNumber``, else
``1 - availableSpotNumber / totalSpotNumber``, at the count's ``observedAt`` (else the entity's
``observationDateTime``), located at the segment's centre. A segment whose ``parkingSiteId`` names a
site of the static CSV takes its capacity and position from there when the entity lacks them. The
planner (``wastesvc.domain.parking``) groups the observations by street and hour.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from google.protobuf import timestamp_pb2
from google.type import latlng_pb2

from adapters.ngsi.sdm import key_values, validate_entity
from adapters.parking.sites import Site
from wastesvc.v1 import observations_pb2

__all__ = ["OccupancyError", "by_id", "occupancy_observation"]


class OccupancyError(ValueError):
    """An entity that gives no occupancy (no counts, capacity, time or position); the message says which."""


def _centre(geometry: Any) -> tuple[float, float] | None:
    """(latitude, longitude) of a GeoJSON Point, LineString or Polygon (mean of its outer vertices)."""
    if not isinstance(geometry, dict):
        return None
    coordinates = geometry.get("coordinates")
    if not isinstance(coordinates, list) or not coordinates:
        return None
    kind = geometry.get("type")
    points = [coordinates] if kind == "Point" else coordinates if kind == "LineString" else coordinates[0]
    if kind not in ("Point", "LineString", "Polygon") or not points:
        return None
    return (sum(p[1] for p in points) / len(points), sum(p[0] for p in points) / len(points))


def _observed_at(entity: Mapping[str, Any], flat: Mapping[str, Any]) -> datetime | None:
    for name in ("occupiedSpotNumber", "availableSpotNumber"):
        member = entity.get(name)
        if isinstance(member, dict) and isinstance(member.get("observedAt"), str):
            return datetime.fromisoformat(member["observedAt"])
    stamp = flat.get("observationDateTime")
    return datetime.fromisoformat(stamp) if isinstance(stamp, str) else None


def occupancy_observation(
    entity: dict[str, Any], sites: Mapping[str, Site], source: str
) -> observations_pb2.Observation:
    """The occupancy observation of one ``OnStreetParking`` entity.

    Raises
    ------
    SdmError
        When the entity breaks the ``OnStreetParking`` schema.
    OccupancyError
        When it lacks what an occupancy needs.
    """
    validate_entity(entity)
    flat = key_values(entity)
    site = sites.get(str(flat.get("parkingSiteId", "")))
    total = flat.get("totalSpotNumber") or (site.places if site else None)
    if not total:
        raise OccupancyError(f"{entity['id']}: no totalSpotNumber (nor a known parkingSiteId)")
    if isinstance(flat.get("occupiedSpotNumber"), int | float):
        occupancy = flat["occupiedSpotNumber"] / total
    elif isinstance(flat.get("availableSpotNumber"), int | float):
        occupancy = 1 - flat["availableSpotNumber"] / total
    else:
        raise OccupancyError(f"{entity['id']}: neither occupiedSpotNumber nor availableSpotNumber")
    moment = _observed_at(entity, flat)
    if moment is None or moment.tzinfo is None:
        raise OccupancyError(f"{entity['id']}: no observedAt / observationDateTime with a UTC offset")
    centre = _centre(flat.get("location")) or ((site.latitude, site.longitude) if site else None)
    if centre is None:
        raise OccupancyError(f"{entity['id']}: no location")
    observed = timestamp_pb2.Timestamp()
    observed.FromDatetime(moment.astimezone(UTC))
    return observations_pb2.Observation(
        source=source,
        entity_id=str(entity["id"]),
        entity_type="OnStreetParking",
        property="occupancy",
        number_value=min(1.0, max(0.0, occupancy)),
        unit="C62",
        observe_time=observed,
        location=latlng_pb2.LatLng(latitude=centre[0], longitude=centre[1]),
    )


def by_id(sites: Iterable[Site]) -> dict[str, Site]:
    """Sites by schema id."""
    return {site.id: site for site in sites}
