"""IncidentService on a real channel: reports, idempotency, and the mandatory visit on the next plan."""

from __future__ import annotations

from collections.abc import Awaitable

import grpc
import pytest
from google.protobuf import timestamp_pb2

from tests.conftest import OTHER_TENANT, TENANT, Api, create_container, create_fleet
from tests.errors import assert_error, rpc_error, violations
from tests.test_planning import _optimize, _wait
from wastesvc.v1 import incidents_pb2, incidents_pb2_grpc, planning_pb2, readings_pb2

C1 = f"{TENANT}/containers/c1"


def _stub(api: Api) -> incidents_pb2_grpc.IncidentServiceAsyncStub:
    return incidents_pb2_grpc.IncidentServiceStub(api.channel)


def _report(
    request_id: str,
    kind: incidents_pb2.IncidentKind.ValueType = incidents_pb2.INCIDENT_KIND_OVERFLOWING,
    container: str = C1,
    parent: str = TENANT,
) -> incidents_pb2.CreateIncidentRequest:
    return incidents_pb2.CreateIncidentRequest(
        parent=parent,
        request_id=request_id,
        incident=incidents_pb2.Incident(
            container=container, kind=kind, description="sacs au pied de la colonne", reporter="citizen"
        ),
    )


@pytest.fixture
async def c1(api: Api) -> Api:
    await create_container(api, "c1")
    return api


async def test_create_get_and_list(c1: Api) -> None:
    """A report is stored OPEN, read back by name and listed."""
    created = await _stub(c1).CreateIncident(_report("r-1"))

    got = await _stub(c1).GetIncident(incidents_pb2.GetIncidentRequest(name=created.name))
    listed = await _stub(c1).ListIncidents(incidents_pb2.ListIncidentsRequest(parent=TENANT))

    assert created.state == incidents_pb2.INCIDENT_STATE_OPEN
    assert (created.container, created.kind, created.reporter) == (
        C1,
        incidents_pb2.INCIDENT_KIND_OVERFLOWING,
        "citizen",
    )
    assert got == created
    assert list(listed.incidents) == [created]


async def test_repeated_request_id_stores_once(c1: Api) -> None:
    """A retry with the same idempotency key returns the incident stored first and stores nothing new;
    the key sent with another report is INVALID_ARGUMENT (it silently returned the first one)."""
    first = await _stub(c1).CreateIncident(_report("r-1"))
    second = await _stub(c1).CreateIncident(_report("r-1"))
    other = await rpc_error(
        _stub(c1).CreateIncident(_report("r-1", kind=incidents_pb2.INCIDENT_KIND_DAMAGED))
    )

    listed = await _stub(c1).ListIncidents(incidents_pb2.ListIncidentsRequest(parent=TENANT))

    assert second == first
    assert assert_error(other, grpc.StatusCode.INVALID_ARGUMENT, "request_id").reason == "REQUEST_ID_REUSED"
    assert list(listed.incidents) == [first]


async def test_unknown_container_is_not_found(c1: Api) -> None:
    """A report on a container that does not exist is NOT_FOUND on incident.container."""
    err = await rpc_error(_stub(c1).CreateIncident(_report("r-1", container=f"{TENANT}/containers/ghost")))

    assert_error(err, grpc.StatusCode.NOT_FOUND, "incident.container")


async def test_bad_report_is_invalid(c1: Api) -> None:
    """No key, no kind and a container of another tenant are all named at once."""
    request = _report(
        "", kind=incidents_pb2.INCIDENT_KIND_UNSPECIFIED, container=f"{OTHER_TENANT}/containers/c1"
    )

    err = await rpc_error(_stub(c1).CreateIncident(request))

    assert_error(err, grpc.StatusCode.INVALID_ARGUMENT)
    assert set(violations(err)) == {"request_id", "incident.kind", "incident.container"}


async def test_filter_and_resolve(c1: Api) -> None:
    """ListIncidents filters on state and kind; a resolved incident leaves the open list."""
    overflow = await _stub(c1).CreateIncident(_report("r-1"))
    await _stub(c1).CreateIncident(_report("r-2", kind=incidents_pb2.INCIDENT_KIND_BLOCKED))

    resolved = await _stub(c1).ResolveIncident(incidents_pb2.ResolveIncidentRequest(name=overflow.name))
    still_open = await _stub(c1).ListIncidents(
        incidents_pb2.ListIncidentsRequest(parent=TENANT, filter="state = OPEN")
    )
    blocked = await _stub(c1).ListIncidents(
        incidents_pb2.ListIncidentsRequest(parent=TENANT, filter="kind = BLOCKED")
    )

    assert resolved.state == incidents_pb2.INCIDENT_STATE_RESOLVED
    assert resolved.HasField("resolve_time")
    assert [i.kind for i in still_open.incidents] == [incidents_pb2.INCIDENT_KIND_BLOCKED]
    assert [i.kind for i in blocked.incidents] == [incidents_pb2.INCIDENT_KIND_BLOCKED]


async def test_other_tenant_is_denied(c1: Api) -> None:
    """Every incident RPC on another tenant is PERMISSION_DENIED before any lookup."""
    stub = _stub(c1)
    other = f"{OTHER_TENANT}/incidents/1"
    calls: list[Awaitable[object]] = [
        stub.CreateIncident(_report("r-1", container=f"{OTHER_TENANT}/containers/c1", parent=OTHER_TENANT)),
        stub.GetIncident(incidents_pb2.GetIncidentRequest(name=other)),
        stub.ListIncidents(incidents_pb2.ListIncidentsRequest(parent=OTHER_TENANT)),
        stub.ResolveIncident(incidents_pb2.ResolveIncidentRequest(name=other)),
    ]
    for call in calls:
        assert_error(await rpc_error(call), grpc.StatusCode.PERMISSION_DENIED)


async def _planned(api: Api) -> set[str]:
    operation = await _wait(api, await _optimize(api, fill_threshold=None))
    assert not operation.HasField("error"), operation.error
    plan = planning_pb2.RoutePlan()
    operation.response.Unpack(plan)
    return {name for r in plan.routes for v in r.visits for name in v.containers} | {
        s.container for s in plan.skipped
    }


async def test_open_overflow_report_makes_a_mandatory_visit(c1: Api) -> None:
    """A nearly empty container with an open overflow report is planned; once resolved, it is not."""
    await create_fleet(c1)
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    await c1.readings.CreateReading(
        readings_pb2.CreateReadingRequest(
            parent=C1, reading=readings_pb2.Reading(measure_time=stamp, fill_fraction=0.1)
        )
    )
    assert await _planned(c1) == set()

    incident = await _stub(c1).CreateIncident(_report("r-1"))
    with_report = await _planned(c1)
    await _stub(c1).ResolveIncident(incidents_pb2.ResolveIncidentRequest(name=incident.name))

    assert with_report == {C1}
    assert await _planned(c1) == set()
