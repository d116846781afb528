"""Shared fixtures: a real wastesvc server on a real channel, with a fresh SQLite database per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest
from google.longrunning import operations_pb2_grpc
from google.protobuf import duration_pb2
from google.type import latlng_pb2, timeofday_pb2

from wastesvc.auth import ROLES, issue_token, load_key
from wastesvc.client import open_channel
from wastesvc.config import Settings
from wastesvc.server import Service, create_server
from wastesvc.v1 import (
    common_pb2,
    containers_pb2,
    containers_pb2_grpc,
    dispatch_pb2_grpc,
    fleet_pb2,
    fleet_pb2_grpc,
    observations_pb2_grpc,
    planning_pb2_grpc,
    readings_pb2_grpc,
)

SOISSONS = (49.3817, 3.3236)
# The tenant every API test works in; `OTHER_TENANT` is the neighbour it must never see.
TENANT = "tenants/grand-soissons"
OTHER_TENANT = "tenants/champagne-picarde"


@dataclass
class Api:
    """Stubs of every service on one channel to a running server."""

    service: Service
    address: str
    channel: grpc.aio.Channel
    containers: containers_pb2_grpc.ContainerServiceAsyncStub
    fleet: fleet_pb2_grpc.FleetServiceAsyncStub
    readings: readings_pb2_grpc.ReadingServiceAsyncStub
    observations: observations_pb2_grpc.ObservationServiceAsyncStub
    planning: planning_pb2_grpc.PlanningServiceAsyncStub
    operations: operations_pb2_grpc.OperationsStub
    dispatch: dispatch_pb2_grpc.DispatchServiceAsyncStub


PG_ADMIN = os.environ.get("WASTESVC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every API test runs on SQLite and on PostgreSQL: the servicers must not care which."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'wastesvc.db'}"
        return
    name = f"wastesvc_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        db_url=db_url,
        listen="127.0.0.1:0",
        solver_time_limit_s=2.0,
        auth_key_file=str(tmp_path / "auth.key"),
    )


def token(
    settings: Settings, role: str = "operator", tenant: str = TENANT, communes: Sequence[str] = ()
) -> str:
    """A token signed with the test server's key."""
    return issue_token(
        load_key(settings.auth_key_file),
        tenant=tenant.removeprefix("tenants/"),
        scopes=ROLES[role],
        subject=f"test-{role}",
        communes=communes,
    )


def api_on(service: Service, address: str, channel: grpc.aio.Channel) -> Api:
    """The stubs of every service on `channel`, to the server `service` listening at `address`."""
    return Api(
        service=service,
        address=address,
        channel=channel,
        containers=containers_pb2_grpc.ContainerServiceStub(channel),
        fleet=fleet_pb2_grpc.FleetServiceStub(channel),
        readings=readings_pb2_grpc.ReadingServiceStub(channel),
        observations=observations_pb2_grpc.ObservationServiceStub(channel),
        planning=planning_pb2_grpc.PlanningServiceStub(channel),
        operations=operations_pb2_grpc.OperationsStub(channel),
        dispatch=dispatch_pb2_grpc.DispatchServiceStub(channel),
    )


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    service, port = await create_server(settings.listen, settings)
    address = f"127.0.0.1:{port}"
    async with open_channel(address, settings, token(settings)) as channel:
        yield api_on(service, address, channel)
    await service.stop(None)


def tod(hours: int, minutes: int = 0) -> timeofday_pb2.TimeOfDay:
    return timeofday_pb2.TimeOfDay(hours=hours, minutes=minutes)


def window(start: tuple[int, int], end: tuple[int, int]) -> common_pb2.TimeWindow:
    return common_pb2.TimeWindow(start_time=tod(*start), end_time=tod(*end))


def container_message(
    *,
    lat: float = SOISSONS[0],
    lng: float = SOISSONS[1],
    stream: common_pb2.WasteStream.ValueType = common_pb2.WASTE_STREAM_GLASS,
    volume: int = 3000,
    commune: str = "02722",
    sensor_id: str = "",
    isle: str = "",
    service_s: int = 120,
) -> containers_pb2.Container:
    return containers_pb2.Container(
        commune_code=commune,
        locality="Soissons",
        street_address="Place Fernand Marquigny",
        location=latlng_pb2.LatLng(latitude=lat, longitude=lng),
        stream=stream,
        volume_liters=volume,
        model=containers_pb2.ContainerModel(model_id="pav-3m3", empty_distance_mm=1800, full_distance_mm=300),
        sensor_id=sensor_id,
        isle=isle,
        service_duration=duration_pb2.Duration(seconds=service_s),
    )


async def create_container(api: Api, container_id: str, **kwargs: Any) -> containers_pb2.Container:
    return await api.containers.CreateContainer(
        containers_pb2.CreateContainerRequest(
            parent=TENANT, container_id=container_id, container=container_message(**kwargs)
        )
    )


async def create_fleet(api: Api) -> None:
    """A depot, a glass facility and a glass crane truck near Soissons."""
    await api.fleet.CreateDepot(
        fleet_pb2.CreateDepotRequest(
            parent=TENANT,
            depot_id="ctm",
            depot=fleet_pb2.Depot(
                display_name="Centre technique", location=latlng_pb2.LatLng(latitude=49.37, longitude=3.35)
            ),
        )
    )
    await api.fleet.CreateFacility(
        fleet_pb2.CreateFacilityRequest(
            parent=TENANT,
            facility_id="verre",
            facility=fleet_pb2.Facility(
                display_name="Quai verre",
                location=latlng_pb2.LatLng(latitude=49.39, longitude=3.36),
                accepted_streams=[common_pb2.WASTE_STREAM_GLASS],
                opening_hours=window((5, 30), (18, 0)),
                dump_duration=duration_pb2.Duration(seconds=600),
            ),
        )
    )
    await api.fleet.CreateVehicle(
        fleet_pb2.CreateVehicleRequest(
            parent=TENANT,
            vehicle_id="gru-01",
            vehicle=fleet_pb2.Vehicle(
                display_name="Grue 1",
                capacity_liters=12000,
                capacity_kg=8000,
                streams=[common_pb2.WASTE_STREAM_GLASS],
                home_depot="tenants/grand-soissons/depots/ctm",
                shift=window((6, 0), (13, 30)),
                break_window=window((9, 30), (10, 30)),
                break_duration=duration_pb2.Duration(seconds=1800),
                cost_per_kilometer=1.2,
                cost_per_hour=45.0,
            ),
        )
    )
