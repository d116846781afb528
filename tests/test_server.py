"""The server as operators see it: health, reflection, shutdown, and durability across a crash."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import grpc
import pytest
from google.longrunning import operations_pb2
from google.protobuf import timestamp_pb2
from google.rpc import code_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

import wastesvc.server
from tests.conftest import TENANT, Api, api_on, container_message, token
from tests.test_hardening_planning import _metadata, _request
from tests.test_planning import _seed
from wastesvc.client import open_channel
from wastesvc.config import Settings
from wastesvc.server import SERVICE_NAMES, ListenError, Service, create_server
from wastesvc.v1 import containers_pb2, containers_pb2_grpc, planning_pb2, readings_pb2, readings_pb2_grpc


async def test_health_reports_serving(api: Api) -> None:
    """grpc.health.v1 answers SERVING for the server and for each service."""
    stub = health_pb2_grpc.HealthStub(api.channel)
    for service in ("", *SERVICE_NAMES):
        response = await stub.Check(health_pb2.HealthCheckRequest(service=service))
        assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_every_service(api: Api) -> None:
    """Server reflection lists the wastesvc services, Operations, health and reflection itself."""
    stub = reflection_pb2_grpc.ServerReflectionStub(api.channel)

    async def one_request() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    async for response in stub.ServerReflectionInfo(one_request()):
        listed = {s.name for s in response.list_services_response.service}
    assert set(SERVICE_NAMES) <= listed
    assert {"wastesvc.v1.PlanningService", "google.longrunning.Operations", "grpc.health.v1.Health"} <= listed


def _key_file(db: Path) -> Path:
    return db.parent / "auth.key"


def _channel(db: Path, address: str) -> grpc.aio.Channel:
    """A channel with an operator token signed by the key of the server that stores `db`."""
    settings = Settings(auth_key_file=str(_key_file(db)))
    return open_channel(address, settings, token(settings))


def _start_server(db: Path) -> tuple[subprocess.Popen[str], str]:
    env = {
        **os.environ,
        "WASTESVC_DB_URL": f"sqlite:///{db}",
        "WASTESVC_LISTEN": "127.0.0.1:0",
        "WASTESVC_AUTH_KEY_FILE": str(_key_file(db)),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "wastesvc.cli", "serve"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        match = re.search(r"listening on (\S+:\d+)", line)
        if match:
            # Keep draining stderr, or a full pipe would one day block the server's logging.
            threading.Thread(target=process.stderr.read, daemon=True).start()
            return process, match.group(1)
    raise AssertionError(f"server exited with {process.wait()} before listening")


def _reading(container: str, when: datetime, fill: float) -> readings_pb2.CreateReadingRequest:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return readings_pb2.CreateReadingRequest(
        parent=container, reading=readings_pb2.Reading(measure_time=stamp, fill_fraction=fill)
    )


async def test_acknowledged_readings_survive_sigkill(tmp_path: Path) -> None:
    """Kill -9 the server mid-ingest and restart it: every acknowledged reading is stored."""
    db = tmp_path / "crash.db"
    process, address = _start_server(db)
    acknowledged: set[tuple[str, datetime]] = set()
    containers = [f"tenants/grand-soissons/containers/c{i}" for i in range(20)]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=6)
    try:
        async with _channel(db, address) as channel:
            stub = containers_pb2_grpc.ContainerServiceStub(channel)
            for name in containers:
                await stub.CreateContainer(
                    containers_pb2.CreateContainerRequest(
                        parent=TENANT,
                        container_id=name.removeprefix("tenants/grand-soissons/containers/"),
                        container=container_message(),
                    )
                )
            readings = readings_pb2_grpc.ReadingServiceStub(channel)

            async def ingest() -> None:
                for batch in range(10_000):
                    when = start + timedelta(seconds=30 * batch)
                    requests = [_reading(c, when, (batch % 100) / 100) for c in containers]
                    await readings.BatchCreateReadings(
                        readings_pb2.BatchCreateReadingsRequest(requests=requests)
                    )
                    acknowledged.update((c, when) for c in containers)

            task = asyncio.create_task(ingest())
            while len(acknowledged) < 2000:
                await asyncio.sleep(0.01)
            process.send_signal(signal.SIGKILL)
            with pytest.raises(grpc.aio.AioRpcError):
                await task
    finally:
        process.kill()
        process.wait()

    process, address = _start_server(db)
    try:
        async with _channel(db, address) as channel:
            readings = readings_pb2_grpc.ReadingServiceStub(channel)
            stored: set[tuple[str, datetime]] = set()
            for name in containers:
                token = ""
                while True:
                    page = await readings.ListReadings(
                        readings_pb2.ListReadingsRequest(parent=name, page_size=1000, page_token=token)
                    )
                    stored.update((name, r.measure_time.ToDatetime(tzinfo=UTC)) for r in page.readings)
                    token = page.next_page_token
                    if not token:
                        break
        assert len(acknowledged) >= 2000
        assert acknowledged <= stored
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


async def test_sigterm_shuts_down_gracefully(tmp_path: Path) -> None:
    """SIGTERM stops the server with exit code 0 and it stops accepting calls."""
    process, address = _start_server(tmp_path / "term.db")
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        assert (
            await stub.Check(health_pb2.HealthCheckRequest())
        ).status == health_pb2.HealthCheckResponse.SERVING
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 30) == 0
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
        assert error.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


async def test_a_second_server_on_a_taken_port_refuses_to_start(tmp_path: Path) -> None:
    """A server asked for a port another server holds raises ListenError and opens no database."""
    first, port = await create_server(
        "127.0.0.1:0",
        Settings(db_url=f"sqlite:///{tmp_path / 'first.db'}", auth_key_file=str(tmp_path / "auth.key")),
    )
    try:
        second_db = tmp_path / "second.db"
        with pytest.raises(ListenError, match=f"127.0.0.1:{port}: the address is already in use"):
            await create_server(
                f"127.0.0.1:{port}",
                Settings(db_url=f"sqlite:///{second_db}", auth_key_file=str(tmp_path / "auth.key")),
            )
        assert not second_db.exists()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await first.stop(None)


async def test_grpc_itself_refuses_a_taken_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the pre-check (a port taken between check and bind), gRPC's bind still fails: no port reuse."""
    first, port = await create_server(
        "127.0.0.1:0",
        Settings(db_url=f"sqlite:///{tmp_path / 'first.db'}", auth_key_file=str(tmp_path / "auth.key")),
    )
    try:
        monkeypatch.setattr(wastesvc.server, "_in_use", lambda _address: False)
        with pytest.raises(ListenError, match=f"cannot listen on 127.0.0.1:{port}: gRPC could not bind it"):
            await create_server(
                f"127.0.0.1:{port}",
                Settings(
                    db_url=f"sqlite:///{tmp_path / 'second.db'}", auth_key_file=str(tmp_path / "auth.key")
                ),
            )
        assert not (tmp_path / "second.db").exists()
    finally:
        await first.stop(None)


async def test_a_failed_start_frees_its_port(tmp_path: Path) -> None:
    """When the database cannot be opened the port is released, so a corrected start can take it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(Exception, match="bogus"):
        await create_server(
            f"127.0.0.1:{port}", Settings(db_url="bogus://nowhere", auth_key_file=str(tmp_path / "auth.key"))
        )
    service, bound = await create_server(
        f"127.0.0.1:{port}",
        Settings(db_url=f"sqlite:///{tmp_path / 'w.db'}", auth_key_file=str(tmp_path / "auth.key")),
    )
    await service.stop(None)
    assert bound == port


async def test_a_second_serve_process_on_a_taken_port_exits_with_a_clear_message(tmp_path: Path) -> None:
    """`wastesvc serve` on the port of a running server exits 1 with one line; the first keeps serving."""
    first, address = _start_server(tmp_path / "first.db")
    try:
        env = {**os.environ, "WASTESVC_DB_URL": f"sqlite:///{tmp_path / 'second.db'}"}
        second = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "wastesvc.cli", "serve", "--listen", address],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 1
        assert (
            second.stderr == f"wastesvc: error: cannot listen on {address}: the address is already in use\n"
        )
        assert not (tmp_path / "second.db").exists()
        async with grpc.aio.insecure_channel(address) as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        first.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(first.wait, 30) == 0


# A solve in flight when the process stops -----------------------------------------------------------------


def _api(channel: grpc.aio.Channel, address: str) -> Api:
    # A subprocess: the test reaches it only through the channel.
    return api_on(cast(Service, None), address, channel)


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid`, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # ended meanwhile
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    """`pid` runs (a zombie waiting for a reaper has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _is_solver(pid: int) -> bool:
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


async def _children_once_solving(server: subprocess.Popen[str]) -> list[int]:
    """The server's child processes, once a solver process runs among them."""
    for _ in range(300):
        children = _children(server.pid)
        if any(_is_solver(child) for child in children):
            return children
        await asyncio.sleep(0.1)
    raise AssertionError("no solver process started within 30 s")


@contextlib.asynccontextmanager
async def _solving(
    db: Path,
) -> AsyncIterator[tuple[subprocess.Popen[str], Api, operations_pb2.Operation]]:
    """`serve` on `db` with a day seeded and its solve `_IN_FLIGHT` started; the process is killed after."""
    process, address = _start_server(db)
    try:
        async with _channel(db, address) as channel:
            api = _api(channel, address)
            await _seed(api)
            yield process, api, await api.planning.OptimizeRoutes(_IN_FLIGHT)
    finally:
        process.kill()
        process.wait()


async def _restarted(db: Path, first: operations_pb2.Operation) -> operations_pb2.Operation:
    """Restarts the server on `db`; the first operation as it then reads, and checks that its request_id
    now starts a new operation."""
    process, address = _start_server(db)
    try:
        async with _channel(db, address) as channel:
            api = _api(channel, address)
            after = await api.operations.GetOperation(operations_pb2.GetOperationRequest(name=first.name))
            retried = await api.planning.OptimizeRoutes(_IN_FLIGHT)
            await api.operations.CancelOperation(operations_pb2.CancelOperationRequest(name=retried.name))
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 30) == 0
    assert retried.name != first.name
    return after


# A solve far longer than the test: only the stop ends it.
_IN_FLIGHT = _request("5a1c2a9e-0000-4000-8000-0000000000a1", 120)


async def test_sigterm_with_a_solve_in_flight_tells_the_waiter_and_frees_the_request_id(
    tmp_path: Path,
) -> None:
    """SIGTERM to `serve` while a solve runs: the client waiting on it is told UNAVAILABLE "server shutting
    down" with STATE_ABORTED before the process exits 0, and after a restart its request_id starts a new
    operation."""
    db = tmp_path / "term.db"
    async with _solving(db) as (process, api, first):
        waiting = asyncio.ensure_future(
            api.operations.WaitOperation(
                operations_pb2.WaitOperationRequest(name=first.name, timeout={"seconds": 60}),
                timeout=60,
            )
        )
        await _children_once_solving(process)
        process.send_signal(signal.SIGTERM)
        stopped = await waiting
        assert await asyncio.to_thread(process.wait, 30) == 0

    assert stopped.done
    assert stopped.error.code == code_pb2.UNAVAILABLE
    assert stopped.error.message.startswith("server shutting down")
    assert _metadata(stopped).state == planning_pb2.OptimizeRoutesMetadata.STATE_ABORTED
    after = await _restarted(db, first)
    assert after.error.code == code_pb2.UNAVAILABLE
    assert _metadata(after).state == planning_pb2.OptimizeRoutesMetadata.STATE_ABORTED


async def test_kill9_with_a_solve_in_flight_leaves_no_solver_and_an_aborted_operation(tmp_path: Path) -> None:
    """kill -9 of `serve` while a solve runs: its solver process exits within 10 s, and the restarted server
    reads the operation as ABORTED (not still SOLVING) and gives its request_id a new operation."""
    db = tmp_path / "kill.db"
    async with _solving(db) as (process, _, first):
        children = await _children_once_solving(process)
        process.send_signal(signal.SIGKILL)
        process.wait()

    deadline = time.monotonic() + 10
    while any(_alive(child) for child in children) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    left = [child for child in children if _alive(child)]
    for child in left:  # not to leave them running when the test fails
        os.kill(child, signal.SIGKILL)
    assert left == []
    after = await _restarted(db, first)
    assert after.done
    assert after.error.code == code_pb2.ABORTED
    assert _metadata(after).state == planning_pb2.OptimizeRoutesMetadata.STATE_ABORTED
