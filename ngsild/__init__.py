"""wastesvc data as normalized NGSI-LD entities of the FIWARE Smart Data Models, with their ``@context``.

A pure mapping from plain facts (dataclasses of numbers, strings and times) to entities, imported by
both sides that publish them: `wastesvc export` (`wastesvc.archive`, from the database) and the NGSI-LD
adapter (`adapters.ngsi`, from the gRPC API). It imports neither of them, so the adapter still reaches
the service only through the gRPC stubs and the service never imports an adapter; both write the same
entities with the same ids for the same data.
"""

from ngsild._entities import (
    CORE_CONTEXT,
    STORED_WASTE_KINDS,
    CollectionFacts,
    ContainerFacts,
    VehicleFacts,
    collection_entity,
    container_entity,
    isle_entities,
    urn,
    vehicle_entity,
)

__all__ = [
    "CORE_CONTEXT",
    "STORED_WASTE_KINDS",
    "CollectionFacts",
    "ContainerFacts",
    "VehicleFacts",
    "collection_entity",
    "container_entity",
    "isle_entities",
    "urn",
    "vehicle_entity",
]
