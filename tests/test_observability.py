"""Metrics scraped over real HTTP after real RPCs, and the JSON access log with request ids and no secrets."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import grpc
import httpx
import pytest
from google.longrunning import operations_pb2
from google.protobuf import timestamp_pb2
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import OTHER_TENANT, TENANT, Api, create_container, create_fleet, token
from wastesvc.client import open_channel
from wastesvc.config import Settings
from wastesvc.logs import JsonFormatter, redact
from wastesvc.v1 import (
    alerts_pb2,
    alerts_pb2_grpc,
    containers_pb2,
    containers_pb2_grpc,
    planning_pb2,
    readings_pb2,
)

BATCH = "/wastesvc.v1.ReadingService/BatchCreateReadings"
GET = "/wastesvc.v1.ContainerService/GetContainer"
LIST = "/wastesvc.v1.ContainerService/ListContainers"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared settings with metrics served on a free loopback port."""
    return replace(settings, metrics_listen="127.0.0.1:0")


@pytest.fixture
def access_lines() -> Iterator[io.StringIO]:
    """The access log, formatted as JSON lines into a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("wastesvc.access")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield buffer
    logger.removeHandler(handler)
    logger.setLevel(level)


def _scrape(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the server's /metrics page, keyed by name and sorted labels."""
    assert api.service.metrics_server is not None
    response = httpx.get(f"http://127.0.0.1:{api.service.metrics_server.port}/metrics", timeout=5)
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _readings(count: int, start: datetime, base: float = 0.1) -> readings_pb2.BatchCreateReadingsRequest:
    requests = []
    for i in range(count):
        stamp = timestamp_pb2.Timestamp()
        stamp.FromDatetime(start + timedelta(hours=i))
        requests.append(
            readings_pb2.CreateReadingRequest(
                parent=f"{TENANT}/containers/c1",
                reading=readings_pb2.Reading(measure_time=stamp, fill_fraction=base + i / (20 * count)),
            )
        )
    return readings_pb2.BatchCreateReadingsRequest(requests=requests)


async def test_rpc_counts_codes_and_ingest_are_scraped(api: Api, settings: Settings) -> None:
    """After real calls the endpoint reports each method by code, latencies, and the readings stored."""
    await create_container(api, "c1")
    start = datetime.now(UTC) - timedelta(days=1)
    first = await api.readings.BatchCreateReadings(_readings(12, start))
    again = await api.readings.BatchCreateReadings(_readings(12, start))  # the same readings: duplicates
    assert (first.stored_count, again.stored_count) == (12, 0)
    for _ in range(3):
        await api.containers.GetContainer(containers_pb2.GetContainerRequest(name=f"{TENANT}/containers/c1"))
    with pytest.raises(grpc.aio.AioRpcError):
        await api.containers.ListContainers(containers_pb2.ListContainersRequest(parent=OTHER_TENANT))
    async with grpc.aio.insecure_channel(api.address) as bare:
        with pytest.raises(grpc.aio.AioRpcError):
            await containers_pb2_grpc.ContainerServiceStub(bare).ListContainers(
                containers_pb2.ListContainersRequest(parent=TENANT)
            )

    samples = _scrape(api)
    assert samples[("wastesvc_rpc_requests_total", (("code", "OK"), ("method", GET)))] == 3
    assert samples[("wastesvc_rpc_requests_total", (("code", "OK"), ("method", BATCH)))] == 2
    denied = ("wastesvc_rpc_requests_total", (("code", "PERMISSION_DENIED"), ("method", LIST)))
    unauthenticated = ("wastesvc_rpc_requests_total", (("code", "UNAUTHENTICATED"), ("method", LIST)))
    assert samples[denied] == 1
    assert samples[unauthenticated] == 1
    assert samples[("wastesvc_rpc_duration_seconds_count", (("code", "OK"), ("method", GET)))] == 3
    assert samples[("wastesvc_rpc_duration_seconds_sum", (("code", "OK"), ("method", GET)))] > 0
    labels = (("method", "BatchCreateReadings"), ("tenant", "grand-soissons"))
    stored = ("wastesvc_readings_stored_total", labels)
    assert samples[stored] == 12


async def test_solve_time_and_queue_depth(api: Api) -> None:
    """A finished plan is one observed solve, and the queue is empty again."""
    await create_fleet(api)
    await create_container(api, "c1")
    await api.readings.BatchCreateReadings(_readings(3, datetime.now(UTC) - timedelta(hours=4), base=0.9))
    request = planning_pb2.OptimizeRoutesRequest(parent=TENANT)
    today = datetime.now(UTC).date()
    request.service_date.year, request.service_date.month, request.service_date.day = (
        today.year,
        today.month,
        today.day,
    )
    request.options.time_limit.FromSeconds(1)
    request.options.fill_threshold = 0.7
    operation = await api.planning.OptimizeRoutes(request)
    while not operation.done:
        operation = await api.operations.WaitOperation(
            operations_pb2.WaitOperationRequest(name=operation.name, timeout={"seconds": 5})
        )
    assert not operation.HasField("error"), operation.error
    samples = _scrape(api)
    assert samples[("wastesvc_solve_seconds_count", ())] == 1
    assert samples[("wastesvc_solves_running", ())] == 0
    assert not [key for key in samples if key[0] == "wastesvc_planning_operations_unfinished"]


async def test_access_log_is_json_with_request_id_and_no_secret(
    api: Api, settings: Settings, access_lines: io.StringIO
) -> None:
    """One JSON line per call: the caller's request id, tenant, method, code, duration; never the token."""
    await create_container(api, "c1")
    call = api.containers.GetContainer(
        containers_pb2.GetContainerRequest(name=f"{TENANT}/containers/c1"),
        metadata=(("x-request-id", "req-42"),),
    )
    await call
    assert ("x-request-id", "req-42") in tuple(await call.initial_metadata())
    forged = token(settings) + "x"
    async with open_channel(api.address, settings, forged) as channel:
        with pytest.raises(grpc.aio.AioRpcError):
            await containers_pb2_grpc.ContainerServiceStub(channel).GetContainer(
                containers_pb2.GetContainerRequest(name=f"{TENANT}/containers/c1")
            )
    text = access_lines.getvalue()
    entries = [json.loads(line) for line in text.splitlines()]
    ours = [e for e in entries if e.get("request_id") == "req-42"]
    assert len(ours) == 1
    assert ours[0]["tenant"] == "grand-soissons"
    assert (ours[0]["method"], ours[0]["code"]) == (GET, "OK")
    assert ours[0]["duration_ms"] > 0
    assert {"time", "level", "logger", "message"} <= set(ours[0])
    refused = [e for e in entries if e["code"] == "UNAUTHENTICATED"]
    assert len(refused) == 1
    assert len(refused[0]["request_id"]) == 32  # generated when the caller sends none
    assert forged not in text
    assert forged.split(".")[0] not in text


def test_redact_masks_tokens_and_database_passwords() -> None:
    """Bearer tokens, bare JWTs and passwords of database URLs never reach a log line."""
    jwt_text = "eyJhbGciOiJIUzI1NiJ9.eyJ0ZW5hbnQiOiJ4In0.c2lnbmF0dXJl"
    line = redact(
        f"authorization: Bearer {jwt_text}; db postgresql://wastesvc:s3cret@db:5432/w; "
        f"dsn host=db password=hunter2 user=w; raw {jwt_text}"
    )
    for secret in ("s3cret", "hunter2", jwt_text, "c2lnbmF0dXJl"):
        assert secret not in line
    assert "postgresql://wastesvc:***@db:5432/w" in line


async def test_unresolved_alerts_are_scraped(api: Api) -> None:
    """A reading with a low battery raises an alert, which the endpoint counts by tenant, kind and state."""
    await create_container(api, "c1")
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(datetime.now(UTC) - timedelta(hours=1))
    await api.readings.CreateReading(
        readings_pb2.CreateReadingRequest(
            parent=f"{TENANT}/containers/c1",
            reading=readings_pb2.Reading(measure_time=stamp, fill_fraction=0.3, battery_percent=3.0),
        )
    )
    # Assessed after the answer: a listing waits for it (the scrape does not).
    await alerts_pb2_grpc.AlertServiceStub(api.channel).ListAlerts(
        alerts_pb2.ListAlertsRequest(parent=TENANT)
    )
    samples = _scrape(api)
    key = (
        "wastesvc_alerts_unresolved",
        (("kind", "low_battery"), ("state", "open"), ("tenant", "grand-soissons")),
    )
    assert samples[key] == 1
