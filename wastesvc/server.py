"""The gRPC server: wiring of storage, planner and servicers; health, reflection, graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
from dataclasses import dataclass
from pathlib import Path

import grpc
from google.longrunning import operations_pb2, operations_pb2_grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from sqlalchemy.engine import make_url

import routing
from wastesvc.auth import AuthInterceptor, load_key
from wastesvc.board import start_board
from wastesvc.config import Settings
from wastesvc.domain._common import set_page_token_key
from wastesvc.jobs import JobQueue
from wastesvc.metrics import (
    MeteredSolverPool,
    Metrics,
    MetricsServer,
    SolveMetrics,
    start_metrics_server,
)
from wastesvc.monitor import AlertHub, Monitor
from wastesvc.planner import Planner
from wastesvc.servicers.alerts import AlertServicer
from wastesvc.servicers.containers import ContainerServicer
from wastesvc.servicers.dispatch import DispatchServicer
from wastesvc.servicers.fleet import FleetServicer
from wastesvc.servicers.incidents import IncidentServicer
from wastesvc.servicers.observations import ObservationServicer
from wastesvc.servicers.operations import OperationsServicer
from wastesvc.servicers.planning import PlanningServicer
from wastesvc.servicers.policies import SelectionPolicyServicer
from wastesvc.servicers.readings import ReadingServicer
from wastesvc.solver_pool import SolverPool
from wastesvc.storage import DispatchStore, Storage, open_storage
from wastesvc.telemetry import TelemetryInterceptor
from wastesvc.v1 import (
    alerts_pb2,
    alerts_pb2_grpc,
    containers_pb2,
    containers_pb2_grpc,
    dispatch_pb2,
    dispatch_pb2_grpc,
    fleet_pb2,
    fleet_pb2_grpc,
    incidents_pb2,
    incidents_pb2_grpc,
    observations_pb2,
    observations_pb2_grpc,
    planning_pb2,
    planning_pb2_grpc,
    policies_pb2,
    policies_pb2_grpc,
    readings_pb2,
    readings_pb2_grpc,
)

__all__ = [
    "SERVICE_NAMES",
    "ListenError",
    "Service",
    "check_address",
    "create_server",
    "database_label",
    "make_planner",
    "serve",
]

log = logging.getLogger(__name__)

SERVICE_NAMES = (
    containers_pb2.DESCRIPTOR.services_by_name["ContainerService"].full_name,
    fleet_pb2.DESCRIPTOR.services_by_name["FleetService"].full_name,
    readings_pb2.DESCRIPTOR.services_by_name["ReadingService"].full_name,
    observations_pb2.DESCRIPTOR.services_by_name["ObservationService"].full_name,
    planning_pb2.DESCRIPTOR.services_by_name["PlanningService"].full_name,
    operations_pb2.DESCRIPTOR.services_by_name["Operations"].full_name,
    dispatch_pb2.DESCRIPTOR.services_by_name["DispatchService"].full_name,
    alerts_pb2.DESCRIPTOR.services_by_name["AlertService"].full_name,
    incidents_pb2.DESCRIPTOR.services_by_name["IncidentService"].full_name,
    policies_pb2.DESCRIPTOR.services_by_name["SelectionPolicyService"].full_name,
)
# PDFs of a big day's sheets exceed gRPC's 4 MiB default.
_MAX_MESSAGE = 64 * 1024 * 1024
# The largest legitimate request is a batch of 1000 observations with every string at its limit: 7 MiB
# when each of those characters takes four bytes (tests/test_api_observations.py); only responses (route
# sheets) need more.
_MAX_REQUEST = 8 * 1024 * 1024


class ListenError(OSError):
    """The server cannot listen on its address (taken by another server, or not a local address)."""


@dataclass
class Service:
    """A running server and what it owns, so tests and the CLI can stop it cleanly."""

    server: grpc.aio.Server
    port: int
    storage: Storage
    planner: Planner
    health: health.aio.HealthServicer
    metrics: Metrics
    metrics_server: MetricsServer | None = None
    checks: asyncio.Task[None] | None = None  # the monitor's assessment rounds and periodic sensor check

    async def stop(self, grace_s: float | None) -> None:
        for name in (*SERVICE_NAMES, ""):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        if self.checks is not None:
            self.checks.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.checks
        await self.planner.shutdown()
        await self.server.stop(grace_s)
        if self.planner.queue is not None:
            self.planner.queue.close()
        if self.metrics_server is not None:
            await asyncio.to_thread(self.metrics_server.stop)
        self.storage.close()


def _server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS when a certificate is configured, mutual TLS when a client CA is too; None for plaintext."""
    if not settings.tls_cert_file:
        return None
    chain = Path(settings.tls_cert_file).read_bytes()
    private_key = Path(settings.tls_key_file).read_bytes()
    client_ca = Path(settings.tls_client_ca_file).read_bytes() if settings.tls_client_ca_file else None
    return grpc.ssl_server_credentials(
        [(private_key, chain)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


async def create_server(address: str, settings: Settings | None = None) -> tuple[Service, int]:
    """Builds and starts the server on `address` ("host:0" picks a free port); returns it and its port.

    The port is bound first, so a server refused for a taken port has not opened nor changed any database.

    Raises
    ------
    ListenError
        The address is already in use or cannot be bound.
    """
    settings = settings or Settings()
    key = await asyncio.to_thread(load_key, settings.auth_key_file)
    metrics = Metrics()
    set_page_token_key(key)
    server = grpc.aio.server(
        # Telemetry first: it then sees the status of calls the auth interceptor refuses.
        interceptors=[TelemetryInterceptor(metrics), AuthInterceptor(key)],
        options=[
            ("grpc.max_send_message_length", _MAX_MESSAGE),
            ("grpc.max_receive_message_length", _MAX_REQUEST),
            # grpc-python sets SO_REUSEPORT by default: a second server on a busy port would start and the
            # kernel would split the clients between two databases. Without it, the bind fails.
            ("grpc.so_reuseport", 0),
        ],
    )
    port = _bind(server, address, _server_credentials(settings))
    try:
        service = await _start(server, port, settings, metrics)
    except BaseException:
        # A bound gRPC server holds its port until it has been started and stopped, even if never served.
        with contextlib.suppress(Exception):  # it may have started already
            await server.start()
        await server.stop(None)
        raise
    return service, port


def database_label(db_url: str) -> str:
    """The database URL as it may be logged: without its password."""
    return make_url(db_url).render_as_string(hide_password=True)


def check_address(address: str) -> None:
    """Refuse `address` when another socket already listens on it.

    gRPC's own bind error says only that binding failed; this names the reason, and lets a caller refuse
    before it touches anything (the demo resets its database only after this check).

    Raises
    ------
    ListenError
        The address is already in use.
    """
    if _in_use(address):
        raise ListenError(f"cannot listen on {address}: the address is already in use")


def _bind(server: grpc.aio.Server, address: str, credentials: grpc.ServerCredentials | None) -> int:
    check_address(address)
    try:
        if credentials is not None:
            return server.add_secure_port(address, credentials)
        return server.add_insecure_port(address)
    except RuntimeError:
        raise ListenError(
            f"cannot listen on {address}: gRPC could not bind it (its log line above says why)"
        ) from None


def _in_use(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        infos = socket.getaddrinfo(
            host.strip("[]") or None, int(port), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except (OSError, ValueError):
        return False  # gRPC judges the address itself
    for family, kind, proto, _, sockaddr in infos:
        try:
            with socket.socket(family, kind, proto) as probe:
                # As gRPC does: a port left in TIME_WAIT by a stopped server is free.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(sockaddr)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
    return False


def make_planner(storage: Storage, settings: Settings, metrics: SolveMetrics | None = None) -> Planner:
    """The planner of a replica or a solver worker; with `job_broker_url` its operations go to the queue.

    With `metrics` (a replica's or a worker's), its solves are timed there.
    """
    queue = JobQueue(settings.job_broker_url, settings.job_queue) if settings.job_broker_url else None
    pool = SolverPool(settings.solver_processes)
    if metrics is not None:
        pool = MeteredSolverPool(settings.solver_processes, metrics)
    return Planner(
        storage,
        pool,
        default_time_limit_s=settings.solver_time_limit_s,
        timezone=settings.timezone,
        road_matrix=routing.OsrmMatrix(settings.osrm_url) if settings.osrm_url else None,
        queue=queue,
    )


async def _start(server: grpc.aio.Server, port: int, settings: Settings, metrics: Metrics) -> Service:
    storage = await asyncio.to_thread(open_storage, settings.db_url)
    metrics.watch_storage(storage)
    planner = await asyncio.to_thread(make_planner, storage, settings, metrics)
    closed = await asyncio.to_thread(planner.close_interrupted)
    if closed:
        log.warning("closed %d planning operation(s) interrupted by the previous shutdown", closed)

    hub = AlertHub()
    monitor = Monitor(
        storage, hub, check_interval_s=settings.sensor_check_s, round_interval_s=settings.assess_interval_s
    )
    containers_pb2_grpc.add_ContainerServiceServicer_to_server(ContainerServicer(storage, monitor), server)
    fleet_pb2_grpc.add_FleetServiceServicer_to_server(FleetServicer(storage), server)
    readings_pb2_grpc.add_ReadingServiceServicer_to_server(ReadingServicer(storage, monitor), server)
    observations_pb2_grpc.add_ObservationServiceServicer_to_server(
        ObservationServicer(storage, monitor), server
    )
    dispatch = DispatchStore(storage.engine)
    roads = routing.OsrmRoutes(settings.osrm_url) if settings.osrm_url else None
    planning = PlanningServicer(storage, planner, dispatch, roads, monitor)
    planning_pb2_grpc.add_PlanningServiceServicer_to_server(planning, server)
    dispatch_pb2_grpc.add_DispatchServiceServicer_to_server(
        DispatchServicer(storage, dispatch, planning, planner, roads), server
    )
    operations_pb2_grpc.add_OperationsServicer_to_server(OperationsServicer(storage, planner), server)
    alerts_pb2_grpc.add_AlertServiceServicer_to_server(AlertServicer(storage, hub, monitor), server)
    incidents_pb2_grpc.add_IncidentServiceServicer_to_server(IncidentServicer(storage), server)
    policies_pb2_grpc.add_SelectionPolicyServiceServicer_to_server(SelectionPolicyServicer(storage), server)

    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )

    metrics_server = None
    if settings.metrics_listen:
        metrics_server = await asyncio.to_thread(start_metrics_server, settings.metrics_listen, metrics)
        log.info(
            "metrics on http://%s:%d/metrics", settings.metrics_listen.rsplit(":", 1)[0], metrics_server.port
        )
    await server.start()
    for name in (*SERVICE_NAMES, ""):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return Service(
        server,
        port,
        storage,
        planner,
        health_servicer,
        metrics,
        metrics_server,
        asyncio.create_task(monitor.run()),
    )


async def serve(settings: Settings, *, on_ready: object = None) -> None:
    """Runs until SIGTERM or SIGINT, then drains in-flight calls for `grace_s` seconds."""
    service, port = await create_server(settings.listen, settings)
    host = settings.listen.rsplit(":", 1)[0]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # Said once a stop signal drains the calls: whoever waits for this line may send one at once.
    log.info("wastesvc listening on %s:%d (database %s)", host, port, database_label(settings.db_url))
    board = (
        await start_board(settings.board_listen, f"{host}:{port}", settings)
        if settings.board_listen
        else None
    )
    if board is not None:
        log.info("operations board on %s", board.url)
    if callable(on_ready):
        await on_ready(f"{host}:{port}")
    await stop.wait()
    log.info("shutting down: draining calls for up to %.0f s", settings.grace_s)
    if board is not None:
        await board.stop()
    await service.stop(settings.grace_s)
