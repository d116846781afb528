"""The `wastesvc` command line against a running server."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pypdf import PdfReader

from tests.conftest import TENANT, Api
from tests.test_planning import _seed
from wastesvc.config import MAX_SOLVER_TIME_LIMIT_S, Settings
from wastesvc.planner import MAX_TIME_LIMIT


def _cli(*args: str, settings: Settings | None = None) -> subprocess.CompletedProcess[str]:
    """Runs the CLI; with `settings`, it finds the test server's key to mint its token, as on a server."""
    env = dict(os.environ)
    if settings is not None:
        env["WASTESVC_AUTH_KEY_FILE"] = settings.auth_key_file
    return subprocess.run(
        [sys.executable, "-m", "wastesvc.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


async def test_plan_and_sheets_commands(api: Api, settings: Settings, tmp_path: Path) -> None:
    """`wastesvc plan` prints the plan and writes its sheets; `wastesvc sheets` downloads one truck's PDF."""
    await _seed(api)
    planned = await asyncio.to_thread(
        _cli,
        "plan",
        "--target",
        api.address,
        "--time-limit",
        "2",
        "--fill-threshold",
        "0.7",
        "--out",
        str(tmp_path),
        settings=settings,
    )
    assert planned.returncode == 0, planned.stderr
    assert "warning" not in planned.stderr
    assert "tenants/grand-soissons/vehicles/gru-01" in planned.stdout
    plan_name = planned.stdout.split()[1]
    assert plan_name.startswith("tenants/grand-soissons/routePlans/")
    combined = sorted(tmp_path.glob("route-sheets-*.pdf"))
    assert combined, planned.stdout

    output = tmp_path / "gru.pdf"
    fetched = await asyncio.to_thread(
        _cli,
        "sheets",
        plan_name,
        "--target",
        api.address,
        "--vehicle",
        "tenants/grand-soissons/vehicles/gru-01",
        "--output",
        str(output),
        settings=settings,
    )
    assert fetched.returncode == 0, fetched.stderr
    assert len(PdfReader(output).pages) >= 1


async def test_cli_reports_server_errors_without_a_traceback(
    api: Api, settings: Settings, tmp_path: Path
) -> None:
    """An unknown plan gives a one-line NOT_FOUND message and exit code 1."""
    result = await asyncio.to_thread(
        _cli,
        "sheets",
        "tenants/grand-soissons/routePlans/nope",
        "--target",
        api.address,
        "--output",
        str(tmp_path / "x.pdf"),
        settings=settings,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("NOT_FOUND")
    assert "Traceback" not in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize("after_subcommand", [False, True])
def test_missing_config_file_is_a_one_line_error(tmp_path: Path, after_subcommand: bool) -> None:
    """A --config file that does not exist gives one line on stderr and exit code 2, not a traceback."""
    missing = tmp_path / "nope.toml"
    args = ["serve", "--config", str(missing)] if after_subcommand else ["--config", str(missing), "serve"]
    result = _cli(*args)
    assert result.returncode == 2
    assert result.stderr == f"wastesvc: error: config file {missing} not found\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("listen = ", "is not valid TOML"),
        ("colour = 'green'", "unknown settings"),
        ("solver_processes = 'two'", "solver_processes in"),
        ("solver_time_limit_s = 0.5", "solver_time_limit_s must be between 1 and 600 seconds, got 0.5"),
    ],
)
def test_bad_config_file_is_a_one_line_error(tmp_path: Path, content: str, message: str) -> None:
    """Invalid TOML, an unknown key, a non-number or a too-small solver budget: one line, exit code 2."""
    config = tmp_path / "wastesvc.toml"
    config.write_text(content + "\n", encoding="utf-8")
    result = _cli("serve", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr.startswith("wastesvc: error: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("after_subcommand", [False, True])
async def test_config_is_read_before_or_after_the_subcommand(
    api: Api, settings: Settings, tmp_path: Path, after_subcommand: bool
) -> None:
    """The config's `listen` reaches the server in either position: NOT_FOUND from it, not UNAVAILABLE."""
    config = tmp_path / "wastesvc.toml"
    config.write_text(f'listen = "{api.address}"\n', encoding="utf-8")
    command = ["sheets", f"{TENANT}/routePlans/nope", "--output", str(tmp_path / "x.pdf")]
    args = [*command, "--config", str(config)] if after_subcommand else ["--config", str(config), *command]
    result = await asyncio.to_thread(_cli, *args, settings=settings)
    assert result.returncode == 1
    assert result.stderr.startswith("NOT_FOUND"), result.stderr


_TIME_LIMIT_REFUSED = "argument --time-limit: must be between 1 and 600 seconds"
_FILL_REFUSED = "argument --fill-threshold: expected a fill fraction"


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--time-limit", v, _TIME_LIMIT_REFUSED) for v in ("0", "0.5", "-3", "601", "nan")]
    + [("--fill-threshold", v, _FILL_REFUSED) for v in ("0", "1.5", "-0.2", "nan", "full")],
)
def test_plan_options_out_of_bounds_are_refused(option: str, value: str, message: str) -> None:
    """`plan --time-limit` under 1 s or over 10 min, or a `--fill-threshold` outside (0, 1], is refused
    before any call, not replaced by a default."""
    result = _cli("plan", "--target", f"127.0.0.1:{_free_port()}", option, value)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_time_limit_bounds_match_the_server() -> None:
    """The CLI's upper bound is the one the planner enforces."""
    assert MAX_TIME_LIMIT.total_seconds() == MAX_SOLVER_TIME_LIMIT_S


async def test_planning_a_past_date_warns(api: Api, settings: Settings) -> None:
    """A service date before today is planned, with a warning on stderr."""
    await _seed(api)
    result = await asyncio.to_thread(
        _cli, "plan", "--target", api.address, "--date", "2024-03-04", "--time-limit", "1", settings=settings
    )
    assert result.returncode == 0, result.stderr
    assert "warning: 2024-03-04 is in the past" in result.stderr
    assert result.stdout.startswith(f"Plan {TENANT}/routePlans/")


async def test_serve_listens_on_the_listen_option(tmp_path: Path) -> None:
    """`serve --listen` wins over WASTESVC_LISTEN, and the server answers there."""
    address = f"127.0.0.1:{_free_port()}"
    env = {
        **os.environ,
        "WASTESVC_DB_URL": f"sqlite:///{tmp_path / 'w.db'}",
        "WASTESVC_LISTEN": "127.0.0.1:1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "wastesvc.cli", "serve", "--listen", address],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        listening = next((line for line in process.stderr if "listening on" in line), "")
        assert f"listening on {address} " in listening
        async with grpc.aio.insecure_channel(address) as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 30) == 0


def test_demo_listens_on_the_listen_option(tmp_path: Path) -> None:
    """`demo --listen` serves the whole demo on that address and writes the sheets."""
    address = f"127.0.0.1:{_free_port()}"
    env = {**os.environ, "WASTESVC_SOLVER_TIME_LIMIT_S": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "wastesvc.cli", "demo", "--listen", address, "--no-serve", "--out", "out"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"wastesvc listening on {address} " in result.stdout
    assert list((tmp_path / "out").glob("route-sheets-*.pdf"))


def test_demo_on_a_taken_port_keeps_the_running_demo_database(tmp_path: Path) -> None:
    """A second demo on a busy address exits 1 with one line, before it resets the demo database or
    writes over the running demo's route sheets."""
    demo_db = tmp_path / "var" / "demo.db"
    demo_db.parent.mkdir()
    demo_db.write_bytes(b"the running demo's data")
    sheets = tmp_path / "out"
    sheets.mkdir()
    (sheets / "gru-01.pdf").write_bytes(b"the running demo's sheet")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        result = subprocess.run(
            [sys.executable, "-m", "wastesvc.cli", "demo", "--listen", address, "--no-serve"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert result.stderr == f"wastesvc: error: cannot listen on {address}: the address is already in use\n"
    assert demo_db.read_bytes() == b"the running demo's data"
    assert [p.name for p in sheets.iterdir()] == ["gru-01.pdf"]
    assert (sheets / "gru-01.pdf").read_bytes() == b"the running demo's sheet"


@pytest.mark.parametrize("value", ["50051", "localhost:", ":50051", "127.0.0.1:70000"])
def test_listen_option_must_be_host_and_port(value: str) -> None:
    """A --listen without a host or a valid port is a usage error (exit code 2)."""
    result = _cli("serve", "--listen", value)
    assert result.returncode == 2
    assert "argument --listen: expected host:port" in result.stderr
