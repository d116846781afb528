"""Durable planning jobs: API replicas enqueue, solver workers (`wastesvc worker`) run them.

The queue is RabbitMQ through dramatiq. A worker acknowledges a job only once the operation is finished
and stored, so when a worker dies mid-solve (kill -9, a lost machine) RabbitMQ hands the job to another
worker as soon as the dead one's connection drops, and the client's operation still completes. Replicas
share one PostgreSQL: any of them answers `GetOperation`/`WaitOperation` from the stored operation.

Running a job twice is harmless: a job whose operation is already done is skipped, and a re-run
overwrites the same plan and operation.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import dramatiq
import pika
import pika.exceptions
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from google.longrunning import operations_pb2

from wastesvc.storage import Storage

if TYPE_CHECKING:
    from wastesvc.metrics import WorkerMetrics

__all__ = ["JobQueue", "operation_outcome", "run_worker"]

log = logging.getLogger(__name__)

_ACTOR = "plan_operation"
# Above the longest solve (10 minutes) plus reading and storing the day, so dramatiq never interrupts one.
_TIME_LIMIT_MS = 20 * 60 * 1000


class JobQueue:
    """The planning queue on a RabbitMQ broker.

    Parameters
    ----------
    url
        AMQP URL of the broker, for example ``amqp://guest:guest@127.0.0.1:5672/``.
    queue
        Queue name; replicas and workers of one deployment share it.
    """

    def __init__(self, url: str, queue: str) -> None:
        self.broker = RabbitmqBroker(url=url, confirm_delivery=True)
        self.url = url
        self.queue = queue
        self._handler: Callable[[str], None] | None = None
        self._actor = dramatiq.Actor(
            self._run,
            broker=self.broker,
            actor_name=_ACTOR,
            queue_name=queue,
            priority=0,
            options={"max_retries": 0, "time_limit": _TIME_LIMIT_MS},
        )

    def _run(self, operation_id: str) -> None:
        if self._handler is None:
            raise RuntimeError("this process enqueues planning jobs but does not run them")
        self._handler(operation_id)

    def submit(self, operation_id: str) -> None:
        """Enqueues an operation recorded in storage; returns once the broker has confirmed it."""
        self._actor.send(operation_id)

    def close(self) -> None:
        self.broker.close()

    def depth(self) -> int | None:
        """Jobs waiting in the queue (RabbitMQ's ready messages; those a worker holds are not counted).

        None when the broker cannot be reached or the queue does not exist yet. A connection of its own:
        dramatiq's are per thread, and this runs on the metrics server's thread.
        """
        try:
            connection = pika.BlockingConnection(pika.URLParameters(self.url))
        except pika.exceptions.AMQPError:
            return None
        try:
            declared = connection.channel().queue_declare(self.queue, passive=True)
        except pika.exceptions.ChannelClosedByBroker:  # 404: no replica has declared it yet
            return None
        finally:
            if connection.is_open:
                connection.close()
        return int(declared.method.message_count)

    def serve(self, handler: Callable[[str], None], *, threads: int, stop: threading.Event) -> None:
        """Runs jobs with `handler(operation_id)` on `threads` worker threads until `stop` is set."""
        self._handler = handler
        worker = dramatiq.Worker(self.broker, queues={self.queue}, worker_threads=threads)
        worker.start()
        try:
            stop.wait()
        finally:
            worker.stop()
            self.close()


def operation_outcome(storage: Storage, operation_id: str) -> str:
    """How a job ended, from its stored operation: ``succeeded``, or ``failed`` (an error, or gone)."""
    row = storage.get_operation(operation_id)
    if row is None or not row.done:
        return "failed"
    return "failed" if operations_pb2.Operation.FromString(row.body).HasField("error") else "succeeded"


def run_worker(
    queue: JobQueue,
    handle: Callable[[str], Coroutine[Any, Any, None]],
    threads: int,
    *,
    outcome: Callable[[str], str] = lambda _: "succeeded",
    metrics: WorkerMetrics | None = None,
) -> None:
    """Serves the queue until SIGTERM or SIGINT; `handle(operation_id)` is a coroutine function.

    With `metrics`, each job is counted by `outcome(operation_id)` once it has run (the planner stores a
    failed operation rather than raising) and the jobs running are tracked.
    """
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    def run_one(operation_id: str) -> None:
        log.info("operation %s started", operation_id)
        if metrics is None:
            asyncio.run(handle(operation_id))
        else:
            with metrics.jobs_running.track_inprogress():
                try:
                    asyncio.run(handle(operation_id))
                except BaseException:
                    metrics.jobs.labels("failed").inc()
                    raise
            metrics.jobs.labels(outcome(operation_id)).inc()
        log.info("operation %s finished", operation_id)

    queue.serve(run_one, threads=threads, stop=stop)
