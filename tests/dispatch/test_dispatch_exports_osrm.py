"""Route exports and sheets on real roads: a service with osrm-routed on the Liechtenstein extract, and the
same plan exported by a service whose OSRM is down (straight lines, flagged)."""

from __future__ import annotations

import io
import itertools
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import geojson  # type: ignore[import-untyped]
import pytest
from pypdf import PdfReader

from tests.conftest import Api, api_on, token
from tests.test_planning_osrm import TOWNS, planned_day
from wastesvc.client import open_channel
from wastesvc.config import Settings
from wastesvc.server import create_server
from wastesvc.v1 import dispatch_pb2, planning_pb2

pytest_plugins = ["tests.routing.osrm_server"]

GPX = "{http://www.topografix.com/GPX/1/1}"
LonLat = tuple[float, float]


@pytest.fixture
def settings(settings: Settings, osrm_url: str) -> Settings:
    return replace(settings, osrm_url=osrm_url)


@asynccontextmanager
async def _server(settings: Settings) -> AsyncIterator[Api]:
    """Another server on the same database."""
    service, port = await create_server(settings.listen, settings)
    address = f"127.0.0.1:{port}"
    try:
        async with open_channel(address, settings, token(settings)) as channel:
            yield api_on(service, address, channel)
    finally:
        await service.stop(None)


async def _published(api: Api) -> planning_pb2.RoutePlan:
    """The day's plan of one truck round the Liechtenstein towns, published."""
    plan = await planned_day(api)
    return await api.dispatch.PublishRoutePlan(dispatch_pb2.PublishRoutePlanRequest(name=plan.name))


async def _export(api: Api, name: str, fmt: dispatch_pb2.RouteFormat.ValueType) -> str:
    body = await api.dispatch.ExportVehicleRoute(
        dispatch_pb2.ExportVehicleRouteRequest(name=name, format=fmt)
    )
    text: str = body.data.decode()
    return text


def _placed(route: planning_pb2.VehicleRoute) -> list[LonLat]:
    return [(v.location.longitude, v.location.latitude) for v in route.visits if v.HasField("location")]


def _path(text: str) -> tuple[list[LonLat], dict[str, object]]:
    """The GeoJSON's path (checked valid RFC 7946) and its properties."""
    collection = geojson.loads(text)
    assert collection.is_valid, collection.errors()
    (path,) = [f for f in collection["features"] if f["geometry"]["type"] == "LineString"]
    return [(x, y) for x, y in path["geometry"]["coordinates"]], path["properties"]


def _track(text: str) -> tuple[list[LonLat], str]:
    """The GPX track's points and description, parsed back."""
    root = ET.fromstring(text)
    (track,) = root.findall(f"{GPX}trk")
    points = track.findall(f"{GPX}trkseg/{GPX}trkpt")
    return [(float(p.get("lon", "")), float(p.get("lat", ""))) for p in points], track.findtext(
        f"{GPX}desc", ""
    )


def _metres(a: LonLat, b: LonLat) -> float:
    return math.hypot((a[0] - b[0]) * 111_320 * math.cos(math.radians(a[1])), (a[1] - b[1]) * 111_320)


def _line_segments(pdf: bytes) -> int:
    """The lineto operators in the PDF's pages (fpdf2 writes one a line): many more for a road path."""
    count = 0
    for page in PdfReader(io.BytesIO(pdf)).pages:
        contents = page.get_contents()
        assert contents is not None
        count += len(re.findall(rb" l\n", contents.get_data()))
    return count


async def test_geojson_path_follows_the_roads(api: Api) -> None:
    """With OSRM, the path has far more points than the visits, starts and ends at the depot, passes each
    visit in order and says it comes from OSRM; the document is valid GeoJSON."""
    plan = await _published(api)
    route = plan.routes[0]
    line, properties = _path(await _export(api, route.name, dispatch_pb2.ROUTE_FORMAT_GEOJSON))
    placed = _placed(route)
    assert properties["geometry_source"] == "osrm"
    assert properties["geometry_error"] is None
    assert len(line) > 5 * len(placed)
    assert line[0] == placed[0]
    assert line[-1] == placed[-1]
    at = 0
    for place in placed:  # every leg starts and ends at its visits, in route order
        at = line.index(place, at)
    assert all(_metres(a, b) < 2000 for a, b in itertools.pairwise(line))


async def test_gpx_track_parses_back_with_the_road_points(api: Api) -> None:
    """The GPX track segment holds the same road path as the GeoJSON, after the waypoints and the route."""
    plan = await _published(api)
    route = plan.routes[0]
    text = await _export(api, route.name, dispatch_pb2.ROUTE_FORMAT_GPX)
    points, description = _track(text)
    line, _ = _path(await _export(api, route.name, dispatch_pb2.ROUTE_FORMAT_GEOJSON))
    assert description == "road path (OSRM)"
    assert len(points) == len(line) > 5 * len(_placed(route))
    assert all(_metres(p, q) < 0.2 for p, q in zip(points, line, strict=True))  # 6 decimals in GPX
    children = [child.tag.removeprefix(GPX) for child in ET.fromstring(text)]
    assert children[-2:] == ["rte", "trk"]  # GPX 1.1 order: wpt*, rte*, trk*


async def test_exports_fall_back_to_straight_lines_when_osrm_is_down(
    api: Api, settings: Settings, dead_url: str
) -> None:
    """A server whose OSRM does not answer still exports: straight lines between the visits, flagged."""
    plan = await _published(api)
    route = plan.routes[0]
    async with _server(replace(settings, osrm_url=dead_url)) as down:
        line, properties = _path(await _export(down, route.name, dispatch_pb2.ROUTE_FORMAT_GEOJSON))
        points, description = _track(await _export(down, route.name, dispatch_pb2.ROUTE_FORMAT_GPX))
    placed = _placed(route)
    assert line == placed
    assert properties["geometry_source"] == "straight_osrm_failed"
    assert "OSRM" in str(properties["geometry_error"])
    assert len(points) == len(placed)
    assert description.startswith("straight lines between the visits; OSRM could not give the road path")


async def test_without_osrm_the_path_is_straight(api: Api, settings: Settings) -> None:
    """A server without OSRM exports the straight path, said to be straight and not a failure."""
    plan = await _published(api)
    route = plan.routes[0]
    async with _server(replace(settings, osrm_url="")) as plain:
        line, properties = _path(await _export(plain, route.name, dispatch_pb2.ROUTE_FORMAT_GEOJSON))
    assert line == _placed(route)
    assert properties["geometry_source"] == "straight"
    assert properties["geometry_error"] is None


async def test_sheets_draw_the_road_path(api: Api, settings: Settings, dead_url: str) -> None:
    """The sheet rendered with OSRM draws the road (many more path points, legend "par la route"); with
    OSRM down the same plan is drawn straight and the legend says so."""
    plan = await _published(api)
    request = planning_pb2.RenderRouteSheetsRequest(name=plan.name)
    by_road = await api.planning.RenderRouteSheets(request)
    async with _server(replace(settings, osrm_url=dead_url)) as down:
        straight = await down.planning.RenderRouteSheets(request)
    assert by_road.page_count == straight.page_count
    road_text = PdfReader(io.BytesIO(by_road.content)).pages[0].extract_text()
    straight_text = PdfReader(io.BytesIO(straight.content)).pages[0].extract_text()
    assert "Itinéraire (par la route)" in road_text
    assert "Itinéraire (à vol d'oiseau)" in straight_text
    assert _line_segments(by_road.content) > _line_segments(straight.content) + 5 * len(TOWNS)
