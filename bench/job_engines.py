"""Job engines for the planning queue side by side: `make bench-jobs` → bench/results/job_engines.json.

Each engine runs the same three phases with two worker processes of one job at a time (the way solver
workers run: `wastesvc worker --threads 1`):

- latency: jobs enqueued one by one every 50 ms; enqueue → start p50/p99;
- throughput: trivial jobs enqueued as fast as one producer can; jobs per second from the first enqueue
  to the last job done;
- kill: a 5 s job is started, its worker is SIGKILLed 1 s in; how long until the other worker starts it
  again, whether it finishes, and how many times it ran to completion.

Workers write one line per job start and end to their own file (appends survive a SIGKILL), so lost and
duplicated executions are counted from what really ran. Servers: RabbitMQ 127.0.0.1:5672, Redis
127.0.0.1:6379, PostgreSQL 127.0.0.1:5432 (one scratch database per engine and run, dropped after).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import dramatiq
import pika
import procrastinate
import psycopg
import redis
from celery import Celery as CeleryApp
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from pgqueuer import PgQueuer as PgQueuerApp
from pgqueuer.db import PsycopgDriver
from pgqueuer.models import Job
from pgqueuer.queries import Queries

__all__ = ["main"]

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "job_engines.json"
PG = "postgresql://postgres@127.0.0.1:5432/postgres"
RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/"
REDIS = "redis://127.0.0.1:6379/15"

KILL_JOB_S = 5.0
KILL_AFTER_S = 1.0
REDELIVERY_TIMEOUT_S = 180.0
# Timeouts the engines need for a dead worker's job; production values in BENCHMARKS.md.
PROCRASTINATE_HEARTBEAT_S = 10.0  # procrastinate's defaults (update_heartbeat_interval,
PROCRASTINATE_STALLED_S = 30.0  # stalled_worker_timeout)
PGQUEUER_HEARTBEAT_TIMEOUT_S = 30.0  # pgqueuer's default heartbeat_timeout
# Celery on Redis re-queues an unacknowledged job after the visibility timeout, which must exceed the
# longest job or a running job is handed out twice: here 2 x the kill job.
CELERY_VISIBILITY_S = 2 * KILL_JOB_S

ENGINES = ("dramatiq-rabbitmq", "procrastinate", "pgqueuer", "celery-redis", "celery-rabbitmq")


# The job every engine runs ------------------------------------------------------------------------------


class EventLog:
    """One worker's start/done lines: ``start|done JOB_ID UNIX_TIME PID``."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, event: str, job_id: str) -> None:
        os.write(self._fd, f"{event} {job_id} {time.time():.6f} {os.getpid()}\n".encode())


def _run_sync(log: EventLog, job_id: str, sleep_s: float) -> None:
    log.write("start", job_id)
    if sleep_s:
        time.sleep(sleep_s)
    log.write("done", job_id)


async def _run_async(log: EventLog, job_id: str, sleep_s: float) -> None:
    log.write("start", job_id)
    if sleep_s:
        await asyncio.sleep(sleep_s)
    log.write("done", job_id)


# Engines ------------------------------------------------------------------------------------------------


@dataclass
class Target:
    """Where one engine's run keeps its jobs: a queue name and, for the PostgreSQL ones, a database."""

    engine: str
    queue: str
    database: str = ""

    @property
    def db_url(self) -> str:
        return PG.rsplit("/", 1)[0] + f"/{self.database}"


class Engine:
    """Enqueue side (in the bench process) and worker side (in a subprocess) of one job engine."""

    server = ""

    def __init__(self, target: Target) -> None:
        self.target = target

    def prepare(self) -> None:
        """Creates what the queue needs (a database, a schema)."""

    def enqueue(self, job_id: str, sleep_s: float) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Frees the producer's connections."""

    def cleanup(self) -> None:
        """Removes the run's queues or database."""

    def work(self, log: EventLog) -> None:
        """Runs jobs one at a time until SIGTERM (in a worker subprocess)."""
        raise NotImplementedError


def _create_database(name: str) -> None:
    with psycopg.connect(PG, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')


def _drop_database(name: str) -> None:
    with psycopg.connect(PG, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Dramatiq(Engine):
    """dramatiq on RabbitMQ, configured as `wastesvc.jobs` is (publisher confirms, no retries)."""

    server = "RabbitMQ"

    def __init__(self, target: Target) -> None:
        super().__init__(target)

        self._dramatiq = dramatiq
        self.broker = RabbitmqBroker(url=RABBITMQ, confirm_delivery=True)
        self._log: EventLog | None = None
        self.actor = dramatiq.Actor(
            self._job,
            broker=self.broker,
            actor_name="bench_job",
            queue_name=target.queue,
            priority=0,
            options={"max_retries": 0},
        )

    def _job(self, job_id: str, sleep_s: float) -> None:
        assert self._log is not None
        _run_sync(self._log, job_id, sleep_s)

    def enqueue(self, job_id: str, sleep_s: float) -> None:
        self.actor.send(job_id, sleep_s)

    def close(self) -> None:
        self.broker.close()

    def cleanup(self) -> None:
        _delete_rabbitmq_queues([self.target.queue, f"{self.target.queue}.DQ", f"{self.target.queue}.XQ"])

    def work(self, log: EventLog) -> None:
        self._log = log
        worker = self._dramatiq.Worker(self.broker, queues={self.target.queue}, worker_threads=1)
        worker.start()
        _wait_for_sigterm()
        worker.stop()


def _delete_rabbitmq_queues(names: list[str]) -> None:

    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ))
    channel = connection.channel()
    for name in names:
        channel.queue_delete(name)
    connection.close()


def _wait_for_sigterm() -> None:
    stop = False

    def handler(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, handler)
    while not stop:
        time.sleep(0.1)


class _AsyncEngine(Engine):
    """An engine whose client is asyncio: the producer keeps one event loop for the run."""

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self._runner: asyncio.Runner | None = None

    @property
    def runner(self) -> asyncio.Runner:
        if self._runner is None:
            self._runner = asyncio.Runner()
        return self._runner

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
            self._runner = None

    def cleanup(self) -> None:
        _drop_database(self.target.database)


class Procrastinate(_AsyncEngine):
    """procrastinate on PostgreSQL (LISTEN/NOTIFY); a dead worker's job is found by its stale heartbeat
    and retried by a sweep each worker runs (procrastinate's documented recipe for stalled jobs)."""

    server = "PostgreSQL"

    def __init__(self, target: Target) -> None:
        super().__init__(target)

        self.app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=target.db_url))
        self._log: EventLog | None = None

        async def bench_job(job_id: str, sleep_s: float) -> None:
            assert self._log is not None
            await _run_async(self._log, job_id, sleep_s)

        self.task = self.app.task(name="bench_job", queue=target.queue)(bench_job)
        self._opened = False

    def prepare(self) -> None:
        _create_database(self.target.database)

        async def schema() -> None:
            async with self.app.open_async():
                await self.app.schema_manager.apply_schema_async()

        self.runner.run(schema())

    async def _open(self) -> None:
        await self.app.open_async()

    def enqueue(self, job_id: str, sleep_s: float) -> None:
        if not self._opened:
            self.runner.run(self._open())
            self._opened = True
        self.runner.run(self.task.defer_async(job_id=job_id, sleep_s=sleep_s))

    def close(self) -> None:
        if self._opened:
            self.runner.run(self.app.close_async())
            self._opened = False
        super().close()

    def work(self, log: EventLog) -> None:
        self._log = log
        asyncio.run(self._work())

    async def _work(self) -> None:
        async with self.app.open_async():
            sweeper = asyncio.create_task(self._retry_stalled())
            try:
                await self.app.run_worker_async(
                    queues=[self.target.queue],
                    concurrency=1,
                    update_heartbeat_interval=PROCRASTINATE_HEARTBEAT_S,
                    stalled_worker_timeout=PROCRASTINATE_STALLED_S,
                    install_signal_handlers=True,
                )
            finally:
                sweeper.cancel()

    async def _retry_stalled(self) -> None:
        manager = self.app.job_manager
        while True:
            await asyncio.sleep(1.0)
            for job in await manager.get_stalled_jobs(seconds_since_heartbeat=PROCRASTINATE_STALLED_S):
                await manager.retry_job(job)


class PgQueuer(_AsyncEngine):
    """pgqueuer on PostgreSQL (LISTEN/NOTIFY); a picked job whose heartbeat is older than
    ``heartbeat_timeout`` is picked again by any worker's dequeue."""

    server = "PostgreSQL"

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self._queries: Any = None
        self._connection: Any = None

    async def _open(self) -> Any:

        self._connection = await psycopg.AsyncConnection.connect(self.target.db_url, autocommit=True)
        return Queries(PsycopgDriver(self._connection))

    def prepare(self) -> None:
        _create_database(self.target.database)

        async def install() -> None:
            queries = await self._open()
            await queries.install()
            await self._connection.close()

        self.runner.run(install())

    def enqueue(self, job_id: str, sleep_s: float) -> None:
        if self._queries is None:
            self._queries = self.runner.run(self._open())
        payload = json.dumps({"job_id": job_id, "sleep_s": sleep_s}).encode()
        self.runner.run(self._queries.enqueue(self.target.queue, payload))

    def close(self) -> None:
        if self._connection is not None and not self._connection.closed:
            self.runner.run(self._connection.close())
        self._queries = None
        super().close()

    def work(self, log: EventLog) -> None:
        asyncio.run(self._work(log))

    async def _work(self, log: EventLog) -> None:

        connection = await psycopg.AsyncConnection.connect(self.target.db_url, autocommit=True)
        app = PgQueuerApp(PsycopgDriver(connection))

        @app.entrypoint(self.target.queue)
        async def bench_job(job: Job) -> None:
            assert job.payload is not None
            body = json.loads(job.payload)
            await _run_async(log, body["job_id"], body["sleep_s"])

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, app.shutdown.set)
        await app.run(
            batch_size=1,
            max_concurrent_tasks=2,
            heartbeat_timeout=timedelta(seconds=PGQUEUER_HEARTBEAT_TIMEOUT_S),
        )


class Celery(Engine):
    """celery with late acknowledgement (``acks_late``, ``reject_on_worker_lost``, prefetch 1), solo pool."""

    def __init__(self, target: Target, broker: str) -> None:
        super().__init__(target)

        self.server = "Redis" if broker.startswith("redis") else "RabbitMQ"
        self.app = CeleryApp("bench", broker=broker)
        self.app.conf.update(
            task_acks_late=True,
            task_reject_on_worker_lost=True,
            worker_prefetch_multiplier=1,
            task_default_queue=target.queue,
            broker_transport_options={"visibility_timeout": CELERY_VISIBILITY_S},
            broker_connection_retry_on_startup=True,
            task_ignore_result=True,
        )
        self._log: EventLog | None = None

        def bench_job(job_id: str, sleep_s: float) -> None:
            assert self._log is not None
            _run_sync(self._log, job_id, sleep_s)

        self.task = self.app.task(name="bench_job")(bench_job)

    def enqueue(self, job_id: str, sleep_s: float) -> None:
        self.task.apply_async((job_id, sleep_s), queue=self.target.queue)

    def close(self) -> None:
        self.app.pool.force_close_all()

    def cleanup(self) -> None:
        if self.server == "RabbitMQ":
            _delete_rabbitmq_queues([self.target.queue])
        else:
            client = redis.Redis.from_url(REDIS)
            client.flushdb()
            client.close()

    def work(self, log: EventLog) -> None:
        self._log = log
        self.app.worker_main(
            [
                "worker", "-P", "solo", "-Q", self.target.queue, "-l", "WARNING",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
                # a node name of its own: two workers on one host would share a control queue
                "-n", f"bench-{os.getpid()}@%h",
            ]
        )  # fmt: skip


def _engine(target: Target) -> Engine:
    makers: dict[str, Callable[[Target], Engine]] = {
        "dramatiq-rabbitmq": Dramatiq,
        "procrastinate": Procrastinate,
        "pgqueuer": PgQueuer,
        "celery-redis": lambda t: Celery(t, REDIS),
        "celery-rabbitmq": lambda t: Celery(t, RABBITMQ),
    }
    return makers[target.engine](target)


# The bench process -----------------------------------------------------------------------------------


@dataclass
class Worker:
    """A worker subprocess and the file its job events go to."""

    popen: subprocess.Popen[bytes]
    log: Path
    stopped: bool = False


@dataclass
class Run:
    """One engine's run: its workers, their event files and when each job was enqueued."""

    engine: Engine
    target: Target
    folder: Path
    workers: list[Worker] = field(default_factory=list)
    enqueued: dict[str, float] = field(default_factory=dict)

    def start_worker(self) -> Worker:
        log = self.folder / f"worker-{len(self.workers)}.log"
        log.touch()
        command = [sys.executable, "-m", "bench.job_engines", "--worker", json.dumps(self.target.__dict__)]
        popen = subprocess.Popen(
            [*command, str(log)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=self.folder.joinpath(
                f"worker-{len(self.workers)}.err").open("wb")
        )  # fmt: skip
        worker = Worker(popen, log)
        self.workers.append(worker)
        return worker

    def events(self) -> Iterator[tuple[str, str, float, int]]:
        for worker in self.workers:
            for line in worker.log.read_text().splitlines():
                event, job_id, at, pid = line.split()
                yield event, job_id, float(at), int(pid)

    def enqueue(self, job_id: str, sleep_s: float = 0.0) -> None:
        self.enqueued[job_id] = time.time()
        self.engine.enqueue(job_id, sleep_s)

    def wait(self, done: Callable[[], bool], timeout: float, what: str) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done():
                return True
            for worker in self.workers:
                if not worker.stopped and worker.popen.poll() is not None:
                    raise RuntimeError(f"a {self.target.engine} worker exited: see {self.folder}")
            time.sleep(0.02)
        print(f"  {self.target.engine}: timed out waiting for {what}", file=sys.stderr)
        return False

    def finished(self, job_ids: set[str]) -> set[str]:
        return {job_id for event, job_id, _, _ in self.events() if event == "done" and job_id in job_ids}

    def stop(self) -> None:
        for worker in self.workers:
            worker.stopped = True
            if worker.popen.poll() is None:
                worker.popen.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.popen.kill()
                worker.popen.wait()


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _warm_up(run: Run) -> None:
    """Both workers started and a first job run: connection set-up is not measured."""
    for _ in range(2):
        run.start_worker()
    run.enqueue("warm-up")
    run.wait(lambda: bool(run.finished({"warm-up"})), 60, "the warm-up job")


def _latency(run: Run, jobs: int) -> dict[str, Any]:
    ids = {f"lat-{i}" for i in range(jobs)}
    for job_id in sorted(ids):
        run.enqueue(job_id)
        time.sleep(0.05)
    run.wait(lambda: run.finished(ids) == ids, 60, "the latency jobs")
    starts = {job_id: at for event, job_id, at, _ in run.events() if event == "start" and job_id in ids}
    latencies = [(starts[j] - run.enqueued[j]) * 1000 for j in starts]
    return {
        "jobs": jobs,
        "p50_ms": round(_percentile(latencies, 0.5), 2),
        "p99_ms": round(_percentile(latencies, 0.99), 2),
        "max_ms": round(max(latencies), 2),
    }


def _throughput(run: Run, jobs: int) -> dict[str, Any]:
    """The producer alone (workers stopped), then two fresh workers draining that backlog."""
    run.stop()
    ids = [f"tp-{i}" for i in range(jobs)]
    first = time.time()
    for job_id in ids:
        run.enqueue(job_id)
    enqueued_s = time.time() - first
    for _ in range(2):
        run.start_worker()
    wanted = set(ids)
    run.wait(lambda: run.finished(wanted) == wanted, 600, "the throughput jobs")
    events = [(event, at) for event, job_id, at, _ in run.events() if job_id in wanted]
    drained_s = max(at for event, at in events if event == "done") - min(at for _, at in events)
    return {
        "jobs": jobs,
        "enqueue_per_s": round(jobs / enqueued_s, 1),
        "drain_per_s": round(jobs / drained_s, 1),
    }


def _kill_round(run: Run, round_no: int) -> dict[str, Any]:
    job_id = f"kill-{round_no}"
    run.enqueue(job_id, KILL_JOB_S)

    def started() -> list[tuple[float, int]]:
        return [(at, pid) for event, j, at, pid in run.events() if event == "start" and j == job_id]

    run.wait(lambda: bool(started()), 60, f"{job_id} to start")
    time.sleep(KILL_AFTER_S)
    victim_pid = started()[0][1]
    victim = next(w for w in run.workers if w.popen.pid == victim_pid)
    victim.stopped = True
    victim.popen.send_signal(signal.SIGKILL)
    killed_at = time.time()
    victim.popen.wait()
    replacement = run.start_worker()  # a dead worker is replaced, as an orchestrator would
    restarted = run.wait(
        lambda: any(pid != victim_pid for _, pid in started()), REDELIVERY_TIMEOUT_S, f"{job_id} again"
    )
    finished = restarted and run.wait(lambda: bool(run.finished({job_id})), 60, f"{job_id} to finish")
    time.sleep(1.0)  # a duplicate would start within this
    again = [at for at, pid in started() if pid != victim_pid]
    completions = sum(1 for event, j, _, _ in run.events() if event == "done" and j == job_id)
    return {
        "redelivery_s": round(min(again) - killed_at, 3) if again else None,
        "finished": finished,
        "completions": completions,
        "starts": len(started()),
        "picked_by_replacement": any(pid == replacement.popen.pid for _, pid in started()),
    }


def _duplicates(run: Run) -> int:
    counts: dict[str, int] = {}
    for event, job_id, _, _ in run.events():
        if event == "done" and not job_id.startswith("kill-"):
            counts[job_id] = counts.get(job_id, 0) + 1
    return sum(n - 1 for n in counts.values())


def _measure(engine_name: str, latency_jobs: int, throughput_jobs: int, kills: int) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:10]
    target = Target(engine_name, f"bench-{engine_name}-{tag}", f"bench_jobs_{tag}")
    engine = _engine(target)
    scratch = Path(tempfile.mkdtemp(prefix="job_engines-"))
    run = Run(engine, target, scratch)
    engine.prepare()
    try:
        _warm_up(run)
        print(f"{engine_name}: latency", file=sys.stderr)
        latency = _latency(run, latency_jobs)
        print(f"{engine_name}: throughput", file=sys.stderr)
        throughput = _throughput(run, throughput_jobs)
        rounds = []
        for i in range(kills):
            print(f"{engine_name}: kill {i + 1}/{kills}", file=sys.stderr)
            rounds.append(_kill_round(run, i))
        duplicates = _duplicates(run)
    finally:
        run.stop()
        engine.close()
        engine.cleanup()
    shutil.rmtree(scratch)  # kept when the run failed, for the workers' stderr
    redeliveries = [r["redelivery_s"] for r in rounds if r["redelivery_s"] is not None]
    return {
        "engine": engine_name,
        "server": engine.server,
        "latency": latency,
        "throughput": throughput,
        "kill": {
            "rounds": rounds,
            "finished": sum(r["finished"] for r in rounds),
            "redelivery_s_median": round(statistics.median(redeliveries), 2) if redeliveries else None,
            "duplicate_completions": sum(max(0, r["completions"] - 1) for r in rounds),
        },
        "duplicates_outside_kills": duplicates,
    }


def _settings() -> dict[str, Any]:
    return {
        "workers": 2,
        "jobs_at_once_per_worker": 1,
        "kill_job_s": KILL_JOB_S,
        "kill_after_s": KILL_AFTER_S,
        "procrastinate_heartbeat_s": PROCRASTINATE_HEARTBEAT_S,
        "procrastinate_stalled_s": PROCRASTINATE_STALLED_S,
        "pgqueuer_heartbeat_timeout_s": PGQUEUER_HEARTBEAT_TIMEOUT_S,
        "celery_visibility_timeout_s": CELERY_VISIBILITY_S,
    }


def _commit() -> str:
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "bench/job_engines.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return head + ("+dirty" if dirty else "")


def _versions() -> dict[str, str]:
    names = ("dramatiq", "procrastinate", "pgqueuer", "celery", "kombu", "redis", "pika", "psycopg")
    return {name: metadata.version(name) for name in names}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench.job_engines", description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated, of {ENGINES}")
    parser.add_argument("--latency-jobs", type=int, default=200)
    parser.add_argument("--throughput-jobs", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help=f"print only, do not write {RESULTS}")
    parser.add_argument("--worker", nargs=2, metavar=("TARGET", "LOG"), help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Measures the engines and writes the results; with ``--worker``, runs one worker subprocess."""
    args = _parser().parse_args(argv)
    if args.worker:
        target = Target(**json.loads(args.worker[0]))
        _engine(target).work(EventLog(args.worker[1]))
        return 0
    engines = [name for name in args.engines.split(",") if name]
    unknown = set(engines) - set(ENGINES)
    if unknown:
        print(f"unknown engines: {sorted(unknown)}; known: {ENGINES}", file=sys.stderr)
        return 2
    load_before, commit = os.getloadavg(), _commit()
    records = [_measure(name, args.latency_jobs, args.throughput_jobs, args.kills) for name in engines]
    document = {
        "commit": commit,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "settings": _settings(),
        "versions": _versions(),
        "engines": records,
    }
    text = json.dumps(document, indent=2) + "\n"
    print(text)
    if not args.no_write:
        RESULTS.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
