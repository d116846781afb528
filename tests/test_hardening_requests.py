"""Every request's fields are held to the same limits, whichever RPC carries them, and however many
violations a request has, the error fits in the reply."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message

from tests.conftest import TENANT, Api, container_message
from tests.dispatch.support import container_visits, event, published_day, send
from tests.errors import assert_error, error_info, rpc_error, violations
from wastesvc.v1 import (
    alerts_pb2,
    common_pb2,
    containers_pb2,
    dispatch_pb2,
    fleet_pb2,
    incidents_pb2,
    incidents_pb2_grpc,
    observations_pb2,
    planning_pb2,
    policies_pb2,
    readings_pb2,
)

INVALID = grpc.StatusCode.INVALID_ARGUMENT
_MODULES = (
    alerts_pb2,
    containers_pb2,
    dispatch_pb2,
    fleet_pb2,
    incidents_pb2,
    observations_pb2,
    planning_pb2,
    policies_pb2,
    readings_pb2,
)


# Ingest checks each reading or observation itself, after the request's shape.
_CHECKED_PER_ITEM = {"CreateReading", "BatchCreateReadings", "CreateObservation", "BatchCreateObservations"}


def _server_streaming_or_unary() -> list[MethodDescriptor]:
    return [
        method
        for module in _MODULES
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
        if not method.client_streaming
    ]


def _overlong_first_string(message: Message, prefix: str = "") -> str | None:
    """Sets the first string field found (depth first) to 10,000 characters; returns its path."""
    for field in message.DESCRIPTOR.fields:
        path = f"{prefix}{field.name}"
        if field.type == FieldDescriptor.TYPE_STRING:
            if field.is_repeated:
                getattr(message, field.name).append("a" * 10_000)
                return f"{path}[0]"
            setattr(message, field.name, "a" * 10_000)
            return path
        if field.type == FieldDescriptor.TYPE_MESSAGE and not field.is_repeated:
            found = _overlong_first_string(getattr(message, field.name), f"{path}.")
            if found is not None:
                return found
    return None


@pytest.mark.parametrize("method", _server_streaming_or_unary(), ids=lambda m: m.name)
async def test_an_overlong_string_is_invalid_in_every_rpc(api: Api, method: MethodDescriptor) -> None:
    """10,000 characters in a request's first string field: INVALID_ARGUMENT naming it, never OK,
    INTERNAL or a reply too large for its headers."""
    request_class = message_factory.GetMessageClass(method.input_type)
    request = request_class()
    field = _overlong_first_string(request)
    assert field is not None
    path = f"/{method.containing_service.full_name}/{method.name}"
    call: Callable[..., Any] = (
        api.channel.unary_stream(path, request_serializer=request_class.SerializeToString)
        if method.server_streaming
        else api.channel.unary_unary(path, request_serializer=request_class.SerializeToString)
    )

    async def invoke() -> None:
        if method.server_streaming:
            async for _ in call(request):
                pass
        else:
            await call(request)

    err = await rpc_error(invoke())

    assert err.code() == INVALID, f"{method.name}: {err.code()} {err.details()}"
    assert len(err.details() or "") < 1000
    if method.name not in _CHECKED_PER_ITEM:  # these name their missing items first
        assert field in violations(err), f"{method.name}: {violations(err)}"


async def test_an_echoed_malformed_name_is_shortened(api: Api) -> None:
    """A malformed name within the length limit is quoted shortened, so the reply's headers hold it."""
    untyped: Any = api.containers
    name = "x" * 299

    err = await rpc_error(untyped.GetContainer(containers_pb2.GetContainerRequest(name=name)))

    assert_error(err, INVALID, "name")
    assert name not in (err.details() or "")
    assert name not in violations(err)["name"]


async def test_hundreds_of_violations_still_fit_in_the_reply(api: Api) -> None:
    """300 bad vehicle names: INVALID_ARGUMENT listing what the trailers can hold and counting the rest
    (gRPC refused the reply as RESOURCE_EXHAUSTED when every violation was listed)."""
    request = planning_pb2.OptimizeRoutesRequest(
        parent=TENANT, vehicles=[f"not a vehicle name {i}" for i in range(300)]
    )
    request.service_date.year, request.service_date.month, request.service_date.day = 2030, 6, 3
    untyped: Any = api.planning

    err = await rpc_error(untyped.OptimizeRoutes(request))

    info = assert_error(err, INVALID, "vehicles[0]")
    listed = len(violations(err))
    assert 0 < listed < 300
    assert int(info.metadata["unlisted_violations"]) == 300 - listed


async def test_a_replan_with_an_out_of_range_time_limit_or_request_id_is_invalid(api: Api) -> None:
    plan = await published_day(api)
    too_long = dispatch_pb2.ReplanRoutesRequest(name=plan.name)
    too_long.time_limit.seconds = 2**62
    bad_ids = [dispatch_pb2.ReplanRoutesRequest(name=plan.name, request_id=i) for i in ("q\x00", "q" * 129)]
    untyped: Any = api.dispatch

    assert_error(await rpc_error(untyped.ReplanRoutes(too_long)), INVALID, "time_limit")
    for request in bad_ids:
        assert_error(await rpc_error(untyped.ReplanRoutes(request)), INVALID, "request_id")


_BAD_EVENT_FIELDS: list[tuple[str, Callable[[dispatch_pb2.FieldEvent], None]]] = [
    ("event_time", lambda e: setattr(e.event_time, "nanos", -5)),
    ("event_time", lambda e: setattr(e.event_time, "seconds", -(2**62))),
    ("weighed_kg", lambda e: setattr(e, "weighed_kg", float("nan"))),
    ("weighed_kg", lambda e: setattr(e, "weighed_kg", float("inf"))),
    ("note", lambda e: setattr(e, "note", "n" * 501)),
    ("note", lambda e: setattr(e, "note", "a\x00b")),
    ("event_id", lambda e: setattr(e, "event_id", "e\x00x")),
]


async def test_field_events_out_of_range_are_invalid_alone_or_streamed(api: Api) -> None:
    """Each bad value is refused naming its field, sent alone or in a stream (which goes on after it),
    and nothing of it is stored."""
    plan = await published_day(api)
    visit = container_visits(plan)[0].id
    bad = []
    for _, spoil in _BAD_EVENT_FIELDS:
        field_event = event(dispatch_pb2.FIELD_EVENT_KIND_ARRIVED, visit)
        spoil(field_event)
        bad.append(field_event)

    for (field, _), field_event in zip(_BAD_EVENT_FIELDS, bad, strict=True):
        assert_error(await rpc_error(send(api, plan, field_event)), INVALID, f"field_event.{field}")
    streamed = [
        response
        async for response in api.dispatch.StreamFieldEvents(
            iter(dispatch_pb2.StreamFieldEventsRequest(parent=plan.name, field_event=e) for e in bad)
        )
    ]

    assert [r.outcome for r in streamed] == [common_pb2.ITEM_OUTCOME_REJECTED] * len(bad)
    assert all(r.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0] for r in streamed)
    listed = await api.dispatch.ListFieldEvents(dispatch_pb2.ListFieldEventsRequest(parent=plan.name))
    assert not listed.field_events


async def test_sheet_ticks_with_an_out_of_range_round_time_are_invalid(api: Api) -> None:
    request = dispatch_pb2.SubmitSheetTicksRequest(sheet_code="WS1:whatever")
    request.round_time.nanos = -1
    untyped: Any = api.dispatch

    assert_error(await rpc_error(untyped.SubmitSheetTicks(request)), INVALID, "round_time")


@pytest.mark.parametrize("field", ["description", "reporter", "request_id"])
async def test_an_incident_with_a_nul_character_is_invalid(api: Api, field: str) -> None:
    """On PostgreSQL a NUL reached the database as a DataError (INTERNAL)."""
    untyped: Any = api.containers
    await untyped.CreateContainer(
        containers_pb2.CreateContainerRequest(parent=TENANT, container_id="c1", container=container_message())
    )
    incident = incidents_pb2.Incident(
        container=f"{TENANT}/containers/c1", kind=incidents_pb2.INCIDENT_KIND_OVERFLOWING
    )
    request = incidents_pb2.CreateIncidentRequest(
        parent=TENANT, incident=incident, request_id=str(uuid.uuid4())
    )
    if field == "request_id":
        request.request_id = "r\x004"
    else:
        setattr(request.incident, field, "a\x00b")
    stub: Any = incidents_pb2_grpc.IncidentServiceStub(api.channel)

    err = await rpc_error(stub.CreateIncident(request))

    assert_error(err, INVALID, field if field == "request_id" else f"incident.{field}")
    assert error_info(err).reason == "INVALID_ARGUMENT"
