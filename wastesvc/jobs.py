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
from typing import Any

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker

__all__ = ["JobQueue", "run_worker"]

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


def run_worker(queue: JobQueue, handle: Callable[[str], Coroutine[Any, Any, None]], threads: int) -> None:
    """Serves the queue until SIGTERM or SIGINT; `handle(operation_id)` is a coroutine function."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    def run_one(operation_id: str) -> None:
        log.info("operation %s started", operation_id)
        asyncio.run(handle(operation_id))
        log.info("operation %s finished", operation_id)

    queue.serve(run_one, threads=threads, stop=stop)
