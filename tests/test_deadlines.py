"""Deadlines: the service stops at the caller's deadline, WaitOperation answers before it, and our own
clients never wait forever on a stalled server."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import grpc
import pytest
from google.longrunning import operations_pb2
from google.protobuf import duration_pb2

import wastesvc.servicers.planning
from tests.conftest import TENANT, Api
from tests.errors import rpc_error
from tests.test_planning import _optimize, _seed, _wait
from wastesvc.client import open_channel
from wastesvc.config import Settings
from wastesvc.servicers._coalesce import Coalescer
from wastesvc.sheets import render_route_sheets
from wastesvc.v1 import containers_pb2, containers_pb2_grpc, planning_pb2


def _rpc_codes(api: Api, method: str) -> dict[str, float]:
    """How many calls of `method` the server counted, per status code."""
    counts: dict[str, float] = {}
    for family in api.service.metrics.registry.collect():
        for sample in family.samples:
            if sample.name == "wastesvc_rpc_requests_total" and sample.labels["method"] == method:
                counts[sample.labels["code"]] = sample.value
    return counts


async def test_wait_operation_answers_before_the_callers_deadline(api: Api) -> None:
    """A 30 s WaitOperation under a 1.5 s deadline returns the running operation in time, not an error."""
    await _seed(api)
    operation = await _optimize(api, seconds=20)
    began = time.monotonic()
    waited = await api.operations.WaitOperation(
        operations_pb2.WaitOperationRequest(name=operation.name, timeout=duration_pb2.Duration(seconds=30)),
        timeout=1.5,
    )
    elapsed = time.monotonic() - began
    assert not waited.done
    assert 1.0 <= elapsed < 1.5
    await api.operations.CancelOperation(operations_pb2.CancelOperationRequest(name=operation.name))


async def test_a_call_past_its_deadline_is_deadline_exceeded_never_internal(api: Api) -> None:
    """Rendering a day's sheets takes longer than 50 ms: the caller gets DEADLINE_EXCEEDED, the server
    counts the call so (not CANCELLED, INTERNAL or UNKNOWN), and it serves the next call."""
    await _seed(api)
    operation = await _wait(api, await _optimize(api, seconds=2))
    plan = planning_pb2.RoutePlan()
    operation.response.Unpack(plan)
    render = planning_pb2.RenderRouteSheetsRequest(name=plan.name)

    error = await rpc_error(api.planning.RenderRouteSheets(render, timeout=0.05))
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    method = "/wastesvc.v1.PlanningService/RenderRouteSheets"
    for _ in range(50):  # the server finishes its side of the call a little after the client gave up
        if _rpc_codes(api, method):
            break
        await asyncio.sleep(0.1)
    assert set(_rpc_codes(api, method)) == {"DEADLINE_EXCEEDED"}, _rpc_codes(api, method)

    sheets = await api.planning.RenderRouteSheets(render, timeout=60)
    assert sheets.content.startswith(b"%PDF")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_sheets_render_off_the_event_loop(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """While a day's sheets render (made to take 2 s), a GetContainer on the same server answers at once:
    the renderer runs in a thread, not on the event loop every call shares."""
    await _seed(api)
    operation = await _wait(api, await _optimize(api, seconds=2))
    plan = planning_pb2.RoutePlan()
    operation.response.Unpack(plan)
    started = threading.Event()
    slept_until: list[float] = []

    def slow_render(*args: Any, **kwargs: Any) -> Any:
        started.set()
        time.sleep(2)
        slept_until.append(time.monotonic())
        return render_route_sheets(*args, **kwargs)

    monkeypatch.setattr(wastesvc.servicers.planning, "render_route_sheets", slow_render)
    rendering = asyncio.ensure_future(
        api.planning.RenderRouteSheets(planning_pb2.RenderRouteSheetsRequest(name=plan.name), timeout=60)
    )
    await asyncio.to_thread(started.wait, 30)
    began = time.monotonic()
    container = await api.containers.GetContainer(
        containers_pb2.GetContainerRequest(name=f"{TENANT}/containers/verre-00"), timeout=10
    )
    answered = time.monotonic()

    sheets = await rendering
    assert container.name == f"{TENANT}/containers/verre-00"
    assert sheets.content.startswith(b"%PDF")
    # The test's client shares the loop too: had the render blocked it, the call could not even have been
    # sent before the 2 s sleep ended, and `began` would already be late.
    assert answered < slept_until[0]
    assert answered - began < 0.5


async def test_a_write_whose_caller_has_gone_is_not_made() -> None:
    """Unary writes are stored in groups; a caller whose deadline passed before its group was written
    has been told nothing was stored, and its item is left out of the write."""
    written: list[list[str]] = []

    def store(items: list[str]) -> list[str]:
        written.append(items)
        return [f"stored {item}" for item in items]

    coalescer: Coalescer[str, str] = Coalescer(store, max_items=10)
    gone = asyncio.ensure_future(coalescer.submit("gone"))
    kept = asyncio.ensure_future(coalescer.submit("kept"))
    await asyncio.sleep(0)  # both queued, the group not yet written
    gone.cancel()
    assert await kept == (0, "stored kept")
    assert written == [["kept"]]


@pytest.fixture
def silent_address() -> Iterator[str]:
    """A TCP port that accepts connections and never answers (a stalled server)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield f"127.0.0.1:{listener.getsockname()[1]}"


async def test_our_client_gives_a_unary_call_a_deadline(settings: Settings, silent_address: str) -> None:
    """A unary call through `open_channel` that sets no deadline fails after `call_deadline_s` on a
    server that never answers, instead of hanging."""
    quick = replace(settings, call_deadline_s=0.5)
    async with open_channel(silent_address, quick) as channel:
        stub = containers_pb2_grpc.ContainerServiceStub(channel)
        began = time.monotonic()
        error = await rpc_error(stub.ListContainers(containers_pb2.ListContainersRequest(parent=TENANT)))
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - began < 5
