"""The archive's NGSI-LD files: containers, isles, vehicles and collections as normalized entities.

Derived from the table rows through `ngsild`, the mapping the NGSI-LD adapter publishes with, so an
archive and a broker fed by the adapter hold the same entities under the same ids. Each file is a JSON
array of entities with their ``@context``: the body of an NGSI-LD batch upsert.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import ngsild
from wastesvc.v1 import planning_pb2

__all__ = ["NGSI_FILES", "LatestFill", "ngsi_documents"]

NGSI_FILES = {
    "containers": "ngsi-ld/containers.jsonld",
    "isles": "ngsi-ld/isles.jsonld",
    "vehicles": "ngsi-ld/vehicles.jsonld",
    "collections": "ngsi-ld/collections.jsonld",
}


class LatestFill:
    """The newest plausible reading of each container, taken from the readings as they stream past."""

    def __init__(self) -> None:
        self.by_container: dict[str, tuple[datetime, float]] = {}

    def watch(self, rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Yields `rows` unchanged (ordered by container then time), noting each container's latest fill;
        an outlier is skipped, as the API's latest fill skips it."""
        for row in rows:
            if not row["outlier"]:
                self.by_container[row["container_id"]] = (row["measure_time"], row["fill"])
            yield row


def _container(row: dict[str, Any], fills: LatestFill) -> ngsild.ContainerFacts:
    fill_time, fill = fills.by_container.get(row["id"], (None, None))
    return ngsild.ContainerFacts(
        id=row["id"],
        lat=row["lat"],
        lng=row["lng"],
        street_address=row["street_address"],
        locality=row["locality"],
        stream=row["stream"],
        volume_liters=row["volume_l"],
        isle=row["isle"],
        sensor_id=row["sensor_id"] or "",
        fill=fill,
        fill_time=fill_time,
        last_emptied=row["last_emptied_time"],
    )


def _vehicles_by_visit(plans: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(plan id, visit id) → the id of the vehicle that made the visit, from the stored plans."""
    found = {}
    for row in plans:
        plan = planning_pb2.RoutePlan.FromString(row["body"])
        for route in plan.routes:
            for visit in route.visits:
                found[(row["id"], visit.id)] = route.vehicle.rsplit("/", 1)[-1]
    return found


def ngsi_documents(tenant: str, kept: dict[str, list[dict[str, Any]]], fills: LatestFill) -> dict[str, Any]:
    """File path → JSON array of entities, from the kept rows of the table CSVs."""
    containers = [_container(row, fills) for row in kept["containers.csv"]]
    places = {c.id: (c.lat, c.lng) for c in containers}
    depots = {row["id"]: (row["lat"], row["lng"]) for row in kept["depots.csv"]}
    vehicles = [
        ngsild.VehicleFacts(row["id"], row["display_name"], *depots.get(row["home_depot"], (0.0, 0.0)))
        for row in kept["vehicles.csv"]
    ]
    by_visit = _vehicles_by_visit(kept["route_plans.csv"])
    collections = []
    for row in kept["collections.csv"]:
        plan_id = row["route_plan"].rsplit("/", 1)[-1]
        lat, lng = places[row["container_id"]]
        facts = ngsild.CollectionFacts(
            container_id=row["container_id"],
            time=row["collect_time"],
            source=row["source"],
            lat=lat,
            lng=lng,
            weighed_kg=row["weighed_kg"],
            route_plan_id=plan_id,
            vehicle_id=by_visit.get((plan_id, row["visit_id"]), ""),
        )
        collections.append(ngsild.collection_entity(tenant, facts))
    return {
        NGSI_FILES["containers"]: [ngsild.container_entity(tenant, c) for c in containers],
        NGSI_FILES["isles"]: ngsild.isle_entities(tenant, containers),
        NGSI_FILES["vehicles"]: [ngsild.vehicle_entity(tenant, v) for v in vehicles],
        NGSI_FILES["collections"]: collections,
    }
