"""One truck's route as files: GeoJSON (RFC 7946) for maps, GPX 1.1 for in-cab navigation, CSV for sheets.

The path is the straight line between visits (road geometry needs OSRM's route service, not wired here).
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from datetime import UTC

from wastesvc.dispatch.lifecycle import STATUSES
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


def _geojson(route: planning_pb2.VehicleRoute) -> str:
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
        features.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "LineString",
                    "coordinates": [[v.location.longitude, v.location.latitude] for _, v in placed],
                },
                "properties": {"vehicle": route.vehicle, "distance_meters": route.distance_meters},
            }
        )
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)


def _gpx(route: planning_pb2.VehicleRoute) -> str:
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
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def _csv(route: planning_pb2.VehicleRoute) -> str:
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


def export_route(route: planning_pb2.VehicleRoute, fmt: dispatch_pb2.RouteFormat.ValueType) -> bytes:
    """The route in `fmt` (a key of `CONTENT_TYPES`), UTF-8 encoded."""
    writer = {
        dispatch_pb2.ROUTE_FORMAT_GEOJSON: _geojson,
        dispatch_pb2.ROUTE_FORMAT_GPX: _gpx,
        dispatch_pb2.ROUTE_FORMAT_CSV: _csv,
    }[fmt]
    return writer(route).encode()
