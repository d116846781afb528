"""wastesvc containers, isles and vehicles as normalized NGSI-LD entities (Smart Data Models), and back.

Identifiers are ``urn:ngsi-ld:{Type}:{tenant}:{id}``. Every entity carries the ``@context`` of its
model's domain and the ETSI core context, so a broker takes it as ``application/ld+json``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC
from typing import Any

from google.protobuf import duration_pb2, timestamp_pb2
from google.type import latlng_pb2

from wastesvc.v1 import common_pb2, containers_pb2, fleet_pb2

__all__ = [
    "ImportError_",
    "container_entity",
    "container_from_entity",
    "isle_entities",
    "urn",
    "vehicle_entity",
]

CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
_CONTEXTS = {
    "WasteManagement": "https://raw.githubusercontent.com/smart-data-models/dataModel.WasteManagement/master/context.jsonld",
    "Transportation": "https://raw.githubusercontent.com/smart-data-models/dataModel.Transportation/master/context.jsonld",
}
# wastesvc stream -> SDM storedWasteKind, and back for import.
_KINDS = {
    common_pb2.WASTE_STREAM_RESIDUAL: "inorganic",
    common_pb2.WASTE_STREAM_PACKAGING: "plastic",
    common_pb2.WASTE_STREAM_PAPER: "paper",
    common_pb2.WASTE_STREAM_GLASS: "glass",
    common_pb2.WASTE_STREAM_BIOWASTE: "organic",
}
_STREAMS = {kind: stream for stream, kind in _KINDS.items()}


class ImportError_(ValueError):  # noqa: N801 - "ImportError" is a builtin
    """A broker entity that cannot become a container; the message says which and why."""


def urn(kind: str, tenant: str, local_id: str) -> str:
    """``urn:ngsi-ld:{kind}:{tenant}:{local_id}``."""
    return f"urn:ngsi-ld:{kind}:{tenant}:{local_id}"


def _time(stamp: timestamp_pb2.Timestamp) -> str:
    return stamp.ToDatetime(tzinfo=UTC).isoformat().replace("+00:00", "Z")


def _point(location: latlng_pb2.LatLng) -> dict[str, Any]:
    return {
        "type": "GeoProperty",
        "value": {"type": "Point", "coordinates": [location.longitude, location.latitude]},
    }


def _local_id(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def container_entity(container: containers_pb2.Container, tenant: str) -> dict[str, Any]:
    """A ``WasteContainer``: location, address, kind, capacity (m³), fill and last emptying when known."""
    entity: dict[str, Any] = {
        "id": urn("WasteContainer", tenant, _local_id(container.name)),
        "type": "WasteContainer",
        "location": _point(container.location),
        "address": {
            "type": "Property",
            "value": {"streetAddress": container.street_address, "addressLocality": container.locality},
        },
        "binCapacity": {"type": "Property", "value": container.volume_liters / 1000, "unitCode": "MTQ"},
        "storedWasteKind": {"type": "Property", "value": _KINDS.get(container.stream, "other")},
    }
    if container.HasField("latest_reading_time"):
        entity["fillingLevel"] = {
            "type": "Property",
            "value": round(container.latest_fill, 4),
            "observedAt": _time(container.latest_reading_time),
        }
    if container.HasField("last_emptied_time"):
        entity["dateLastEmptying"] = {
            "type": "Property",
            "value": {"@type": "DateTime", "@value": _time(container.last_emptied_time)},
        }
    if container.isle:
        entity["refWasteContainerIsle"] = {
            "type": "Relationship",
            "object": urn("WasteContainerIsle", tenant, container.isle),
        }
    if container.sensor_id:
        entity["refDevice"] = {"type": "Relationship", "object": [urn("Device", tenant, container.sensor_id)]}
    entity["@context"] = [_CONTEXTS["WasteManagement"], CORE_CONTEXT]
    return entity


def isle_entities(containers: Iterable[containers_pb2.Container], tenant: str) -> list[dict[str, Any]]:
    """One ``WasteContainerIsle`` per isle, at its first container, referring to its containers."""
    members: dict[str, list[containers_pb2.Container]] = defaultdict(list)
    for container in containers:
        if container.isle:
            members[container.isle].append(container)
    return [
        {
            "id": urn("WasteContainerIsle", tenant, isle),
            "type": "WasteContainerIsle",
            "location": _point(group[0].location),
            "refWasteContainer": {
                "type": "Relationship",
                "object": [urn("WasteContainer", tenant, _local_id(c.name)) for c in group],
            },
            "insertHolesNumber": {"type": "Property", "value": len(group)},
            "@context": [_CONTEXTS["WasteManagement"], CORE_CONTEXT],
        }
        for isle, group in sorted(members.items())
    ]


def vehicle_entity(
    vehicle: fleet_pb2.Vehicle, tenant: str, depots: Mapping[str, latlng_pb2.LatLng]
) -> dict[str, Any]:
    """A ``Vehicle`` (a municipal garbage truck) located at its home depot."""
    return {
        "id": urn("Vehicle", tenant, _local_id(vehicle.name)),
        "type": "Vehicle",
        "vehicleType": {"type": "Property", "value": "lorry"},
        "category": {"type": "Property", "value": ["municipalServices"]},
        "serviceProvided": {"type": "Property", "value": ["garbageCollection"]},
        "fleetVehicleId": {"type": "Property", "value": _local_id(vehicle.name)},
        "name": {"type": "Property", "value": vehicle.display_name or _local_id(vehicle.name)},
        "location": _point(depots.get(vehicle.home_depot, latlng_pb2.LatLng())),
        "@context": [_CONTEXTS["Transportation"], CORE_CONTEXT],
    }


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
