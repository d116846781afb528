"""A real `osrm-routed` on the Liechtenstein extract, for tests that need road matrices.

Load it with `pytest_plugins = ["tests.routing.osrm_server"]` in the test module. The data is prepared by
`scripts/osrm.sh` into `var/osrm/` once and reused while the extract is unchanged.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
PBF = REPO / "data" / "osm" / "liechtenstein-latest.osm.pbf"
_READY_TIMEOUT_S = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def dead_url() -> str:
    """An HTTP URL on a local port nobody listens on."""
    return f"http://127.0.0.1:{_free_port()}"


@pytest.fixture(scope="session")
def osrm_url() -> Iterator[str]:
    """Base URL of an osrm-routed (MLD) serving Liechtenstein, stopped at the end of the session."""
    if not PBF.is_file():
        pytest.fail(f"OSM extract {PBF} is missing; the OSRM tests need it (see data/osm/README.md)")
    started = time.monotonic()
    prepared = subprocess.run(
        [REPO / "scripts" / "osrm.sh", PBF, REPO / "var" / "osrm" / PBF.name.removesuffix(".osm.pbf")],
        capture_output=True,
        text=True,
        check=False,
    )
    if prepared.returncode != 0:
        pytest.fail(f"scripts/osrm.sh failed:\n{prepared.stderr}")
    base, routed = prepared.stdout.split()
    port = _free_port()
    log_path = Path(base).with_name(f"osrm-routed-{port}.log")
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [routed, "--algorithm", "mld", "--ip", "127.0.0.1", "--port", str(port), base],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(server, url, log_path)
        print(f"osrm_url ready in {time.monotonic() - started:.1f} s: {prepared.stderr.strip()}")
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log_path.unlink(missing_ok=True)


def _wait_until_ready(server: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT_S
    probe = f"{url}/nearest/v1/driving/9.5215,47.1410"
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"osrm-routed exited with {server.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(probe, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    pytest.fail(f"osrm-routed did not answer within {_READY_TIMEOUT_S} s:\n{log_path.read_text()}")
