"""`wastesvc report` and `wastesvc alerts` against a running server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from google.type import dayofweek_pb2

from tests.conftest import TENANT, Api, create_container
from tests.test_cli import _cli
from wastesvc.config import Settings
from wastesvc.v1 import incidents_pb2, incidents_pb2_grpc, policies_pb2, policies_pb2_grpc, readings_pb2


async def test_report_stores_an_incident_once_per_request_id(api: Api, settings: Settings) -> None:
    """`wastesvc report` prints the incident's name; the same --request-id twice stores it once."""
    await create_container(api, "c1")
    args = ("report", "c1", "--kind", "overflowing", "--request-id", "cli-1", "--target", api.address)

    first = await asyncio.to_thread(_cli, *args, settings=settings)
    second = await asyncio.to_thread(_cli, *args, settings=settings)

    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert first.stdout.startswith(f"{TENANT}/incidents/")
    listed = await incidents_pb2_grpc.IncidentServiceStub(api.channel).ListIncidents(
        incidents_pb2.ListIncidentsRequest(parent=TENANT)
    )
    assert len(listed.incidents) == 1


async def test_alerts_lists_the_open_alerts(api: Api, settings: Settings) -> None:
    """`wastesvc alerts` prints one line per open alert with its kind and container."""
    await create_container(api, "c1")
    reading = readings_pb2.Reading(fill_fraction=0.3, tilted=True)
    reading.measure_time.GetCurrentTime()
    await api.readings.CreateReading(
        readings_pb2.CreateReadingRequest(parent=f"{TENANT}/containers/c1", reading=reading)
    )

    listed = await asyncio.to_thread(_cli, "alerts", "--target", api.address, settings=settings)

    assert listed.returncode == 0, listed.stderr
    [line] = listed.stdout.splitlines()
    assert "\tOPEN\tTILTED\tc1\t" in line


async def test_policy_prints_and_sets_the_selection_policy(
    api: Api, settings: Settings, tmp_path: Path
) -> None:
    """`wastesvc policy` prints the defaults as JSON; `--set FILE.json` stores the file's policy (read back
    through the API); an invalid value is INVALID_ARGUMENT (exit 1) and a broken file exit 2, both storing
    nothing."""
    shown = await asyncio.to_thread(_cli, "policy", "--target", api.address, settings=settings)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["name"] == f"{TENANT}/selectionPolicy"
    assert json.loads(shown.stdout)["defaults"]["overflowRisk"] == 0.1

    good = tmp_path / "policy.json"
    good.write_text(
        json.dumps(
            {
                "defaults": {"consolidationRadiusM": 400, "consolidationFactor": 3, "deferIsolated": True},
                "communeOverrides": [
                    {"communeCode": "02003", "parameters": {"sweepDays": {"days": ["TUESDAY", "FRIDAY"]}}}
                ],
            }
        ),
        encoding="utf-8",
    )
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"defaults": {"consolidationFactor": 0.5}}), encoding="utf-8")
    broken = tmp_path / "broken.json"
    broken.write_text("{defaults", encoding="utf-8")

    stored = await asyncio.to_thread(
        _cli, "policy", "--set", str(good), "--target", api.address, settings=settings
    )
    refused = await asyncio.to_thread(
        _cli, "policy", "--set", str(bad), "--target", api.address, settings=settings
    )
    unreadable = await asyncio.to_thread(
        _cli, "policy", "--set", str(broken), "--target", api.address, settings=settings
    )

    assert stored.returncode == 0, stored.stderr
    assert json.loads(stored.stdout)["defaults"]["consolidationRadiusM"] == 400
    assert (refused.returncode, unreadable.returncode) == (1, 2)
    assert refused.stderr.startswith("INVALID_ARGUMENT")
    assert "broken.json" in unreadable.stderr
    got = await policies_pb2_grpc.SelectionPolicyServiceStub(api.channel).GetSelectionPolicy(
        policies_pb2.GetSelectionPolicyRequest(name=f"{TENANT}/selectionPolicy")
    )
    assert got.defaults.consolidation_factor == 3.0
    assert got.defaults.defer_isolated
    assert list(got.commune_overrides[0].parameters.sweep_days.days) == [
        dayofweek_pb2.TUESDAY,
        dayofweek_pb2.FRIDAY,
    ]
