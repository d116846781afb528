"""AlertService on a real channel: alerts raised from ingested readings, their life cycle, WatchAlerts."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2

from tests.conftest import OTHER_TENANT, TENANT, Api, api_on, create_container, token
from tests.errors import assert_error, rpc_error
from wastesvc.client import open_channel
from wastesvc.config import Settings
from wastesvc.server import create_server
from wastesvc.v1 import (
    alerts_pb2,
    alerts_pb2_grpc,
    common_pb2,
    containers_pb2,
    observations_pb2,
    readings_pb2,
)

C1 = f"{TENANT}/containers/c1"
K = alerts_pb2


def _stamp(when: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return stamp


def _reading(hours_ago: float, fill: float = 0.4, **fields: Any) -> readings_pb2.Reading:
    when = datetime.now(UTC) - timedelta(hours=hours_ago)
    return readings_pb2.Reading(measure_time=_stamp(when), fill_fraction=fill, **fields)


async def _ingest(api: Api, readings: Sequence[readings_pb2.Reading], container: str = C1) -> None:
    response = await api.readings.BatchCreateReadings(
        readings_pb2.BatchCreateReadingsRequest(
            requests=[readings_pb2.CreateReadingRequest(parent=container, reading=r) for r in readings]
        )
    )
    assert response.rejected_count == 0, response


def _alerts(api: Api) -> alerts_pb2_grpc.AlertServiceAsyncStub:
    return alerts_pb2_grpc.AlertServiceStub(api.channel)


async def _listed(api: Api, filter_: str = "") -> list[alerts_pb2.Alert]:
    response = await _alerts(api).ListAlerts(alerts_pb2.ListAlertsRequest(parent=TENANT, filter=filter_))
    return list(response.alerts)


async def _next(call: grpc.aio.UnaryStreamCall[Any, Any]) -> alerts_pb2.WatchAlertsResponse:
    """The next message of a watch, within 10 s."""
    message = await asyncio.wait_for(call.read(), timeout=10)
    assert isinstance(message, alerts_pb2.WatchAlertsResponse), message
    return message


@pytest.fixture
async def c1(api: Api) -> Api:
    """A residual-waste container c1 (residual: its rate makes a long flat run suspicious)."""
    await create_container(api, "c1", stream=common_pb2.WASTE_STREAM_RESIDUAL)
    return api


@pytest.mark.parametrize(
    ("readings", "kind", "severity"),
    [
        ([_reading(1, battery_percent=12.0)], K.ALERT_KIND_LOW_BATTERY, K.ALERT_SEVERITY_WARNING),
        ([_reading(1, battery_percent=3.0)], K.ALERT_KIND_LOW_BATTERY, K.ALERT_SEVERITY_CRITICAL),
        ([_reading(1, tilted=True)], K.ALERT_KIND_TILTED, K.ALERT_SEVERITY_CRITICAL),
        ([_reading(1, temperature_celsius=85.0)], K.ALERT_KIND_FIRE, K.ALERT_SEVERITY_CRITICAL),
        (
            [_reading(h, fill=0.35) for h in range(14, 0, -1)],
            K.ALERT_KIND_STUCK_VALUE,
            K.ALERT_SEVERITY_WARNING,
        ),
        ([_reading(1, fill=1.5)], K.ALERT_KIND_IMPOSSIBLE_READING, K.ALERT_SEVERITY_WARNING),
        ([_reading(2, fill=0.9), _reading(1, fill=1.0)], K.ALERT_KIND_OVERFLOW, K.ALERT_SEVERITY_WARNING),
        (
            [_reading(h, fill=0.9 - 0.02 * h) for h in range(40, 30, -1)],
            K.ALERT_KIND_SENSOR_SILENT,
            K.ALERT_SEVERITY_WARNING,
        ),
    ],
    ids=["battery-low", "battery-flat", "tilted", "fire", "stuck", "impossible", "overflow", "silent"],
)
async def test_each_alert_kind_is_raised_from_ingested_readings(
    c1: Api, readings: list[readings_pb2.Reading], kind: int, severity: int
) -> None:
    """Readings showing a condition raise exactly one open alert of its kind on the container."""
    await _ingest(c1, readings)

    alerts = await _listed(c1)

    assert [(a.kind, a.severity, a.state, a.container) for a in alerts] == [
        (kind, severity, K.ALERT_STATE_OPEN, C1)
    ]
    got = await _alerts(c1).GetAlert(alerts_pb2.GetAlertRequest(name=alerts[0].name))
    assert got == alerts[0]
    assert got.detail


async def test_normal_readings_raise_no_alert(c1: Api) -> None:
    """A healthy, moving series with a good battery raises nothing."""
    await _ingest(c1, [_reading(h, fill=0.5 - 0.02 * h, battery_percent=80.0) for h in range(10, 0, -1)])

    assert await _listed(c1) == []


async def test_one_open_alert_per_container_and_kind(c1: Api) -> None:
    """A condition seen again by later batches keeps its single open alert."""
    for hours_ago in (3, 2, 1):
        await _ingest(c1, [_reading(hours_ago, tilted=True)])

    assert [a.kind for a in await _listed(c1)] == [K.ALERT_KIND_TILTED]


async def test_a_cleared_condition_resolves_its_alert(c1: Api) -> None:
    """A container set upright again resolves its TILTED alert (actor wastesvc)."""
    await _ingest(c1, [_reading(2, tilted=True)])
    await _ingest(c1, [_reading(1, tilted=False)])

    [alert] = await _listed(c1)
    assert alert.state == K.ALERT_STATE_RESOLVED
    assert alert.actor == "wastesvc"
    assert alert.HasField("resolve_time")


async def test_outlier_never_moves_the_container_fill(c1: Api) -> None:
    """An impossible reading newer than a good one leaves the container's latest fill on the good one."""
    await _ingest(c1, [_reading(2, fill=0.4), _reading(1, fill=7.0)])

    container = await c1.containers.GetContainer(containers_pb2.GetContainerRequest(name=C1))

    assert container.latest_fill == pytest.approx(0.4)
    assert [a.kind for a in await _listed(c1)] == [K.ALERT_KIND_IMPOSSIBLE_READING]


async def test_sensor_emptying_is_stored_as_the_last_emptying(c1: Api) -> None:
    """A sustained drop in the series moves the container's last_emptied_time to the detected emptying."""
    rising = [_reading(20 - h, fill=0.3 + 0.05 * h) for h in range(10)]
    after = [_reading(9 - h, fill=0.05 + 0.01 * h) for h in range(8)]
    await _ingest(c1, rising + after)

    container = await c1.containers.GetContainer(containers_pb2.GetContainerRequest(name=C1))

    emptied = container.last_emptied_time.ToDatetime(UTC)
    assert rising[-1].measure_time.ToDatetime(UTC) <= emptied <= after[0].measure_time.ToDatetime(UTC)


async def test_acknowledge_then_resolve(c1: Api) -> None:
    """An alert goes OPEN → ACKNOWLEDGED → RESOLVED; a resolved one cannot be acknowledged."""
    await _ingest(c1, [_reading(1, temperature_celsius=90.0)])
    [alert] = await _listed(c1)
    stub = _alerts(c1)

    acknowledged = await stub.AcknowledgeAlert(alerts_pb2.AcknowledgeAlertRequest(name=alert.name))
    resolved = await stub.ResolveAlert(alerts_pb2.ResolveAlertRequest(name=alert.name))
    err = await rpc_error(stub.AcknowledgeAlert(alerts_pb2.AcknowledgeAlertRequest(name=alert.name)))

    assert acknowledged.state == K.ALERT_STATE_ACKNOWLEDGED
    assert acknowledged.actor == "test-operator"
    assert resolved.state == K.ALERT_STATE_RESOLVED
    assert_error(err, grpc.StatusCode.FAILED_PRECONDITION)


async def test_list_filters_and_pages(c1: Api) -> None:
    """ListAlerts filters on state, kind and container, and pages newest first."""
    await create_container(c1, "c2")
    await _ingest(c1, [_reading(1, temperature_celsius=90.0, battery_percent=10.0)])
    await _ingest(c1, [_reading(1, tilted=True)], container=f"{TENANT}/containers/c2")

    fire = await _listed(c1, "kind = FIRE")
    on_c2 = await _listed(c1, f'container = "{TENANT}/containers/c2"')
    first = await _alerts(c1).ListAlerts(alerts_pb2.ListAlertsRequest(parent=TENANT, page_size=2))
    rest = await _alerts(c1).ListAlerts(
        alerts_pb2.ListAlertsRequest(parent=TENANT, page_size=2, page_token=first.next_page_token)
    )

    assert [a.kind for a in fire] == [K.ALERT_KIND_FIRE]
    assert [a.kind for a in on_c2] == [K.ALERT_KIND_TILTED]
    assert len(await _listed(c1, "state = OPEN")) == 3
    assert (len(first.alerts), len(rest.alerts), rest.next_page_token) == (2, 1, "")
    err = await rpc_error(
        _alerts(c1).ListAlerts(alerts_pb2.ListAlertsRequest(parent=TENANT, filter="state = HOT"))
    )
    assert_error(err, grpc.StatusCode.INVALID_ARGUMENT, "filter")


async def test_unknown_alert_is_not_found(c1: Api) -> None:
    """A name of no alert is NOT_FOUND."""
    err = await rpc_error(_alerts(c1).GetAlert(alerts_pb2.GetAlertRequest(name=f"{TENANT}/alerts/999")))

    assert_error(err, grpc.StatusCode.NOT_FOUND, "name")


async def test_watch_receives_an_alert_raised_by_a_later_ingest(c1: Api) -> None:
    """A dispatch watching the tenant receives the FIRE alert of a reading ingested after it started."""
    call = _alerts(c1).WatchAlerts(alerts_pb2.WatchAlertsRequest(parent=TENANT))
    await call.initial_metadata()

    await _ingest(c1, [_reading(1, temperature_celsius=95.0)])
    message = await _next(call)

    assert message.alert.kind == K.ALERT_KIND_FIRE
    assert message.alert.container == C1
    call.cancel()


async def test_watch_receives_state_changes(c1: Api) -> None:
    """Acknowledging an alert is streamed to watchers too."""
    await _ingest(c1, [_reading(1, tilted=True)])
    [alert] = await _listed(c1)
    call = _alerts(c1).WatchAlerts(alerts_pb2.WatchAlertsRequest(parent=TENANT))
    await call.initial_metadata()

    await _alerts(c1).AcknowledgeAlert(alerts_pb2.AcknowledgeAlertRequest(name=alert.name))
    message = await _next(call)

    assert (message.alert.name, message.alert.state) == (alert.name, K.ALERT_STATE_ACKNOWLEDGED)
    call.cancel()


async def test_other_tenant_is_denied_on_every_alert_rpc(c1: Api) -> None:
    """Names and parents of another tenant are PERMISSION_DENIED before any lookup, the stream too."""
    stub = _alerts(c1)
    other = f"{OTHER_TENANT}/alerts/1"
    calls: list[Awaitable[object]] = [
        stub.GetAlert(alerts_pb2.GetAlertRequest(name=other)),
        stub.ListAlerts(alerts_pb2.ListAlertsRequest(parent=OTHER_TENANT)),
        stub.AcknowledgeAlert(alerts_pb2.AcknowledgeAlertRequest(name=other)),
        stub.ResolveAlert(alerts_pb2.ResolveAlertRequest(name=other)),
    ]
    for call in calls:
        assert_error(await rpc_error(call), grpc.StatusCode.PERMISSION_DENIED)
    watch = stub.WatchAlerts(alerts_pb2.WatchAlertsRequest(parent=OTHER_TENANT))
    assert_error(await rpc_error(_next(watch)), grpc.StatusCode.PERMISSION_DENIED)


async def test_other_tenant_alerts_are_not_streamed(settings: Settings, c1: Api) -> None:
    """A watcher of one tenant never sees another tenant's alerts."""
    call = _alerts(c1).WatchAlerts(alerts_pb2.WatchAlertsRequest(parent=TENANT))
    await call.initial_metadata()
    async with open_channel(c1.address, settings, token(settings, tenant=OTHER_TENANT)) as channel:
        other = alerts_pb2_grpc.AlertServiceStub(channel)
        await other.ListAlerts(alerts_pb2.ListAlertsRequest(parent=OTHER_TENANT))
    await _ingest(c1, [_reading(1, tilted=True)])

    message = await _next(call)

    assert message.alert.container == C1
    call.cancel()


@pytest.fixture
async def fast_checks(settings: Settings) -> AsyncIterator[Api]:
    """A server whose periodic sensor check runs every 0.2 s."""
    quick = dataclasses.replace(settings, sensor_check_s=0.2)
    service, port = await create_server(quick.listen, quick)
    address = f"127.0.0.1:{port}"
    async with open_channel(address, quick, token(quick)) as channel:
        yield api_on(service, address, channel)
    await service.stop(None)


async def test_periodic_check_raises_and_clears_silent_sensor(fast_checks: Api) -> None:
    """A sensor reporting every second and then quiet is found silent by the periodic check; a new
    reading resolves the alert."""
    api = fast_checks
    await create_container(api, "c1", sensor_id="S-1")
    seconds = 1 / 3600
    await _ingest(api, [_reading(seconds * s) for s in (5, 4, 3, 2, 1)])

    deadline = asyncio.get_running_loop().time() + 15
    while not await _listed(api, "kind = SENSOR_SILENT"):
        assert asyncio.get_running_loop().time() < deadline, "the silent sensor was not found"
        await asyncio.sleep(0.2)
    await _ingest(api, [_reading(0)])

    [alert] = await _listed(api, "kind = SENSOR_SILENT")
    assert alert.state == K.ALERT_STATE_RESOLVED


async def test_fill_observation_raises_alerts_too(c1: Api) -> None:
    """A full container reported through the generic ObservationService raises its OVERFLOW alert."""
    stamp = _stamp(datetime.now(UTC) - timedelta(minutes=5))
    observation = observations_pb2.Observation(
        source="cms:test",
        entity_id="c1",
        entity_type="WasteContainer",
        property="fillingLevel",
        number_value=1.0,
        unit="C62",
        observe_time=stamp,
    )

    await c1.observations.CreateObservation(
        observations_pb2.CreateObservationRequest(parent=TENANT, observation=observation)
    )

    assert [a.kind for a in await _listed(c1)] == [K.ALERT_KIND_OVERFLOW]
