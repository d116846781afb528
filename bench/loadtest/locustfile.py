"""The load mix against a running wastesvc, two tenants at once (run by `bench.loadtest`, `make loadtest`).

Gateways ingest batches of readings, dispatchers read containers, readings, vehicles and plans, one planner
per tenant asks for a plan every few minutes and follows it to the end, and an intruder keeps trying the
other tenant's resources, which must all be refused. Every request fires locust's ``request`` event from
`_call` (REFERENCE §8: the sync stub under gevent); a refused cross-tenant request counts as a success
only when its code is PERMISSION_DENIED, so any leak shows up as a failure.

Settings come from the environment: ``WASTESVC_AUTH_KEY_FILE`` (the server's key, to mint tokens),
``WASTESVC_LOAD_PLAN_EVERY_S`` (seconds between a planner's plans) and ``WASTESVC_LOAD_SOLVER_S`` (the
solver budget of each plan).
"""

from __future__ import annotations

import itertools
import os
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import grpc
import grpc.experimental.gevent as grpc_gevent
from google.longrunning import operations_pb2, operations_pb2_grpc
from google.protobuf import timestamp_pb2
from google.type import date_pb2
from locust import User, between, constant, task

from wastesvc.auth import ROLES, issue_token, load_key
from wastesvc.scenario import load_builtin
from wastesvc.v1 import (
    containers_pb2,
    containers_pb2_grpc,
    fleet_pb2,
    fleet_pb2_grpc,
    planning_pb2,
    planning_pb2_grpc,
    readings_pb2,
    readings_pb2_grpc,
)

# gRPC's own threads would block gevent's loop; this makes the sync stub cooperate with it.
grpc_gevent.init_gevent()

TENANTS = ("grand-soissons", "champagne-picarde")
CONTAINERS = {tenant: [c.id for c in load_builtin(tenant).containers] for tenant in TENANTS}
PLAN_EVERY_S = float(os.environ.get("WASTESVC_LOAD_PLAN_EVERY_S", "180"))
SOLVER_S = float(os.environ.get("WASTESVC_LOAD_SOLVER_S", "10"))
BATCH = 20
_KEY = load_key(os.environ.get("WASTESVC_AUTH_KEY_FILE", "var/auth.key"))
_next_tenant = itertools.cycle(TENANTS)
_gateway_slots = itertools.count()
# The API replicas (comma-separated); empty: locust's --host alone.
HOSTS = [h for h in os.environ.get("WASTESVC_LOAD_HOSTS", "").split(",") if h]
_next_replica = itertools.count()
_STUBS: dict[str, Callable[[grpc.Channel], Any]] = {
    "containers": containers_pb2_grpc.ContainerServiceStub,
    "readings": readings_pb2_grpc.ReadingServiceStub,
    "fleet": fleet_pb2_grpc.FleetServiceStub,
    "planning": planning_pb2_grpc.PlanningServiceStub,
    "operations": operations_pb2_grpc.OperationsStub,
}


def _token(tenant: str, role: str) -> str:
    return issue_token(_KEY, tenant=tenant, scopes=ROLES[role], subject=f"locust-{role}", ttl_s=6 * 3600)


class _GrpcUser(User):
    """A client of one tenant with its token; tenants alternate between users, and so do replicas.

    A call that finds its replica gone (UNAVAILABLE) is sent once to the next replica, as a load balancer
    would; it counts as one request with the outcome of that retry.
    """

    abstract = True
    role = "operator"

    def on_start(self) -> None:
        self.tenant = next(_next_tenant)
        self.other = TENANTS[1 - TENANTS.index(self.tenant)]
        self.hosts = HOSTS or [self.host or "127.0.0.1:50051"]
        self.channel: grpc.Channel | None = None
        self._connect(next(_next_replica))
        self.metadata = (("authorization", f"Bearer {_token(self.tenant, self.role)}"),)

    def _connect(self, replica: int) -> None:
        if self.channel is not None:
            self.channel.close()
        self.replica = replica % len(self.hosts)
        self.channel = grpc.insecure_channel(self.hosts[self.replica])
        self.stubs = {service: stub(self.channel) for service, stub in _STUBS.items()}

    def on_stop(self) -> None:
        if self.channel is not None:
            self.channel.close()

    def _send(self, service: str, method: str, request: Any) -> Any:
        for attempt in range(len(self.hosts)):
            try:
                return getattr(self.stubs[service], method)(request, metadata=self.metadata, timeout=30)
            except grpc.RpcError as exc:
                if exc.code() is not grpc.StatusCode.UNAVAILABLE or attempt + 1 == len(self.hosts):
                    raise
                self._connect(self.replica + 1)
        raise AssertionError("unreachable")

    def _call(
        self,
        name: str,
        service: str,
        request: Any,
        *,
        expect: grpc.StatusCode = grpc.StatusCode.OK,
    ) -> Any:
        """One request, timed and reported; a status other than `expect` is a failure."""
        began = time.perf_counter()
        response: Any = None
        error: Exception | None = None
        try:
            response = self._send(service, name.rsplit(" ", 1)[-1], request)
            if expect is not grpc.StatusCode.OK:
                error = AssertionError(f"expected {expect.name}, the call succeeded")
        except grpc.RpcError as exc:
            code = exc.code()
            if code is not expect:
                error = AssertionError(f"{code.name}: {exc.details()}")
        self.environment.events.request.fire(
            request_type="grpc",
            name=name,
            response_time=(time.perf_counter() - began) * 1000,
            response_length=response.ByteSize() if response is not None else 0,
            exception=error,
            context={"tenant": self.tenant},
        )
        return response if error is None else None


def _reading(tenant: str, container_id: str, when: datetime) -> readings_pb2.CreateReadingRequest:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return readings_pb2.CreateReadingRequest(
        parent=f"tenants/{tenant}/containers/{container_id}",
        reading=readings_pb2.Reading(measure_time=stamp, fill_fraction=round(random.random(), 3)),
    )


class GatewayUser(_GrpcUser):
    """A LoRaWAN gateway or vendor platform: batches of readings for its tenant's containers."""

    weight = 4
    role = "gateway"
    wait_time = between(1, 2)

    def on_start(self) -> None:
        super().on_start()
        # Readings are keyed to the millisecond and gevent runs the gateways back to back, so two of them
        # would often stamp the same container in the same millisecond with different fills: a conflict no
        # real sensor makes. Each gateway reports on its own millisecond of the second instead.
        self.slot = timedelta(milliseconds=next(_gateway_slots) % 1000)

    @task
    def ingest(self) -> None:
        now = datetime.now(UTC).replace(microsecond=0) + self.slot
        picked = random.sample(CONTAINERS[self.tenant], BATCH)
        request = readings_pb2.BatchCreateReadingsRequest(
            requests=[_reading(self.tenant, c, now) for c in picked]
        )
        response = self._call("BatchCreateReadings", "readings", request)
        if response is not None and response.rejected_count:
            self._call_failed("BatchCreateReadings rejected", f"{response.rejected_count} rejected")

    def _call_failed(self, name: str, message: str) -> None:
        self.environment.events.request.fire(
            request_type="grpc",
            name=name,
            response_time=0,
            response_length=0,
            exception=AssertionError(message),
        )


class DispatchUser(_GrpcUser):
    """Fleet dispatch: browses containers, their readings, the fleet and the plans."""

    weight = 3
    role = "dispatch"
    wait_time = between(1, 3)

    def on_start(self) -> None:
        super().on_start()
        self.parent = f"tenants/{self.tenant}"

    def _container(self) -> str:
        return f"{self.parent}/containers/{random.choice(CONTAINERS[self.tenant])}"

    @task(3)
    def list_containers(self) -> None:
        request = containers_pb2.ListContainersRequest(parent=self.parent, page_size=100)
        self._call("ListContainers", "containers", request)

    @task(4)
    def get_container(self) -> None:
        request = containers_pb2.GetContainerRequest(name=self._container())
        self._call("GetContainer", "containers", request)

    @task(3)
    def list_readings(self) -> None:
        request = readings_pb2.ListReadingsRequest(parent=self._container(), page_size=20)
        self._call("ListReadings", "readings", request)

    @task(1)
    def list_vehicles(self) -> None:
        request = fleet_pb2.ListVehiclesRequest(parent=self.parent)
        self._call("ListVehicles", "fleet", request)

    @task(1)
    def list_plans(self) -> None:
        request = planning_pb2.ListRoutePlansRequest(parent=self.parent, page_size=10)
        self._call("ListRoutePlans", "planning", request)


class PlannerUser(_GrpcUser):
    """The operator of one tenant: plans today every few minutes and follows the operation to its end."""

    fixed_count = 2  # one per tenant
    role = "operator"
    wait_time = constant(PLAN_EVERY_S)

    @task
    def plan(self) -> None:
        today = datetime.now(ZoneInfo("Europe/Paris")).date()
        request = planning_pb2.OptimizeRoutesRequest(
            parent=f"tenants/{self.tenant}",
            service_date=date_pb2.Date(year=today.year, month=today.month, day=today.day),
            request_id=str(uuid.uuid4()),
        )
        request.options.time_limit.FromSeconds(int(SOLVER_S))
        began = time.perf_counter()
        operation = self._call("OptimizeRoutes", "planning", request)
        while operation is not None and not operation.done:
            time.sleep(1.0)
            get = operations_pb2.GetOperationRequest(name=operation.name)
            operation = self._call("GetOperation", "operations", get)
        if operation is None:
            return
        error = AssertionError(operation.error.message) if operation.HasField("error") else None
        self.environment.events.request.fire(
            request_type="plan",
            name="plan finished",
            response_time=(time.perf_counter() - began) * 1000,
            response_length=0,
            exception=error,
        )


class IntruderUser(_GrpcUser):
    """A tenant's operator token aimed at the other tenant: every attempt must be PERMISSION_DENIED."""

    fixed_count = 1
    role = "operator"
    wait_time = between(1, 2)

    def on_start(self) -> None:
        super().on_start()
        self.target = f"tenants/{self.other}"

    def _denied(self, name: str, service: str, request: Any) -> None:
        self._call(f"cross-tenant {name}", service, request, expect=grpc.StatusCode.PERMISSION_DENIED)

    @task
    def list_their_containers(self) -> None:
        request = containers_pb2.ListContainersRequest(parent=self.target)
        self._denied("ListContainers", "containers", request)

    @task
    def get_their_container(self) -> None:
        name = f"{self.target}/containers/{random.choice(CONTAINERS[self.other])}"
        self._denied("GetContainer", "containers", containers_pb2.GetContainerRequest(name=name))

    @task
    def write_their_readings(self) -> None:
        reading = _reading(self.other, random.choice(CONTAINERS[self.other]), datetime.now(UTC))
        self._denied("CreateReading", "readings", reading)

    @task
    def list_their_vehicles(self) -> None:
        request = fleet_pb2.ListVehiclesRequest(parent=self.target)
        self._denied("ListVehicles", "fleet", request)
