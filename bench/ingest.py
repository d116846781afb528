"""`python -m bench.ingest`: reading ingest throughput, batched / streamed / unary, SQLite and PostgreSQL.

Each path is measured against a real `wastesvc serve` process and, in the same run, against a no-op gRPC
server that takes the same messages and answers the same shape without storing anything: the ratio says
how much of what gRPC itself carries the service keeps. Client and servers share the machine.

Writes records `{path, backend, readings_per_s, noop_readings_per_s, server_cpu_us, noop_server_cpu_us}`
into `bench/results/ingest.json`, replacing only the records of the paths measured here (other benchmarks
write their own paths there). The CPU figures are each server process's CPU time per reading: unlike the
rates, they hardly move when something else shares the machine, and they say where a ratio's limit lies.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import psutil

from bench._server import TENANT, fresh_postgres, start_server, token_for
from wastesvc.client import open_channel
from wastesvc.config import Settings
from wastesvc.v1 import common_pb2, containers_pb2, containers_pb2_grpc, readings_pb2, readings_pb2_grpc

__all__ = ["PATHS", "main", "merge_records"]

RESULTS = Path(__file__).resolve().parent / "results" / "ingest.json"
PATHS = ("batch", "stream", "unary")
CONTAINERS = 100
BATCH = 1000
Requests = list[readings_pb2.CreateReadingRequest]


# The no-op server ------------------------------------------------------------------------------------


def _stored(count: int) -> list[common_pb2.ItemResult]:
    return [common_pb2.ItemResult(outcome=common_pb2.ITEM_OUTCOME_STORED) for _ in range(count)]


class _NoOp(readings_pb2_grpc.ReadingServiceServicer):
    """Takes the messages and answers the same shape, storing nothing."""

    async def CreateReading(self, request: Any, context: Any) -> readings_pb2.Reading:  # noqa: N802
        return request.reading  # type: ignore[no-any-return]

    async def BatchCreateReadings(  # noqa: N802
        self, request: Any, context: Any
    ) -> readings_pb2.BatchCreateReadingsResponse:
        count = len(request.requests)
        return readings_pb2.BatchCreateReadingsResponse(results=_stored(count), stored_count=count)

    async def ListReadings(self, request: Any, context: Any) -> readings_pb2.ListReadingsResponse:  # noqa: N802
        return readings_pb2.ListReadingsResponse()

    async def StreamReadings(  # noqa: N802
        self, request_iterator: AsyncIterator[readings_pb2.StreamReadingsRequest], context: Any
    ) -> AsyncIterator[readings_pb2.StreamReadingsResponse]:
        async for chunk in request_iterator:
            count = len(chunk.requests)
            yield readings_pb2.StreamReadingsResponse(
                chunk_id=chunk.chunk_id, stored_count=count, results=_stored(count)
            )


async def _serve_noop() -> None:
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 8 << 20)])
    readings_pb2_grpc.add_ReadingServiceServicer_to_server(_NoOp(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"no-op listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)
    await server.wait_for_termination()


# The load ------------------------------------------------------------------------------------------


def _requests(first: datetime, count: int) -> Requests:
    """`count` readings spread over the containers, one second apart per container, all in the past."""
    out = []
    for i in range(count):
        when = first + timedelta(seconds=i // CONTAINERS)
        reading = readings_pb2.Reading(fill_fraction=(i % 97) / 100, battery_percent=80.0)
        reading.measure_time.FromDatetime(when)
        out.append(
            readings_pb2.CreateReadingRequest(
                parent=f"tenants/{TENANT}/containers/c{i % CONTAINERS:03d}", reading=reading
            )
        )
    return out


async def _batched(stub: Any, requests: Requests, concurrency: int) -> None:
    chunks = [requests[i : i + BATCH] for i in range(0, len(requests), BATCH)]

    async def worker(mine: Sequence[Requests]) -> None:
        for chunk in mine:
            response = await stub.BatchCreateReadings(readings_pb2.BatchCreateReadingsRequest(requests=chunk))
            assert response.stored_count == len(chunk), response.rejected_count

    await asyncio.gather(*(worker(chunks[k::concurrency]) for k in range(concurrency)))


async def _streamed(stub: Any, requests: Requests, concurrency: int) -> None:
    chunks = [requests[i : i + BATCH] for i in range(0, len(requests), BATCH)]

    async def gateway(mine: Sequence[Requests]) -> None:
        async def send() -> AsyncIterator[readings_pb2.StreamReadingsRequest]:
            for k, chunk in enumerate(mine):
                yield readings_pb2.StreamReadingsRequest(chunk_id=str(k), requests=chunk)

        stored = 0
        async for ack in stub.StreamReadings(send()):
            stored += ack.stored_count
        assert stored == sum(len(c) for c in mine)

    await asyncio.gather(*(gateway(chunks[k::concurrency]) for k in range(concurrency)))


async def _unary(stub: Any, requests: Requests, concurrency: int) -> None:
    async def worker(mine: Requests) -> None:
        for request in mine:
            await stub.CreateReading(request)

    await asyncio.gather(*(worker(requests[k::concurrency]) for k in range(concurrency)))


_LOADS: dict[str, tuple[Callable[[Any, Requests, int], Awaitable[None]], int]] = {
    "batch": (_batched, 4),
    "stream": (_streamed, 2),
    "unary": (_unary, 32),
}


async def _rate(
    channel: grpc.aio.Channel, path: str, requests: Requests, server_pid: int
) -> tuple[float, float]:
    """Readings per second, and the server process's CPU microseconds per reading."""
    load, concurrency = _LOADS[path]
    stub = readings_pb2_grpc.ReadingServiceStub(channel)
    server = psutil.Process(server_pid)
    cpu_before = sum(server.cpu_times()[:2])
    started = time.perf_counter()
    await load(stub, requests, concurrency)
    elapsed = time.perf_counter() - started
    cpu = sum(server.cpu_times()[:2]) - cpu_before
    return len(requests) / elapsed, cpu / len(requests) * 1e6


async def _create_containers(channel: grpc.aio.Channel) -> None:
    stub = containers_pb2_grpc.ContainerServiceStub(channel)
    for i in range(CONTAINERS):
        container = containers_pb2.Container(
            commune_code="02722", stream=common_pb2.WASTE_STREAM_GLASS, volume_liters=3000
        )
        container.location.latitude, container.location.longitude = 49.38, 3.32
        await stub.CreateContainer(
            containers_pb2.CreateContainerRequest(
                parent=f"tenants/{TENANT}", container_id=f"c{i:03d}", container=container
            )
        )


async def _measure_backend(
    backend: str, db_url: str, workdir: Path, sizes: dict[str, int]
) -> list[dict[str, Any]]:
    key = workdir / f"{backend}.key"
    server = start_server(db_url, key)
    noop = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.ingest", "--noop", stderr=asyncio.subprocess.PIPE
    )
    assert noop.stderr is not None
    noop_address = (await noop.stderr.readline()).decode().split()[-1]
    records = []
    try:
        settings = Settings(auth_key_file=str(key))
        async with (
            open_channel(server.address, settings, token_for(key)) as channel,
            grpc.aio.insecure_channel(noop_address) as noop_channel,
        ):
            await _create_containers(channel)
            first = datetime.now(UTC).replace(microsecond=0) - timedelta(days=5)
            for path in PATHS:
                requests = _requests(first, sizes[path])
                first += timedelta(seconds=sizes[path] // CONTAINERS + 1)
                noop_rate, noop_cpu = await _rate(noop_channel, path, requests, noop.pid)
                rate, cpu = await _rate(channel, path, requests, server.process.pid)
                print(
                    f"{backend:10} {path:6} {rate:10.0f} readings/s (no-op {noop_rate:.0f}), "
                    f"server CPU {cpu:.1f} µs a reading (no-op {noop_cpu:.1f})",
                    flush=True,
                )
                records.append(
                    {
                        "path": path,
                        "backend": backend,
                        "readings_per_s": round(rate),
                        "noop_readings_per_s": round(noop_rate),
                        "server_cpu_us": round(cpu, 1),
                        "noop_server_cpu_us": round(noop_cpu, 1),
                    }
                )
    finally:
        noop.terminate()
        await noop.wait()
        server.stop()
    return records


def merge_records(existing: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of other paths kept, those of the measured (path, backend) pairs replaced."""
    measured = {(r["path"], r["backend"]) for r in new}
    return [r for r in existing if (r.get("path"), r.get("backend")) not in measured] + new


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--noop", action="store_true", help="run only the no-op server (used internally)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--batch", type=int, default=100_000, help="readings sent batched")
    parser.add_argument("--stream", type=int, default=100_000, help="readings sent streamed")
    parser.add_argument("--unary", type=int, default=5_000, help="readings sent one per call")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--pg-database", default="wastesvc_bench_ingest", help="PostgreSQL database (dropped and re-created)"
    )
    args = parser.parse_args(argv)
    if args.noop:
        asyncio.run(_serve_noop())
        return 0
    sizes = {"batch": args.batch, "stream": args.stream, "unary": args.unary}
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="wastesvc-ingest-") as tmp:
        workdir = Path(tmp)
        for backend in args.backends.split(","):
            url = (
                f"sqlite:///{workdir / 'ingest.db'}"
                if backend == "sqlite"
                else fresh_postgres(args.pg_database)
            )
            if url is None:
                continue
            records += asyncio.run(_measure_backend(backend, url, workdir, sizes))
    existing = json.loads(args.output.read_text()) if args.output.exists() else []
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(merge_records(existing, records), indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
