"""The plan life cycle: DRAFT → PUBLISHED → IN_PROGRESS → CLOSED, listings by date and state, one route."""

from __future__ import annotations

import grpc

from tests.conftest import TENANT, Api
from tests.dispatch.support import VEHICLE, container_visits, event, planned_day, send
from tests.errors import assert_error, rpc_error
from wastesvc.v1 import dispatch_pb2, planning_pb2

ARRIVED = dispatch_pb2.FIELD_EVENT_KIND_ARRIVED


async def test_plan_moves_through_its_life_cycle(api: Api) -> None:
    """A draft refuses events; published, the first event starts it; closed, it refuses events again."""
    plan = await planned_day(api)
    assert (plan.state, plan.version, plan.previous_plan) == (planning_pb2.ROUTE_PLAN_STATE_DRAFT, 1, "")
    first = container_visits(plan)[0]
    info = assert_error(
        await rpc_error(send(api, plan, event(ARRIVED, first.id))), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert info.reason == "PLAN_NOT_PUBLISHED"

    published = await api.dispatch.PublishRoutePlan(dispatch_pb2.PublishRoutePlanRequest(name=plan.name))
    assert published.state == planning_pb2.ROUTE_PLAN_STATE_PUBLISHED
    await send(api, plan, event(ARRIVED, first.id))
    current = await api.planning.GetRoutePlan(planning_pb2.GetRoutePlanRequest(name=plan.name))
    assert current.state == planning_pb2.ROUTE_PLAN_STATE_IN_PROGRESS

    closed = await api.dispatch.CloseRoutePlan(dispatch_pb2.CloseRoutePlanRequest(name=plan.name))
    assert closed.state == planning_pb2.ROUTE_PLAN_STATE_CLOSED
    err = await rpc_error(send(api, plan, event(ARRIVED, container_visits(plan)[1].id)))
    assert assert_error(err, grpc.StatusCode.FAILED_PRECONDITION).reason == "PLAN_CLOSED"
    err = await rpc_error(api.dispatch.PublishRoutePlan(dispatch_pb2.PublishRoutePlanRequest(name=plan.name)))
    assert assert_error(err, grpc.StatusCode.FAILED_PRECONDITION).reason == "PLAN_CLOSED"


async def test_plans_are_listed_by_date_and_state(api: Api) -> None:
    """The state and service-date filters keep exactly the plans that match."""
    plan = await planned_day(api)

    async def names(**filters: object) -> list[str]:
        request = planning_pb2.ListRoutePlansRequest(parent=TENANT, **filters)  # type: ignore[arg-type]
        return [p.name for p in (await api.planning.ListRoutePlans(request)).route_plans]

    assert await names(state=planning_pb2.ROUTE_PLAN_STATE_DRAFT) == [plan.name]
    assert await names(state=planning_pb2.ROUTE_PLAN_STATE_PUBLISHED) == []
    await api.dispatch.PublishRoutePlan(dispatch_pb2.PublishRoutePlanRequest(name=plan.name))
    assert await names(state=planning_pb2.ROUTE_PLAN_STATE_PUBLISHED) == [plan.name]
    assert await names(service_date=plan.service_date) == [plan.name]
    other_day = planning_pb2.RoutePlan().service_date
    other_day.year, other_day.month, other_day.day = 2020, 1, 2
    assert await names(service_date=other_day) == []


async def test_one_route_is_addressable_with_stable_visit_ids(api: Api) -> None:
    """GetVehicleRoute returns the truck's route; its visit ids are unique and the same on every read."""
    plan = await planned_day(api)
    name = f"{plan.name}/vehicleRoutes/gru-01"
    route = await api.dispatch.GetVehicleRoute(dispatch_pb2.GetVehicleRouteRequest(name=name))
    assert route.name == name
    assert route.vehicle == VEHICLE
    ids = [v.id for v in route.visits]
    assert len(set(ids)) == len(ids)
    assert all(ids)
    assert [v.id for v in plan.routes[0].visits] == ids
    assert all(v.status == planning_pb2.VISIT_STATUS_PLANNED for v in route.visits)
    err = await rpc_error(
        api.dispatch.GetVehicleRoute(
            dispatch_pb2.GetVehicleRouteRequest(name=f"{plan.name}/vehicleRoutes/nope")
        )
    )
    assert_error(err, grpc.StatusCode.NOT_FOUND)
    err = await rpc_error(api.dispatch.GetVehicleRoute(dispatch_pb2.GetVehicleRouteRequest(name="routes/x")))
    assert_error(err, grpc.StatusCode.INVALID_ARGUMENT, "name")
