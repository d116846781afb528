"""Planning on real roads: the service with an osrm-routed built from the Liechtenstein extract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.longrunning import operations_pb2
from google.protobuf import duration_pb2, timestamp_pb2
from google.rpc import code_pb2, error_details_pb2
from google.type import date_pb2, latlng_pb2

from routing import Location, OsrmMatrix
from tests.conftest import TENANT, Api, create_container, window
from wastesvc.config import Settings
from wastesvc.errors import DOMAIN
from wastesvc.v1 import common_pb2, fleet_pb2, planning_pb2, readings_pb2

pytest_plugins = ["tests.routing.osrm_server"]

VADUZ = (47.1410, 9.5215)
TOWNS = [(47.1650, 9.5092), (47.1066, 9.5258), (47.0667, 9.5020), (47.2108, 9.5230), (47.1300, 9.5150)]


@pytest.fixture
def settings(db_url: str, osrm_url: str) -> Settings:
    return Settings(db_url=db_url, listen="127.0.0.1:0", solver_time_limit_s=2.0, osrm_url=osrm_url)


async def _fleet(api: Api) -> None:
    await api.fleet.CreateDepot(
        fleet_pb2.CreateDepotRequest(
            parent=TENANT,
            depot_id="vaduz",
            depot=fleet_pb2.Depot(location=latlng_pb2.LatLng(latitude=VADUZ[0], longitude=VADUZ[1])),
        )
    )
    await api.fleet.CreateFacility(
        fleet_pb2.CreateFacilityRequest(
            parent=TENANT,
            facility_id="schaan",
            facility=fleet_pb2.Facility(
                location=latlng_pb2.LatLng(latitude=47.1700, longitude=9.5100),
                accepted_streams=[common_pb2.WASTE_STREAM_GLASS],
                opening_hours=window((5, 0), (20, 0)),
                dump_duration=duration_pb2.Duration(seconds=600),
            ),
        )
    )
    await api.fleet.CreateVehicle(
        fleet_pb2.CreateVehicleRequest(
            parent=TENANT,
            vehicle_id="truck",
            vehicle=fleet_pb2.Vehicle(
                capacity_liters=20000,
                capacity_kg=8000,
                streams=[common_pb2.WASTE_STREAM_GLASS],
                home_depot="tenants/grand-soissons/depots/vaduz",
                shift=window((6, 0), (14, 0)),
                cost_per_kilometer=1.0,
            ),
        )
    )


async def _full(api: Api, container_id: str) -> None:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(datetime.now(UTC) - timedelta(hours=1))
    await api.readings.CreateReading(
        readings_pb2.CreateReadingRequest(
            parent=f"tenants/grand-soissons/containers/{container_id}",
            reading=readings_pb2.Reading(measure_time=stamp, fill_fraction=0.9),
        )
    )


async def _plan(api: Api) -> operations_pb2.Operation:
    today = datetime.now(UTC).date()
    request = planning_pb2.OptimizeRoutesRequest(
        parent=TENANT, service_date=date_pb2.Date(year=today.year, month=today.month, day=today.day)
    )
    request.options.time_limit.FromSeconds(2)
    request.options.fill_threshold = 0.7
    operation = await api.planning.OptimizeRoutes(request)
    while not operation.done:
        operation = await api.operations.WaitOperation(
            operations_pb2.WaitOperationRequest(
                name=operation.name, timeout=duration_pb2.Duration(seconds=10)
            )
        )
    return operation


async def planned_day(api: Api) -> planning_pb2.RoutePlan:
    """The plan of one truck from Vaduz round a full container in each of `TOWNS`."""
    await _fleet(api)
    for i, (lat, lng) in enumerate(TOWNS):
        await create_container(api, f"li-{i}", lat=lat, lng=lng, commune="LI")
        await _full(api, f"li-{i}")
    operation = await _plan(api)
    assert not operation.HasField("error"), operation.error
    plan = planning_pb2.RoutePlan()
    operation.response.Unpack(plan)
    return plan


async def test_plan_distances_are_road_distances(api: Api, osrm_url: str) -> None:
    """With osrm_url set, every leg of the plan is OSRM's road distance, not a crow-fly estimate."""
    plan = await planned_day(api)
    (route,) = plan.routes
    assert route.container_count == len(TOWNS)
    points = [
        Location(v.location.latitude, v.location.longitude) for v in route.visits if v.HasField("location")
    ]
    with OsrmMatrix(osrm_url) as road:
        matrix = road.matrix(points)
    legs = [int(matrix.distances_m[i, i + 1]) for i in range(len(points) - 1)]
    moving = [v.distance_meters for v in route.visits if v.HasField("location")][1:]
    assert moving == legs
    assert route.distance_meters == sum(legs)


async def test_an_unroutable_container_fails_the_plan_naming_it(api: Api) -> None:
    """A container far off the road network fails the operation with FAILED_PRECONDITION naming it."""
    await _fleet(api)
    await create_container(api, "li-ok", lat=TOWNS[0][0], lng=TOWNS[0][1], commune="LI")
    await create_container(api, "nowhere", lat=47.0, lng=9.0, commune="LI")
    for container_id in ("li-ok", "nowhere"):
        await _full(api, container_id)
    operation = await _plan(api)
    assert operation.error.code == code_pb2.FAILED_PRECONDITION
    failure = error_details_pb2.PreconditionFailure()
    assert any(detail.Unpack(failure) for detail in operation.error.details)
    assert [v.subject for v in failure.violations] == ["tenants/grand-soissons/containers/nowhere"]
    info = error_details_pb2.ErrorInfo()
    assert any(detail.Unpack(info) for detail in operation.error.details)
    assert (info.domain, info.reason) == (DOMAIN, "PLAN_DATA_INVALID")
