"""One truck's route as files: GeoJSON (RFC 7946) for maps, GPX 1.1 for in-cab navigation, CSV for sheets.

The path between visits follows the roads when OSRM is configured, else it is the straight line between
them (see `wastesvc.roads`); the GeoJSON path says which in its `geometry_source` property, the GPX track in
its description.
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from datetime import UTC

from wastesvc.dispatch.lifecycle import STATUSES
from wastesvc.roads import RoadLegs, RoadPath, road_path
from wastesvc.v1 import dispatch_pb2, planning_pb2

__all__ = ["CONTENT_TYPES", "export_route"]

CONTENT_TYPES: dict[dispatch_pb2.RouteFormat.ValueType, str] = {
    dispatch_pb2.ROUTE_FORMAT_GEOJSON: "application/geo+json",
    dispatch_pb2.ROUTE_FORMAT_GPX: "application/gpx+xml",
    dispatch_pb2.ROUTE_FORMAT_CSV: "text/csv; charset=utf-8",
}
_GPX = "http://www.topografix.com/GPX/1/1"
_KINDS = {number: name.removeprefix("VISIT_KIND_") for name, number in planning_pb2.VisitKind.items()}
_STATUS_NAMES = {number: name for name, number in STATUSES.items()}
_CAUSE_NAMES = {number: name.removeprefix("SKIP_CAUSE_") for name, number in planning_pb2.SkipCause.items()}


def _time(visit: planning_pb2.Visit) -> str:
    return visit.arrival_time.ToDatetime(tzinfo=UTC).isoformat().replace("+00:00", "Z")


def _label(index: int, visit: planning_pb2.Visit) -> str:
    ids = ", ".join(c.rsplit("/", 1)[-1] for c in visit.containers)
    return f"{index}. {_KINDS[visit.kind].lower()}" + (f" {ids}" if ids else "")


def _placed(route: planning_pb2.VehicleRoute) -> list[tuple[int, planning_pb2.Visit]]:
    """Visits that happen somewhere (a break has no place), numbered from 1 in route order."""
    return [(i, v) for i, v in enumerate(route.visits, start=1) if v.HasField("location")]


def _path(placed: list[tuple[int, planning_pb2.Visit]], roads: RoadLegs | None) -> RoadPath:
    return road_path([(v.location.latitude, v.location.longitude) for _, v in placed], roads)


def _geojson(route: planning_pb2.VehicleRoute, roads: RoadLegs | None) -> str:
    placed = _placed(route)
    features = [
        {
            "type": "Feature",
            # RFC 7946: longitude first.
            "geometry": {"type": "Point", "coordinates": [v.location.longitude, v.location.latitude]},
            "properties": {
                "sequence": i,
                "visit_id": v.id,
                "kind": _KINDS[v.kind],
                "status": _STATUS_NAMES.get(v.status, "PLANNED"),
                "skip_cause": _CAUSE_NAMES[v.skip_cause] if v.skip_cause else None,
                "containers": list(v.containers),
                "site": v.site or None,
                "arrival_time": _time(v),
                "load_liters": v.load_liters,
            },
        }
        for i, v in placed
    ]
    if len(placed) >= 2:
        path = _path(placed, roads)
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [list(p) for p in path.line]},
                "properties": {
                    "vehicle": route.vehicle,
                    "distance_meters": route.distance_meters,
                    "geometry_source": path.source,
                    "geometry_error": path.error or None,
                },
            }
        )
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)


def _gpx(route: planning_pb2.VehicleRoute, roads: RoadLegs | None) -> str:
    ET.register_namespace("", _GPX)
    root = ET.Element(f"{{{_GPX}}}gpx", {"version": "1.1", "creator": "wastesvc"})
    placed = _placed(route)
    for i, v in placed:
        point = ET.SubElement(
            root,
            f"{{{_GPX}}}wpt",
            {"lat": f"{v.location.latitude:.6f}", "lon": f"{v.location.longitude:.6f}"},
        )
        ET.SubElement(point, f"{{{_GPX}}}time").text = _time(v)
        ET.SubElement(point, f"{{{_GPX}}}name").text = _label(i, v)
        ET.SubElement(point, f"{{{_GPX}}}desc").text = v.id
    rte = ET.SubElement(root, f"{{{_GPX}}}rte")
    ET.SubElement(rte, f"{{{_GPX}}}name").text = route.vehicle.rsplit("/", 1)[-1]
    for i, v in placed:
        point = ET.SubElement(
            rte,
            f"{{{_GPX}}}rtept",
            {"lat": f"{v.location.latitude:.6f}", "lon": f"{v.location.longitude:.6f}"},
        )
        ET.SubElement(point, f"{{{_GPX}}}name").text = _label(i, v)
    if len(placed) >= 2:
        _track(root, route, _path(placed, roads))
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def _track(root: ET.Element, route: planning_pb2.VehicleRoute, path: RoadPath) -> None:
    """The path to drive as a GPX track (after the route: GPX 1.1 orders wpt, rte, trk)."""
    trk = ET.SubElement(root, f"{{{_GPX}}}trk")
    ET.SubElement(trk, f"{{{_GPX}}}name").text = route.vehicle.rsplit("/", 1)[-1]
    straight = "; ".join(filter(None, ["straight lines between the visits", path.error]))
    ET.SubElement(trk, f"{{{_GPX}}}desc").text = "road path (OSRM)" if path.source == "osrm" else straight
    segment = ET.SubElement(trk, f"{{{_GPX}}}trkseg")
    for lon, lat in path.line:
        ET.SubElement(segment, f"{{{_GPX}}}trkpt", {"lat": f"{lat:.6f}", "lon": f"{lon:.6f}"})


def _csv(route: planning_pb2.VehicleRoute, roads: RoadLegs | None) -> str:
    del roads  # the CSV lists the visits, not the path
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "sequence",
            "visit_id",
            "kind",
            "status",
            "containers",
            "site",
            "lat",
            "lng",
            "arrival_time",
            "load_liters",
        ]
    )
    for i, v in enumerate(route.visits, start=1):
        placed = v.HasField("location")
        writer.writerow(
            [
                i,
                v.id,
                _KINDS[v.kind],
                _STATUS_NAMES.get(v.status, "PLANNED"),
                " ".join(c.rsplit("/", 1)[-1] for c in v.containers),
                v.site.rsplit("/", 1)[-1] if v.site else "",
                f"{v.location.latitude:.6f}" if placed else "",
                f"{v.location.longitude:.6f}" if placed else "",
                _time(v),
                f"{v.load_liters:.0f}",
            ]
        )
    return out.getvalue()


def export_route(
    route: planning_pb2.VehicleRoute, fmt: dispatch_pb2.RouteFormat.ValueType, roads: RoadLegs | None = None
) -> bytes:
    """The route in `fmt` (a key of `CONTENT_TYPES`), UTF-8 encoded.

    With `roads` (OSRM), the GeoJSON and GPX paths follow the roads, else straight lines; this asks OSRM
    over HTTP, so async callers run it in a thread.
    """
    writer = {
        dispatch_pb2.ROUTE_FORMAT_GEOJSON: _geojson,
        dispatch_pb2.ROUTE_FORMAT_GPX: _gpx,
        dispatch_pb2.ROUTE_FORMAT_CSV: _csv,
    }[fmt]
    return writer(route, roads).encode()
