"""The parking adapter: OnStreetParking occupancy from a broker double into a real server, windows out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from aiohttp import web

from adapters.ngsi.broker import Broker
from adapters.parking.bridge import poll_occupancy, publish_windows
from adapters.parking.occupancy import by_id
from adapters.parking.sites import read_sites
from adapters.service_client import Wastesvc
from tests.adapters.ngsi_double import serve_broker
from tests.conftest import TENANT, Api, token
from tests.test_planning import _optimize, _seed, _wait
from wastesvc.config import Settings
from wastesvc.v1 import observations_pb2, planning_pb2

TENANT_ID = TENANT.removeprefix("tenants/")
SCHEMA_EXAMPLE = Path(__file__).parents[2] / "adapters" / "parking" / "schemas" / "exemple-valide.csv"
CONTEXT = "https://raw.githubusercontent.com/smart-data-models/dataModel.Parking/master/context.jsonld"


def _street(ident: str, **members: Any) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:OnStreetParking:soissons:{ident}", "type": "OnStreetParking", **members,
            "@context": [CONTEXT]}  # fmt: skip


def test_sites_follow_the_french_schema() -> None:
    """The schema's own valid example reads without an error."""
    good, errors = read_sites(SCHEMA_EXAMPLE)
    assert ([s.id for s in good], errors) == (["75114-P-001", "75114-P-002"], [])


def test_bad_site_rows_are_reported_with_line_and_field(tmp_path: Path) -> None:
    """A bad INSEE code and a missing capacity are refused by line; the good row is kept."""
    lines = SCHEMA_EXAMPLE.read_text().splitlines()
    bad = tmp_path / "sites.csv"
    bad.write_text("\n".join([lines[0], lines[1], lines[1].replace(",75114,", ",7511,"),
                              lines[1].replace(",325,", ",,", 1)]))  # fmt: skip
    good, errors = read_sites(bad)
    assert len(good) == 1
    assert [str(e).split(":")[0] for e in errors] == [
        "sites.csv line 3, insee",
        "sites.csv line 4, nb_places",
    ]


async def test_occupancy_of_each_street_becomes_an_observation(api: Api, settings: Settings) -> None:
    """Counts give occupancy fractions at their time and place; the static CSV fills a missing capacity."""
    seen = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    stamp = seen.isoformat().replace("+00:00", "Z")
    line = {"type": "LineString", "coordinates": [[3.3230, 49.3810], [3.3250, 49.3820]]}
    site = read_sites(SCHEMA_EXAMPLE)[0][0]
    entities = [
        _street("commerce", location={"type": "GeoProperty", "value": line},
                totalSpotNumber={"type": "Property", "value": 20},
                availableSpotNumber={"type": "Property", "value": 2, "observedAt": stamp}),
        _street("republique", location={"type": "GeoProperty", "value": {"type": "Point",
                "coordinates": [site.longitude, site.latitude]}},
                parkingSiteId={"type": "Property", "value": site.id},
                occupiedSpotNumber={"type": "Property", "value": 65, "observedAt": stamp}),
        _street("nocount", location={"type": "GeoProperty", "value": line},
                totalSpotNumber={"type": "Property", "value": 10}),
    ]  # fmt: skip
    async with (
        serve_broker() as double,
        httpx.AsyncClient() as http,
        grpc.aio.insecure_channel(api.address) as channel,
    ):
        double.entities["parkingmap"] = {e["id"]: e for e in entities}
        service = Wastesvc(channel, TENANT_ID, token(settings, "gateway"))
        counts = await poll_occupancy(
            Broker(double.url, "parkingmap", http), service, by_id([site]), "parking:test"
        )
    listed = await api.observations.ListObservations(observations_pb2.ListObservationsRequest(parent=TENANT))
    got = {o.entity_id.rsplit(":", 1)[-1]: o for o in listed.observations}

    assert counts == {"stored": 2, "unreadable": 1}
    assert got["commerce"].number_value == pytest.approx(0.9)
    assert (got["commerce"].location.latitude, got["commerce"].location.longitude) == (
        pytest.approx(49.3815), pytest.approx(3.3240),
    )  # fmt: skip
    assert got["republique"].number_value == pytest.approx(65 / 325)
    assert got["republique"].observe_time.ToDatetime(tzinfo=UTC) == seen
    assert {o.entity_type for o in got.values()} == {"OnStreetParking"}


async def test_planned_stops_are_published_as_no_parking_windows(api: Api, settings: Settings) -> None:
    """Every container stop of the day's plan is announced from 10 min before to 5 min after it."""
    await _seed(api, count=6)
    plan = planning_pb2.RoutePlan()
    (await _wait(api, await _optimize(api, seconds=1))).response.Unpack(plan)
    stops = [v for r in plan.routes for v in r.visits if v.kind == planning_pb2.VISIT_KIND_CONTAINER]
    received: list[list[dict[str, Any]]] = []

    async def take(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/windows", take)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/windows"
    try:
        async with httpx.AsyncClient() as http, grpc.aio.insecure_channel(api.address) as channel:
            service = Wastesvc(channel, TENANT_ID, token(settings, "dispatch"))
            day = date(plan.service_date.year, plan.service_date.month, plan.service_date.day)
            sent = await publish_windows(service, http, url, day)
    finally:
        await runner.cleanup()
    [windows] = received
    first = min(stops, key=lambda v: v.start_time.ToSeconds())
    earliest = (
        (first.start_time.ToDatetime(tzinfo=UTC) - timedelta(minutes=10)).isoformat().replace("+00:00", "Z")
    )

    assert sent == len(stops) == len(windows)
    assert windows[0]["debut"] == earliest
    assert {w["insee"] for w in windows} == {"02722"}
    assert all(w["debut"] < w["fin"] and w["motif"] == "collecte des déchets" for w in windows)
