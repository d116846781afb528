"""The NGSI-LD adapter against a broker double over loopback HTTP and a real wastesvc server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import timestamp_pb2
from google.type import latlng_pb2

from adapters.ngsi.broker import Broker, UpsertResult
from adapters.ngsi.entities import container_entity
from adapters.ngsi.export import export, import_containers
from adapters.ngsi.sdm import SdmError, validate_entity
from adapters.service_client import Wastesvc
from tests.adapters.ngsi_double import serve_broker
from tests.conftest import TENANT, Api, create_container, create_fleet, token
from tests.dispatch.support import container_visits, event, published_day, send
from wastesvc.archive import export_tenant
from wastesvc.config import Settings
from wastesvc.storage import SqlStorage
from wastesvc.v1 import common_pb2, containers_pb2, dispatch_pb2, readings_pb2

TENANT_ID = TENANT.removeprefix("tenants/")


async def test_export_upserts_valid_entities_under_the_broker_tenant(api: Api, settings: Settings) -> None:
    """Containers, their isle and the vehicle reach the broker tenant; every entity passes its SDM schema."""
    await create_fleet(api)
    await create_container(api, "c1", isle="I-1", sensor_id="24E124136B502217")
    await create_container(api, "c2", isle="I-1", stream=common_pb2.WASTE_STREAM_PAPER)
    measured = timestamp_pb2.Timestamp()
    measured.FromDatetime(datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1))
    await api.readings.CreateReading(
        readings_pb2.CreateReadingRequest(
            parent=f"{TENANT}/containers/c1",
            reading=readings_pb2.Reading(measure_time=measured, fill_fraction=0.64),
        )
    )
    async with (
        serve_broker() as double,
        httpx.AsyncClient() as http,
        grpc.aio.insecure_channel(api.address) as channel,
    ):
        service = Wastesvc(channel, TENANT_ID, token(settings, "dispatch"))
        broker = Broker(double.url, "soissons", http)
        first = await export(service, broker, TENANT_ID)
        again = await export(service, broker, TENANT_ID)
    stored = double.entities["soissons"]
    for entity in stored.values():
        validate_entity(entity)
    c1 = stored[f"urn:ngsi-ld:WasteContainer:{TENANT_ID}:c1"]

    assert double.refused == []
    assert double.entities[""] == {}
    assert sorted(e["type"] for e in stored.values()) == [
        "Vehicle",
        "WasteContainer",
        "WasteContainer",
        "WasteContainerIsle",
    ]
    assert len(first.succeeded) == len(again.succeeded) == 4
    assert not first.errors
    assert c1["fillingLevel"]["value"] == pytest.approx(0.64)
    assert c1["fillingLevel"]["observedAt"] == measured.ToDatetime(tzinfo=UTC).isoformat().replace(
        "+00:00", "Z"
    )
    assert c1["refWasteContainerIsle"] == {
        "type": "Relationship",
        "object": f"urn:ngsi-ld:WasteContainerIsle:{TENANT_ID}:I-1",
    }
    assert stored[f"urn:ngsi-ld:WasteContainerIsle:{TENANT_ID}:I-1"]["refWasteContainer"]["object"] == [
        f"urn:ngsi-ld:WasteContainer:{TENANT_ID}:c1",
        f"urn:ngsi-ld:WasteContainer:{TENANT_ID}:c2",
    ]


async def test_an_entity_breaking_its_schema_is_not_sent() -> None:
    """A fill level above 1 is refused by the SDM schema before any request."""
    container = containers_pb2.Container(
        name=f"{TENANT}/containers/x", location=latlng_pb2.LatLng(latitude=49.38, longitude=3.32),
        stream=common_pb2.WASTE_STREAM_GLASS, volume_liters=3000,
    )  # fmt: skip
    entity = container_entity(container, TENANT_ID)
    entity["fillingLevel"] = {"type": "Property", "value": 1.5}
    async with serve_broker() as double, httpx.AsyncClient() as http:
        with pytest.raises(SdmError, match="fillingLevel"):
            await Broker(double.url, "", http).upsert([entity])
        assert double.upserts == 0


async def test_import_creates_the_broker_containers_the_service_lacks(api: Api, settings: Settings) -> None:
    """A glass bank is created once; a battery bin (no wastesvc stream) is refused with the reason."""
    bank = containers_pb2.Container(
        name="x/containers/bank-7", location=latlng_pb2.LatLng(latitude=49.381, longitude=3.325),
        stream=common_pb2.WASTE_STREAM_GLASS, volume_liters=4000, street_address="Rue du Commerce",
        locality="Soissons", isle="I-9",
    )  # fmt: skip
    batteries = container_entity(bank, "x") | {"id": "urn:ngsi-ld:WasteContainer:x:pile-1"}
    batteries["storedWasteKind"] = {"type": "Property", "value": "batteries"}
    async with (
        serve_broker() as double,
        httpx.AsyncClient() as http,
        grpc.aio.insecure_channel(api.address) as channel,
    ):
        double.entities["city"] = {e["id"]: e for e in (container_entity(bank, "x"), batteries)}
        service = Wastesvc(channel, TENANT_ID, token(settings, "operator"))
        broker = Broker(double.url, "city", http)
        first = await import_containers(service, broker, "02722")
        second = await import_containers(service, broker, "02722")
    created = await api.containers.GetContainer(
        containers_pb2.GetContainerRequest(name=f"{TENANT}/containers/bank-7")
    )

    assert (first.created, second.created, second.existing) == (["bank-7"], [], ["bank-7"])
    assert "batteries" in first.refused["urn:ngsi-ld:WasteContainer:x:pile-1"]
    assert (created.commune_code, created.volume_liters, created.isle, created.street_address) == (
        "02722", 4000, "I-9", "Rue du Commerce",
    )  # fmt: skip
    assert (created.location.latitude, created.stream) == (
        pytest.approx(49.381),
        common_pb2.WASTE_STREAM_GLASS,
    )


async def _exported(api: Api, settings: Settings) -> tuple[UpsertResult, dict[str, Any]]:
    """Exports the tenant to a broker double's default tenant: the result and what the broker holds."""
    async with (
        serve_broker() as double,
        httpx.AsyncClient() as http,
        grpc.aio.insecure_channel(api.address) as channel,
    ):
        service = Wastesvc(channel, TENANT_ID, token(settings, "dispatch"))
        result = await export(service, Broker(double.url, "", http), TENANT_ID)
    return result, double.entities[""]


async def test_export_publishes_crew_collections_as_the_archive_writes_them(
    api: Api, settings: Settings, tmp_path: Path
) -> None:
    """A visit reported COMPLETED becomes a WasteObserved per container, valid, linked to its container,
    truck and plan; the broker gets the very entities `wastesvc export` writes for the same data."""
    plan = await published_day(api, count=6)
    visit = container_visits(plan)[0]
    sent = event(dispatch_pb2.FIELD_EVENT_KIND_COMPLETED, visit.id, weighed_kg=420.0)
    await send(api, plan, sent)
    result, stored = await _exported(api, settings)
    observed = sorted((e for e in stored.values() if e["type"] == "WasteObserved"), key=lambda e: e["id"])
    for entity in stored.values():
        validate_entity(entity)

    assert not result.errors
    assert [e["refWasteContainer"]["object"] for e in observed] == sorted(
        f"urn:ngsi-ld:WasteContainer:{TENANT_ID}:{name.rsplit('/', 1)[-1]}" for name in visit.containers
    )
    assert sum(e["weight"]["value"] for e in observed) == pytest.approx(420.0)
    assert {e["refGarbageTruck"]["object"] for e in observed} == {
        f"urn:ngsi-ld:Vehicle:{TENANT_ID}:{plan.routes[0].vehicle.rsplit('/', 1)[-1]}"
    }
    assert {e["refServiceOrderId"]["object"] for e in observed} == {
        f"urn:ngsi-ld:RoutePlan:{TENANT_ID}:{plan.name.rsplit('/', 1)[-1]}"
    }
    assert {e["dateObserved"]["value"]["@value"] for e in observed} == {
        sent.event_time.ToDatetime(tzinfo=UTC).isoformat().replace("+00:00", "Z")
    }
    assert isinstance(api.service.storage, SqlStorage)
    export_tenant(api.service.storage.engine, TENANT_ID, tmp_path / "archive")
    archived = json.loads((tmp_path / "archive/ngsi-ld/collections.jsonld").read_text(encoding="utf-8"))
    assert sorted(archived, key=lambda e: e["id"]) == observed
    containers = json.loads((tmp_path / "archive/ngsi-ld/containers.jsonld").read_text(encoding="utf-8"))
    assert containers == [e for e in stored.values() if e["type"] == "WasteContainer"]


async def test_export_publishes_sensor_detected_emptyings(
    api: Api, settings: Settings, tmp_path: Path
) -> None:
    """An emptying the service detects in a sensor's readings becomes a valid WasteObserved from the
    sensor, at the container, the very entity `wastesvc export` writes; before, only dateLastEmptying."""
    await create_container(api, "c1", stream=common_pb2.WASTE_STREAM_RESIDUAL)
    now = datetime.now(UTC).replace(microsecond=0)

    def reading(hours_ago: int, fill: float) -> readings_pb2.CreateReadingRequest:
        stamp = timestamp_pb2.Timestamp()
        stamp.FromDatetime(now - timedelta(hours=hours_ago))
        return readings_pb2.CreateReadingRequest(
            parent=f"{TENANT}/containers/c1",
            reading=readings_pb2.Reading(measure_time=stamp, fill_fraction=fill),
        )

    rising = [reading(20 - h, 0.3 + 0.05 * h) for h in range(10)]
    after = [reading(9 - h, 0.05 + 0.01 * h) for h in range(8)]
    await api.readings.BatchCreateReadings(readings_pb2.BatchCreateReadingsRequest(requests=rising + after))
    result, stored = await _exported(api, settings)
    [observed] = [e for e in stored.values() if e["type"] == "WasteObserved"]
    validate_entity(observed)

    assert not result.errors
    assert observed["dataProvider"]["value"] == "sensor"
    assert observed["refWasteContainer"]["object"] == f"urn:ngsi-ld:WasteContainer:{TENANT_ID}:c1"
    when = datetime.fromisoformat(observed["dateObserved"]["value"]["@value"])
    assert now - timedelta(hours=11) <= when <= now - timedelta(hours=9)
    assert isinstance(api.service.storage, SqlStorage)
    export_tenant(api.service.storage.engine, TENANT_ID, tmp_path / "archive")
    archived = json.loads((tmp_path / "archive/ngsi-ld/collections.jsonld").read_text(encoding="utf-8"))
    assert archived == [observed]
