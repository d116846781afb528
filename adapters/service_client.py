"""What the lighting, parking and city-platform adapters ask of wastesvc, through the gRPC stubs only.

Observations go in with ``BatchCreateObservations`` (a result per item: one refused observation does
not stop the others); published plans and the containers they visit are read with ``ListRoutePlans``
and ``ListContainers``, a plan's crew reports with ``ListFieldEvents``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import grpc
from google.rpc import error_details_pb2
from google.type import latlng_pb2

from wastesvc.v1 import (
    common_pb2,
    containers_pb2,
    containers_pb2_grpc,
    dispatch_pb2,
    dispatch_pb2_grpc,
    fleet_pb2,
    fleet_pb2_grpc,
    observations_pb2,
    observations_pb2_grpc,
    planning_pb2,
    planning_pb2_grpc,
)

__all__ = ["ItemOutcome", "Wastesvc"]

_BATCH = 1000  # the service's largest batch
# A stalled service fails the call instead of hanging the adapter.
_CALL_DEADLINE_S = 60.0
_OUTCOMES = {
    common_pb2.ITEM_OUTCOME_STORED: "stored",
    common_pb2.ITEM_OUTCOME_DUPLICATE: "duplicate",
}


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    """``stored``, ``duplicate`` or ``rejected`` (with the service's machine reason and message)."""

    outcome: str
    reason: str = ""


class Wastesvc:
    """The calls of the lighting, parking and city-platform adapters, for one tenant.

    Parameters
    ----------
    channel
        A channel to the wastesvc server.
    tenant
        The tenant id (``grand-soissons``).
    token
        A bearer token: ``gateway`` role to store observations, ``dispatch`` (or any role with
        ``read``) to read plans and containers.
    """

    def __init__(self, channel: grpc.aio.Channel, tenant: str, token: str) -> None:
        self._observations = observations_pb2_grpc.ObservationServiceStub(channel)
        self._plans = planning_pb2_grpc.PlanningServiceStub(channel)
        self._containers = containers_pb2_grpc.ContainerServiceStub(channel)
        self._fleet = fleet_pb2_grpc.FleetServiceStub(channel)
        self._dispatch = dispatch_pb2_grpc.DispatchServiceStub(channel)
        self.parent = f"tenants/{tenant}"
        self._metadata = (("authorization", f"Bearer {token}"),)

    async def store_observations(
        self, observations: Sequence[observations_pb2.Observation]
    ) -> list[ItemOutcome]:
        """Store ``observations``; one outcome each, in order."""
        outcomes: list[ItemOutcome] = []
        for start in range(0, len(observations), _BATCH):
            request = observations_pb2.BatchCreateObservationsRequest(
                parent=self.parent,
                requests=[
                    observations_pb2.CreateObservationRequest(observation=o)
                    for o in observations[start : start + _BATCH]
                ],
            )
            response = await self._observations.BatchCreateObservations(
                request, metadata=self._metadata, timeout=_CALL_DEADLINE_S
            )
            outcomes += [_outcome(item) for item in response.results]
        return outcomes

    async def plans_of(self, day: date) -> list[planning_pb2.RoutePlan]:
        """The published plans whose service date is ``day``, newest first."""
        return await self.plans_between(day, day)

    async def plans_between(self, first: date, last: date) -> list[planning_pb2.RoutePlan]:
        """The plans whose service date is from ``first`` to ``last``, newest first."""
        plans: list[planning_pb2.RoutePlan] = []
        token = ""
        while True:
            response = await self._plans.ListRoutePlans(
                planning_pb2.ListRoutePlansRequest(parent=self.parent, page_size=100, page_token=token),
                metadata=self._metadata,
                timeout=_CALL_DEADLINE_S,
            )
            plans += [
                p
                for p in response.route_plans
                if first <= date(p.service_date.year, p.service_date.month, p.service_date.day) <= last
            ]
            token = response.next_page_token
            if not token:
                return plans

    async def field_events(self, plan: str) -> list[dispatch_pb2.FieldEvent]:
        """The field events of a plan (``tenants/{tenant}/routePlans/{plan}``), by vehicle then time."""
        response = await self._dispatch.ListFieldEvents(
            dispatch_pb2.ListFieldEventsRequest(parent=plan), metadata=self._metadata
        )
        return list(response.field_events)

    async def containers(self) -> dict[str, containers_pb2.Container]:
        """Every container of the tenant, by resource name."""
        found: dict[str, containers_pb2.Container] = {}
        token = ""
        while True:
            response = await self._containers.ListContainers(
                containers_pb2.ListContainersRequest(parent=self.parent, page_size=1000, page_token=token),
                metadata=self._metadata,
                timeout=_CALL_DEADLINE_S,
            )
            found.update((c.name, c) for c in response.containers)
            token = response.next_page_token
            if not token:
                return found

    async def sensor_collections(self, since: datetime) -> list[containers_pb2.Collection]:
        """The emptyings the service detected in its sensors' readings at or after ``since``, newest
        first (the service assesses readings after storing them; the listing waits for that)."""
        found: list[containers_pb2.Collection] = []
        after = since.astimezone(UTC).isoformat().replace("+00:00", "Z")
        request = containers_pb2.ListCollectionsRequest(
            parent=f"{self.parent}/containers/-",
            page_size=1000,
            filter=f'source = SENSOR AND collected_after = "{after}"',
        )
        while True:
            response = await self._containers.ListCollections(
                request, metadata=self._metadata, timeout=_CALL_DEADLINE_S
            )
            found += response.collections
            request.page_token = response.next_page_token
            if not request.page_token:
                return found

    async def vehicles(self) -> list[fleet_pb2.Vehicle]:
        """Every vehicle of the tenant."""
        found: list[fleet_pb2.Vehicle] = []
        token = ""
        while True:
            response = await self._fleet.ListVehicles(
                fleet_pb2.ListVehiclesRequest(parent=self.parent, page_size=1000, page_token=token),
                metadata=self._metadata,
                timeout=_CALL_DEADLINE_S,
            )
            found += response.vehicles
            token = response.next_page_token
            if not token:
                return found

    async def depots(self) -> dict[str, latlng_pb2.LatLng]:
        """The location of every depot of the tenant, by resource name."""
        response = await self._fleet.ListDepots(
            fleet_pb2.ListDepotsRequest(parent=self.parent, page_size=1000),
            metadata=self._metadata,
            timeout=_CALL_DEADLINE_S,
        )
        return {d.name: d.location for d in response.depots}

    async def create_container(
        self, container_id: str, container: containers_pb2.Container
    ) -> containers_pb2.Container:
        """Create a container (needs the ``write`` scope)."""
        request = containers_pb2.CreateContainerRequest(
            parent=self.parent, container_id=container_id, container=container
        )
        created: containers_pb2.Container = await self._containers.CreateContainer(
            request, metadata=self._metadata, timeout=_CALL_DEADLINE_S
        )
        return created


def _outcome(item: common_pb2.ItemResult) -> ItemOutcome:
    if item.outcome in _OUTCOMES:
        return ItemOutcome(_OUTCOMES[item.outcome])
    for detail in item.error.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return ItemOutcome("rejected", f"{info.reason}: {item.error.message}")
    return ItemOutcome("rejected", item.error.message)
