"""`wastesvc report` and `wastesvc alerts` against a running server."""

from __future__ import annotations

import asyncio

from tests.conftest import TENANT, Api, create_container
from tests.test_cli import _cli
from wastesvc.config import Settings
from wastesvc.v1 import incidents_pb2, incidents_pb2_grpc, readings_pb2


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
