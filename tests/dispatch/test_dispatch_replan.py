"""ReplanRoutes: a truck breaks down mid-morning and an urgent container is called in."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import grpc
from google.type.latlng_pb2 import LatLng

import routing
from tests.conftest import TENANT, Api, create_container
from tests.dispatch.support import event, published_day, send, stamp
from tests.errors import assert_error, rpc_error
from tests.plan_checker import check_plan
from tests.test_planning import _optimize, _resources, _seed, _wait
from wastesvc.dispatch.replan import availability, build_replan, positions
from wastesvc.replanner import Replanner
from wastesvc.storage import DispatchStore, FieldEventRow
from wastesvc.v1 import dispatch_pb2, fleet_pb2, planning_pb2, readings_pb2

K = dispatch_pb2
URGENT = f"{TENANT}/containers/verre-urgent"


async def _published(api: Api) -> tuple[planning_pb2.RoutePlan, planning_pb2.VehicleRoute]:
    """A published day of two trucks (the plan may use one) and its busier truck's route."""
    await _seed(api, 16)
    first = await api.fleet.GetVehicle(fleet_pb2.GetVehicleRequest(name=f"{TENANT}/vehicles/gru-01"))
    second = copy.deepcopy(first)
    second.ClearField("name")
    await api.fleet.CreateVehicle(
        fleet_pb2.CreateVehicleRequest(parent=TENANT, vehicle_id="gru-02", vehicle=second)
    )
    operation = await _wait(api, await _optimize(api, 2))
    plan = planning_pb2.RoutePlan()
    operation.response.Unpack(plan)
    plan = await api.dispatch.PublishRoutePlan(dispatch_pb2.PublishRoutePlanRequest(name=plan.name))
    return plan, max(plan.routes, key=lambda r: r.container_count)


async def _morning(api: Api) -> tuple[planning_pb2.RoutePlan, planning_pb2.VehicleRoute, list[str]]:
    """A published two-truck day whose busier truck emptied its first two stops; an urgent container."""
    plan, busy = await _published(api)
    done = [v.id for v in busy.visits if v.kind == planning_pb2.VISIT_KIND_CONTAINER][:2]
    for visit_id in done:
        await send(api, plan, event(K.FIELD_EVENT_KIND_COMPLETED, visit_id, vehicle=busy.vehicle))
    await create_container(api, "verre-urgent", lat=49.385, lng=3.33, service_s=720)
    reading = readings_pb2.Reading(
        measure_time=stamp(datetime.now(UTC) - timedelta(minutes=5)), fill_fraction=1.0
    )
    await api.readings.CreateReading(readings_pb2.CreateReadingRequest(parent=URGENT, reading=reading))
    return plan, busy, done


def _request(
    plan: planning_pb2.RoutePlan, busy: planning_pb2.VehicleRoute
) -> dispatch_pb2.ReplanRoutesRequest:
    """Re-plan when the busy truck's second stop is done: it is out of service, the urgent container joins."""
    second_stop = [v for v in busy.visits if v.kind == planning_pb2.VISIT_KIND_CONTAINER][1]
    request = dispatch_pb2.ReplanRoutesRequest(
        name=plan.name,
        vehicles=[dispatch_pb2.VehicleSituation(vehicle=busy.vehicle, available=False)],
        urgent_containers=[URGENT],
    )
    request.replan_time.CopyFrom(second_stop.end_time)
    request.time_limit.FromSeconds(2)
    return request


async def test_replan_after_a_breakdown_hands_the_rest_to_the_other_truck(api: Api) -> None:
    """The new version keeps the done visits, serves the urgent container, and says which stops moved."""
    plan, busy, done = await _morning(api)
    operation = await _wait(api, await api.dispatch.ReplanRoutes(_request(plan, busy)))
    assert not operation.HasField("error"), operation.error
    result = dispatch_pb2.ReplanRoutesResponse()
    operation.response.Unpack(result)
    new = result.route_plan
    assert (new.version, new.previous_plan, new.state) == (2, plan.name, planning_pb2.ROUTE_PLAN_STATE_DRAFT)

    # The broken truck's record is its done visits; every other route passes the independent checker.
    (broken,) = [r for r in new.routes if r.vehicle == busy.vehicle]
    assert [v.id for v in broken.visits if v.containers] == done
    assert all(v.status == planning_pb2.VISIT_STATUS_DONE for v in broken.visits if v.containers)
    working = planning_pb2.RoutePlan()
    working.CopyFrom(new)
    del working.routes[:]
    working.routes.extend(r for r in new.routes if r.vehicle != busy.vehicle)
    containers, vehicles, facilities = await _resources(api)
    # A truck called in by the re-plan leaves at the re-plan time, not at its shift start.
    late = "leaves after the crew's check"
    assert [v for v in check_plan(working, containers, vehicles, facilities) if late not in v] == []

    # Every stop the broken truck still had is moved to the other truck or dropped with a reason.
    left = [v.id for v in busy.visits if v.containers and v.id not in done]
    by_visit = {c.visit_id: c for c in result.changes}
    for visit_id in left:
        change = by_visit[visit_id]
        assert change.kind in {K.STOP_CHANGE_KIND_MOVED, K.STOP_CHANGE_KIND_DROPPED}
        assert change.reason
        if change.kind == K.STOP_CHANGE_KIND_MOVED:
            # The busier truck, which breaks down, may be either of the two (the plan may use one).
            assert {change.to_vehicle, busy.vehicle} == {f"{TENANT}/vehicles/gru-0{k}" for k in (1, 2)}
    assert by_visit["verre-urgent"].kind == K.STOP_CHANGE_KIND_ADDED
    served = {c for r in new.routes for v in r.visits for c in v.containers}
    assert URGENT in served
    others = [v for r in plan.routes if r.vehicle != busy.vehicle for v in r.visits if v.containers]
    assert result.kept_count == len(others) - sum(
        c.from_vehicle != busy.vehicle for c in by_visit.values() if c.from_vehicle
    )

    # Publishing the new version closes the old one, which then refuses events.
    await api.dispatch.PublishRoutePlan(dispatch_pb2.PublishRoutePlanRequest(name=new.name))
    old = await api.planning.GetRoutePlan(planning_pb2.GetRoutePlanRequest(name=plan.name))
    assert old.state == planning_pb2.ROUTE_PLAN_STATE_CLOSED
    err = await rpc_error(send(api, plan, event(K.FIELD_EVENT_KIND_ARRIVED, left[0], vehicle=busy.vehicle)))
    assert assert_error(err, grpc.StatusCode.FAILED_PRECONDITION).reason == "PLAN_CLOSED"


async def test_replanned_problem_is_solved_feasibly_as_routing_check_sees_it(api: Api) -> None:
    """The re-plan's routing problem (done stops out, urgent stop in, one truck fewer) solves clean."""
    plan, busy, done = await _morning(api)
    service = api.service
    replanner = Replanner(service.storage, DispatchStore(service.storage.engine), service.planner)  # type: ignore[attr-defined]
    data = replanner.read_input(plan.name, _request(plan, busy))
    replanned = build_replan(data, 2.0)
    problem = replanned.built.problem
    # The busier truck, which breaks down, may be either of the two: the other one is left.
    assert [v.id for v in problem.vehicles] == sorted({"gru-01", "gru-02"} - {busy.vehicle.rsplit("/", 1)[1]})
    assert "verre-urgent" in {s.id for s in problem.stops}
    assert not set(done) & {s.id for s in problem.stops}
    solution = routing.solve(problem, replanned.options)
    assert routing.check(problem, solution) == []
    assert "verre-urgent" in {v.ref_id for r in solution.routes for v in r.visits}
    # The crew's remaining order is the start, repaired where needed, never dropped for a fresh search.
    assert not any("from scratch" in note for note in solution.notes)


async def test_replan_needs_a_published_plan(api: Api) -> None:
    """A draft is not re-planned: FAILED_PRECONDITION; a malformed urgent container is INVALID_ARGUMENT."""
    await _seed(api, 6)
    operation = await _wait(api, await _optimize(api, 1))
    plan = planning_pb2.RoutePlan()
    operation.response.Unpack(plan)
    err = await rpc_error(api.dispatch.ReplanRoutes(dispatch_pb2.ReplanRoutesRequest(name=plan.name)))
    assert assert_error(err, grpc.StatusCode.FAILED_PRECONDITION).reason == "PLAN_NOT_PUBLISHED"
    bad = dispatch_pb2.ReplanRoutesRequest(name=plan.name, urgent_containers=["verre-1"])
    assert_error(
        await rpc_error(api.dispatch.ReplanRoutes(bad)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "urgent_containers[0]",
    )


async def test_a_replan_request_id_names_one_request_of_either_rpc(api: Api) -> None:
    """A retry returns the same operation; the id with another replan, or an OptimizeRoutes id, is
    INVALID_ARGUMENT REQUEST_ID_REUSED (the replan used to return whatever operation had the id)."""
    plan = await published_day(api)

    def replan(request_id: str, seconds: int) -> dispatch_pb2.ReplanRoutesRequest:
        request = dispatch_pb2.ReplanRoutesRequest(name=plan.name, request_id=request_id)
        request.time_limit.FromSeconds(seconds)
        return request

    first = await api.dispatch.ReplanRoutes(replan("7e1d0c2a-0000-4000-8000-000000000001", 1))
    again = await api.dispatch.ReplanRoutes(replan("7e1d0c2a-0000-4000-8000-000000000001", 1))
    other = await rpc_error(api.dispatch.ReplanRoutes(replan("7e1d0c2a-0000-4000-8000-000000000001", 2)))
    optimized = await api.planning.OptimizeRoutes(
        planning_pb2.OptimizeRoutesRequest(
            parent=TENANT, service_date=plan.service_date, request_id="7e1d0c2a-0000-4000-8000-000000000002"
        )
    )
    crossed = await rpc_error(api.dispatch.ReplanRoutes(replan("7e1d0c2a-0000-4000-8000-000000000002", 1)))

    assert again.name == first.name
    for err in (other, crossed):
        assert assert_error(err, grpc.StatusCode.INVALID_ARGUMENT, "request_id").reason == "REQUEST_ID_REUSED"
    await _wait(api, first)
    await _wait(api, optimized)


DAY = datetime(2026, 12, 1, tzinfo=UTC)


def _row(kind: str, hour: float, n: int, lat: float | None = None) -> FieldEventRow:
    """Event `n` of truck bom-01 at `hour` on DAY, at latitude `lat` if given."""
    body = b"" if lat is None else dispatch_pb2.FieldEvent(location=LatLng(latitude=lat, longitude=3.3))
    return FieldEventRow(
        id=n,
        tenant="t",
        plan_id="p",
        event_id=str(n),
        vehicle_id="bom-01",
        kind=kind,
        event_time=DAY + timedelta(hours=hour),
        body=body if isinstance(body, bytes) else body.SerializeToString(),
    )


def test_the_latest_breakdown_or_return_says_whether_a_truck_works() -> None:
    """A truck broken at 10:30 and back at 11:00 works at 11:30, not at 10:45; an override wins."""
    day, row = DAY, _row
    events = [row("BACK_IN_SERVICE", 11.0, 2), row("BREAKDOWN", 10.5, 1), row("POSITION", 10.6, 3)]
    assert availability(events, day + timedelta(hours=10.75), {}) == {"bom-01": False}
    assert availability(events, day + timedelta(hours=11.5), {}) == {"bom-01": True}
    assert availability(events, day + timedelta(hours=11.5), {"bom-01": False}) == {"bom-01": False}


async def test_a_closed_facility_takes_nothing_after_the_replan_time(api: Api) -> None:
    """A glass quay closed at the re-plan time closes then; the busy truck resumes where it is."""
    plan, busy, _ = await _morning(api)
    service = api.service
    replanner = Replanner(service.storage, DispatchStore(service.storage.engine), service.planner)  # type: ignore[attr-defined]
    request = _request(plan, busy)
    request.ClearField("vehicles")
    request.closed_facilities.append(f"{TENANT}/facilities/verre")
    data = replanner.read_input(plan.name, request)
    replanned = build_replan(data, 2.0)
    (quay,) = replanned.built.problem.facilities
    assert quay.opening.end_s == data.now_s
    resumed = {v.id: v for v in replanned.built.problem.vehicles}[busy.vehicle.rsplit("/", 1)[-1]]
    assert resumed.start_depot == f"at-{resumed.id}"
    assert resumed.shift.start_s >= data.now_s


async def test_a_truck_resumes_from_its_latest_position(api: Api) -> None:
    """A truck emptied its first stop, then said where it is, twice: its re-planned day starts at the
    latest place it gave, not at that stop."""
    plan, busy = await _published(api)
    first, second = [v for v in busy.visits if v.containers][:2]
    request = dispatch_pb2.ReplanRoutesRequest(name=plan.name)
    request.replan_time.CopyFrom(second.end_time)
    request.time_limit.FromSeconds(2)
    # Events happen before the re-plan time and never in the future.
    latest = min(request.replan_time.ToDatetime(tzinfo=UTC), datetime.now(UTC)) - timedelta(minutes=1)
    emptied = event(K.FIELD_EVENT_KIND_COMPLETED, first.id, vehicle=busy.vehicle)
    emptied.event_time.CopyFrom(stamp(latest - timedelta(minutes=20)))
    await send(api, plan, emptied)
    for minutes, (lat, lng) in ((10, (49.30, 3.20)), (0, (49.41, 3.36))):
        where = LatLng(latitude=lat, longitude=lng)
        position = event(K.FIELD_EVENT_KIND_POSITION, vehicle=busy.vehicle, location=where)
        position.event_time.CopyFrom(stamp(latest - timedelta(minutes=minutes)))
        await send(api, plan, position)

    operation = await _wait(api, await api.dispatch.ReplanRoutes(request))
    assert not operation.HasField("error"), operation.error
    result = dispatch_pb2.ReplanRoutesResponse()
    operation.response.Unpack(result)
    (route,) = [r for r in result.route_plan.routes if r.vehicle == busy.vehicle]
    assert [v.id for v in route.visits if v.status == planning_pb2.VISIT_STATUS_DONE] == [first.id]
    # The first place after the stop emptied is driven to from the latest position.
    ids = [v.id for v in route.visits]
    ahead = next(v for v in route.visits[ids.index(first.id) + 1 :] if v.HasField("location"))
    matrix = routing.GreatCircleMatrix(circuity=1.3, speed_kmh=32.0)
    there = routing.Location(ahead.location.latitude, ahead.location.longitude)
    legs = matrix.matrix([routing.Location(49.41, 3.36), routing.Location(49.30, 3.20), there])
    assert ahead.distance_meters == int(legs.distances_m[0, 2]) != int(legs.distances_m[1, 2])
    assert ahead.start_time.ToDatetime(tzinfo=UTC) >= request.replan_time.ToDatetime(tzinfo=UTC)


def test_the_latest_position_up_to_the_replan_time_is_where_a_truck_is() -> None:
    """Of three POSITION events, the latest at or before the re-plan time counts; other kinds do not."""
    day, row = DAY, _row
    events = [row("POSITION", 10.5, 2, 49.2), row("POSITION", 10.0, 1, 49.1), row("POSITION", 11.0, 3, 49.3)]
    events.append(row("ARRIVED", 10.6, 4, 49.9))
    (where,) = positions(events, day + timedelta(hours=10.75)).values()
    assert (where.time, where.lat) == (day + timedelta(hours=10.5), 49.2)
    assert positions(events, day + timedelta(hours=9)) == {}
