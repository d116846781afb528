"""Field events: every kind, idempotency, late events, contradictions, unknown names, the cab's stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
from google.type import latlng_pb2

from tests.conftest import TENANT, Api, token
from tests.dispatch.support import VEHICLE, container_visits, event, published_day, send
from tests.errors import assert_error, rpc_error
from wastesvc.client import open_channel
from wastesvc.config import Settings
from wastesvc.v1 import (
    common_pb2,
    containers_pb2,
    dispatch_pb2,
    dispatch_pb2_grpc,
    planning_pb2,
)

K = dispatch_pb2


async def _route(api: Api, plan: planning_pb2.RoutePlan) -> planning_pb2.VehicleRoute:
    return await api.dispatch.GetVehicleRoute(dispatch_pb2.GetVehicleRouteRequest(name=plan.routes[0].name))


async def test_completed_visit_records_a_crew_collection_of_each_container(api: Api) -> None:
    """COMPLETED marks the visit done and moves each container's last emptying to the event time."""
    plan = await published_day(api)
    visit = container_visits(plan)[0]
    sent = event(K.FIELD_EVENT_KIND_COMPLETED, visit.id, weighed_kg=420.0, observed_fill=0.8)
    stored = await send(api, plan, sent)
    assert stored.name == f"{plan.name}/fieldEvents/{sent.event_id}"
    route = await _route(api, plan)
    assert next(v for v in route.visits if v.id == visit.id).status == planning_pb2.VISIT_STATUS_DONE
    for name in visit.containers:
        container = await api.containers.GetContainer(containers_pb2.GetContainerRequest(name=name))
        assert container.last_emptied_time == sent.event_time


async def test_skipped_visit_keeps_its_cause_and_its_container_eligible(api: Api) -> None:
    """SKIPPED shows the cause on the visit and leaves the container's last emptying alone."""
    plan = await published_day(api)
    visit = container_visits(plan)[1]
    before = await api.containers.GetContainer(containers_pb2.GetContainerRequest(name=visit.containers[0]))
    await send(
        api,
        plan,
        event(K.FIELD_EVENT_KIND_SKIPPED, visit.id, skip_cause=planning_pb2.SKIP_CAUSE_BLOCKED_ACCESS),
    )
    shown = next(v for v in (await _route(api, plan)).visits if v.id == visit.id)
    assert (shown.status, shown.skip_cause) == (
        planning_pb2.VISIT_STATUS_SKIPPED,
        planning_pb2.SKIP_CAUSE_BLOCKED_ACCESS,
    )
    after = await api.containers.GetContainer(containers_pb2.GetContainerRequest(name=visit.containers[0]))
    assert after.last_emptied_time == before.last_emptied_time


async def test_truck_events_are_stored_in_field_order_per_vehicle(api: Api) -> None:
    """ARRIVED, POSITION, BREAKDOWN and BACK_IN_SERVICE are stored; the listing orders them by field time."""
    plan = await published_day(api)
    visit = container_visits(plan)[0]
    position = latlng_pb2.LatLng(latitude=49.38, longitude=3.32)
    sent = [
        event(K.FIELD_EVENT_KIND_BACK_IN_SERVICE, minutes_ago=5),
        event(K.FIELD_EVENT_KIND_ARRIVED, visit.id, minutes_ago=40),
        event(K.FIELD_EVENT_KIND_BREAKDOWN, minutes_ago=20, location=position),
        event(K.FIELD_EVENT_KIND_POSITION, minutes_ago=30, location=position),
    ]
    for e in sent:
        await send(api, plan, e)
    listed = await api.dispatch.ListFieldEvents(
        dispatch_pb2.ListFieldEventsRequest(parent=plan.name, vehicle=VEHICLE)
    )
    assert [e.event_id for e in listed.field_events] == [sent[i].event_id for i in (1, 3, 2, 0)]
    shown = next(v for v in (await _route(api, plan)).visits if v.id == visit.id)
    assert shown.status == planning_pb2.VISIT_STATUS_ARRIVED


async def test_resent_event_is_stored_once_and_a_late_one_changes_nothing(api: Api) -> None:
    """The same event twice is one event; an ARRIVED that arrives after the COMPLETED keeps the visit done."""
    plan = await published_day(api)
    visit = container_visits(plan)[0]
    completed = event(K.FIELD_EVENT_KIND_COMPLETED, visit.id, minutes_ago=10)
    first = await send(api, plan, completed)
    again = await send(api, plan, completed)
    assert again == first
    await send(api, plan, event(K.FIELD_EVENT_KIND_ARRIVED, visit.id, minutes_ago=15))
    shown = next(v for v in (await _route(api, plan)).visits if v.id == visit.id)
    assert shown.status == planning_pb2.VISIT_STATUS_DONE
    listed = await api.dispatch.ListFieldEvents(dispatch_pb2.ListFieldEventsRequest(parent=plan.name))
    assert len(listed.field_events) == 2


async def test_contradicting_events_are_refused_with_a_reason(api: Api) -> None:
    """An id re-used with other content, a second completion with other data, a skip of a done visit."""
    plan = await published_day(api)
    visit = container_visits(plan)[0]
    completed = event(K.FIELD_EVENT_KIND_COMPLETED, visit.id, weighed_kg=300.0)
    await send(api, plan, completed)
    changed = dispatch_pb2.FieldEvent()
    changed.CopyFrom(completed)
    changed.weighed_kg = 310.0
    err = await rpc_error(send(api, plan, changed))
    assert assert_error(err, grpc.StatusCode.ALREADY_EXISTS).reason == "FIELD_EVENT_CONFLICT"
    err = await rpc_error(send(api, plan, event(K.FIELD_EVENT_KIND_COMPLETED, visit.id, weighed_kg=500.0)))
    assert assert_error(err, grpc.StatusCode.FAILED_PRECONDITION).reason == "VISIT_ALREADY_COMPLETED"
    skip = event(K.FIELD_EVENT_KIND_SKIPPED, visit.id, skip_cause=planning_pb2.SKIP_CAUSE_DAMAGED)
    err = await rpc_error(send(api, plan, skip))
    assert assert_error(err, grpc.StatusCode.FAILED_PRECONDITION).reason == "VISIT_ALREADY_COMPLETED"
    # The same completion again under a new id says nothing new and is accepted.
    await send(api, plan, event(K.FIELD_EVENT_KIND_COMPLETED, visit.id, weighed_kg=300.0))


async def test_unknown_plan_vehicle_or_visit_is_not_found_and_bad_events_are_invalid(api: Api) -> None:
    """NOT_FOUND names the unknown plan, vehicle or visit; a malformed event is INVALID_ARGUMENT."""
    plan = await published_day(api)
    ghost = planning_pb2.RoutePlan(name=f"{TENANT}/routePlans/nope")
    err = await rpc_error(send(api, ghost, event(K.FIELD_EVENT_KIND_POSITION, location=latlng_pb2.LatLng())))
    assert_error(err, grpc.StatusCode.NOT_FOUND, "parent")
    err = await rpc_error(
        send(api, plan, event(K.FIELD_EVENT_KIND_BREAKDOWN, vehicle=f"{TENANT}/vehicles/bom-99"))
    )
    assert_error(err, grpc.StatusCode.NOT_FOUND, "field_event.vehicle")
    err = await rpc_error(send(api, plan, event(K.FIELD_EVENT_KIND_ARRIVED, "no-such-visit")))
    assert_error(err, grpc.StatusCode.NOT_FOUND, "field_event.visit_id")
    err = await rpc_error(send(api, plan, event(K.FIELD_EVENT_KIND_SKIPPED, container_visits(plan)[0].id)))
    assert_error(err, grpc.StatusCode.INVALID_ARGUMENT, "field_event.skip_cause")
    err = await rpc_error(send(api, plan, event(K.FIELD_EVENT_KIND_ARRIVED, "x", minutes_ago=-60)))
    assert_error(err, grpc.StatusCode.INVALID_ARGUMENT, "field_event.event_time")


async def test_driver_stream_acknowledges_each_event_and_keeps_them_after_a_break(
    api: Api, settings: Settings
) -> None:
    """A driver's token streams events; a bad one is acknowledged REJECTED; after the stream breaks, every
    acknowledged event is stored."""
    plan = await published_day(api)
    visits = container_visits(plan)
    sent = [
        event(K.FIELD_EVENT_KIND_ARRIVED, visits[0].id, minutes_ago=50),
        event(K.FIELD_EVENT_KIND_ARRIVED, "no-such-visit", minutes_ago=49),
        event(K.FIELD_EVENT_KIND_COMPLETED, visits[0].id, minutes_ago=48),
    ]
    sent.append(sent[0])
    acks: list[dispatch_pb2.StreamFieldEventsResponse] = []
    never_sent = event(K.FIELD_EVENT_KIND_COMPLETED, visits[1].id, minutes_ago=47)
    all_acked = asyncio.Event()

    async def requests() -> AsyncIterator[dispatch_pb2.StreamFieldEventsRequest]:
        for e in sent:
            yield dispatch_pb2.StreamFieldEventsRequest(parent=plan.name, field_event=e)
        await all_acked.wait()
        await asyncio.sleep(30)  # the cab loses its network here: the call is cancelled first
        yield dispatch_pb2.StreamFieldEventsRequest(parent=plan.name, field_event=never_sent)

    async with open_channel(api.address, settings, token(settings, "driver")) as channel:
        call = dispatch_pb2_grpc.DispatchServiceStub(channel).StreamFieldEvents(requests())
        async for ack in call:
            acks.append(ack)
            if len(acks) == len(sent):
                all_acked.set()
                call.cancel()
                break
    assert [a.event_id for a in acks] == [e.event_id for e in sent]
    assert [a.outcome for a in acks] == [
        common_pb2.ITEM_OUTCOME_STORED,
        common_pb2.ITEM_OUTCOME_REJECTED,
        common_pb2.ITEM_OUTCOME_STORED,
        common_pb2.ITEM_OUTCOME_DUPLICATE,
    ]
    assert acks[1].error.code == grpc.StatusCode.NOT_FOUND.value[0]
    listed = await api.dispatch.ListFieldEvents(dispatch_pb2.ListFieldEventsRequest(parent=plan.name))
    assert {e.event_id for e in listed.field_events} == {sent[0].event_id, sent[2].event_id}


async def test_a_driver_cannot_publish_and_a_reader_cannot_report(api: Api, settings: Settings) -> None:
    """Publishing needs the plan scope, events the field scope."""
    plan = await published_day(api)
    async with open_channel(api.address, settings, token(settings, "driver")) as channel:
        err = await rpc_error(
            dispatch_pb2_grpc.DispatchServiceStub(channel).CloseRoutePlan(
                dispatch_pb2.CloseRoutePlanRequest(name=plan.name)
            )
        )
        assert_error(err, grpc.StatusCode.PERMISSION_DENIED)
    async with open_channel(api.address, settings, token(settings, "agent")) as channel:
        stub = dispatch_pb2_grpc.DispatchServiceStub(channel)
        err = await rpc_error(
            stub.CreateFieldEvent(
                dispatch_pb2.CreateFieldEventRequest(
                    parent=plan.name,
                    field_event=event(K.FIELD_EVENT_KIND_ARRIVED, container_visits(plan)[0].id),
                )
            )
        )
        assert_error(err, grpc.StatusCode.PERMISSION_DENIED)
