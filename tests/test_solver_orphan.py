"""A solver process does not outlive a server killed with SIGKILL."""

from __future__ import annotations

import os
import subprocess
import sys
import time

# A stand-in for the server: it spawns a child that watches it, as the solver pool does, then dies by SIGKILL.
_PARENT = """
import multiprocessing, os, signal, sys, time
from wastesvc.solver_pool import exit_with_parent

def child(parent):
    exit_with_parent(parent, poll_s=0.1)
    time.sleep(60)

if __name__ == "__main__":
    process = multiprocessing.get_context("spawn").Process(target=child, args=(os.getpid(),), daemon=True)
    process.start()
    print(process.pid, flush=True)
    time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie waiting to be reaped by init is gone for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_child_exits_when_the_server_is_killed() -> None:
    """The child notices its parent's SIGKILL and exits within seconds instead of running on as an orphan."""
    parent = subprocess.Popen([sys.executable, "-c", _PARENT], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    parent.wait(timeout=30)
    assert parent.returncode == -9
    deadline = time.monotonic() + 10
    while _alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child_pid)
