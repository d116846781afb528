"""The entry point: a plan's sheets as one PDF."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from wastesvc.roads import RoadLegs, road_path
from wastesvc.sheets._content import Context, Sheet, build_sheet
from wastesvc.sheets._document import PANEL_GAP, Document
from wastesvc.sheets._layout import layout_maps
from wastesvc.sheets._style import BODY_W
from wastesvc.v1 import containers_pb2, fleet_pb2, planning_pb2

__all__ = ["PARIS", "RenderedSheets", "render_route_sheets"]

PARIS = ZoneInfo("Europe/Paris")
# Map panels (frame width, height in mm): one across the page when a single one shows the day legibly,
# else two per row.
FULL_PANEL = (BODY_W, 95.0)
HALF_PANEL = ((BODY_W - PANEL_GAP) / 2, 68.0)


@dataclass(frozen=True)
class RenderedSheets:
    """The printed route sheets of a plan: one A4 PDF document and its number of pages."""

    pdf: bytes
    page_count: int


def render_route_sheets(
    plan: planning_pb2.RoutePlan,
    *,
    containers: Mapping[str, containers_pb2.Container],
    vehicles: Mapping[str, fleet_pb2.Vehicle],
    depots: Mapping[str, fleet_pb2.Depot],
    facilities: Mapping[str, fleet_pb2.Facility],
    vehicle: str | None = None,
    tz: ZoneInfo = PARIS,
    roads: RoadLegs | None = None,
) -> RenderedSheets:
    """Render the route sheets of `plan`, every truck or only `vehicle` (its resource name or bare id).

    Parameters
    ----------
    plan : planning_pb2.RoutePlan
        The plan to print.
    containers, vehicles, depots, facilities : Mapping
        The entities the plan refers to, by resource name. Entities missing from them are printed with what
        the plan knows (their id); nothing raises `KeyError`.
    vehicle : str, optional
        Print only this truck's sheet.
    tz : ZoneInfo
        The time zone the times are printed in.
    roads : RoadLegs, optional
        Where the road path between the stops comes from (`routing.OsrmRoutes`): the maps draw it, or the
        straight line between the stops when it is None or fails (the legend then says "à vol d'oiseau").
        Blocking (HTTP).

    Returns
    -------
    RenderedSheets
        The PDF, byte-reproducible for a given plan, and its page count.

    Raises
    ------
    LookupError
        When `vehicle` has no route in the plan.
    """
    routes: list[planning_pb2.VehicleRoute] = list(plan.routes)
    if vehicle:
        # A full name or a bare id: `tenants/t/vehicles/bom-02` or `bom-02`.
        routes = [r for r in plan.routes if vehicle in (r.vehicle, r.vehicle.rsplit("/", 1)[-1])]
        if not routes:
            raise LookupError(f"vehicle {vehicle!r} has no route in plan {plan.name!r}")
    ctx = Context(plan, containers, vehicles, depots, facilities, tz)
    sheets = [build_sheet(ctx, route) for route in routes]
    if roads is not None:
        for sheet in sheets:
            _follow_roads(sheet, roads)
    maps = [layout_maps(sheet.path, full=FULL_PANEL, half=HALF_PANEL) for sheet in sheets]
    # The first pass counts each truck's pages, so that the pages can print "page 2/3".
    counts = Document(ctx).render(sheets, maps)
    final = Document(ctx, pages_per_sheet=counts)
    final.render(sheets, maps)
    return RenderedSheets(pdf=bytes(final.output()), page_count=int(final.pages_count))


def _follow_roads(sheet: Sheet, roads: RoadLegs) -> None:
    """Give each place of `sheet`'s map its road to the next, when OSRM answers."""
    if len(sheet.path) < 2:
        return
    path = road_path([(p.lat, p.lng) for p in sheet.path], roads)
    if path.source != "osrm":
        return
    legs = [tuple(leg) for leg in path.legs] + [()]
    sheet.path = [dataclasses.replace(p, road=leg) for p, leg in zip(sheet.path, legs, strict=True)]
    sheet.path_source = path.source
