"""A truck's route as GeoJSON, GPX and CSV; route sheets in chunks under gRPC's default message limit."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET

import geojson  # type: ignore[import-untyped]
import grpc
from pypdf import PdfReader

from tests.conftest import Api, token
from tests.dispatch.support import container_visits, event, published_day, send
from tests.errors import assert_error, rpc_error
from wastesvc.client import open_channel
from wastesvc.config import Settings
from wastesvc.v1 import dispatch_pb2, dispatch_pb2_grpc, planning_pb2

GPX = "{http://www.topografix.com/GPX/1/1}"


async def _export(api: Api, name: str, fmt: dispatch_pb2.RouteFormat.ValueType) -> tuple[str, str]:
    body = await api.dispatch.ExportVehicleRoute(
        dispatch_pb2.ExportVehicleRouteRequest(name=name, format=fmt)
    )
    return body.content_type, body.data.decode()


async def test_geojson_export_is_valid_rfc7946_with_a_point_per_placed_visit(api: Api) -> None:
    """The geojson library finds the FeatureCollection valid; points are lon/lat and carry visit statuses."""
    plan = await published_day(api)
    route = plan.routes[0]
    done = container_visits(plan)[0]
    await send(api, plan, event(dispatch_pb2.FIELD_EVENT_KIND_COMPLETED, done.id))
    content_type, text = await _export(api, route.name, dispatch_pb2.ROUTE_FORMAT_GEOJSON)
    assert content_type == "application/geo+json"
    collection = geojson.loads(text)
    assert collection.is_valid, collection.errors()
    points = [f for f in collection["features"] if f["geometry"]["type"] == "Point"]
    placed = [v for v in route.visits if v.HasField("location")]
    assert len(points) == len(placed)
    assert points[0]["geometry"]["coordinates"] == [placed[0].location.longitude, placed[0].location.latitude]
    statuses = {p["properties"]["visit_id"]: p["properties"]["status"] for p in points}
    assert statuses[done.id] == "DONE"
    (path,) = [f for f in collection["features"] if f["geometry"]["type"] == "LineString"]
    assert len(path["geometry"]["coordinates"]) == len(placed)


async def test_gpx_export_parses_back_to_the_route(api: Api) -> None:
    """The GPX 1.1 document has a waypoint and a route point per placed visit, in route order."""
    plan = await published_day(api)
    route = plan.routes[0]
    content_type, text = await _export(api, route.name, dispatch_pb2.ROUTE_FORMAT_GPX)
    assert content_type == "application/gpx+xml"
    root = ET.fromstring(text)
    assert root.tag == f"{GPX}gpx"
    assert root.get("version") == "1.1"
    placed = [v for v in route.visits if v.HasField("location")]
    waypoints = root.findall(f"{GPX}wpt")
    assert [w.findtext(f"{GPX}desc") for w in waypoints] == [v.id for v in placed]
    points = root.findall(f"{GPX}rte/{GPX}rtept")
    assert [(round(float(p.get("lat", "")), 6), round(float(p.get("lon", "")), 6)) for p in points] == [
        (round(v.location.latitude, 6), round(v.location.longitude, 6)) for v in placed
    ]


async def test_csv_export_has_a_line_per_visit(api: Api) -> None:
    """The CSV lists every visit (breaks included) with its containers."""
    plan = await published_day(api)
    route = plan.routes[0]
    content_type, text = await _export(api, route.name, dispatch_pb2.ROUTE_FORMAT_CSV)
    assert content_type.startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["visit_id"] for r in rows] == [v.id for v in route.visits]
    first = container_visits(plan)[0]
    line = next(r for r in rows if r["visit_id"] == first.id)
    assert line["containers"].split() == [c.rsplit("/", 1)[-1] for c in first.containers]
    err = await rpc_error(_export(api, route.name, dispatch_pb2.ROUTE_FORMAT_UNSPECIFIED))
    assert_error(err, grpc.StatusCode.INVALID_ARGUMENT, "format")


async def test_streamed_sheets_reach_a_client_on_the_default_receive_limit(
    api: Api, settings: Settings
) -> None:
    """A channel left at gRPC's 4 MiB default gets the whole PDF in chunks of at most 1 MiB."""
    plan = await published_day(api)
    whole = await api.planning.RenderRouteSheets(planning_pb2.RenderRouteSheetsRequest(name=plan.name))
    async with open_channel(api.address, settings, token(settings, "dispatch")) as channel:
        stub = dispatch_pb2_grpc.DispatchServiceStub(channel)
        chunks = [
            c async for c in stub.StreamRouteSheets(dispatch_pb2.StreamRouteSheetsRequest(name=plan.name))
        ]
    assert all(len(c.data) <= 1024 * 1024 for c in chunks)
    assert {c.content_type for c in chunks} == {"application/pdf"}
    data = b"".join(c.data for c in chunks)
    assert len(PdfReader(io.BytesIO(data)).pages) == whole.page_count
