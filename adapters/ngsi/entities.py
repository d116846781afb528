"""wastesvc resources read through the gRPC API as NGSI-LD entities, and broker entities back.

The mapping itself is `ngsild` (shared with `wastesvc export`); this module turns the API's messages into
its facts, and a broker's ``WasteContainer`` into a container to create.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf import duration_pb2, timestamp_pb2
from google.type import latlng_pb2

import ngsild
from wastesvc.v1 import common_pb2, containers_pb2, dispatch_pb2, fleet_pb2, planning_pb2

__all__ = [
    "ImportError_",
    "collection_entities",
    "container_entity",
    "container_from_entity",
    "isle_entities",
    "urn",
    "vehicle_entity",
]

urn = ngsild.urn
# The API's stream enum <-> wastesvc's stream keys (the enum names without their prefix, in lower case).
_KEYS = {
    value: common_pb2.WasteStream.Name(value).removeprefix("WASTE_STREAM_").lower()
    for value in common_pb2.WasteStream.values()
    if value != common_pb2.WASTE_STREAM_UNSPECIFIED
}
_STREAMS = {ngsild.STORED_WASTE_KINDS[key]: value for value, key in _KEYS.items()}


class ImportError_(ValueError):  # noqa: N801 - "ImportError" is a builtin
    """A broker entity that cannot become a container; the message says which and why."""


def _local_id(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _facts(container: containers_pb2.Container) -> ngsild.ContainerFacts:
    def moment(stamp: timestamp_pb2.Timestamp) -> Any:
        return stamp.ToDatetime(tzinfo=UTC)

    has_fill = container.HasField("latest_reading_time")
    return ngsild.ContainerFacts(
        id=_local_id(container.name),
        lat=container.location.latitude,
        lng=container.location.longitude,
        street_address=container.street_address,
        locality=container.locality,
        stream=_KEYS.get(container.stream, ""),
        volume_liters=container.volume_liters,
        isle=container.isle,
        sensor_id=container.sensor_id,
        fill=container.latest_fill if has_fill else None,
        fill_time=moment(container.latest_reading_time) if has_fill else None,
        last_emptied=moment(container.last_emptied_time) if container.HasField("last_emptied_time") else None,
    )


def container_entity(container: containers_pb2.Container, tenant: str) -> dict[str, Any]:
    """A ``WasteContainer``: location, address, kind, capacity (m³), fill and last emptying when known."""
    return ngsild.container_entity(tenant, _facts(container))


def isle_entities(containers: Iterable[containers_pb2.Container], tenant: str) -> list[dict[str, Any]]:
    """One ``WasteContainerIsle`` per isle, at its first container, referring to its containers."""
    return ngsild.isle_entities(tenant, [_facts(c) for c in containers])


def vehicle_entity(
    vehicle: fleet_pb2.Vehicle, tenant: str, depots: Mapping[str, latlng_pb2.LatLng]
) -> dict[str, Any]:
    """A ``Vehicle`` (a municipal garbage truck) located at its home depot."""
    depot = depots.get(vehicle.home_depot, latlng_pb2.LatLng())
    facts = ngsild.VehicleFacts(
        _local_id(vehicle.name), vehicle.display_name, depot.latitude, depot.longitude
    )
    return ngsild.vehicle_entity(tenant, facts)


def collection_entities(
    plan: planning_pb2.RoutePlan,
    events: Iterable[dispatch_pb2.FieldEvent],
    containers: Mapping[str, containers_pb2.Container],
    tenant: str,
) -> list[dict[str, Any]]:
    """A ``WasteObserved`` per container of each visit a crew reported ``COMPLETED`` in `plan`.

    As the service stores a crew's report: one collection per container of the visit, at the event's
    time, each with an equal share of what the truck weighed.
    """
    visits = {visit.id: visit for route in plan.routes for visit in route.visits}
    found = []
    for event in events:
        visit = visits.get(event.visit_id)
        if event.kind != dispatch_pb2.FIELD_EVENT_KIND_COMPLETED or visit is None or not visit.containers:
            continue
        share = event.weighed_kg / len(visit.containers) if event.weighed_kg else None
        for name in visit.containers:
            observed = _Observed(name, event.event_time.ToDatetime(tzinfo=UTC), "crew")
            plan_id, vehicle_id = _local_id(plan.name), _local_id(event.vehicle)
            found.append(
                _observed_entity(
                    observed,
                    containers,
                    tenant,
                    weighed_kg=share,
                    route_plan_id=plan_id,
                    vehicle_id=vehicle_id,
                )
            )
    return found


@dataclass(frozen=True, slots=True)
class _Observed:
    """An emptying: the container's resource name, when, and who reported it."""

    container: str
    time: datetime
    source: str


def _observed_entity(
    observed: _Observed, containers: Mapping[str, containers_pb2.Container], tenant: str, **details: Any
) -> dict[str, Any]:
    """The ``WasteObserved`` of an emptying, at its container's place."""
    name = observed.container
    where = containers[name].location if name in containers else latlng_pb2.LatLng()
    facts = ngsild.CollectionFacts(
        container_id=_local_id(name),
        time=observed.time,
        source=observed.source,
        lat=where.latitude,
        lng=where.longitude,
        **details,
    )
    return ngsild.collection_entity(tenant, facts)


def sensor_collection_entities(
    collections: Iterable[containers_pb2.Collection],
    containers: Mapping[str, containers_pb2.Container],
    tenant: str,
) -> list[dict[str, Any]]:
    """A ``WasteObserved`` per emptying the service detected in a sensor's readings (``dataProvider``
    ``sensor``), at the container's place."""
    return [
        _observed_entity(
            _Observed(c.name.split("/collections/")[0], c.collect_time.ToDatetime(tzinfo=UTC), "sensor"),
            containers,
            tenant,
        )
        for c in collections
    ]


def _value(entity: Mapping[str, Any], name: str) -> Any:
    member = entity.get(name)
    return member.get("value") if isinstance(member, dict) and "value" in member else member


def container_from_entity(
    entity: Mapping[str, Any], default_commune: str
) -> tuple[str, containers_pb2.Container]:
    """The container id and container a broker's ``WasteContainer`` describes, in ``default_commune``.

    Raises
    ------
    ImportError_
        When it has no point location or an unknown waste kind.
    """
    entity_id = str(entity.get("id", ""))
    location = _value(entity, "location")
    coordinates = location.get("coordinates") if isinstance(location, dict) else None
    if not (isinstance(location, dict) and location.get("type") == "Point" and isinstance(coordinates, list)):
        raise ImportError_(f"{entity_id}: no Point location")
    kind = _value(entity, "storedWasteKind")
    if kind not in _STREAMS:
        raise ImportError_(f"{entity_id}: storedWasteKind {kind!r} has no wastesvc stream")
    address = _value(entity, "address") or {}
    capacity = _value(entity, "binCapacity")
    container = containers_pb2.Container(
        # The WasteContainer model has no commune (INSEE) code: the importer names it.
        commune_code=default_commune,
        street_address=str(address.get("streetAddress", "")),
        locality=str(address.get("addressLocality", "")),
        location=latlng_pb2.LatLng(latitude=float(coordinates[1]), longitude=float(coordinates[0])),
        stream=_STREAMS[kind],
        volume_liters=round(float(capacity) * 1000) if isinstance(capacity, int | float) else 0,
        service_duration=duration_pb2.Duration(seconds=120),
    )
    isle = entity.get("refWasteContainerIsle")
    if isinstance(isle, dict) and isinstance(isle.get("object"), str):
        container.isle = isle["object"].rsplit(":", 1)[-1]
    return entity_id.rsplit(":", 1)[-1], container
