"""The dispatcher's commands against a running server: plans, publish, ticks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import Api
from tests.dispatch.support import container_visits, planned_day
from tests.dispatch.test_dispatch_ticks import _sheet_code
from wastesvc.cli import main
from wastesvc.config import Settings
from wastesvc.v1 import dispatch_pb2


def _config(tmp_path: Path, api: Api, settings: Settings) -> str:
    path = tmp_path / "cli.toml"
    path.write_text(f'listen = "{api.address}"\nauth_key_file = "{settings.auth_key_file}"\n')
    return str(path)


async def test_plans_publish_and_ticks_from_the_command_line(
    api: Api, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`plans --state draft` lists the plan; `publish` takes its bare id; `ticks` turns a CSV into events."""
    plan = await planned_day(api)
    plan_id = plan.name.rsplit("/", 1)[-1]
    config = _config(tmp_path, api, settings)

    assert await asyncio.to_thread(main, ["plans", "--config", config, "--state", "draft"]) == 0
    assert capsys.readouterr().out.split("\t")[:3][0] == plan_id
    assert await asyncio.to_thread(main, ["publish", plan_id, "--config", config]) == 0
    assert "ROUTE_PLAN_STATE_PUBLISHED" in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["plans", "--config", config, "--state", "draft"]) == 0
    assert capsys.readouterr().out == ""

    ticks = tmp_path / "ticks.csv"
    ticks.write_text("stop,emptied,fill,code\n1,x,0.6,\n2,,,A\n", encoding="utf-8")
    code = await _sheet_code(api, plan)
    # Just after midnight of the plan's day: in the past whenever the test runs.
    argv = ["ticks", code, str(ticks), "--round-time", "00:01", "--config", config]
    assert await asyncio.to_thread(main, argv) == 0
    lines = capsys.readouterr().out.splitlines()
    stops = container_visits(plan)
    assert [line.split("\t")[:2] for line in lines] == [[stops[0].id, "COMPLETED"], [stops[1].id, "SKIPPED"]]
    listed = await api.dispatch.ListFieldEvents(dispatch_pb2.ListFieldEventsRequest(parent=plan.name))
    assert len(listed.field_events) == 2


async def test_ticks_with_a_bad_file_is_a_usage_error(
    api: Api, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CSV line without a stop number exits 2 with the file and line."""
    config = _config(tmp_path, api, settings)
    ticks = tmp_path / "ticks.csv"
    ticks.write_text("stop,emptied\nfirst,x\n", encoding="utf-8")
    argv = [
        "ticks",
        "wastesvc:sheet?t=grand-soissons&plan=p&vehicle=v&v=1",
        str(ticks),
        "--round-time",
        "07:00",
    ]
    assert await asyncio.to_thread(main, [*argv, "--config", config]) == 2
    assert f"{ticks}:2" in capsys.readouterr().err
