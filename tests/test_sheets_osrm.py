"""Route sheets whose maps draw the road path, from a real osrm-routed on the Liechtenstein extract."""

from __future__ import annotations

import io
import math
from collections.abc import Iterator

import pytest
from pypdf import PdfReader

from routing import OsrmRoutes
from tests.test_sheets import World, _world
from wastesvc.sheets import RenderedSheets
from wastesvc.sheets._content import Context, build_sheet
from wastesvc.sheets._layout import Panel, layout_maps, simplify
from wastesvc.sheets._render import FULL_PANEL, HALF_PANEL, PARIS, _follow_roads
from wastesvc.v1 import planning_pb2

pytest_plugins = ["tests.routing.osrm_server"]

# Village centres along the Rhine valley, north to south, and where the depot and the transfer station are.
VILLAGES = (
    ("Ruggell", 47.2380, 9.5260),
    ("Eschen", 47.2108, 9.5230),
    ("Nendeln", 47.1980, 9.5430),
    ("Schaan", 47.1650, 9.5092),
    ("Vaduz", 47.1410, 9.5215),
    ("Triesen", 47.1066, 9.5258),
)
DEPOT_AT = (47.1410, 9.5215)
FACILITY_AT = (47.1700, 9.5100)
VEHICLE = "tenants/grand-soissons/vehicles/bom-01"


def _liechtenstein(count: int) -> World:
    """`_world([count])` moved to Liechtenstein: the stops a village after the other, 100-200 m around its
    centre, the depot in Vaduz and the disposals near Schaan."""
    world = _world([count])
    (route,) = world.plan.routes
    stops = [v for v in route.visits if v.kind == planning_pb2.VISIT_KIND_CONTAINER]
    for k, visit in enumerate(stops):
        name, lat, lng = VILLAGES[k * len(VILLAGES) // len(stops)]
        angle, radius = k * 2.4, 0.001 + 0.0008 * (k % 3)
        visit.location.latitude = lat + radius * math.sin(angle)
        visit.location.longitude = lng + 1.5 * radius * math.cos(angle)
        container = world.containers[visit.containers[0]]
        container.location.CopyFrom(visit.location)
        container.locality = name
    for visit in route.visits:
        if visit.kind == planning_pb2.VISIT_KIND_DISPOSAL:
            visit.location.latitude, visit.location.longitude = FACILITY_AT
        elif visit.kind in (planning_pb2.VISIT_KIND_DEPOT_START, planning_pb2.VISIT_KIND_DEPOT_END):
            visit.location.latitude, visit.location.longitude = DEPOT_AT
    for depot in world.depots.values():
        depot.display_name = "Werkhof Vaduz"
    for facility in world.facilities.values():
        facility.display_name = "Umladestation Schaan"
    return world


def _panels(world: World, roads: OsrmRoutes | None) -> list[Panel]:
    ctx = Context(world.plan, world.containers, world.vehicles, world.depots, world.facilities, PARIS)
    sheet = build_sheet(ctx, world.plan.routes[0])
    if roads is not None:
        _follow_roads(sheet, roads)
        assert sheet.path_source == "osrm"
    return layout_maps(sheet.path, full=FULL_PANEL, half=HALF_PANEL)


@pytest.fixture
def roads(osrm_url: str) -> Iterator[OsrmRoutes]:
    with OsrmRoutes(osrm_url) as client:
        yield client


def test_each_trip_panel_draws_its_road_from_first_to_last_place(roads: OsrmRoutes) -> None:
    """Every trip panel carries the road path: many more points than its places, from its first place to
    its last, inside the frame; the same trips drawn straight carry none."""
    world = _liechtenstein(18)
    by_road = [p for p in _panels(world, roads) if p.title.startswith("Rotation")]
    straight = [p for p in _panels(world, None) if p.title.startswith("Rotation")]
    assert len(by_road) == len(straight) == 2
    for panel in by_road:
        (_p0, x0, y0), (_pn, xn, yn) = panel.points[0], panel.points[-1]
        assert len(panel.road) > 2 * len(panel.points)
        assert math.hypot(panel.road[0][0] - x0, panel.road[0][1] - y0) < 0.01
        assert math.hypot(panel.road[-1][0] - xn, panel.road[-1][1] - yn) < 0.01
        assert all(0 <= x <= panel.width and 0 <= y <= panel.height for x, y in panel.road)
    assert all(panel.road == [] for panel in straight)


def test_the_rendered_sheet_draws_the_road_and_says_so(roads: OsrmRoutes) -> None:
    """The PDF with OSRM has many more line segments than the straight one, and its legend reads
    "par la route" instead of "à vol d'oiseau"."""
    world = _liechtenstein(18)
    by_road, straight = world.render(roads=roads), world.render()
    assert by_road.page_count == straight.page_count
    assert "Itinéraire (par la route)" in _text(by_road)
    assert "Itinéraire (à vol d'oiseau)" in _text(straight)
    assert _segments(by_road) > _segments(straight) + 100


def test_osrm_down_draws_straight_lines(dead_url: str) -> None:
    """A sheet rendered while OSRM does not answer is the straight-line sheet, byte for byte."""
    world = _liechtenstein(12)
    with OsrmRoutes(dead_url, timeout_s=2.0) as down:
        assert world.render(roads=down).pdf == world.render().pdf


def test_road_sheet_is_byte_reproducible(roads: OsrmRoutes) -> None:
    """The same plan and the same roads give the same PDF."""
    world = _liechtenstein(12)
    assert world.render(roads=roads).pdf == world.render(roads=roads).pdf


def test_simplify_keeps_the_shape_within_the_tolerance() -> None:
    """Points within the tolerance of a straight stretch go; a bend beyond it and both ends stay."""
    line = [(0.0, 0.0), (1.0, 0.05), (2.0, -0.05), (3.0, 0.0), (3.0, 2.0), (3.05, 3.0), (3.0, 4.0)]
    assert simplify(line, 0.1) == [(0.0, 0.0), (3.0, 0.0), (3.0, 4.0)]
    assert simplify(line, 0.01) == line
    assert simplify(line[:2], 1.0) == line[:2]


def _text(sheets: RenderedSheets) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(sheets.pdf)).pages)


def _segments(sheets: RenderedSheets) -> int:
    """The lineto operators of the PDF (fpdf2 writes one a line)."""
    count = 0
    for page in PdfReader(io.BytesIO(sheets.pdf)).pages:
        contents = page.get_contents()
        assert contents is not None
        count += contents.get_data().count(b" l\n")
    return count
