"""Export the tenant's containers, isles and vehicles to a broker; import containers from one."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import grpc

from adapters.ngsi.broker import Broker, UpsertResult
from adapters.ngsi.entities import (
    ImportError_,
    container_entity,
    container_from_entity,
    isle_entities,
    vehicle_entity,
)
from adapters.service_client import Wastesvc

__all__ = ["Imported", "entities_of", "export", "import_containers"]

_log = logging.getLogger("adapters.ngsi")


async def entities_of(service: Wastesvc, tenant: str) -> list[dict[str, Any]]:
    """Normalized NGSI-LD entities of every container, isle and vehicle of the tenant."""
    containers = list((await service.containers()).values())
    depots = await service.depots()
    entities = [container_entity(c, tenant) for c in containers]
    entities += isle_entities(containers, tenant)
    entities += [vehicle_entity(v, tenant, depots) for v in await service.vehicles()]
    return entities


async def export(service: Wastesvc, broker: Broker, tenant: str) -> UpsertResult:
    """Upsert the tenant's entities into the broker."""
    entities = await entities_of(service, tenant)
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
