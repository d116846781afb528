"""`python -m bench.faults`: the service under generated bad requests and under kill -9 during ingest.

Fuzz: hypothesis generates requests for every RPC of every service the server registers (the service
descriptors are walked, so new RPCs are covered without listing them): strings with NUL, 5 KB names,
forged tokens and filters, infinities and NaN, out-of-range timestamps and durations, unknown enum
numbers, half-valid resource names, batches of such items. Each reply must be a deliberate status, never
UNKNOWN or INTERNAL; the server must not exit; afterwards it must be SERVING, every stored record must
read back (every list and get), a fresh record must round-trip, and no reading may be orphaned.

Kill -9: readings are ingested batched or streamed, the server is killed with SIGKILL mid-flight and
restarted; every acknowledged reading must be stored, and re-sending everything must store no duplicate.

Writes `bench/results/robustness.json`: one record `{fuzz_requests, unknown_or_internal, crashes,
kill9_runs, acked_readings, lost_readings, duplicate_readings}`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
from google.longrunning import operations_pb2, operations_pb2_grpc
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.rpc import error_details_pb2
from google.type import date_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from bench._commit import measured_commit
from bench._server import TENANT, ServerProcess, fresh_postgres, start_server, token_for
from wastesvc.client import open_channel
from wastesvc.config import Settings
from wastesvc.server import SERVICE_NAMES
from wastesvc.v1 import (
    common_pb2,
    containers_pb2,
    containers_pb2_grpc,
    dispatch_pb2,
    dispatch_pb2_grpc,
    fleet_pb2,
    fleet_pb2_grpc,
    planning_pb2,
    planning_pb2_grpc,
    readings_pb2,
    readings_pb2_grpc,
)

__all__ = ["FuzzReport", "fuzz", "kill9", "main", "rpc_methods"]

RESULTS = Path(__file__).resolve().parent / "results" / "robustness.json"
PARENT = f"tenants/{TENANT}"
_BAD = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}

# Values that broke services before: names half right, forged tokens, odd filter escapes, NUL, huge text.
_NASTY_STRINGS = [
    "",
    PARENT,
    f"{PARENT}/containers/c0",
    f"{PARENT}/containers/-",
    f"{PARENT}/depots/ctm",
    f"{PARENT}/vehicles/v0",
    f"{PARENT}/facilities/f0",
    f"{PARENT}/routePlans/x",
    f"{PARENT}/operations/x",
    "tenants/other/containers/c0",
    "tenants/../containers/c0",
    "tenants/grand-soissons/containers/c0/readings/20260101T000000.000Z",
    "c0",
    "a\x00b",
    "x" * 5000,
    "é" * 300,
    "eyJrIjoxLCJjIjp7fX0",
    "eyJrIjpbInoiXSwiYyI6e319.AAAAAAAAAAAAAAAAAAAAAA",
    'isle = "\\u12"',
    'isle = "\\ud800"',
    'commune_code = "02722" AND stream = GLASS',
    "stream = 42",
    "sensor_id = ",
    "*",
    "name,create_time",
    "4b1c2a9e-0000-4000-8000-000000000001",
]
_EDGE_INTS = [0, 1, -1, 2**31 - 1, -(2**31), 2**62, 2**63 - 1, -(2**63), 253_402_300_800, 10**9, -(10**9)]
_EDGE_FLOATS = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    1e300,
    -1e300,
    float("inf"),
    float("-inf"),
    float("nan"),
    49.38,
    3.32,
]
_INT_RANGE = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


# Generated requests ------------------------------------------------------------------------------


# Plausible values for fields that gate everything else, so generated requests get past the name checks
# and reach the deeper validation half of the time.
_PLAUSIBLE = {
    "parent": [PARENT, f"{PARENT}/containers/c0", f"{PARENT}/containers/-"],
    "name": [
        f"{PARENT}/{c}/{i}"
        for c in ("containers", "depots", "vehicles", "facilities")
        for i in ("c0", "ctm", "v0", "f0")
    ],
    "home_depot": [f"{PARENT}/depots/ctm"],
    "vehicles": [f"{PARENT}/vehicles/v0"],
    "commune_code": ["02722"],
}


def remember_plausible(values: Mapping[str, list[str]]) -> None:
    """Adds names the seed created (a published plan, its routes and visits) to the plausible values."""
    for name, more in values.items():
        _PLAUSIBLE[name] = [*_PLAUSIBLE.get(name, []), *more]


def _plausible(f: FieldDescriptor) -> list[str] | None:
    if f.name in _PLAUSIBLE:
        return _PLAUSIBLE[f.name]
    if f.name.endswith("_id"):
        return ["x1", "c0", "S1", "new-1", "4b1c2a9e-0000-4000-8000-000000000001"]
    return None


def _scalar(f: FieldDescriptor) -> st.SearchStrategy[Any]:
    if f.type == FieldDescriptor.TYPE_STRING:
        text = st.text(st.characters(codec="utf-8"), max_size=40)
        plausible = _plausible(f)
        nasty = st.one_of(st.sampled_from(_NASTY_STRINGS), text)
        return nasty if plausible is None else st.one_of(st.sampled_from(plausible), nasty)
    if f.type == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    if f.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if f.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.one_of(st.sampled_from(_EDGE_FLOATS), st.floats(width=64 if f.type == 1 else 32))
    if f.type == FieldDescriptor.TYPE_ENUM:
        return st.integers(-3, 40)
    low, high = _INT_RANGE[f.type]
    return st.one_of(st.sampled_from([v for v in _EDGE_INTS if low <= v <= high]), st.integers(low, high))


def _nested(descriptor: Descriptor, depth: int) -> st.SearchStrategy[Any]:
    return st.deferred(lambda: message_strategy(descriptor, depth))


def message_strategy(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Any]:
    """Messages of `descriptor` with any subset of fields set to nasty or random values."""
    cls = message_factory.GetMessageClass(descriptor)
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for f in descriptor.fields:
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            continue
        if f.message_type is not None:
            if depth >= 3:
                continue
            value = _nested(f.message_type, depth + 1)
        else:
            value = _scalar(f)
        optional[f.name] = st.lists(value, max_size=4) if f.is_repeated else value

    def build(values: dict[str, Any]) -> Any:
        message = cls()
        for name, value in values.items():
            target = getattr(message, name) if descriptor.fields_by_name[name].is_repeated else None
            try:
                if target is not None and descriptor.fields_by_name[name].message_type is not None:
                    for item in value:
                        target.add().CopyFrom(item)
                elif target is not None:
                    target.extend(value)
                elif descriptor.fields_by_name[name].message_type is not None:
                    getattr(message, name).CopyFrom(value)
                else:
                    setattr(message, name, value)
            except (ValueError, TypeError):  # a value the client library itself refuses to encode
                pass
        return message

    return st.fixed_dictionaries({}, optional=optional).map(build)


# A valid-looking request with one to three fields made bad reaches the validation behind the name and
# required-field checks; fully random requests rarely get past those.
_WELL_KNOWN: dict[str, Callable[[Any], None]] = {
    "google.protobuf.Timestamp": lambda m: m.FromDatetime(datetime.now(UTC) - timedelta(hours=1)),
    "google.protobuf.Duration": lambda m: m.FromSeconds(60),
    "google.type.Date": lambda m: m.MergeFrom(type(m)(year=2026, month=12, day=2)),
    "google.type.TimeOfDay": lambda m: setattr(m, "hours", 8),
    "google.type.LatLng": lambda m: m.MergeFrom(type(m)(latitude=49.38, longitude=3.32)),
    "google.protobuf.FieldMask": lambda m: m.paths.append("*"),
}


def _plausible_scalar(f: FieldDescriptor) -> Any:
    if f.type == FieldDescriptor.TYPE_STRING:
        return (_plausible(f) or ["x1"])[0]
    if f.type == FieldDescriptor.TYPE_BYTES:
        return b"x"
    if f.type == FieldDescriptor.TYPE_BOOL:
        return False
    if f.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return 0.5
    return 1


def plausible(descriptor: Descriptor, depth: int = 0) -> Any:
    """A message of `descriptor` with every field set to an ordinary value (one item per list)."""
    message = message_factory.GetMessageClass(descriptor)()
    if descriptor.full_name in _WELL_KNOWN:
        _WELL_KNOWN[descriptor.full_name](message)
        return message
    for f in descriptor.fields:
        if f.containing_oneof is not None and f is not f.containing_oneof.fields[0]:
            continue
        if f.message_type is not None:
            if f.message_type.GetOptions().map_entry or depth >= 3:
                continue
            value = plausible(f.message_type, depth + 1)
            (getattr(message, f.name).add() if f.is_repeated else getattr(message, f.name)).CopyFrom(value)
        elif f.is_repeated:
            getattr(message, f.name).append(_plausible_scalar(f))
        else:
            setattr(message, f.name, _plausible_scalar(f))
    return message


def _leaves(descriptor: Descriptor, prefix: tuple[FieldDescriptor, ...] = (), depth: int = 0) -> list[Any]:
    """Paths (tuples of fields) to every scalar field reachable in a plausible message."""
    out = []
    for f in descriptor.fields:
        path = (*prefix, f)
        if f.message_type is None:
            out.append(path)
        elif not f.message_type.GetOptions().map_entry and depth < 3:
            out += _leaves(f.message_type, path, depth + 1)
    return out


def _set_leaf(message: Any, path: tuple[FieldDescriptor, ...], value: Any) -> None:
    for f in path[:-1]:
        container = getattr(message, f.name)
        message = (container[0] if len(container) else container.add()) if f.is_repeated else container
    last = path[-1]
    try:
        if last.is_repeated:
            target = getattr(message, last.name)
            del target[:]
            target.append(value)
        else:
            setattr(message, last.name, value)
    except (ValueError, TypeError):  # a value the client library itself refuses to encode
        pass


def mutated_strategy(descriptor: Descriptor) -> st.SearchStrategy[Any]:
    """A plausible request with one to three of its scalar fields set to nasty values."""
    leaves = _leaves(descriptor)

    @st.composite
    def draw(data: Any) -> Any:
        message = plausible(descriptor)
        for path in data(st.lists(st.sampled_from(leaves), min_size=1, max_size=3)):
            _set_leaf(message, path, data(_scalar(path[-1])))
        return message

    return draw() if leaves else message_strategy(descriptor)


def rpc_methods() -> list[MethodDescriptor]:
    """Every method of every service the server registers."""
    pool = descriptor_pool.Default()
    return [m for name in SERVICE_NAMES for m in pool.FindServiceByName(name).methods]


@dataclass
class FuzzReport:
    """What the fuzz saw: replies by status code, and the bad ones with their method and message."""

    codes: Counter[str] = field(default_factory=Counter)
    bad: list[str] = field(default_factory=list)
    crashes: int = 0

    @property
    def requests(self) -> int:
        return sum(self.codes.values())


def _caller(channel: grpc.Channel, method: MethodDescriptor) -> Callable[[Any, Any], Iterator[Any]]:
    path = f"/{method.containing_service.full_name}/{method.name}"
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    kwargs: dict[str, Any] = {
        "request_serializer": request_class.SerializeToString,
        "response_deserializer": response_class.FromString,
    }
    if method.client_streaming:
        stream = channel.stream_stream(path, **kwargs)
        return lambda request, metadata: iter(stream(iter([request, request]), metadata=metadata, timeout=20))
    unary = channel.unary_unary(path, **kwargs)
    return lambda request, metadata: iter([unary(request, metadata=metadata, timeout=20)])


def _fuzz_method(
    channel: grpc.Channel, method: MethodDescriptor, count: int, metadata: Any, report: FuzzReport
) -> None:
    call = _caller(channel, method)
    cancel = operations_pb2_grpc.OperationsStub(channel).CancelOperation

    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.one_of(mutated_strategy(method.input_type), message_strategy(method.input_type)))
    def one(request: Any) -> None:
        try:
            for reply in call(request, metadata):
                name = getattr(reply, "name", "")
                if method.name == "OptimizeRoutes" and name:  # keep the machine for the fuzz
                    cancel(operations_pb2.CancelOperationRequest(name=name), metadata=metadata, timeout=10)
            report.codes["OK"] += 1
        except grpc.RpcError as error:
            code = error.code()
            report.codes[code.name] += 1
            if code in _BAD or (code == grpc.StatusCode.RESOURCE_EXHAUSTED and not _deliberate_limit(error)):
                report.bad.append(f"{method.name}: {code.name} {error.details()} ← {request!r:.300}")

    one()


def _deliberate_limit(error: grpc.RpcError) -> bool:
    """RESOURCE_EXHAUSTED is deliberate for a request above the receive limit, or a cap that says when
    to retry; a reply too large for its headers (an error echoing its request) is not."""
    if "larger than max" in (error.details() or ""):
        return True
    status = rpc_status.from_call(error)
    return status is not None and any(d.Is(error_details_pb2.RetryInfo.DESCRIPTOR) for d in status.details)


def fuzz(server: ServerProcess, token: str, total: int) -> FuzzReport:
    """About `total` generated requests spread over every RPC; the report of what came back."""
    methods = rpc_methods()
    per_method = max(1, total // len(methods) + 1)
    report = FuzzReport()
    metadata = (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(server.address) as channel:
        for method in methods:
            _fuzz_method(channel, method, per_method, metadata, report)
            if server.process.poll() is not None:
                report.crashes += 1
                break
    return report


# Health and consistency after the fuzz ------------------------------------------------------------


def seed(address: str, token: str) -> None:
    """A small valid data set: a depot, a vehicle, a facility, containers with readings."""
    metadata = (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(address) as channel:
        fleet = fleet_pb2_grpc.FleetServiceStub(channel)
        containers = containers_pb2_grpc.ContainerServiceStub(channel)
        readings = readings_pb2_grpc.ReadingServiceStub(channel)
        depot = fleet_pb2.Depot(display_name="CTM")
        depot.location.latitude, depot.location.longitude = 49.37, 3.35
        fleet.CreateDepot(
            fleet_pb2.CreateDepotRequest(parent=PARENT, depot_id="ctm", depot=depot), metadata=metadata
        )
        vehicle = fleet_pb2.Vehicle(
            capacity_liters=12000,
            capacity_kg=8000,
            streams=[common_pb2.WASTE_STREAM_GLASS],
            home_depot=f"{PARENT}/depots/ctm",
        )
        vehicle.shift.start_time.hours, vehicle.shift.end_time.hours = 6, 13
        fleet.CreateVehicle(
            fleet_pb2.CreateVehicleRequest(parent=PARENT, vehicle_id="v0", vehicle=vehicle), metadata=metadata
        )
        facility = fleet_pb2.Facility(accepted_streams=[common_pb2.WASTE_STREAM_GLASS])
        facility.location.latitude, facility.location.longitude = 49.39, 3.36
        facility.opening_hours.start_time.hours, facility.opening_hours.end_time.hours = 5, 18
        fleet.CreateFacility(
            fleet_pb2.CreateFacilityRequest(parent=PARENT, facility_id="f0", facility=facility),
            metadata=metadata,
        )
        requests = []
        now = datetime.now(UTC).replace(microsecond=0)
        for i in range(10):
            container = containers_pb2.Container(
                commune_code="02722",
                stream=common_pb2.WASTE_STREAM_GLASS,
                volume_liters=3000,
                sensor_id=f"S{i}",
            )
            container.location.latitude, container.location.longitude = 49.38, 3.32 + i / 1000
            containers.CreateContainer(
                containers_pb2.CreateContainerRequest(
                    parent=PARENT, container_id=f"c{i}", container=container
                ),
                metadata=metadata,
            )
            reading = readings_pb2.Reading(fill_fraction=0.8)
            reading.measure_time.FromDatetime(now - timedelta(hours=1))
            requests.append(
                readings_pb2.CreateReadingRequest(parent=f"{PARENT}/containers/c{i}", reading=reading)
            )
        readings.BatchCreateReadings(
            readings_pb2.BatchCreateReadingsRequest(requests=requests), metadata=metadata
        )


def publish_day(address: str, token: str) -> dict[str, list[str]]:
    """Plans tomorrow on the seed and publishes it, so the dispatch RPCs meet a live day: the names of the
    plan, its routes and visits, as plausible values to fuzz with."""
    metadata = (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(address) as channel:
        return _published_plan(channel, metadata)


def _published_plan(channel: grpc.Channel, metadata: Any) -> dict[str, list[str]]:
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    request = planning_pb2.OptimizeRoutesRequest(
        parent=PARENT, service_date=date_pb2.Date(year=tomorrow.year, month=tomorrow.month, day=tomorrow.day)
    )
    request.options.time_limit.FromSeconds(2)
    request.options.fill_threshold = 0.01
    operation = planning_pb2_grpc.PlanningServiceStub(channel).OptimizeRoutes(request, metadata=metadata)
    operations = operations_pb2_grpc.OperationsStub(channel)
    deadline = time.monotonic() + 60
    while not operation.done and time.monotonic() < deadline:
        time.sleep(0.2)
        operation = operations.GetOperation(
            operations_pb2.GetOperationRequest(name=operation.name), metadata=metadata
        )
    plan = planning_pb2.RoutePlan()
    if not operation.response.Unpack(plan):
        raise RuntimeError(f"the seed day was not planned: {operation.error}")
    dispatch = dispatch_pb2_grpc.DispatchServiceStub(channel)
    plan = dispatch.PublishRoutePlan(dispatch_pb2.PublishRoutePlanRequest(name=plan.name), metadata=metadata)
    visits = [v.id for route in plan.routes for v in route.visits if v.id]
    return {
        "name": [plan.name, *(route.name for route in plan.routes)],
        "parent": [plan.name],
        "visit_id": visits,
    }


def check_consistent(address: str, token: str, db_url: str) -> list[str]:
    """Problems found reading everything back; empty when the server is healthy and its data sound."""
    problems: list[str] = []
    metadata = (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        if health.status != health_pb2.HealthCheckResponse.SERVING:
            problems.append(f"health {health.status}")
        fleet = fleet_pb2_grpc.FleetServiceStub(channel)
        containers = containers_pb2_grpc.ContainerServiceStub(channel)
        readings = readings_pb2_grpc.ReadingServiceStub(channel)
        try:
            listings: list[tuple[Any, Any, str]] = [
                (fleet.ListDepots, fleet_pb2.ListDepotsRequest, "depots"),
                (fleet.ListVehicles, fleet_pb2.ListVehiclesRequest, "vehicles"),
                (fleet.ListFacilities, fleet_pb2.ListFacilitiesRequest, "facilities"),
                (containers.ListContainers, containers_pb2.ListContainersRequest, "containers"),
            ]
            for lister, request, key in listings:
                token_ = ""
                while True:
                    page = lister(
                        request(parent=PARENT, page_size=1000, page_token=token_), metadata=metadata
                    )
                    for item in getattr(page, key):
                        if key == "containers":
                            readings.ListReadings(
                                readings_pb2.ListReadingsRequest(parent=item.name), metadata=metadata
                            )
                    token_ = page.next_page_token
                    if not token_:
                        break
            container = containers_pb2.Container(
                commune_code="02722", stream=common_pb2.WASTE_STREAM_GLASS, volume_liters=1000
            )
            container.location.latitude, container.location.longitude = 49.0, 3.0
            created = containers.CreateContainer(
                containers_pb2.CreateContainerRequest(
                    parent=PARENT, container_id="after-fuzz", container=container
                ),
                metadata=metadata,
            )
            if (
                containers.GetContainer(
                    containers_pb2.GetContainerRequest(name=created.name), metadata=metadata
                )
                != created
            ):
                problems.append("a container created after the fuzz does not read back")
        except grpc.RpcError as error:
            problems.append(f"reading back failed: {error.code().name} {error.details()}")
    engine = create_engine(db_url)
    with engine.connect() as connection:
        orphans = connection.execute(
            text(
                "SELECT count(*) FROM readings r LEFT JOIN containers c"
                " ON c.tenant = r.tenant AND c.id = r.container_id WHERE c.id IS NULL"
            )
        ).scalar_one()
    engine.dispose()
    if orphans:
        problems.append(f"{orphans} readings without their container")
    return problems


# Kill -9 during ingest --------------------------------------------------------------------------


@dataclass
class Kill9Run:
    acked: int
    lost: int
    duplicates: int


def _reading(container: str, when: datetime, fill: float) -> readings_pb2.CreateReadingRequest:
    reading = readings_pb2.Reading(fill_fraction=fill)
    reading.measure_time.FromDatetime(when)
    return readings_pb2.CreateReadingRequest(parent=container, reading=reading)


async def _ingest_until_killed(
    server: ServerProcess, token: str, streamed: bool, kill_after: int
) -> tuple[set[Any], list[Any]]:
    """Sends batches of 100 until `kill_after` readings are acknowledged, then kills the server."""
    acked: set[tuple[str, datetime]] = set()
    sent: list[readings_pb2.CreateReadingRequest] = []
    containers = [f"{PARENT}/containers/c{i}" for i in range(10)]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=5)
    # 100 readings per batch (10 seconds of 10 containers), far more than are sent before the kill.
    batches = [
        [
            _reading(c, start + timedelta(seconds=b), (b % 100) / 100)
            for b in range(k, k + 10)
            for c in containers
        ]
        for k in range(0, 20_000, 10)
    ]

    async with open_channel(server.address, Settings(), token) as channel:
        stub = readings_pb2_grpc.ReadingServiceStub(channel)

        async def batched() -> None:
            for batch in batches:
                sent.extend(batch)
                await stub.BatchCreateReadings(readings_pb2.BatchCreateReadingsRequest(requests=batch))
                acked.update((r.parent, r.reading.measure_time.ToDatetime(tzinfo=UTC)) for r in batch)

        async def stream() -> None:
            pending: dict[str, list[readings_pb2.CreateReadingRequest]] = {}

            async def chunks() -> Any:
                for k, batch in enumerate(batches):
                    pending[str(k)] = batch
                    sent.extend(batch)
                    yield readings_pb2.StreamReadingsRequest(chunk_id=str(k), requests=batch)
                    await asyncio.sleep(0)

            async for ack in stub.StreamReadings(chunks()):
                batch = pending.pop(ack.chunk_id)
                acked.update((r.parent, r.reading.measure_time.ToDatetime(tzinfo=UTC)) for r in batch)

        task = asyncio.create_task(stream() if streamed else batched())
        while len(acked) < kill_after and not task.done():
            await asyncio.sleep(0.005)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        with contextlib.suppress(grpc.aio.AioRpcError):
            await task
    return acked, sent


def _stored_keys(db: Path) -> list[tuple[str, str]]:
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as connection:
        keys = [
            (row[0], row[1])
            for row in connection.execute(text("SELECT container_id, measure_time FROM readings"))
        ]
    engine.dispose()
    return keys


async def kill9(workdir: Path, runs: int) -> list[Kill9Run]:
    """`runs` kill -9 runs, alternating batched and streamed ingest; lost and duplicated readings of each."""
    results = []
    for run in range(runs):
        db = workdir / f"kill{run}.db"
        key = workdir / f"kill{run}.key"
        server = start_server(f"sqlite:///{db}", key)
        token = token_for(key)
        seed(server.address, token)
        before = len(_stored_keys(db))
        acked, sent = await _ingest_until_killed(
            server, token, streamed=run % 2 == 1, kill_after=3000 + 1000 * run
        )
        server = start_server(f"sqlite:///{db}", key)
        stored = _stored_keys(db)
        stored_set = {
            (f"{PARENT}/containers/{cid}", datetime.fromisoformat(str(when)).replace(tzinfo=UTC))
            for cid, when in stored
        }
        lost = len(acked - stored_set)
        # Full re-delivery of everything sent (acknowledged or not): nothing may be stored twice.
        with grpc.insecure_channel(server.address) as channel:
            stub = readings_pb2_grpc.ReadingServiceStub(channel)
            metadata = (("authorization", f"Bearer {token}"),)
            for k in range(0, len(sent), 1000):
                stub.BatchCreateReadings(
                    readings_pb2.BatchCreateReadingsRequest(requests=sent[k : k + 1000]), metadata=metadata
                )
        server.stop()
        after = _stored_keys(db)
        distinct = {(r.parent, r.reading.measure_time.ToDatetime(tzinfo=UTC)) for r in sent}
        # Every reading sent is now stored once: more rows than keys would be duplicates.
        duplicates = len(after) - before - len(distinct)
        results.append(Kill9Run(acked=len(acked), lost=lost, duplicates=max(0, duplicates)))
        print(f"kill -9 run {run + 1} ({'streamed' if run % 2 else 'batched'}): {results[-1]}", flush=True)
    return results


def _fuzz_backend(
    backend: str, workdir: Path, requests: int, pg_database: str
) -> tuple[FuzzReport, list[str]]:
    """The fuzz on a fresh server over `backend`: its report and what was wrong afterwards."""
    url = f"sqlite:///{workdir / 'fuzz.db'}" if backend == "sqlite" else fresh_postgres(pg_database)
    if url is None:
        raise SystemExit(f"no PostgreSQL for the fuzz ({backend})")
    server = start_server(url, workdir / f"fuzz-{backend}.key")
    token = token_for(workdir / f"fuzz-{backend}.key")
    seed(server.address, token)
    remember_plausible(publish_day(server.address, token))
    report = fuzz(server, token, requests)
    problems = (
        check_consistent(server.address, token, url) if server.process.poll() is None else ["server exited"]
    )
    server.stop()
    print(f"fuzz on {backend}: {report.requests} requests, codes {dict(report.codes.most_common())}")
    for line in report.bad[:20]:
        print("  ", line)
    for problem in problems:
        print("   after the fuzz:", problem)
    return report, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=10_000, help="generated bad requests per backend, over every RPC"
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--kill9-runs", type=int, default=6, help="half batched, half streamed")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--pg-database", default="wastesvc_bench_faults", help="dropped and re-created")
    args = parser.parse_args(argv)
    backends = args.backends.split(",")
    reports, problems = [], []
    # Read before the servers start: the code they run, even if the checkout moves meanwhile.
    commit = measured_commit("wastesvc", "bench/faults.py")
    with tempfile.TemporaryDirectory(prefix="wastesvc-faults-") as tmp:
        workdir = Path(tmp)
        for backend in backends:
            report, found = _fuzz_backend(backend, workdir, args.requests, args.pg_database)
            reports.append(report)
            problems += found
        runs = asyncio.run(kill9(workdir, args.kill9_runs))
    record = {
        "fuzz_requests": sum(r.requests for r in reports),
        "unknown_or_internal": sum(len(r.bad) for r in reports),
        "crashes": sum(r.crashes for r in reports),
        "kill9_runs": len(runs),
        "acked_readings": sum(r.acked for r in runs),
        "lost_readings": sum(r.lost for r in runs),
        "duplicate_readings": sum(r.duplicates for r in runs),
        "fuzz_backends": backends,
        "commit": commit,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record))
    print(f"wrote {args.output}")
    failed = record["unknown_or_internal"] or record["crashes"] or problems or record["lost_readings"]
    return 1 if failed or record["duplicate_readings"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
