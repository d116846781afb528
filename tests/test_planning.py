"""OptimizeRoutes end to end: selection, the long-running operation, the plan, its sheets."""

from __future__ import annotations

import asyncio
import io
import math
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest
from google.longrunning import operations_pb2
from google.protobuf import field_mask_pb2, timestamp_pb2
from google.rpc import code_pb2
from google.type import date_pb2
from pypdf import PdfReader

from tests.conftest import SOISSONS, TENANT, Api, create_container, create_fleet, window
from tests.plan_checker import check_plan
from wastesvc.planner import operation_snapshot
from wastesvc.storage import OperationRow
from wastesvc.v1 import (
    common_pb2,
    containers_pb2,
    fleet_pb2,
    planning_pb2,
    readings_pb2,
)

PARIS = ZoneInfo("Europe/Paris")


def _today(days_ahead: int = 0) -> date_pb2.Date:
    day = datetime.now(PARIS).date() + timedelta(days=days_ahead)
    return date_pb2.Date(year=day.year, month=day.month, day=day.day)


async def _seed(api: Api, count: int = 24) -> dict[str, float]:
    """Glass bring banks on a ring around Soissons, two in three full; returns the fill of each."""
    await create_fleet(api)
    fills = {}
    now = datetime.now(UTC)
    requests = []
    for i in range(count):
        angle = 2 * math.pi * i / count
        cid = f"verre-{i:02d}"
        await create_container(
            api,
            cid,
            lat=SOISSONS[0] + 0.02 * math.sin(angle),
            lng=SOISSONS[1] + 0.03 * math.cos(angle),
            # A crane lift of a bring bank takes about 12 minutes: the day then runs past the break window.
            service_s=720,
        )
        fills[f"tenants/grand-soissons/containers/{cid}"] = 0.9 if i % 3 else 0.2
        stamp = timestamp_pb2.Timestamp()
        stamp.FromDatetime(now - timedelta(minutes=30))
        requests.append(
            readings_pb2.CreateReadingRequest(
                parent=f"tenants/grand-soissons/containers/{cid}",
                reading=readings_pb2.Reading(
                    measure_time=stamp, fill_fraction=fills[f"tenants/grand-soissons/containers/{cid}"]
                ),
            )
        )
    # One container may only be emptied early in the morning (a market square).
    await api.containers.UpdateContainer(
        containers_pb2.UpdateContainerRequest(
            container=containers_pb2.Container(
                name="tenants/grand-soissons/containers/verre-01", access_windows=[window((6, 0), (8, 0))]
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["access_windows"]),
        )
    )
    await api.readings.BatchCreateReadings(readings_pb2.BatchCreateReadingsRequest(requests=requests))
    return fills


async def _wait(
    api: Api, operation: operations_pb2.Operation, timeout_s: float = 60.0
) -> operations_pb2.Operation:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not operation.done:
        assert asyncio.get_running_loop().time() < deadline, "operation did not finish in time"
        operation = await api.operations.WaitOperation(
            operations_pb2.WaitOperationRequest(name=operation.name, timeout={"seconds": 5})
        )
    return operation


async def _resources(api: Api) -> tuple[dict, dict, dict]:  # type: ignore[type-arg]
    containers = await api.containers.ListContainers(
        containers_pb2.ListContainersRequest(parent=TENANT, page_size=1000)
    )
    vehicles = await api.fleet.ListVehicles(fleet_pb2.ListVehiclesRequest(parent=TENANT))
    facilities = await api.fleet.ListFacilities(fleet_pb2.ListFacilitiesRequest(parent=TENANT))
    return (
        {c.name: c for c in containers.containers},
        {v.name: v for v in vehicles.vehicles},
        {f.name: f for f in facilities.facilities},
    )


# The operator's threshold makes every container at or above it mandatory. Tests that seed "full" and
# "not full" containers pin it: otherwise the policy weighs forecasts read at the service time against
# detours, and a container near the line would be planned or not depending on the hour the suite runs.
FULL = 0.7


async def _optimize(
    api: Api, seconds: int = 2, *, fill_threshold: float | None = FULL, days_ahead: int = 0
) -> operations_pb2.Operation:
    """Plans today, or `days_ahead` later; `fill_threshold=None` leaves the choice to the selection policy."""
    request = planning_pb2.OptimizeRoutesRequest(parent=TENANT, service_date=_today(days_ahead))
    request.options.time_limit.FromSeconds(seconds)
    if fill_threshold is not None:
        request.options.fill_threshold = fill_threshold
    return await api.planning.OptimizeRoutes(request)


async def test_optimize_routes_produces_a_feasible_plan(api: Api) -> None:
    """The operation completes and an independent checker finds no violation in its plan."""
    fills = await _seed(api)
    operation = await _wait(api, await _optimize(api))
    assert not operation.HasField("error"), operation.error
    plan = planning_pb2.RoutePlan()
    operation.response.Unpack(plan)
    metadata = planning_pb2.OptimizeRoutesMetadata()
    operation.metadata.Unpack(metadata)
    assert metadata.state == planning_pb2.OptimizeRoutesMetadata.STATE_SUCCEEDED
    assert metadata.selected_container_count == sum(1 for f in fills.values() if f >= 0.7)

    containers, vehicles, facilities = await _resources(api)
    assert check_plan(plan, containers, vehicles, facilities) == []
    planned = {name for r in plan.routes for v in r.visits for name in v.containers}
    expected = {name for name, fill in fills.items() if fill >= 0.7}
    assert planned | {s.container for s in plan.skipped} == expected
    assert planned, "nothing was planned"
    # 16 × 3 000 L × 0.9 = 43 200 L for a 12 000 L truck: it must unload several times.
    disposals = [v for r in plan.routes for v in r.visits if v.kind == planning_pb2.VISIT_KIND_DISPOSAL]
    assert len(disposals) >= 4
    breaks = [v for r in plan.routes for v in r.visits if v.kind == planning_pb2.VISIT_KIND_BREAK]
    assert len(breaks) == len(plan.routes)
    assert plan.totals.container_count == len(planned)
    assert plan.totals.distance_meters == sum(r.distance_meters for r in plan.routes) > 0

    stored = await api.planning.GetRoutePlan(planning_pb2.GetRoutePlanRequest(name=plan.name))
    assert stored == plan
    listed = await api.planning.ListRoutePlans(planning_pb2.ListRoutePlansRequest(parent=TENANT))
    assert [p.name for p in listed.route_plans] == [plan.name]


async def test_checker_catches_an_overloaded_plan(api: Api) -> None:
    """The plan checker itself can fail: an overload and a missing last disposal are reported."""
    await _seed(api)
    operation = await _wait(api, await _optimize(api))
    plan = planning_pb2.RoutePlan()
    operation.response.Unpack(plan)
    containers, vehicles, facilities = await _resources(api)
    route = plan.routes[0]
    collected = next(v for v in route.visits if v.kind == planning_pb2.VISIT_KIND_CONTAINER)
    collected.load_liters = 10**6
    last_disposal = [v for v in route.visits if v.kind == planning_pb2.VISIT_KIND_DISPOSAL][-1]
    last_disposal.kind = planning_pb2.VISIT_KIND_CONTAINER
    problems = check_plan(plan, containers, vehicles, facilities)
    assert any("capacity" in p for p in problems)
    assert any("goes home loaded" in p for p in problems)


async def test_route_sheets_list_every_planned_stop(api: Api) -> None:
    """The PDF has a page per truck and its text lists every planned container."""
    await _seed(api)
    operation = await _wait(api, await _optimize(api))
    plan = planning_pb2.RoutePlan()
    operation.response.Unpack(plan)
    sheets = await api.planning.RenderRouteSheets(planning_pb2.RenderRouteSheetsRequest(name=plan.name))
    assert sheets.content_type == "application/pdf"
    reader = PdfReader(io.BytesIO(sheets.content))
    assert len(reader.pages) == sheets.page_count >= len(plan.routes)
    text = "\n".join(page.extract_text() for page in reader.pages)
    for route in plan.routes:
        for visit in route.visits:
            for name in visit.containers:
                assert name.removeprefix("tenants/grand-soissons/containers/") in text


async def test_route_sheets_of_an_unknown_plan_or_vehicle_are_not_found(api: Api) -> None:
    """Sheets for a missing plan, or a vehicle not in the plan, answer NOT_FOUND."""
    await _seed(api)
    operation = await _wait(api, await _optimize(api))
    plan = planning_pb2.RoutePlan()
    operation.response.Unpack(plan)
    with pytest.raises(grpc.aio.AioRpcError) as missing_plan:
        await api.planning.RenderRouteSheets(
            planning_pb2.RenderRouteSheetsRequest(name="tenants/grand-soissons/routePlans/nope")
        )
    assert missing_plan.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as missing_vehicle:
        await api.planning.RenderRouteSheets(
            planning_pb2.RenderRouteSheetsRequest(
                name=plan.name, vehicle="tenants/grand-soissons/vehicles/ghost"
            )
        )
    assert missing_vehicle.value.code() == grpc.StatusCode.NOT_FOUND


async def test_cancel_stops_a_running_operation(api: Api) -> None:
    """CancelOperation ends a long solve quickly with CANCELLED and no plan."""
    await _seed(api)
    operation = await _optimize(api, seconds=120)
    started = asyncio.get_running_loop().time()
    await api.operations.CancelOperation(operations_pb2.CancelOperationRequest(name=operation.name))
    operation = await _wait(api, operation, timeout_s=30)
    assert asyncio.get_running_loop().time() - started < 30
    assert operation.error.code == code_pb2.CANCELLED
    metadata = planning_pb2.OptimizeRoutesMetadata()
    operation.metadata.Unpack(metadata)
    assert metadata.state == planning_pb2.OptimizeRoutesMetadata.STATE_CANCELLED
    listed = await api.planning.ListRoutePlans(planning_pb2.ListRoutePlansRequest(parent=TENANT))
    assert len(listed.route_plans) == 0


async def test_a_cancel_during_a_slow_progress_save_still_ends_the_operation(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The "selecting" state saved in a worker thread may land after the cancellation's final save.

    The operation must still end as cancelled; it used to stay "selecting" forever, and a client waiting
    on it timed out (a likely cause of the test above failing now and then).
    """
    await _seed(api)
    storage = api.service.planner.storage
    save = storage.save_operation

    def slow_when_selecting(row: OperationRow) -> None:
        metadata = planning_pb2.OptimizeRoutesMetadata()
        operations_pb2.Operation.FromString(row.body).metadata.Unpack(metadata)
        if metadata.state == planning_pb2.OptimizeRoutesMetadata.STATE_SELECTING:
            # The save has read the row (as `merge` does first), then waits for the database.
            row = operation_snapshot(row)
            time.sleep(1.0)
        save(row)

    monkeypatch.setattr(storage, "save_operation", slow_when_selecting)
    operation = await _optimize(api, seconds=120)
    await api.operations.CancelOperation(operations_pb2.CancelOperationRequest(name=operation.name))
    await asyncio.sleep(1.5)  # the slow save has landed by now
    operation = await _wait(api, operation, timeout_s=10)
    assert operation.error.code == code_pb2.CANCELLED
    metadata = planning_pb2.OptimizeRoutesMetadata()
    operation.metadata.Unpack(metadata)
    assert metadata.state == planning_pb2.OptimizeRoutesMetadata.STATE_CANCELLED


async def test_request_id_makes_optimize_idempotent(api: Api) -> None:
    """The same request_id returns the same operation instead of planning twice."""
    await _seed(api)
    request = planning_pb2.OptimizeRoutesRequest(
        parent=TENANT, service_date=_today(), request_id="4b1c2a9e-0000-4000-8000-000000000001"
    )
    request.options.time_limit.FromSeconds(1)
    first = await api.planning.OptimizeRoutes(request)
    second = await api.planning.OptimizeRoutes(request)
    assert first.name == second.name
    await _wait(api, first)
    listed = await api.operations.ListOperations(operations_pb2.ListOperationsRequest(name=TENANT))
    assert [o.name for o in listed.operations] == [first.name]


async def test_optimize_rejects_bad_requests(api: Api) -> None:
    """A bad date, stream or time limit is INVALID_ARGUMENT; an unknown vehicle is NOT_FOUND."""
    await create_fleet(api)
    bad_date = planning_pb2.OptimizeRoutesRequest(
        parent=TENANT, service_date=date_pb2.Date(year=2026, month=2, day=30)
    )
    bad_stream = planning_pb2.OptimizeRoutesRequest(
        parent=TENANT, service_date=_today(), streams=[common_pb2.WasteStream.ValueType(42)]
    )
    too_long = planning_pb2.OptimizeRoutesRequest(parent=TENANT, service_date=_today())
    too_long.options.time_limit.FromSeconds(3600)
    for request in (bad_date, bad_stream, too_long):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await api.planning.OptimizeRoutes(request)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    ghost = planning_pb2.OptimizeRoutesRequest(
        parent=TENANT, service_date=_today(), vehicles=["tenants/grand-soissons/vehicles/ghost"]
    )
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await api.planning.OptimizeRoutes(ghost)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


async def test_unknown_operation_is_not_found(api: Api) -> None:
    """GetOperation and CancelOperation on an unknown name answer NOT_FOUND."""
    for call in (api.operations.GetOperation, api.operations.CancelOperation):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await call(operations_pb2.GetOperationRequest(name="tenants/grand-soissons/operations/0123"))
        assert error.value.code() == grpc.StatusCode.NOT_FOUND


async def test_containers_needing_missing_equipment_are_skipped_with_the_reason(api: Api) -> None:
    """A bring bank needing a crane is skipped, with the reason, when the only glass truck has none."""
    await _seed(api)
    await api.containers.UpdateContainer(
        containers_pb2.UpdateContainerRequest(
            container=containers_pb2.Container(
                name="tenants/grand-soissons/containers/verre-02", required_equipment=["crane"]
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["required_equipment"]),
        )
    )
    operation = await _wait(api, await _optimize(api))
    plan = planning_pb2.RoutePlan()
    operation.response.Unpack(plan)
    skipped = {s.container: s for s in plan.skipped}
    assert (
        skipped["tenants/grand-soissons/containers/verre-02"].reason
        == planning_pb2.SKIP_REASON_NO_VEHICLE_FOR_STREAM
    )
    assert "crane" in skipped["tenants/grand-soissons/containers/verre-02"].detail
    planned = {name for r in plan.routes for v in r.visits for name in v.containers}
    assert "tenants/grand-soissons/containers/verre-04" in planned

    await api.fleet.UpdateVehicle(
        fleet_pb2.UpdateVehicleRequest(
            vehicle=fleet_pb2.Vehicle(name="tenants/grand-soissons/vehicles/gru-01", equipment=["crane"]),
            update_mask=field_mask_pb2.FieldMask(paths=["equipment"]),
        )
    )
    operation = await _wait(api, await _optimize(api))
    operation.response.Unpack(plan)
    assert "tenants/grand-soissons/containers/verre-02" in {
        name for r in plan.routes for v in r.visits for name in v.containers
    }


async def test_equipment_words_are_validated(api: Api) -> None:
    """Equipment must be lower-case words; a bad one is INVALID_ARGUMENT naming its index."""
    await create_fleet(api)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await api.fleet.UpdateVehicle(
            fleet_pb2.UpdateVehicleRequest(
                vehicle=fleet_pb2.Vehicle(
                    name="tenants/grand-soissons/vehicles/gru-01", equipment=["crane", "Big Crane!"]
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["equipment"]),
            )
        )
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "vehicle.equipment[1]" in (error.value.details() or "")


async def test_trucks_leave_at_shift_start_even_for_late_morning_work(api: Api) -> None:
    """Containers open from 10:45 only: the truck still leaves at 06:00 and its crew takes the break.

    Starting at 10:00 or later would skip the 09:30-10:30 break window; the crew is due out at 06:00.
    """
    fills = await _seed(api, count=6)
    for name in fills:
        await api.containers.UpdateContainer(
            containers_pb2.UpdateContainerRequest(
                container=containers_pb2.Container(name=name, access_windows=[window((10, 45), (13, 0))]),
                update_mask=field_mask_pb2.FieldMask(paths=["access_windows"]),
            )
        )
    operation = await _wait(api, await _optimize(api))
    plan = planning_pb2.RoutePlan()
    operation.response.Unpack(plan)
    assert plan.routes, "nothing was planned"
    assert check_plan(plan, *(await _resources(api))) == []
    for route in plan.routes:
        # Shift at 06:00, out after the 15-minute check of the truck.
        assert route.visits[0].start_time.ToDatetime(UTC).astimezone(PARIS).strftime("%H:%M") == "06:15"
        assert planning_pb2.VISIT_KIND_BREAK in {v.kind for v in route.visits}


async def test_driving_time_rule_puts_a_rest_into_long_days(api: Api) -> None:
    """Asked for, the EU rule gives every day longer than 4 h 30 on duty a 45-minute rest.

    The 30-minute break of the test fleet is too short to count, so the 06:00-13:30 crews that work
    past 10:30 rest once; without the option no rest appears.
    """
    await _seed(api)
    request = planning_pb2.OptimizeRoutesRequest(parent=TENANT, service_date=_today())
    request.options.time_limit.FromSeconds(3)
    request.options.fill_threshold = FULL
    request.options.driving_time_rule = True
    operation = await _wait(api, await api.planning.OptimizeRoutes(request))
    assert not operation.HasField("error"), operation.error
    plan = planning_pb2.RoutePlan()
    operation.response.Unpack(plan)
    assert check_plan(plan, *(await _resources(api)), driving_rule=True) == []
    long_days = [r for r in plan.routes if r.duration.ToTimedelta() > timedelta(hours=4, minutes=30)]
    assert long_days, "no day long enough to need a rest"
    for route in long_days:
        assert planning_pb2.VISIT_KIND_REST in {v.kind for v in route.visits}

    plain = await _wait(api, await _optimize(api))
    plain_plan = planning_pb2.RoutePlan()
    plain.response.Unpack(plain_plan)
    assert planning_pb2.VISIT_KIND_REST not in {v.kind for r in plain_plan.routes for v in r.visits}
    problems = check_plan(plain_plan, *(await _resources(api)), driving_rule=True)
    assert any("without a rest of 45 minutes" in p for p in problems)
