"""Tenant isolation on real territories: GrandSoissons and the CC de la Champagne Picarde on one server."""

from __future__ import annotations

import grpc
import pytest

from tests.conftest import Api, token
from wastesvc.client import open_channel
from wastesvc.config import Settings
from wastesvc.demo import RURAL_TENANT, load_into
from wastesvc.scenario import Scenario, load_builtin, load_default
from wastesvc.v1 import containers_pb2, containers_pb2_grpc, fleet_pb2, fleet_pb2_grpc

RURAL = f"tenants/{RURAL_TENANT}"
SISSONNE = "02720"


@pytest.fixture
async def loaded(api: Api, settings: Settings) -> tuple[Scenario, Scenario]:
    """Both shipped scenarios loaded through the API, each with its own operator token."""
    agglomeration, rural = load_default(), load_builtin(RURAL_TENANT)
    await load_into(api.channel, agglomeration, "grand-soissons")
    async with open_channel(api.address, settings, token(settings, tenant=RURAL)) as channel:
        await load_into(channel, rural, RURAL_TENANT)
    return agglomeration, rural


async def _all_ids(stub: containers_pb2_grpc.ContainerServiceAsyncStub, parent: str) -> list[str]:
    ids: list[str] = []
    page_token = ""
    while True:
        page = await stub.ListContainers(
            containers_pb2.ListContainersRequest(parent=parent, page_size=1000, page_token=page_token)
        )
        ids.extend(c.name.rsplit("/", 1)[1] for c in page.containers)
        page_token = page.next_page_token
        if not page_token:
            return ids


async def test_agglomeration_operator_sees_none_of_the_rural_tenant(
    api: Api, loaded: tuple[Scenario, Scenario]
) -> None:
    """The agglomeration's operator lists only its own containers; every rural name is denied."""
    agglomeration, rural = loaded
    ids = await _all_ids(api.containers, "tenants/grand-soissons")
    assert sorted(ids) == sorted(c.id for c in agglomeration.containers)
    with pytest.raises(grpc.aio.AioRpcError) as listed:
        await api.containers.ListContainers(containers_pb2.ListContainersRequest(parent=RURAL))
    assert listed.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # An existing and a missing rural container get the very same answer: nothing leaks.
    answers = []
    for container_id in (rural.containers[0].id, "CP-00000-0000"):
        with pytest.raises(grpc.aio.AioRpcError) as got:
            await api.containers.GetContainer(
                containers_pb2.GetContainerRequest(name=f"{RURAL}/containers/{container_id}")
            )
        answers.append((got.value.code(), (got.value.details() or "").replace(container_id, "")))
    assert answers[0] == answers[1]
    assert answers[0][0] == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as vehicles:
        await api.fleet.ListVehicles(fleet_pb2.ListVehiclesRequest(parent=RURAL))
    assert vehicles.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_rural_commune_agent_sees_only_its_commune(
    api: Api, settings: Settings, loaded: tuple[Scenario, Scenario]
) -> None:
    """Sissonne's agent lists exactly Sissonne's containers, not a neighbour's nor the fleet."""
    _, rural = loaded
    own = sorted(c.id for c in rural.containers if c.insee_code == SISSONNE)
    neighbour = next(c for c in rural.containers if c.insee_code != SISSONNE)
    agent = token(settings, "agent", tenant=RURAL, communes=[SISSONNE])
    async with open_channel(api.address, settings, agent) as channel:
        containers = containers_pb2_grpc.ContainerServiceStub(channel)
        assert sorted(await _all_ids(containers, RURAL)) == own
        assert own
        got = await containers.GetContainer(
            containers_pb2.GetContainerRequest(name=f"{RURAL}/containers/{own[0]}")
        )
        assert got.commune_code == SISSONNE
        with pytest.raises(grpc.aio.AioRpcError) as other:
            await containers.GetContainer(
                containers_pb2.GetContainerRequest(name=f"{RURAL}/containers/{neighbour.id}")
            )
        assert other.value.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND)
        with pytest.raises(grpc.aio.AioRpcError) as fleet:
            await fleet_pb2_grpc.FleetServiceStub(channel).ListVehicles(
                fleet_pb2.ListVehiclesRequest(parent=RURAL)
            )
        assert fleet.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as agglomeration:
            await containers.ListContainers(
                containers_pb2.ListContainersRequest(parent="tenants/grand-soissons")
            )
        assert agglomeration.value.code() == grpc.StatusCode.PERMISSION_DENIED
