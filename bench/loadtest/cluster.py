"""The servers a load run talks to: one plain server, or two API replicas and two solver workers.

The replicated set-up shares one PostgreSQL database and a RabbitMQ queue (`wastesvc.jobs`); `kill_mid_solve`
sends SIGKILL to one replica and to a worker while that worker runs a planning operation, which is how
`make loadtest ARGS=--faults` shows that every plan still finishes.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Cluster", "free_address"]

_OPERATION = re.compile(r"operation (\S+) (started|finished)")


def free_address() -> str:
    """A loopback host:port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


@dataclass
class _Process:
    """A `wastesvc` subprocess; a thread copies its stderr to a log file and notes its operations."""

    name: str
    popen: subprocess.Popen[str]
    running: dict[str, float] = field(default_factory=dict)  # operation id -> monotonic start

    def pump(self, log: Path) -> None:
        assert self.popen.stderr is not None
        with log.open("w", encoding="utf-8") as out:
            for line in self.popen.stderr:
                out.write(line)
                match = _OPERATION.search(line)
                if match and match.group(2) == "started":
                    self.running[match.group(1)] = time.monotonic()
                elif match:
                    self.running.pop(match.group(1), None)


class Cluster:
    """Starts the processes with `env`; `replicas` API servers, `workers` solver workers (0: no queue)."""

    def __init__(self, env: dict[str, str], work: Path, *, replicas: int = 1, workers: int = 0) -> None:
        self.env, self.work = env, work
        self.addresses = [free_address() for _ in range(replicas)]
        self.replicas = [
            self._start(f"replica-{i}", "serve", "--listen", address)
            for i, address in enumerate(self.addresses)
        ]
        self.workers = [self._start(f"worker-{i}", "worker") for i in range(workers)]
        self.kills = {"replica": 0, "worker": 0}

    def _start(self, name: str, *args: str) -> _Process:
        popen = subprocess.Popen(
            [sys.executable, "-m", "wastesvc.cli", *args], env=self.env, stderr=subprocess.PIPE, text=True
        )
        process = _Process(name, popen)
        threading.Thread(target=process.pump, args=(self.work / f"{name}.log",), daemon=True).start()
        return process

    def kill_mid_solve(self, timeout_s: float, running_s: float) -> str | None:
        """SIGKILLs the first replica and a worker that has run an operation for `running_s` (past the
        selection, into the solve); returns that operation's id, or None if none ran in time."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            now = time.monotonic()
            for worker in self.workers:
                started = [op for op, at in worker.running.items() if now - at >= running_s]
                if started and worker.popen.poll() is None:
                    worker.popen.send_signal(signal.SIGKILL)
                    self.replicas[0].popen.send_signal(signal.SIGKILL)
                    self.kills = {"replica": 1, "worker": 1}
                    return started[0]
            time.sleep(0.1)
        return None

    def reruns(self, operation: str | None) -> list[str]:
        """The log lines the other workers wrote about `operation` (its redelivery)."""
        if operation is None:
            return []
        lines = []
        for worker in self.workers:
            if worker.popen.returncode == -signal.SIGKILL:
                continue
            log = (self.work / f"{worker.name}.log").read_text(encoding="utf-8")
            lines += [line for line in log.splitlines() if operation in line]
        return lines

    def stop(self) -> None:
        for process in [*self.replicas, *self.workers]:
            if process.popen.poll() is None:
                process.popen.terminate()
        for process in [*self.replicas, *self.workers]:
            try:
                process.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.popen.kill()
