"""Tenants and tokens through the real server: who may read, write, ingest and plan what."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import grpc
import jwt
import pytest
from google.protobuf import timestamp_pb2
from google.type import date_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.conftest import OTHER_TENANT, TENANT, Api, container_message, create_container, token
from tests.errors import assert_error, assert_item_error, rpc_error
from wastesvc.auth import load_key
from wastesvc.client import open_channel
from wastesvc.config import Settings
from wastesvc.v1 import (
    containers_pb2,
    containers_pb2_grpc,
    fleet_pb2,
    fleet_pb2_grpc,
    planning_pb2,
    planning_pb2_grpc,
    readings_pb2,
    readings_pb2_grpc,
)

DENIED = grpc.StatusCode.PERMISSION_DENIED
SOISSONS, VAUXBUIN = "02722", "02766"


@pytest.fixture
async def as_role(api: Api, settings: Settings) -> AsyncIterator[Callable[..., grpc.aio.Channel]]:
    """Opens channels to the test server with a token of a given role, tenant and communes."""
    opened: list[grpc.aio.Channel] = []

    def channel(role: str, tenant: str = TENANT, communes: tuple[str, ...] = ()) -> grpc.aio.Channel:
        opened.append(open_channel(api.address, settings, token(settings, role, tenant, communes)))
        return opened[-1]

    yield channel
    for c in opened:
        await c.close()


def _reading(container: str, fill: float = 0.5) -> readings_pb2.CreateReadingRequest:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(datetime.now(UTC).replace(microsecond=0))
    return readings_pb2.CreateReadingRequest(
        parent=container, reading=readings_pb2.Reading(measure_time=stamp, fill_fraction=fill)
    )


async def test_a_call_without_a_token_is_unauthenticated(api: Api) -> None:
    """No bearer token: UNAUTHENTICATED with reason CREDENTIALS_MISSING, before anything is read."""
    async with grpc.aio.insecure_channel(api.address) as bare:
        stub = containers_pb2_grpc.ContainerServiceStub(bare)
        err = await rpc_error(stub.ListContainers(containers_pb2.ListContainersRequest(parent=TENANT)))
    assert assert_error(err, grpc.StatusCode.UNAUTHENTICATED).reason == "CREDENTIALS_MISSING"


async def test_forged_and_expired_tokens_are_refused(api: Api, settings: Settings) -> None:
    """A token signed with another key, or expired, is UNAUTHENTICATED with its reason."""
    key = load_key(settings.auth_key_file)
    claims = {"tenant": "grand-soissons", "scopes": ["read"], "sub": "x"}
    forged = jwt.encode({**claims, "exp": int(time.time()) + 60}, b"not-the-key", algorithm="HS256")
    expired = jwt.encode({**claims, "exp": int(time.time()) - 60}, key, algorithm="HS256")
    for bad, reason in ((forged, "TOKEN_INVALID"), (expired, "TOKEN_EXPIRED")):
        async with open_channel(api.address, settings, bad) as channel:
            stub = containers_pb2_grpc.ContainerServiceStub(channel)
            err = await rpc_error(stub.ListContainers(containers_pb2.ListContainersRequest(parent=TENANT)))
        assert assert_error(err, grpc.StatusCode.UNAUTHENTICATED).reason == reason


async def test_health_needs_no_token(api: Api) -> None:
    """A load balancer's health check passes without credentials."""
    async with grpc.aio.insecure_channel(api.address) as bare:
        response = await health_pb2_grpc.HealthStub(bare).Check(health_pb2.HealthCheckRequest())
    assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_cross_tenant_access_is_denied_and_reveals_nothing(
    api: Api, as_role: Callable[..., grpc.aio.Channel]
) -> None:
    """The other tenant's operator gets PERMISSION_DENIED alike for an existing and a missing container."""
    await create_container(api, "c1")
    neighbour = containers_pb2_grpc.ContainerServiceStub(as_role("operator", OTHER_TENANT))

    existing = await rpc_error(
        neighbour.GetContainer(containers_pb2.GetContainerRequest(name=f"{TENANT}/containers/c1"))
    )
    missing = await rpc_error(
        neighbour.GetContainer(containers_pb2.GetContainerRequest(name=f"{TENANT}/containers/ghost"))
    )
    listed = await rpc_error(neighbour.ListContainers(containers_pb2.ListContainersRequest(parent=TENANT)))

    for err in (existing, missing, listed):
        assert assert_error(err, DENIED).reason == "TENANT_DENIED"
    assert existing.details() == missing.details()
    own = await neighbour.ListContainers(containers_pb2.ListContainersRequest(parent=OTHER_TENANT))
    assert list(own.containers) == []


async def test_same_ids_in_two_tenants_are_two_resources(
    api: Api, as_role: Callable[..., grpc.aio.Channel]
) -> None:
    """Each tenant has its own `c1`; what one writes the other never reads."""
    await create_container(api, "c1", commune=SOISSONS)
    neighbour = containers_pb2_grpc.ContainerServiceStub(as_role("operator", OTHER_TENANT))
    await neighbour.CreateContainer(
        containers_pb2.CreateContainerRequest(
            parent=OTHER_TENANT, container_id="c1", container=container_message(commune="02131")
        )
    )
    mine = await api.containers.GetContainer(
        containers_pb2.GetContainerRequest(name=f"{TENANT}/containers/c1")
    )
    theirs = await neighbour.GetContainer(
        containers_pb2.GetContainerRequest(name=f"{OTHER_TENANT}/containers/c1")
    )
    assert (mine.commune_code, theirs.commune_code) == (SOISSONS, "02131")


async def test_a_gateway_may_only_ingest(api: Api, as_role: Callable[..., grpc.aio.Channel]) -> None:
    """A gateway token stores readings but cannot read containers or create them."""
    await create_container(api, "c1")
    gateway = as_role("gateway")
    readings = readings_pb2_grpc.ReadingServiceStub(gateway)
    containers = containers_pb2_grpc.ContainerServiceStub(gateway)

    stored = await readings.BatchCreateReadings(
        readings_pb2.BatchCreateReadingsRequest(requests=[_reading(f"{TENANT}/containers/c1")])
    )
    read = await rpc_error(containers.ListContainers(containers_pb2.ListContainersRequest(parent=TENANT)))

    assert stored.stored_count == 1
    assert assert_error(read, DENIED).reason == "SCOPE_MISSING"


async def test_a_gateway_of_another_tenant_is_refused_per_item(
    api: Api, as_role: Callable[..., grpc.aio.Channel]
) -> None:
    """Readings a gateway sends for another tenant's containers are refused item by item."""
    await create_container(api, "c1")
    readings = readings_pb2_grpc.ReadingServiceStub(as_role("gateway", OTHER_TENANT))

    response = await readings.BatchCreateReadings(
        readings_pb2.BatchCreateReadingsRequest(requests=[_reading(f"{TENANT}/containers/c1")])
    )

    assert assert_item_error(response.results[0], DENIED).reason == "TENANT_DENIED"


@pytest.mark.parametrize(
    ("role", "call"),
    [
        (
            "driver",
            lambda ch: readings_pb2_grpc.ReadingServiceStub(ch).ListReadings(
                readings_pb2.ListReadingsRequest(parent=f"{TENANT}/containers/c1")
            ),
        ),
        (
            "agent",
            lambda ch: fleet_pb2_grpc.FleetServiceStub(ch).ListVehicles(
                fleet_pb2.ListVehiclesRequest(parent=TENANT)
            ),
        ),
        (
            "dispatch",
            lambda ch: containers_pb2_grpc.ContainerServiceStub(ch).DeleteContainer(
                containers_pb2.DeleteContainerRequest(name=f"{TENANT}/containers/c1")
            ),
        ),
        (
            "gateway",
            lambda ch: planning_pb2_grpc.PlanningServiceStub(ch).OptimizeRoutes(
                planning_pb2.OptimizeRoutesRequest(
                    parent=TENANT, service_date=date_pb2.Date(year=2026, month=12, day=2)
                )
            ),
        ),
    ],
    ids=["driver-reads", "agent-fleet", "dispatch-deletes", "gateway-plans"],
)
async def test_each_role_is_held_to_its_scopes(
    api: Api,
    as_role: Callable[..., grpc.aio.Channel],
    role: str,
    call: Callable[[grpc.aio.Channel], Awaitable[object]],
) -> None:
    """A driver cannot read, an agent cannot reach the fleet, dispatch cannot delete, a gateway
    cannot plan."""
    await create_container(api, "c1")
    communes = (SOISSONS,) if role == "agent" else ()
    err = await rpc_error(call(as_role(role, TENANT, communes)))
    assert assert_error(err, DENIED).reason in {"SCOPE_MISSING", "COMMUNE_SCOPED"}


async def test_a_commune_agent_sees_and_changes_only_its_commune(
    api: Api, as_role: Callable[..., grpc.aio.Channel]
) -> None:
    """Soissons's agent lists only Soissons's containers and cannot touch or create Vauxbuin's."""
    await create_container(api, "s1", commune=SOISSONS)
    await create_container(api, "v1", commune=VAUXBUIN)
    agent = containers_pb2_grpc.ContainerServiceStub(as_role("agent", TENANT, (SOISSONS,)))

    listed = await agent.ListContainers(containers_pb2.ListContainersRequest(parent=TENANT))
    other = await rpc_error(
        agent.GetContainer(containers_pb2.GetContainerRequest(name=f"{TENANT}/containers/v1"))
    )
    create = await rpc_error(
        agent.CreateContainer(
            containers_pb2.CreateContainerRequest(
                parent=TENANT, container_id="v2", container=container_message(commune=VAUXBUIN)
            )
        )
    )
    own = await agent.CreateContainer(
        containers_pb2.CreateContainerRequest(
            parent=TENANT, container_id="s2", container=container_message(commune=SOISSONS)
        )
    )

    assert [c.name.rsplit("/", 1)[-1] for c in listed.containers] == ["s1"]
    assert listed.total_size == 1
    assert assert_error(other, DENIED).reason == "COMMUNE_DENIED"
    assert assert_error(create, DENIED).reason == "COMMUNE_DENIED"
    assert own.name == f"{TENANT}/containers/s2"
