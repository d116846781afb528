"""The entities: ``WasteContainer``, ``WasteContainerIsle``, ``Vehicle`` and ``WasteObserved``.

Identifiers are ``urn:ngsi-ld:{Type}:{tenant}:{id}``. Every entity carries the ``@context`` of its
model's domain and the ETSI core context, so a broker takes it as ``application/ld+json``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
_WASTE = "https://raw.githubusercontent.com/smart-data-models/dataModel.WasteManagement/master/context.jsonld"
_TRANSPORT = (
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Transportation/master/context.jsonld"
)
# wastesvc stream key -> SDM storedWasteKind.
STORED_WASTE_KINDS = {
    "residual": "inorganic",
    "packaging": "plastic",
    "paper": "paper",
    "glass": "glass",
    "biowaste": "organic",
}


@dataclass(frozen=True, slots=True)
class ContainerFacts:
    """What a ``WasteContainer`` says of a container (times aware)."""

    id: str
    lat: float
    lng: float
    street_address: str
    locality: str
    stream: str
    volume_liters: float
    isle: str = ""
    sensor_id: str = ""
    fill: float | None = None
    fill_time: datetime | None = None
    last_emptied: datetime | None = None


@dataclass(frozen=True, slots=True)
class VehicleFacts:
    """A collection truck, placed at its home depot."""

    id: str
    name: str
    lat: float
    lng: float


@dataclass(frozen=True, slots=True)
class CollectionFacts:
    """One emptying of a container, as a crew reported it or as its sensor's series showed it."""

    container_id: str
    time: datetime
    source: str
    lat: float
    lng: float
    weighed_kg: float | None = None
    route_plan_id: str = ""
    vehicle_id: str = ""


def urn(kind: str, tenant: str, local_id: str) -> str:
    """``urn:ngsi-ld:{kind}:{tenant}:{local_id}``."""
    return f"urn:ngsi-ld:{kind}:{tenant}:{local_id}"


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _date_time(moment: datetime) -> dict[str, Any]:
    return {"type": "Property", "value": {"@type": "DateTime", "@value": _time(moment)}}


def _point(lat: float, lng: float) -> dict[str, Any]:
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lng, lat]}}


def _relationship(target: str | list[str]) -> dict[str, Any]:
    return {"type": "Relationship", "object": target}


def container_entity(tenant: str, container: ContainerFacts) -> dict[str, Any]:
    """A ``WasteContainer``: location, address, kind, capacity (m³), fill and last emptying when known."""
    entity: dict[str, Any] = {
        "id": urn("WasteContainer", tenant, container.id),
        "type": "WasteContainer",
        "location": _point(container.lat, container.lng),
        "address": {
            "type": "Property",
            "value": {"streetAddress": container.street_address, "addressLocality": container.locality},
        },
        "binCapacity": {"type": "Property", "value": container.volume_liters / 1000, "unitCode": "MTQ"},
        "storedWasteKind": {"type": "Property", "value": STORED_WASTE_KINDS.get(container.stream, "other")},
    }
    if container.fill is not None and container.fill_time is not None:
        entity["fillingLevel"] = {
            "type": "Property",
            "value": round(container.fill, 4),
            "observedAt": _time(container.fill_time),
        }
    if container.last_emptied is not None:
        entity["dateLastEmptying"] = _date_time(container.last_emptied)
    if container.isle:
        entity["refWasteContainerIsle"] = _relationship(urn("WasteContainerIsle", tenant, container.isle))
    if container.sensor_id:
        entity["refDevice"] = _relationship([urn("Device", tenant, container.sensor_id)])
    entity["@context"] = [_WASTE, CORE_CONTEXT]
    return entity


def isle_entities(tenant: str, containers: Iterable[ContainerFacts]) -> list[dict[str, Any]]:
    """One ``WasteContainerIsle`` per isle, at its first container, referring to its containers."""
    members: dict[str, list[ContainerFacts]] = defaultdict(list)
    for container in containers:
        if container.isle:
            members[container.isle].append(container)
    return [
        {
            "id": urn("WasteContainerIsle", tenant, isle),
            "type": "WasteContainerIsle",
            "location": _point(group[0].lat, group[0].lng),
            "refWasteContainer": _relationship([urn("WasteContainer", tenant, c.id) for c in group]),
            "insertHolesNumber": {"type": "Property", "value": len(group)},
            "@context": [_WASTE, CORE_CONTEXT],
        }
        for isle, group in sorted(members.items())
    ]


def vehicle_entity(tenant: str, vehicle: VehicleFacts) -> dict[str, Any]:
    """A ``Vehicle`` (a municipal garbage truck) located at its home depot."""
    return {
        "id": urn("Vehicle", tenant, vehicle.id),
        "type": "Vehicle",
        "vehicleType": {"type": "Property", "value": "lorry"},
        "category": {"type": "Property", "value": ["municipalServices"]},
        "serviceProvided": {"type": "Property", "value": ["garbageCollection"]},
        "fleetVehicleId": {"type": "Property", "value": vehicle.id},
        "name": {"type": "Property", "value": vehicle.name or vehicle.id},
        "location": _point(vehicle.lat, vehicle.lng),
        "@context": [_TRANSPORT, CORE_CONTEXT],
    }


def collection_entity(tenant: str, collection: CollectionFacts) -> dict[str, Any]:
    """A ``WasteObserved`` ("a single collection of waste") at the container's place.

    Its id is the collection's natural key (container, source, time), so a re-export upserts the same
    entity. ``refWasteContainer`` (the term ``WasteContainerIsle`` uses) names the container emptied,
    ``refGarbageTruck`` the truck and ``refServiceOrderId`` the route plan (the work order) when known,
    ``weight`` the container's share of what the truck weighed, ``dataProvider`` who reported it.
    """
    stamp = collection.time.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    entity: dict[str, Any] = {
        "id": urn("WasteObserved", tenant, f"{collection.container_id}.{collection.source}.{stamp}"),
        "type": "WasteObserved",
        "dateObserved": _date_time(collection.time),
        "location": _point(collection.lat, collection.lng),
        "dataProvider": {"type": "Property", "value": collection.source},
        "refWasteContainer": _relationship(urn("WasteContainer", tenant, collection.container_id)),
    }
    if collection.weighed_kg is not None:
        entity["weight"] = {"type": "Property", "value": collection.weighed_kg, "unitCode": "KGM"}
    if collection.vehicle_id:
        entity["refGarbageTruck"] = _relationship(urn("Vehicle", tenant, collection.vehicle_id))
    if collection.route_plan_id:
        entity["refServiceOrderId"] = _relationship(urn("RoutePlan", tenant, collection.route_plan_id))
    entity["@context"] = [_WASTE, CORE_CONTEXT]
    return entity
