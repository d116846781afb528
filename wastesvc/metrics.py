"""Prometheus metrics of a server (`Metrics`) or a solver worker (`WorkerMetrics`), served over HTTP.

Each owns its registry, so several servers in one process (tests, a replica beside a demo) never share or
double-count series. Served only when `metrics_listen` is set (``host:port``; `wastesvc worker
--metrics-listen`), by prometheus-client's own HTTP server on a daemon thread.

Series (all prefixed ``wastesvc_``):

- ``rpc_requests_total{method, code}`` and ``rpc_duration_seconds{method, code}``: every RPC, counted by the
  interceptor in `wastesvc.telemetry` once its status is known (auth failures included);
- ``readings_stored_total{tenant, method}``: readings and observations the ingest RPCs report as stored
  (``rate()`` of it is the ingest rate);
- ``solve_seconds``: the solver's own time per solve; ``solves_running``: solves holding a solver slot
  or waiting for one in this process;
- ``planning_operations_unfinished{tenant}``: the planning queue depth, accepted operations not yet done,
  read from the database at scrape time so that every replica reports the shared queue;
- ``assessment_backlog`` and ``assessment_lag_seconds``: containers whose stored readings wait for their
  assessment (alerts, emptyings, forecast: `wastesvc.monitor`) and the age of the oldest such reading,
  read from the database at scrape time (every replica reports the shared backlog).

A solver worker serves ``solve_seconds`` and ``solves_running`` too, and:

- ``jobs_total{outcome}``: planning jobs run, ``succeeded`` or ``failed``; ``jobs_running``: jobs in this
  worker now;
- ``job_queue_depth{queue}``: jobs waiting in the RabbitMQ queue (ready messages), asked of the broker at
  scrape time, so every worker reports the shared queue.
"""

from __future__ import annotations

import threading
from collections import Counter as Tally
from collections.abc import Iterator
from datetime import UTC, datetime
from wsgiref.simple_server import WSGIServer

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

import routing
from wastesvc.jobs import JobQueue
from wastesvc.solver_pool import SolverPool
from wastesvc.storage import Storage

__all__ = [
    "MeteredSolverPool",
    "Metrics",
    "MetricsServer",
    "SolveMetrics",
    "WorkerMetrics",
    "start_metrics_server",
]

# RPC latencies run from sub-millisecond reads to multi-second batch ingests.
_RPC_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Solver budgets are 1 s to 600 s (`config.MAX_SOLVER_TIME_LIMIT_S`).
_SOLVE_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class _QueueCollector(Collector):
    """Unfinished planning operations per tenant, counted in the database when scraped."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "wastesvc_planning_operations_unfinished",
            "Planning operations accepted and not yet done (queued or solving), all replicas.",
            labels=["tenant"],
        )
        for tenant, count in sorted(
            Tally(row.tenant for row in self._storage.unfinished_operations()).items()
        ):
            family.add_metric([tenant], count)
        yield family


class _AlertsCollector(Collector):
    """Alerts not resolved per tenant, kind and state, counted in the database when scraped."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "wastesvc_alerts_unresolved",
            "Alerts open or acknowledged (not resolved), all replicas.",
            labels=["tenant", "kind", "state"],
        )
        for (tenant, kind, state), count in sorted(self._storage.unresolved_alert_counts().items()):
            family.add_metric([tenant, kind, state], count)
        yield family


class _AssessmentCollector(Collector):
    """Containers whose readings wait for their assessment, and how long the oldest has waited."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def collect(self) -> Iterator[GaugeMetricFamily]:
        backlog, oldest = self._storage.assessment_backlog()
        yield GaugeMetricFamily(
            "wastesvc_assessment_backlog",
            "Containers with stored readings not yet assessed (alerts, emptyings, forecast), all replicas.",
            value=backlog,
        )
        lag = 0.0 if oldest is None else max(0.0, (datetime.now(UTC) - oldest).total_seconds())
        yield GaugeMetricFamily(
            "wastesvc_assessment_lag_seconds",
            "Age of the oldest stored reading not yet assessed (0 when none waits), all replicas.",
            value=lag,
        )


class _JobQueueCollector(Collector):
    """Jobs waiting in the broker's queue, asked of RabbitMQ when scraped."""

    def __init__(self, queue: JobQueue) -> None:
        self._queue = queue

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "wastesvc_job_queue_depth",
            "Planning jobs waiting in the queue (not yet handed to a worker), all workers.",
            labels=["queue"],
        )
        depth = self._queue.depth()
        if depth is not None:  # broker unreachable or queue not declared yet: no sample, not a false 0
            family.add_metric([self._queue.queue], depth)
        yield family


class SolveMetrics:
    """The solver's instruments, in their own registry: what replicas and workers both report."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.solve_seconds = Histogram(
            "wastesvc_solve_seconds",
            "The route solver's own time per solve.",
            buckets=_SOLVE_BUCKETS,
            registry=self.registry,
        )
        self.solves_running = Gauge(
            "wastesvc_solves_running",
            "Solves in this process, running or waiting for a solver slot.",
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        """The current values in Prometheus' text format."""
        return prometheus_client.generate_latest(self.registry)


class WorkerMetrics(SolveMetrics):
    """The instruments of a solver worker (`wastesvc worker`)."""

    def __init__(self) -> None:
        super().__init__()
        self.jobs = Counter(
            "wastesvc_jobs",
            "Planning jobs this worker ran, by outcome (succeeded, failed).",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in ("succeeded", "failed"):
            self.jobs.labels(outcome)  # both series from the start, so rate() sees the first job
        self.jobs_running = Gauge(
            "wastesvc_jobs_running", "Planning jobs running in this worker.", registry=self.registry
        )

    def watch_queue(self, queue: JobQueue) -> None:
        """Reports the depth of `queue` (its planner creates it after the solver pool these metrics time)."""
        self.registry.register(_JobQueueCollector(queue))


class Metrics(SolveMetrics):
    """The instruments of one server, in their own registry."""

    def __init__(self) -> None:
        super().__init__()
        self.rpc_requests = Counter(
            "wastesvc_rpc_requests",
            "RPCs served, by full method name and status code.",
            ["method", "code"],
            registry=self.registry,
        )
        self.rpc_duration = Histogram(
            "wastesvc_rpc_duration_seconds",
            "Time from the call's arrival to its status, by method and code.",
            ["method", "code"],
            buckets=_RPC_BUCKETS,
            registry=self.registry,
        )
        self.readings_stored = Counter(
            "wastesvc_readings_stored",
            "Readings and observations stored by the ingest RPCs (duplicates and rejects excluded).",
            ["tenant", "method"],
            registry=self.registry,
        )

    def watch_storage(self, storage: Storage) -> None:
        """Reports the planning queue depth, the unresolved alerts and the assessment backlog of `storage`
        (the database is opened after the interceptors)."""
        self.registry.register(_QueueCollector(storage))
        self.registry.register(_AlertsCollector(storage))
        self.registry.register(_AssessmentCollector(storage))


class MeteredSolverPool(SolverPool):
    """A `SolverPool` that reports its solves to a server's or a worker's metrics."""

    def __init__(self, processes: int, metrics: SolveMetrics) -> None:
        super().__init__(processes)
        self._metrics = metrics

    async def solve(self, problem: routing.Problem, options: routing.SolveOptions) -> routing.Solution:
        with self._metrics.solves_running.track_inprogress():
            solution = await super().solve(problem, options)
        self._metrics.solve_seconds.observe(solution.solve_time_s)
        return solution


class MetricsServer:
    """The HTTP endpoint serving ``/metrics``; `stop` frees its port."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server, self._thread = server, thread

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_metrics_server(listen: str, metrics: SolveMetrics) -> MetricsServer:
    """Serves `metrics` on `listen` (``host:port``, port 0 picks a free one).

    Raises
    ------
    ValueError
        `listen` is not ``host:port``.
    OSError
        The address cannot be bound.
    """
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"metrics_listen must be host:port, got {listen!r}")
    server, thread = prometheus_client.start_http_server(int(port), host.strip("[]"), metrics.registry)
    return MetricsServer(server, thread)
