"""A vehicle stored with settings that cannot work is left out of the day with its reason, not a failure."""

from __future__ import annotations

import asyncio
from datetime import UTC, date
from zoneinfo import ZoneInfo

import grpc
import pytest
from google.longrunning import operations_pb2
from google.rpc import code_pb2, error_details_pb2
from sqlmodel import Session

from tests.conftest import TENANT, Api
from tests.errors import assert_error, rpc_error, rpc_status
from tests.test_planning import FULL, _optimize, _seed, _today, _wait
from wastesvc.domain.planning import _at
from wastesvc.storage import SqlStorage, VehicleRow
from wastesvc.v1 import planning_pb2


async def _store_broken_vehicles(api: Api) -> None:
    """Two copies of the seeded truck, broken as records accepted before the checks were."""
    storage = api.service.storage
    good = await asyncio.to_thread(storage.get, VehicleRow, "grand-soissons", "gru-01")
    assert good is not None
    fields = {f: getattr(good, f) for f in VehicleRow.model_fields}
    no_break = VehicleRow(
        **{**fields, "id": "no-break", "break_start_s": 14 * 3600, "break_end_s": 15 * 3600}
    )
    no_break.shift_end_s = 13 * 3600
    infinite = VehicleRow(**{**fields, "id": "infinite", "cost_per_km": float("inf")})
    for row in (no_break, infinite):
        await asyncio.to_thread(storage.create, row)


async def test_bad_vehicles_are_left_out_with_their_reason(api: Api) -> None:
    """The day is planned with the good truck; each bad one is listed with the Vehicle field at fault."""
    await _seed(api)
    await _store_broken_vehicles(api)

    operation = await _wait(api, await _optimize(api))

    assert not operation.HasField("error"), operation.error
    plan = planning_pb2.RoutePlan()
    operation.response.Unpack(plan)
    assert {r.vehicle for r in plan.routes} == {f"{TENANT}/vehicles/gru-01"}
    reasons = {s.vehicle: s.reason for s in plan.skipped_vehicles}
    assert set(reasons) == {f"{TENANT}/vehicles/no-break", f"{TENANT}/vehicles/infinite"}
    assert reasons[f"{TENANT}/vehicles/no-break"].startswith("break_window:")
    assert "cost_per_kilometer" in reasons[f"{TENANT}/vehicles/infinite"]
    assert "vehicles[" not in " ".join(reasons.values())


def _request(request_id: str, seconds: int) -> planning_pb2.OptimizeRoutesRequest:
    request = planning_pb2.OptimizeRoutesRequest(parent=TENANT, service_date=_today(), request_id=request_id)
    request.options.time_limit.FromSeconds(seconds)
    request.options.fill_threshold = FULL
    return request


def _metadata(operation: operations_pb2.Operation) -> planning_pb2.OptimizeRoutesMetadata:
    metadata = planning_pb2.OptimizeRoutesMetadata()
    operation.metadata.Unpack(metadata)
    return metadata


async def test_shutdown_tells_the_waiting_client_and_frees_the_request_id(api: Api) -> None:
    """A solve stopped by a shutdown is UNAVAILABLE "server shutting down" (not a client's cancel),
    and the same request_id then starts a new operation."""
    await _seed(api)
    request = _request("5a1c2a9e-0000-4000-8000-000000000001", 120)
    first = await api.planning.OptimizeRoutes(request)
    waiting = asyncio.ensure_future(_wait(api, first, timeout_s=30))
    await asyncio.sleep(0.5)

    await api.service.planner.shutdown()
    stopped = await waiting

    assert stopped.error.code == code_pb2.UNAVAILABLE
    assert "server shutting down" in stopped.error.message
    assert _metadata(stopped).state == planning_pb2.OptimizeRoutesMetadata.STATE_ABORTED
    api.service.planner._stopping = False  # the same process stands in for the restarted server
    retried = await api.planning.OptimizeRoutes(request)
    assert retried.name != first.name
    await api.operations.CancelOperation(operations_pb2.CancelOperationRequest(name=retried.name))


async def test_operation_of_a_crashed_server_is_aborted_not_solving(api: Api) -> None:
    """After a crash, the restarted server closes the operation as ABORTED (state too) and frees its id."""
    await _seed(api)
    request = _request("5a1c2a9e-0000-4000-8000-000000000002", 120)
    first = await api.planning.OptimizeRoutes(request)
    planner = api.service.planner
    await asyncio.sleep(1.0)
    stored = await asyncio.to_thread(api.service.storage.get_operation, first.name.rsplit("/", 1)[-1])
    assert stored is not None
    assert not stored.done
    crashed_body = stored.body  # what a kill -9 leaves behind: the last state published

    task = planner._tasks[stored.id]  # the process is gone; only its row remains
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    # The storage refuses to reopen an ended operation; a crash left it open, so write that row as is.
    stored.body, stored.done = crashed_body, False
    storage = api.service.storage
    assert isinstance(storage, SqlStorage)
    with Session(storage.engine) as session:
        session.merge(stored)
        session.commit()
    assert await asyncio.to_thread(planner.close_interrupted) == 1

    closed = await api.operations.GetOperation(operations_pb2.GetOperationRequest(name=first.name))
    assert closed.done
    assert closed.error.code == code_pb2.ABORTED
    assert _metadata(closed).state == planning_pb2.OptimizeRoutesMetadata.STATE_ABORTED
    retried = await api.planning.OptimizeRoutes(request)
    assert retried.name != first.name
    await api.operations.CancelOperation(operations_pb2.CancelOperationRequest(name=retried.name))


async def test_request_id_with_another_request_is_invalid(api: Api) -> None:
    """Reusing a request_id for a different request is INVALID_ARGUMENT naming request_id."""
    await _seed(api)
    first = await api.planning.OptimizeRoutes(_request("5a1c2a9e-0000-4000-8000-000000000003", 1))
    err = await rpc_error(api.planning.OptimizeRoutes(_request("5a1c2a9e-0000-4000-8000-000000000003", 2)))
    assert assert_error(err, grpc.StatusCode.INVALID_ARGUMENT, "request_id").reason == "REQUEST_ID_REUSED"
    await _wait(api, first)


async def test_in_flight_solves_are_capped_per_tenant(api: Api) -> None:
    """Above the tenant's cap, OptimizeRoutes is RESOURCE_EXHAUSTED with a RetryInfo delay."""
    await _seed(api)
    api.service.planner.max_in_flight_per_tenant = 1
    first = await api.planning.OptimizeRoutes(_request("", 120))
    err = await rpc_error(api.planning.OptimizeRoutes(_request("", 120)))
    assert_error(err, grpc.StatusCode.RESOURCE_EXHAUSTED)
    retry = [d for d in rpc_status(err).details if d.Is(error_details_pb2.RetryInfo.DESCRIPTOR)]
    assert len(retry) == 1
    info = error_details_pb2.RetryInfo()
    retry[0].Unpack(info)
    assert info.retry_delay.seconds > 0
    # Once the first one ends, the tenant may plan again.
    await api.operations.CancelOperation(operations_pb2.CancelOperationRequest(name=first.name))
    await _wait(api, first, timeout_s=30)
    second = await api.planning.OptimizeRoutes(_request("", 1))
    await _wait(api, second)


async def test_out_of_range_planning_options_are_invalid(api: Api) -> None:
    """A time limit of 2^62 s or a century without emptying is INVALID_ARGUMENT, not INTERNAL."""
    await _seed(api)
    huge = _request("", 1)
    huge.options.time_limit.seconds, huge.options.time_limit.nanos = 2**62, 1
    ages = _request("", 1)
    ages.options.max_days_without_emptying = 2**31 - 1
    for request, field in [(huge, "options.time_limit"), (ages, "options.max_days_without_emptying")]:
        err = await rpc_error(api.planning.OptimizeRoutes(request))
        assert_error(err, grpc.StatusCode.INVALID_ARGUMENT, field)


@pytest.mark.parametrize(
    ("day", "utc_hour"),
    [(date(2026, 3, 28), 7), (date(2026, 3, 29), 6), (date(2026, 10, 25), 7), (date(2026, 10, 26), 7)],
)
def test_local_times_of_day_stay_right_across_daylight_saving(day: date, utc_hour: int) -> None:
    """08:00 in a plan is 08:00 on the wall clock of Soissons, on the days the clocks change too."""
    when = _at(day, ZoneInfo("Europe/Paris"), 8 * 3600)
    assert when.astimezone(ZoneInfo("Europe/Paris")).hour == 8
    assert when.astimezone(UTC).hour == utc_hour
