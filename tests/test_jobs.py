"""Replicated solving: two API replicas and two solver workers on one PostgreSQL and RabbitMQ.

A replica and the worker running a plan are killed with SIGKILL mid-solve; the other worker finishes the
job and the other replica answers the client with the plan. A worker serves its own Prometheus metrics.
"""

from __future__ import annotations

import asyncio
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import grpc
import httpx
import pika
import psycopg
import pytest
from google.longrunning import operations_pb2, operations_pb2_grpc
from google.protobuf import duration_pb2

from tests.conftest import PG_ADMIN, TENANT, Api, api_on, token
from tests.test_planning import _seed, _today
from wastesvc.client import open_channel
from wastesvc.config import Settings
from wastesvc.jobs import JobQueue
from wastesvc.metrics import WorkerMetrics
from wastesvc.server import Service
from wastesvc.v1 import (
    planning_pb2,
    planning_pb2_grpc,
)

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]

BROKER = "amqp://guest:guest@127.0.0.1:5672/"


@dataclass
class Process:
    """A `wastesvc` subprocess whose stderr lines are collected by a thread."""

    popen: subprocess.Popen[str]
    lines: queue.Queue[str] = field(default_factory=queue.Queue)

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                assert self.popen.poll() is None, f"process exited with {self.popen.returncode}"
                continue
            match = re.search(pattern, line)
            if match:
                return match
        raise AssertionError(f"no line matching {pattern!r} within {timeout} s")


def _start(command: str, env: dict[str, str], *args: str) -> Process:
    popen = subprocess.Popen(
        [sys.executable, "-m", "wastesvc.cli", command, *args], env=env, stderr=subprocess.PIPE, text=True
    )
    process = Process(popen)

    def pump() -> None:
        assert popen.stderr is not None
        for line in popen.stderr:
            process.lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return process


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of one deployment: a fresh PostgreSQL database and a queue of its own."""
    database = f"wastesvc_jobs_{uuid.uuid4().hex[:12]}"
    job_queue = f"wastesvc-test-{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    env = {
        **os.environ,
        "WASTESVC_DB_URL": PG_ADMIN.rsplit("/", 1)[0] + f"/{database}",
        "WASTESVC_LISTEN": "127.0.0.1:0",
        "WASTESVC_JOB_BROKER_URL": BROKER,
        "WASTESVC_JOB_QUEUE": job_queue,
        "WASTESVC_AUTH_KEY_FILE": str(tmp_path / "auth.key"),
    }
    try:
        yield env
    finally:
        connection = pika.BlockingConnection(pika.URLParameters(BROKER))
        channel = connection.channel()
        for name in (job_queue, f"{job_queue}.DQ", f"{job_queue}.XQ"):
            channel.queue_delete(name)
        connection.close()
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')


def _api(channel: grpc.aio.Channel, address: str) -> Api:
    # A subprocess: the test reaches it only through the channel.
    return api_on(cast(Service, None), address, channel)


async def test_killing_a_replica_and_a_worker_mid_solve_still_finishes_the_plan(
    deployment: dict[str, str],
) -> None:
    """The worker solving is killed (-9), and so is the replica that took the request: the plan is made."""
    first = _start("serve", deployment)
    first_address = first.wait_for(r"listening on (\S+:\d+)").group(1)
    second = _start("serve", deployment)
    second_address = second.wait_for(r"listening on (\S+:\d+)").group(1)
    workers = [_start("worker", {**deployment, "WASTESVC_SOLVER_TIME_LIMIT_S": "6"}) for _ in range(2)]
    processes = [first, second, *workers]
    settings = Settings(auth_key_file=deployment["WASTESVC_AUTH_KEY_FILE"])
    bearer = token(settings)
    try:
        for worker in workers:
            worker.wait_for(r"thread\(s\) on queue")
        async with open_channel(first_address, settings, bearer) as channel:
            operation = await _seeded_plan(channel, first_address, 6)
        started = await asyncio.to_thread(_first_start, workers, operation.name)
        solving = workers[started]
        await asyncio.sleep(1.0)
        solving.popen.send_signal(signal.SIGKILL)
        first.popen.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        other = workers[1 - started]
        await asyncio.to_thread(other.wait_for, f"operation {operation.name.rsplit('/', 1)[-1]} started", 30)
        failover_s = time.monotonic() - killed_at

        async with open_channel(second_address, settings, bearer) as channel:
            operations = cast(Any, operations_pb2_grpc.OperationsStub(channel))
            done = await operations.WaitOperation(
                operations_pb2.WaitOperationRequest(name=operation.name, timeout={"seconds": 60})
            )
            assert done.done, "the operation did not finish on the surviving worker"
            assert not done.HasField("error"), done.error
            plan = planning_pb2.RoutePlan()
            done.response.Unpack(plan)
            stored = await cast(Any, planning_pb2_grpc.PlanningServiceStub(channel)).GetRoutePlan(
                planning_pb2.GetRoutePlanRequest(name=plan.name)
            )
        assert stored.totals.container_count > 0
        assert failover_s < 10, failover_s
    finally:
        _stop(processes)


async def _seeded_plan(channel: grpc.aio.Channel, address: str, seconds: int) -> Any:
    """Seeds the tenant through a replica and asks it for a plan with a `seconds` budget: the operation."""
    api = _api(channel, address)
    await _seed(api)
    return await cast(Any, api.planning).OptimizeRoutes(
        planning_pb2.OptimizeRoutesRequest(
            parent=TENANT,
            # Tomorrow: planned at night, today's service times lie before the readings.
            service_date=_today(days_ahead=1),
            options=planning_pb2.OptimizeOptions(time_limit=duration_pb2.Duration(seconds=seconds)),
        )
    )


def _stop(processes: list[Process]) -> None:
    for process in processes:
        if process.popen.poll() is None:
            process.popen.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.popen.kill()


def _samples(text: str) -> dict[str, float]:
    """``name{labels}`` → value of a Prometheus text exposition."""
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def test_queue_depth_is_the_brokers_count_of_waiting_jobs(deployment: dict[str, str]) -> None:
    """Three jobs and no worker: the depth is 3, read from RabbitMQ at scrape time."""
    queue = JobQueue(BROKER, deployment["WASTESVC_JOB_QUEUE"])
    metrics = WorkerMetrics()
    metrics.watch_queue(queue)
    try:
        before = _samples(metrics.exposition().decode())
        for i in range(3):
            queue.submit(f"op-{i}")
        after = _samples(metrics.exposition().decode())
    finally:
        queue.close()
    series = f'wastesvc_job_queue_depth{{queue="{queue.queue}"}}'
    assert series not in before  # not declared by anyone yet: no sample rather than a false 0
    assert after[series] == 3


async def test_a_worker_serves_its_metrics(deployment: dict[str, str]) -> None:
    """A real worker runs a plan; its /metrics, scraped over HTTP, counts the job and times the solve."""
    replica = _start("serve", deployment)
    address = replica.wait_for(r"listening on (\S+:\d+)").group(1)
    worker = _start("worker", deployment, "--metrics-listen", "127.0.0.1:0")
    processes = [replica, worker]
    settings = Settings(auth_key_file=deployment["WASTESVC_AUTH_KEY_FILE"])
    try:
        url = worker.wait_for(r"metrics on (http://\S+/metrics)").group(1)
        worker.wait_for(r"thread\(s\) on queue")
        async with httpx.AsyncClient() as http:
            before = _samples((await http.get(url)).text)
            async with open_channel(address, settings, token(settings)) as channel:
                operation = await _seeded_plan(channel, address, 1)
                done = await cast(Any, operations_pb2_grpc.OperationsStub(channel)).WaitOperation(
                    operations_pb2.WaitOperationRequest(name=operation.name, timeout={"seconds": 60})
                )
            assert done.done
            assert not done.HasField("error"), done.error
            await asyncio.to_thread(worker.wait_for, "finished", 10)  # counted after the operation is stored
            after = _samples((await http.get(url)).text)
    finally:
        _stop(processes)
    succeeded = 'wastesvc_jobs_total{outcome="succeeded"}'
    assert (before[succeeded], after[succeeded]) == (0, 1)
    assert after['wastesvc_jobs_total{outcome="failed"}'] == 0
    assert (before["wastesvc_solve_seconds_count"], after["wastesvc_solve_seconds_count"]) == (0, 1)
    assert 0 < after["wastesvc_solve_seconds_sum"] <= 2
    assert after["wastesvc_jobs_running"] == 0
    assert after[f'wastesvc_job_queue_depth{{queue="{deployment["WASTESVC_JOB_QUEUE"]}"}}'] == 0


def _first_start(workers: list[Process], operation_name: str) -> int:
    """The index of the worker that starts the operation."""
    wanted = f"operation {operation_name.rsplit('/', 1)[-1]} started"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for i, worker in enumerate(workers):
            try:
                line = worker.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if wanted in line:
                return i
    raise AssertionError("no worker started the operation")
