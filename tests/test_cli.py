"""The `wastesvc` command line against a running server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from pypdf import PdfReader

from tests.conftest import Api
from tests.test_planning import _seed
from wastesvc.config import Settings


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
        _cli, "plan", "--target", api.address, "--time-limit", "2", "--out", str(tmp_path), settings=settings
    )
    assert planned.returncode == 0, planned.stderr
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
