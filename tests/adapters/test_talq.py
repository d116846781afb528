"""The TALQ lighting adapter against a gateway double over loopback HTTP and a real wastesvc server."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import grpc
import httpx
import pytest
from aiohttp import web
from google.protobuf import timestamp_pb2
from google.type import latlng_pb2

from adapters.service_client import Wastesvc
from adapters.talq.bridge import light_round, poll, store_values
from adapters.talq.client import TalqClient, TalqError
from adapters.talq.config import ConfigError, load_settings
from adapters.talq.lighting import CommuneLighting, LightingSettings, luminaires, plan_overrides
from adapters.talq.observations import from_log_report
from adapters.talq.openapi import talq_schemas
from adapters.talq.receiver import log_report_app
from tests.adapters.talq_double import filling_sensor, lamp, log_report, serve_gateway
from tests.conftest import TENANT, Api, create_container, token
from tests.test_planning import _optimize, _seed, _wait
from wastesvc.config import Settings
from wastesvc.v1 import containers_pb2, observations_pb2, planning_pb2, readings_pb2

CMS = "0b6c9c1e-8a55-4d0c-9d36-6f0f5c1d2a77"
BIN_NODE = "6f1c5b1e-3f0e-4c59-9d6a-2b5e4f0b9c11"
PRESENCE_NODE = "a3d2c4e5-1b2c-4d5e-8f90-123456789abc"
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
TENANT_ID = TENANT.removeprefix("tenants/")


async def _observations(api: Api) -> list[observations_pb2.Observation]:
    response = await api.observations.ListObservations(
        observations_pb2.ListObservationsRequest(parent=TENANT, page_size=100)
    )
    return list(response.observations)


async def test_devices_and_log_reports_become_observations_and_a_reading(
    api: Api, settings: Settings
) -> None:
    """/devices and a log report give fill, temperature and presence; the bound bin's fill is a reading."""
    await create_container(api, "c1")
    async with serve_gateway() as gateway, httpx.AsyncClient() as http:
        gateway.devices = [filling_sensor(BIN_NODE, 72, 11.5, NOW)]
        gateway.reports["logger-1"] = log_report(
            "logger-1",
            [
                (
                    f"{PRESENCE_NODE}/presence",
                    "presenceStatus",
                    {"type": "AttributeBoolean", "value": True},
                    NOW,
                )
            ],
        )
        async with grpc.aio.insecure_channel(api.address) as channel:
            service = Wastesvc(channel, TENANT_ID, token(settings, "gateway"))
            client = TalqClient(gateway.url, CMS, http)
            first = await poll(client, service, "talq:test", {BIN_NODE: "c1"}, ["logger-1"])
            again = await poll(client, service, "talq:test", {BIN_NODE: "c1"}, ["logger-1"])
        assert gateway.schema_errors == []
    readings = await api.readings.ListReadings(
        readings_pb2.ListReadingsRequest(parent=f"{TENANT}/containers/c1")
    )
    seen = {(o.entity_type, o.entity_id, o.property, o.WhichOneof("value")) for o in await _observations(api)}

    assert first == {"stored": 3}
    assert again == {"duplicate": 3}
    assert seen == {
        ("WasteContainer", "c1", "fillingLevel", "number_value"),
        ("WasteContainer", "c1", "temperature", "number_value"),
        ("Device", PRESENCE_NODE, "presence", "bool_value"),
    }
    assert [round(r.fill_fraction, 2) for r in readings.readings] == [0.72]


async def test_a_gateway_answer_outside_the_schema_is_an_error() -> None:
    """A device without its mandatory ``class``, or a percentage that is not a number, is refused."""
    async with serve_gateway() as gateway, httpx.AsyncClient() as http:
        gateway.check_answers = False
        client = TalqClient(gateway.url, CMS, http)
        broken = filling_sensor(BIN_NODE, 50, 10.0, NOW)
        del broken["class"]
        gateway.devices = [broken]
        with pytest.raises(TalqError, match="'class' is a required property"):
            await client.devices()
        wrong_value = filling_sensor(BIN_NODE, 50, 10.0, NOW)
        wrong_value["functions"][0]["fillingPercentage"]["value"] = "half"
        gateway.devices = [wrong_value]
        with pytest.raises(TalqError, match="fillingPercentage"):
            await client.devices()


async def _serve_receiver(handle: Any) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(log_report_app(handle))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/log-reports"


async def test_pushed_log_reports_are_stored_and_bad_ones_refused(api: Api, settings: Settings) -> None:
    """POST /log-reports: 201 and stored when valid; 400 with TALQ error keys when not."""
    async with grpc.aio.insecure_channel(api.address) as channel:
        service = Wastesvc(channel, TENANT_ID, token(settings, "gateway"))

        async def handle(report: dict[str, Any]) -> None:
            await store_values(from_log_report(report), service, "talq:test", {})

        runner, url = await _serve_receiver(handle)
        report = log_report(
            "logger-1", [(PRESENCE_NODE, "temperature", {"type": "AttributeFloat", "value": 61.0}, NOW)]
        )
        query = {"clientAddress": CMS, "talqRequestId": str(uuid.uuid4())}
        headers = {"talq-api-version": "2.7.1"}
        try:
            async with httpx.AsyncClient() as http:
                ok = await http.post(url, params=query, headers=headers, json=report)
                no_header = await http.post(url, params=query, json=report)
                no_request_id = await http.post(
                    url, params={"clientAddress": CMS}, headers=headers, json=report
                )
                bad_entry = {"address": "logger-1", "entries": [{"data": {"type": "AttributeLogData"}}]}
                bad_body = await http.post(url, params=query, headers=headers, json=bad_entry)
        finally:
            await runner.cleanup()
    schemas = talq_schemas()
    for response in (no_header, no_request_id, bad_body):
        schemas.validate_response("cms", "POST", "/log-reports", response.status_code, response.json())
    stored = await _observations(api)

    assert ok.status_code == 201
    assert [r.json()[0]["key"] for r in (no_header, no_request_id, bad_body)] == [
        "headerMissing",
        "parameterMissing",
        "payloadError",
    ]
    assert [(o.entity_id, o.property, o.number_value, o.unit) for o in stored] == [
        (PRESENCE_NODE, "temperature", 61.0, "CEL")
    ]


def _visit(container: str, lat: float, lng: float, start: datetime, minutes: int) -> planning_pb2.Visit:
    begin, end = timestamp_pb2.Timestamp(), timestamp_pb2.Timestamp()
    begin.FromDatetime(start)
    end.FromDatetime(start + timedelta(minutes=minutes))
    return planning_pb2.Visit(
        kind=planning_pb2.VISIT_KIND_CONTAINER,
        containers=[container],
        location=latlng_pb2.LatLng(latitude=lat, longitude=lng),
        start_time=begin,
        end_time=end,
    )


def test_night_stops_light_nearby_lamps_with_merged_slots_per_commune() -> None:
    """Close night stops merge into one slot; a day stop and a far lamp get nothing; dry run per commune."""
    paris = ZoneInfo("Europe/Paris")
    night = datetime(2026, 12, 1, 5, 0, tzinfo=paris)
    plan = planning_pb2.RoutePlan(
        name=f"{TENANT}/routePlans/p1",
        routes=[
            planning_pb2.VehicleRoute(
                visits=[
                    _visit("a", 49.3800, 3.3200, night, 10),
                    _visit("b", 49.3801, 3.3201, night + timedelta(minutes=15), 10),
                    _visit("c", 49.3900, 3.3300, night + timedelta(minutes=40), 10),  # other commune
                    _visit("d", 49.3800, 3.3200, night + timedelta(hours=5), 10),  # 10:00, daylight
                ]
            )
        ],
    )
    containers = {
        "a": containers_pb2.Container(commune_code="02722"),
        "b": containers_pb2.Container(commune_code="02722"),
        "c": containers_pb2.Container(commune_code="02131"),
        "d": containers_pb2.Container(commune_code="02722"),
    }
    lamps = luminaires(
        [lamp("L-near", 49.3802, 3.3201), lamp("L-far", 49.4, 3.4), lamp("L-c", 49.3901, 3.3300)]
    )
    settings = LightingSettings(communes={"02722": CommuneLighting(dry_run=False)})

    overrides = plan_overrides(plan, containers, lamps, settings)

    utc = night.astimezone(UTC)
    assert [(o.addresses, o.start, o.end, o.commune, o.dry_run) for o in overrides] == [
        (("L-near",), utc - timedelta(minutes=5), utc + timedelta(minutes=30), "02722", False),
        (("L-c",), utc + timedelta(minutes=35), utc + timedelta(minutes=55), "02131", True),
    ]
    opted_out = LightingSettings(communes={"02722": CommuneLighting(enabled=False)})
    assert [o.commune for o in plan_overrides(plan, containers, lamps, opted_out)] == ["02131"]


async def test_a_published_plan_lights_its_morning_stops_through_the_gateway(
    api: Api, settings: Settings
) -> None:
    """The adapter reads the day's plan from the service and sends valid overrides for lamps at its stops."""
    await _seed(api, count=9)
    operation = await _wait(api, await _optimize(api, seconds=1))
    plan = planning_pb2.RoutePlan()
    operation.response.Unpack(plan)
    stops = [v for r in plan.routes for v in r.visits if v.kind == planning_pb2.VISIT_KIND_CONTAINER]
    assert stops, "the plan has no stop"
    day = plan.service_date
    morning = LightingSettings(
        night_start=time(4, 0), night_end=time(23, 0), default=CommuneLighting(dry_run=False)
    )
    async with serve_gateway() as gateway, httpx.AsyncClient() as http:
        gateway.devices = [
            lamp(str(uuid.uuid4()), s.location.latitude, s.location.longitude) for s in stops[:2]
        ]
        gateway.devices.append(lamp(str(uuid.uuid4()), 48.85, 2.35))  # in Paris: never near a stop
        async with grpc.aio.insecure_channel(api.address) as channel:
            service = Wastesvc(channel, TENANT_ID, token(settings, "dispatch"))
            client = TalqClient(gateway.url, CMS, http)
            lit = await light_round(client, service, date(day.year, day.month, day.day), morning)
            dry = await light_round(client, service, date(day.year, day.month, day.day), LightingSettings(
                night_start=time(4, 0), night_end=time(23, 0)))  # fmt: skip
        assert gateway.schema_errors == []
    lit_lamps = {a["address"] for command in gateway.overrides for a in command["addresses"]}
    first_start = stops[0].start_time.ToDatetime(tzinfo=UTC) - timedelta(seconds=morning.lead_s)

    assert lit
    assert all(item.status == 201 for item in lit)
    assert lit_lamps == {d["address"] for d in gateway.devices[:2]}
    assert min(c["targetCommand"]["start"] for c in gateway.overrides) <= first_start.isoformat().replace(
        "+00:00", "Z"
    )
    assert all(c["targetCommand"]["state"] == {"name": "LevelState", "value": 100} for c in gateway.overrides)
    assert dry
    assert all(item.status is None for item in dry)
    assert len(gateway.overrides) == len(lit)  # the dry run sent nothing


async def test_an_unreachable_gateway_is_a_clear_error() -> None:
    """A refused connection surfaces as TalqError naming the call."""
    async with httpx.AsyncClient() as http:
        with pytest.raises(TalqError, match="GET /devices"):
            await TalqClient("http://127.0.0.1:9", CMS, http).devices()


def test_the_example_settings_load_and_a_bad_address_is_a_clear_error(tmp_path: Path) -> None:
    """talq.example.toml reads as documented; a client address that is not a UUID is refused by name."""
    example = Path(__file__).parents[2] / "adapters" / "talq" / "talq.example.toml"
    settings = load_settings(example)
    broken = tmp_path / "talq.toml"
    broken.write_text(example.read_text().replace('client_address = "0b6c', 'client_address = "not-'))

    assert (settings.lighting.commune("02722").dry_run, settings.lighting.commune("02131").enabled) == (
        False,
        False,
    )
    assert settings.lighting.commune("99999") == CommuneLighting(enabled=True, dry_run=True)
    with pytest.raises(ConfigError, match="client_address"):
        load_settings(broken)
