"""OptimizeRoutes from a client's initial routes; dispatcher look-ups by sensor."""

from __future__ import annotations

import grpc

from tests.conftest import TENANT, Api, create_container
from tests.dispatch.support import planned_day
from tests.errors import assert_error, rpc_error
from tests.plan_checker import check_plan
from tests.test_planning import FULL, _resources, _today, _wait
from wastesvc.v1 import containers_pb2, planning_pb2, readings_pb2


async def _optimize_from(api: Api, routes: list[planning_pb2.InitialRoute]) -> planning_pb2.RoutePlan:
    request = planning_pb2.OptimizeRoutesRequest(parent=TENANT, service_date=_today(), initial_routes=routes)
    request.options.time_limit.FromSeconds(1)
    request.options.fill_threshold = FULL
    operation = await _wait(api, await api.planning.OptimizeRoutes(request))
    assert not operation.HasField("error"), operation.error
    plan = planning_pb2.RoutePlan()
    operation.response.Unpack(plan)
    return plan


async def test_initial_routes_are_checked_and_improved(api: Api) -> None:
    """Yesterday's route handed back comes out feasible and no longer; a stranger container gets a note."""
    first = await planned_day(api)
    route = first.routes[0]
    order = [c for v in route.visits for c in v.containers]
    stranger = f"{TENANT}/containers/verre-absent"
    proposed = planning_pb2.InitialRoute(vehicle=route.vehicle, containers=[*order, stranger])
    plan = await _optimize_from(api, [proposed])
    containers, vehicles, facilities = await _resources(api)
    assert check_plan(plan, containers, vehicles, facilities) == []
    assert plan.totals.distance_meters <= first.totals.distance_meters
    assert any("verre-absent" in note for note in plan.solver_notes)


async def test_initial_routes_naming_another_tenant_are_refused(api: Api) -> None:
    """A container name of another tenant is INVALID_ARGUMENT naming the field."""
    await planned_day(api)
    bad = planning_pb2.InitialRoute(
        vehicle=f"{TENANT}/vehicles/gru-01", containers=["tenants/champagne-picarde/containers/x"]
    )
    request = planning_pb2.OptimizeRoutesRequest(parent=TENANT, service_date=_today(), initial_routes=[bad])
    err = await rpc_error(api.planning.OptimizeRoutes(request))
    assert_error(err, grpc.StatusCode.INVALID_ARGUMENT, "initial_routes[0].containers[0]")


async def test_a_sensor_finds_its_container_and_its_readings(api: Api) -> None:
    """ListContainers filters on sensor_id; ListReadings under containers/- lists that sensor's readings."""
    await create_container(api, "c-1", sensor_id="eui-0001")
    await create_container(api, "c-2", sensor_id="eui-0002")
    listed = await api.containers.ListContainers(
        containers_pb2.ListContainersRequest(parent=TENANT, filter='sensor_id = "eui-0002"')
    )
    assert [c.name for c in listed.containers] == [f"{TENANT}/containers/c-2"]
    reading = readings_pb2.Reading(fill_fraction=0.4)
    reading.measure_time.GetCurrentTime()
    await api.readings.CreateReading(
        readings_pb2.CreateReadingRequest(parent=f"{TENANT}/containers/c-2", reading=reading)
    )
    found = await api.readings.ListReadings(
        readings_pb2.ListReadingsRequest(parent=f"{TENANT}/containers/-", filter='sensor_id = "eui-0002"')
    )
    assert [r.fill_fraction for r in found.readings] == [0.4]
    err = await rpc_error(
        api.readings.ListReadings(
            readings_pb2.ListReadingsRequest(parent=f"{TENANT}/containers/-", filter='sensor_id = "nope"')
        )
    )
    assert_error(err, grpc.StatusCode.NOT_FOUND, "filter")
    err = await rpc_error(
        api.readings.ListReadings(readings_pb2.ListReadingsRequest(parent=f"{TENANT}/containers/-"))
    )
    assert_error(err, grpc.StatusCode.INVALID_ARGUMENT, "filter")
