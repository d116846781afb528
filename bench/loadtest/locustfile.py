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


def _token(tenant: str, role: str) -> str:
    return issue_token(_KEY, tenant=tenant, scopes=ROLES[role], subject=f"locust-{role}", ttl_s=6 * 3600)


class _GrpcUser(User):
    """A client of one tenant with its own channel and token; tenants alternate between users."""

    abstract = True
    role = "operator"

    def on_start(self) -> None:
        self.tenant = next(_next_tenant)
        self.other = TENANTS[1 - TENANTS.index(self.tenant)]
        self.channel = grpc.insecure_channel(self.host or "127.0.0.1:50051")
        self.metadata = (("authorization", f"Bearer {_token(self.tenant, self.role)}"),)

    def on_stop(self) -> None:
        self.channel.close()

    def _call(
        self,
        name: str,
        method: Callable[..., Any],
        request: Any,
        *,
        expect: grpc.StatusCode = grpc.StatusCode.OK,
    ) -> Any:
        """One request, timed and reported; a status other than `expect` is a failure."""
        began = time.perf_counter()
        response: Any = None
        error: Exception | None = None
        try:
            response = method(request, metadata=self.metadata, timeout=30)
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
        self.readings = readings_pb2_grpc.ReadingServiceStub(self.channel)
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
        response = self._call("BatchCreateReadings", self.readings.BatchCreateReadings, request)
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
        self.containers = containers_pb2_grpc.ContainerServiceStub(self.channel)
        self.readings = readings_pb2_grpc.ReadingServiceStub(self.channel)
        self.fleet = fleet_pb2_grpc.FleetServiceStub(self.channel)
        self.planning = planning_pb2_grpc.PlanningServiceStub(self.channel)
        self.parent = f"tenants/{self.tenant}"

    def _container(self) -> str:
        return f"{self.parent}/containers/{random.choice(CONTAINERS[self.tenant])}"

    @task(3)
    def list_containers(self) -> None:
        request = containers_pb2.ListContainersRequest(parent=self.parent, page_size=100)
        self._call("ListContainers", self.containers.ListContainers, request)

    @task(4)
    def get_container(self) -> None:
        request = containers_pb2.GetContainerRequest(name=self._container())
        self._call("GetContainer", self.containers.GetContainer, request)

    @task(3)
    def list_readings(self) -> None:
        request = readings_pb2.ListReadingsRequest(parent=self._container(), page_size=20)
        self._call("ListReadings", self.readings.ListReadings, request)

    @task(1)
    def list_vehicles(self) -> None:
        request = fleet_pb2.ListVehiclesRequest(parent=self.parent)
        self._call("ListVehicles", self.fleet.ListVehicles, request)

    @task(1)
    def list_plans(self) -> None:
        request = planning_pb2.ListRoutePlansRequest(parent=self.parent, page_size=10)
        self._call("ListRoutePlans", self.planning.ListRoutePlans, request)


class PlannerUser(_GrpcUser):
    """The operator of one tenant: plans today every few minutes and follows the operation to its end."""

    fixed_count = 2  # one per tenant
    role = "operator"
    wait_time = constant(PLAN_EVERY_S)

    def on_start(self) -> None:
        super().on_start()
        self.planning = planning_pb2_grpc.PlanningServiceStub(self.channel)
        self.operations = operations_pb2_grpc.OperationsStub(self.channel)

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
        operation = self._call("OptimizeRoutes", self.planning.OptimizeRoutes, request)
        while operation is not None and not operation.done:
            time.sleep(1.0)
            get = operations_pb2.GetOperationRequest(name=operation.name)
            operation = self._call("GetOperation", self.operations.GetOperation, get)
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
        self.containers = containers_pb2_grpc.ContainerServiceStub(self.channel)
        self.readings = readings_pb2_grpc.ReadingServiceStub(self.channel)
        self.fleet = fleet_pb2_grpc.FleetServiceStub(self.channel)
        self.target = f"tenants/{self.other}"

    def _denied(self, name: str, method: Callable[..., Any], request: Any) -> None:
        self._call(f"cross-tenant {name}", method, request, expect=grpc.StatusCode.PERMISSION_DENIED)

    @task
    def list_their_containers(self) -> None:
        request = containers_pb2.ListContainersRequest(parent=self.target)
        self._denied("ListContainers", self.containers.ListContainers, request)

    @task
    def get_their_container(self) -> None:
        name = f"{self.target}/containers/{random.choice(CONTAINERS[self.other])}"
        self._denied(
            "GetContainer", self.containers.GetContainer, containers_pb2.GetContainerRequest(name=name)
        )

    @task
    def write_their_readings(self) -> None:
        reading = _reading(self.other, random.choice(CONTAINERS[self.other]), datetime.now(UTC))
        self._denied("CreateReading", self.readings.CreateReading, reading)

    @task
    def list_their_vehicles(self) -> None:
        request = fleet_pb2.ListVehiclesRequest(parent=self.target)
        self._denied("ListVehicles", self.fleet.ListVehicles, request)
