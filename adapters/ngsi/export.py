"""Export the tenant's containers, isles, vehicles and collections to a broker; import containers from one."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import grpc

from adapters.ngsi.broker import Broker, UpsertResult
from adapters.ngsi.entities import (
    ImportError_,
    collection_entities,
    container_entity,
    container_from_entity,
    isle_entities,
    sensor_collection_entities,
    vehicle_entity,
)
from adapters.service_client import Wastesvc

__all__ = ["COLLECTIONS_WINDOW", "Imported", "entities_of", "export", "import_containers"]

# How far back an export publishes collections by default: the broker keeps what earlier exports sent.
COLLECTIONS_WINDOW = timedelta(days=7)

_log = logging.getLogger("adapters.ngsi")


async def entities_of(service: Wastesvc, tenant: str, since: date | None = None) -> list[dict[str, Any]]:
    """Normalized NGSI-LD entities of every container, isle and vehicle of the tenant, and a
    ``WasteObserved`` per container a crew emptied in the plans of ``since`` (default: a week ago) to today
    and per emptying the service detected in a sensor's readings since then.
    """
    containers = await service.containers()
    depots = await service.depots()
    entities = [container_entity(c, tenant) for c in containers.values()]
    entities += isle_entities(containers.values(), tenant)
    entities += [vehicle_entity(v, tenant, depots) for v in await service.vehicles()]
    today = date.today()
    first = since or today - COLLECTIONS_WINDOW
    for plan in await service.plans_between(first, today + timedelta(days=1)):
        events = await service.field_events(plan.name)
        entities += collection_entities(plan, events, containers, tenant)
    detected = await service.sensor_collections(datetime.combine(first, time(0), tzinfo=UTC))
    return entities + sensor_collection_entities(detected, containers, tenant)


async def export(service: Wastesvc, broker: Broker, tenant: str, since: date | None = None) -> UpsertResult:
    """Upsert the tenant's entities into the broker."""
    entities = await entities_of(service, tenant, since)
    result = await broker.upsert(entities)
    for entity_id, reason in result.errors.items():
        _log.warning("broker refused %s: %s", entity_id, reason)
    return result


@dataclass
class Imported:
    """Container ids created, already present, and refused (with the reason)."""

    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


async def import_containers(service: Wastesvc, broker: Broker, commune: str) -> Imported:
    """Create a container for each broker ``WasteContainer`` the service does not have yet."""
    outcome = Imported()
    for entity in await broker.entities("WasteContainer"):
        try:
            container_id, container = container_from_entity(entity, commune)
        except ImportError_ as error:
            outcome.refused[str(entity.get("id"))] = str(error)
            continue
        try:
            await service.create_container(container_id, container)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.ALREADY_EXISTS:
                outcome.existing.append(container_id)
            else:
                outcome.refused[str(entity["id"])] = f"{error.code().name}: {error.details()}"
            continue
        outcome.created.append(container_id)
    return outcome
