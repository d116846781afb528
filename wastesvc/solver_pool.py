"""Runs routing solves in separate processes.

OR-Tools holds the GIL for a whole solve (REFERENCE §2), so a solve on the event loop or in a thread would
freeze every RPC. Each job gets its own spawned process, at most `processes` at a time, so a cancelled
operation can be stopped at once by terminating its process.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

import routing

__all__ = ["SolverCrashed", "SolverPool", "exit_with_parent"]


class SolverCrashed(RuntimeError):
    """The solver process died without an answer."""


def exit_with_parent(parent_pid: int, poll_s: float = 0.5) -> None:
    """Ends this process once its parent is gone (a kill -9 of the server must not leave a solver behind).

    Runs as a daemon thread of the child; the parent's death re-parents the child, changing getppid().
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _solve_in_child(
    problem: routing.Problem, options: routing.SolveOptions, conn: Connection, parent_pid: int
) -> None:
    exit_with_parent(parent_pid)
    try:
        conn.send(("ok", routing.solve(problem, options)))
    except routing.ProblemError as error:
        conn.send(("problem", error))
    except Exception as error:  # reported to the parent, which fails the operation with it
        conn.send(("error", f"{type(error).__name__}: {error}"))
    finally:
        conn.close()


def _wait(conn: Connection, process: Any) -> tuple[str, Any]:
    try:
        message: tuple[str, Any] = conn.recv()
    except EOFError:
        process.join()
        raise SolverCrashed(f"solver process exited with code {process.exitcode}") from None
    process.join()
    return message


class SolverPool:
    """At most `processes` concurrent solves, each in its own process."""

    def __init__(self, processes: int = 1) -> None:
        self._slots = asyncio.Semaphore(max(1, processes))
        self._context = multiprocessing.get_context("spawn")

    async def solve(self, problem: routing.Problem, options: routing.SolveOptions) -> routing.Solution:
        """Solves in a child process; cancelling the awaiting task terminates the child."""
        async with self._slots:
            receiver, sender = self._context.Pipe(duplex=False)
            process = self._context.Process(
                target=_solve_in_child, args=(problem, options, sender, os.getpid()), daemon=True
            )
            process.start()
            sender.close()
            try:
                kind, payload = await asyncio.to_thread(_wait, receiver, process)
            except asyncio.CancelledError:
                process.terminate()
                await asyncio.to_thread(process.join)
                raise
            finally:
                receiver.close()
        if kind == "ok":
            assert isinstance(payload, routing.Solution)
            return payload
        if kind == "problem":
            raise payload
        raise SolverCrashed(str(payload))
