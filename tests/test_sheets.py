"""Tests of the printed route sheets (wastesvc.sheets)."""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import PIL.Image
import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest
import zxingcpp
from google.protobuf import duration_pb2, timestamp_pb2
from pypdf import PdfReader

import wastesvc.sheets
from wastesvc.roads import RoadLegs
from wastesvc.sheets import RenderedSheets, SheetCode, parse_sheet_code, render_route_sheets
from wastesvc.sheets._content import Context, Sheet, build_sheet
from wastesvc.sheets._layout import Panel, layout_maps
from wastesvc.sheets._render import FULL_PANEL, HALF_PANEL, PARIS
from wastesvc.v1 import common_pb2, containers_pb2, fleet_pb2, planning_pb2

DAY_START = datetime(2026, 11, 30, 5, 10, tzinfo=UTC)  # 06:10 in Paris (CET)

# Communes of Grand Soissons with an approximate centre.
COMMUNES = (
    ("02722", "Soissons", 49.3817, 3.3236, "rue Saint-Martin"),
    ("02064", "Belleu", 49.3608, 3.3349, "rue Léon Blum"),
    ("02805", "Villeneuve-Saint-Germain", 49.3790, 3.3525, "rue de Paris"),
    ("02243", "Crouy", 49.4031, 3.3553, "avenue de Laon"),
    ("02245", "Cuffies", 49.4044, 3.3163, "rue du Moulin"),
    ("02478", "Mercin-et-Vaux", 49.3772, 3.2773, "rue de l'Église"),
)


@dataclass(frozen=True)
class World:
    """A plan with everything it refers to."""

    plan: planning_pb2.RoutePlan
    containers: dict[str, containers_pb2.Container]
    vehicles: dict[str, fleet_pb2.Vehicle]
    depots: dict[str, fleet_pb2.Depot]
    facilities: dict[str, fleet_pb2.Facility]

    def render(self, vehicle: str | None = None, roads: RoadLegs | None = None) -> RenderedSheets:
        return render_route_sheets(
            self.plan,
            containers=self.containers,
            vehicles=self.vehicles,
            depots=self.depots,
            facilities=self.facilities,
            vehicle=vehicle,
            roads=roads,
        )


def _ts(moment: datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(moment)
    return ts


def _place(
    target: fleet_pb2.Depot | fleet_pb2.Facility | containers_pb2.Container, lat: float, lng: float
) -> None:
    target.location.latitude = lat
    target.location.longitude = lng


def _window(start: int, end: int) -> common_pb2.TimeWindow:
    window = common_pb2.TimeWindow()
    window.start_time.hours = start
    window.end_time.hours = end
    return window


DEPOT = fleet_pb2.Depot(
    name="tenants/grand-soissons/depots/soissons-zi", display_name="Centre technique de Soissons (ZI)"
)
_place(DEPOT, 49.3921, 3.3391)
FACILITY = fleet_pb2.Facility(
    name="tenants/grand-soissons/facilities/quai-vsg",
    display_name="Quai de transfert de Villeneuve-Saint-Germain",
    accepted_streams=[common_pb2.WASTE_STREAM_PACKAGING, common_pb2.WASTE_STREAM_RESIDUAL],
    opening_hours=_window(6, 18),
)
_place(FACILITY, 49.3712, 3.3688)


def _vehicle(vid: str, display: str, stream: common_pb2.WasteStream.ValueType) -> fleet_pb2.Vehicle:
    return fleet_pb2.Vehicle(
        name=f"tenants/grand-soissons/vehicles/{vid}",
        display_name=display,
        capacity_liters=20000,
        capacity_kg=9000,
        streams=[stream],
        home_depot=DEPOT.name,
        shift=_window(6, 13),
        break_window=_window(9, 10),
        break_duration=duration_pb2.Duration(seconds=1800),
    )


def _container(
    cid: str, i: int, commune: int, stream: common_pb2.WasteStream.ValueType
) -> containers_pb2.Container:
    """The `i`-th container of the plan, in commune `commune`, on a spiral around the commune centre."""
    code, locality, lat, lng, street = COMMUNES[commune % len(COMMUNES)]
    angle = i * 0.9
    radius = 0.0012 * (1 + (i % 12))
    container = containers_pb2.Container(
        name=f"tenants/grand-soissons/containers/{cid}",
        commune_code=code,
        locality=locality,
        street_address=f"{3 + 2 * i} {street}",
        stream=stream,
        volume_liters=4000 if stream == common_pb2.WASTE_STREAM_GLASS else 660,
        latest_fill=0.55 + (i * 7 % 40) / 100,
    )
    _place(container, lat + radius * math.sin(angle), lng + 1.5 * radius * math.cos(angle))
    if i % 4 == 1:
        container.access_windows.append(_window(7, 11))
    return container


def _route(
    vid: str,
    stream: common_pb2.WasteStream.ValueType,
    stop_ids: Sequence[str],
    containers: dict[str, containers_pb2.Container],
    *,
    break_after: int,
    disposal_after: int,
) -> planning_pb2.VehicleRoute:
    """A route visiting `stop_ids` in order, with a disposal trip and a break, from the depot and back."""
    route = planning_pb2.VehicleRoute(vehicle=f"tenants/grand-soissons/vehicles/{vid}", stream=stream)
    clock = DAY_START
    load = 0.0

    def add(
        kind: planning_pb2.VisitKind.ValueType,
        *,
        minutes: float,
        stay: float,
        metres: int,
        at: fleet_pb2.Depot | fleet_pb2.Facility | containers_pb2.Container | None = None,
    ) -> None:
        nonlocal clock
        clock += timedelta(minutes=minutes)
        visit = route.visits.add(kind=kind, distance_meters=metres, load_liters=load)
        visit.arrival_time.CopyFrom(_ts(clock))
        visit.start_time.CopyFrom(_ts(clock))
        visit.end_time.CopyFrom(_ts(clock + timedelta(minutes=stay)))
        if isinstance(at, containers_pb2.Container):
            visit.containers.append(at.name)
            visit.expected_fill = at.latest_fill
        elif at is not None:
            visit.site = at.name
        if at is not None:
            visit.location.CopyFrom(at.location)
        clock += timedelta(minutes=stay)

    add(planning_pb2.VISIT_KIND_DEPOT_START, minutes=0, stay=0, metres=0, at=DEPOT)
    for n, cid in enumerate(stop_ids, start=1):
        container = containers[cid]
        load += container.volume_liters * container.latest_fill
        add(planning_pb2.VISIT_KIND_CONTAINER, minutes=4, stay=3, metres=900, at=container)
        if n == break_after:
            add(planning_pb2.VISIT_KIND_BREAK, minutes=0, stay=30, metres=0)
        if n == disposal_after:
            load = 0.0
            add(planning_pb2.VISIT_KIND_DISPOSAL, minutes=12, stay=20, metres=5200, at=FACILITY)
    load = 0.0
    add(planning_pb2.VISIT_KIND_DISPOSAL, minutes=12, stay=20, metres=5200, at=FACILITY)
    add(planning_pb2.VISIT_KIND_DEPOT_END, minutes=10, stay=0, metres=4100, at=DEPOT)
    route.distance_meters = sum(v.distance_meters for v in route.visits)
    route.duration.seconds = int((clock - DAY_START).total_seconds())
    route.container_count = len(stop_ids)
    route.collected_liters = sum(containers[c].volume_liters for c in stop_ids)
    return route


def _world(per_truck: Sequence[int]) -> World:
    """A plan for 30 Nov 2026 with one truck per entry of `per_truck`, visiting that many containers."""
    streams = (common_pb2.WASTE_STREAM_PACKAGING, common_pb2.WASTE_STREAM_RESIDUAL)
    containers: dict[str, containers_pb2.Container] = {}
    vehicles: dict[str, fleet_pb2.Vehicle] = {}
    plan = planning_pb2.RoutePlan(
        name="tenants/grand-soissons/routePlans/2026-11-30-a1",
        solver_status="ROUTING_SUCCESS",
        create_time=_ts(datetime(2026, 11, 29, 17, 45, tzinfo=UTC)),
    )
    plan.service_date.year, plan.service_date.month, plan.service_date.day = 2026, 11, 30
    index = 0
    for t, count in enumerate(per_truck):
        stream = streams[t % len(streams)]
        vid = f"bom-{t + 1:02d}"
        vehicles[f"tenants/grand-soissons/vehicles/{vid}"] = _vehicle(
            vid, f"BOM {t + 1} · GS-{412 + t}-KX", stream
        )
        ids = []
        for k in range(count):
            cid = f"c-{'emb' if stream == common_pb2.WASTE_STREAM_PACKAGING else 'omr'}-{index:03d}"
            commune = (k * len(COMMUNES)) // count + t  # a tour of the communes, one after the other
            containers[f"tenants/grand-soissons/containers/{cid}"] = _container(cid, index, commune, stream)
            ids.append(f"tenants/grand-soissons/containers/{cid}")
            index += 1
        plan.routes.append(
            _route(vid, stream, ids, containers, break_after=count // 2, disposal_after=(2 * count) // 3)
        )
    return World(
        plan=plan,
        containers=containers,
        vehicles=vehicles,
        depots={DEPOT.name: DEPOT},
        facilities={FACILITY.name: FACILITY},
    )


@pytest.fixture(scope="module")
def small() -> World:
    """Two trucks, 12 container stops in all."""
    return _world([7, 5])


@pytest.fixture(scope="module")
def small_pdf(small: World) -> RenderedSheets:
    """The sheets of every truck of `small`."""
    return small.render()


def _pages(sheets: RenderedSheets) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(sheets.pdf)).pages]


def _ids(world: World, vehicle: str) -> list[str]:
    route = next(r for r in world.plan.routes if r.vehicle == vehicle)
    return [c.rsplit("/", 1)[-1] for v in route.visits for c in v.containers]


def test_page_count_matches_document(small_pdf: RenderedSheets) -> None:
    """The returned page count is the PDF's, and there is at least one page per truck."""
    assert small_pdf.pdf.startswith(b"%PDF-")
    assert len(_pages(small_pdf)) == small_pdf.page_count >= 2


def test_each_truck_on_its_first_page(small: World, small_pdf: RenderedSheets) -> None:
    """Each truck's sheet starts a page naming the truck, the date and the stream."""
    pages = _pages(small_pdf)
    assert "bom-01" in pages[0]
    assert "Feuille de route" in pages[0]
    assert "Lundi 30 novembre 2026" in pages[0]
    assert "Emballages" in pages[0]
    second = next(i for i, text in enumerate(pages) if "bom-02" in text)
    assert second > 0
    assert "Feuille de route" in pages[second]
    assert "Ordures ménagères" in pages[second]
    assert "bom-01" not in pages[second]


def test_every_planned_container_listed(small: World, small_pdf: RenderedSheets) -> None:
    """Every container of the plan appears in the extracted text."""
    text = "\n".join(_pages(small_pdf))
    ids = [i for r in small.plan.routes for i in _ids(small, r.vehicle)]
    assert len(ids) == 12
    for cid in ids:
        assert cid in text


def test_accented_localities_print(small_pdf: RenderedSheets) -> None:
    """French place names with accents and hyphens come out intact."""
    text = "\n".join(_pages(small_pdf))
    for name in ("Villeneuve-Saint-Germain", "Mercin-et-Vaux", "Crouy", "rue de l'Église", "rue Léon Blum"):
        assert name in text


def test_break_disposal_and_depot_rows(small_pdf: RenderedSheets) -> None:
    """The break, the disposal trips and the depot departure and return rows are printed."""
    first = _pages(small_pdf)[0]
    assert "Pause 06:31–07:01 (30 min)" in first
    assert "Vidage — Quai de transfert de Villeneuve-Saint-Germain, arrivée" in first
    assert "charge avant vidage" in first
    assert "Départ du dépôt — Centre technique de Soissons (ZI), 06:10" in first
    assert "Retour au dépôt" in first


def test_local_times_and_totals(small_pdf: RenderedSheets) -> None:
    """Times are printed in Paris time and the totals block closes the sheet."""
    first = _pages(small_pdf)[0]
    assert "06:14" in first  # first stop: 05:14 UTC
    assert "Totaux de la tournée" in first
    assert "Vidages" in first


def test_single_vehicle_only_its_pages(small: World) -> None:
    """Rendering one vehicle gives only that vehicle's pages."""
    sheets = small.render("tenants/grand-soissons/vehicles/bom-02")
    text = "\n".join(_pages(sheets))
    assert sheets.page_count >= 1
    assert "bom-02" in text
    assert "bom-01" not in text
    for cid in _ids(small, "tenants/grand-soissons/vehicles/bom-02"):
        assert cid in text
    assert small.render("bom-02").pdf == sheets.pdf


def test_unknown_vehicle_raises_lookup_error(small: World) -> None:
    """A vehicle without a route in the plan raises LookupError."""
    with pytest.raises(LookupError, match="tenants/grand-soissons/vehicles/ghost"):
        small.render("tenants/grand-soissons/vehicles/ghost")


def test_output_is_byte_reproducible(small: World, small_pdf: RenderedSheets) -> None:
    """Two renders of the same plan give identical bytes."""
    assert small.render().pdf == small_pdf.pdf


def test_missing_entities_do_not_raise(small: World) -> None:
    """Containers, vehicles, depots and facilities missing from the mappings are printed by id."""
    sheets = render_route_sheets(small.plan, containers={}, vehicles={}, depots={}, facilities={})
    text = "\n".join(_pages(sheets))
    assert "c-emb-000" in text
    assert "quai-vsg" in text


def test_characters_outside_latin1_are_replaced() -> None:
    """Characters the core fonts lack (œ is there, ⌀ is not) are replaced instead of failing."""
    world = _world([3])
    cid = next(iter(world.containers))
    world.containers[cid].street_address = "Place du Cœur … ⌀ 1,2 m"
    text = "\n".join(_pages(world.render()))
    assert "Place du Cœur … ? 1,2 m" in text


def test_eighty_stops_span_pages() -> None:
    """One truck with 80 stops spans several pages and lists every container."""
    world = _world([80])
    sheets = world.render()
    pages = _pages(sheets)
    assert sheets.page_count == len(pages) >= 2
    text = "\n".join(pages)
    for cid in _ids(world, "tenants/grand-soissons/vehicles/bom-01"):
        assert cid in text
    assert all("bom-01" in page for page in pages)
    assert "Page 2/" in pages[1]


def test_isle_visit_lists_every_container() -> None:
    """A visit emptying several containers of one isle lists each id, and a wait shows the service start."""
    world = _world([3])
    visit = next(v for v in world.plan.routes[0].visits if v.containers)
    extra = containers_pb2.Container()
    extra.CopyFrom(world.containers[visit.containers[0]])
    extra.name = "tenants/grand-soissons/containers/c-emb-ilot-b"
    world.containers[extra.name] = extra
    visit.containers.append(extra.name)
    visit.start_time.seconds = visit.arrival_time.seconds + 600
    text = " ".join("\n".join(_pages(world.render())).split())
    assert "c-emb-000" in text
    assert "c-emb-ilot-b" in text
    assert "06:14 début 06:24" in text


def test_empty_plan_renders_one_page() -> None:
    """A plan without routes still gives a valid one-page document."""
    plan = planning_pb2.RoutePlan(name="tenants/grand-soissons/routePlans/empty")
    sheets = render_route_sheets(plan, containers={}, vehicles={}, depots={}, facilities={})
    assert sheets.page_count == len(_pages(sheets)) == 1


def test_rest_of_the_driving_rule_is_told_apart_from_the_break() -> None:
    """A rest owed under the driving-time rule prints as "Repos", with its times, next to the "Pause"."""
    world = _world([6])
    route = world.plan.routes[0]
    after = route.visits[3]
    rest = planning_pb2.Visit(kind=planning_pb2.VISIT_KIND_REST)
    rest.arrival_time.CopyFrom(after.end_time)
    rest.start_time.CopyFrom(after.end_time)
    rest.end_time.CopyFrom(_ts(after.end_time.ToDatetime(UTC) + timedelta(minutes=45)))
    visits = list(route.visits)
    del route.visits[:]
    route.visits.extend([*visits[:4], rest, *visits[4:]])
    text = _pages(world.render())[0]
    start = after.end_time.ToDatetime(UTC).astimezone(ZoneInfo("Europe/Paris"))
    end = start + timedelta(minutes=45)
    assert f"Repos (temps de conduite) {start:%H:%M}–{end:%H:%M} (45 min)" in text
    assert "Pause " in text


# --------------------------------------------------------------------------------- what a driver's eye found


def _page_images(sheets: RenderedSheets, dpi: int = 150) -> list[PIL.Image.Image]:
    document = pdfium.PdfDocument(sheets.pdf)
    return [page.render(scale=dpi / 72).to_pil() for page in document]


def _texts_at(sheets: RenderedSheets, page: int) -> list[tuple[str, float, float]]:
    """The text runs of a page with their position (x from the left, y from the top, in millimetres)."""
    runs: list[tuple[str, float, float]] = []
    reader = PdfReader(io.BytesIO(sheets.pdf))

    def visit(text: str, cm: list[float], tm: list[float], _font: object, _size: float) -> None:
        if text.strip():
            runs.append((text.strip(), tm[4] * 25.4 / 72, 297 - tm[5] * 25.4 / 72))

    reader.pages[page].extract_text(visitor_text=visit)
    return runs


def _sheet_of(world: World, vehicle: str) -> Sheet:
    ctx = Context(world.plan, world.containers, world.vehicles, world.depots, world.facilities, PARIS)
    return build_sheet(ctx, next(r for r in world.plan.routes if r.vehicle == vehicle))


def _maps(world: World, vehicle: str = "tenants/grand-soissons/vehicles/bom-01") -> list[Panel]:
    return layout_maps(_sheet_of(world, vehicle).path, full=FULL_PANEL, half=HALF_PANEL)


def test_qr_code_on_each_page_reads_back_plan_vehicle_and_version() -> None:
    """The QR code decoded from each rendered page parses back to the sheet's plan, vehicle and version."""
    world = _world([80, 5])
    sheets = world.render()
    pages = _pages(sheets)
    decoded = [zxingcpp.read_barcodes(image) for image in _page_images(sheets)]
    assert len(decoded) == sheets.page_count >= 3
    for text, codes in zip(pages, decoded, strict=True):
        assert len(codes) == 1, "one QR code per page"
        code = parse_sheet_code(codes[0].text)
        assert code.plan == "tenants/grand-soissons/routePlans/2026-11-30-a1"
        assert code.vehicle == "tenants/grand-soissons/vehicles/" + (
            "bom-01" if "bom-01" in text else "bom-02"
        )
        assert code.version == "20261129T174500Z"


def test_sheet_code_text_round_trips_with_reserved_characters() -> None:
    """Ids with characters reserved in the code (&, =, space, %) survive formatting and parsing."""
    code = SheetCode(
        "tenants/grand-soissons/routePlans/a&b=c",
        "tenants/grand-soissons/vehicles/BOM 1%",
        "20261129T174500Z",
    )
    text = code.text()
    assert text.startswith("wastesvc:sheet?t=grand-soissons&plan=a%26b%3Dc&vehicle=BOM%201%25&v=")
    assert parse_sheet_code(text) == code
    assert parse_sheet_code(text + "&page=2") == code  # keys added later are ignored


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("https://example.org/?plan=a&vehicle=b&v=1", "not a wastesvc sheet code"),
        ("wastesvc:sheet?t=x&plan=a&v=1", "'vehicle' is missing"),
        ("wastesvc:sheet?t=x&plan=a&vehicle=&v=1", "'vehicle' is empty"),
        ("wastesvc:sheet?t=x&plan=a&plan=b&vehicle=c&v=1", "'plan' is given twice"),
        ("wastesvc:sheet?plan=a&vehicle=c&v=1", "'t' is missing"),
        ("wastesvc:sheet?plan", "malformed"),
    ],
)
def test_bad_sheet_codes_are_rejected_with_the_reason(text: str, reason: str) -> None:
    """A text that is not a complete sheet code raises ValueError saying what is wrong."""
    with pytest.raises(ValueError, match=reason):
        parse_sheet_code(text)


def test_plan_without_create_time_has_version_zero() -> None:
    """A plan never stored (no create_time) prints version 0 rather than the epoch."""
    world = _world([3])
    world.plan.ClearField("create_time")
    assert _sheet_of(world, "tenants/grand-soissons/vehicles/bom-01").code.version == "0"


def test_anomaly_codes_on_every_page() -> None:
    """Every page carries the anomaly-code legend, not only the last one."""
    pages = _pages(_world([80, 5]).render())
    assert len(pages) >= 3
    for text in pages:
        for code in ("A accès bloqué", "D débordement / dépôt sauvage", "E conteneur endommagé", "X autre"):
            assert code in text


def test_data_quality_notes_are_not_printed_for_crews() -> None:
    """Names carrying "(supposé)" and the like print without the note."""
    world = _world([5])
    depot, facility = fleet_pb2.Depot(), fleet_pb2.Facility()
    depot.CopyFrom(DEPOT)
    facility.CopyFrom(FACILITY)
    depot.display_name = "Centre technique GrandSoissons (supposé)"
    facility.display_name = "Quai de transfert (Supposée), Villeneuve-Saint-Germain"
    world.depots[DEPOT.name] = depot
    world.facilities[FACILITY.name] = facility
    text = "\n".join(_pages(world.render()))
    assert "suppos" not in text.lower()
    assert "Centre technique GrandSoissons" in text
    assert "Quai de transfert, Villeneuve-Saint-Germain" in text


def test_stops_on_one_street_are_told_apart() -> None:
    """Stops sharing a street print their isle and own coordinates, and the container id in large type."""
    world = _world([6])
    for container in world.containers.values():
        container.street_address = "Résidence Le Parc"
    isle = next(iter(world.containers.values()))
    isle.isle = "ISLE-02722-017"
    sheets = world.render()
    text = "\n".join(_pages(sheets))
    assert text.count("Résidence Le Parc") == 6
    assert "Îlot ISLE-02722-017" in text
    for container in world.containers.values():
        lat, lng = container.location.latitude, container.location.longitude
        assert f"GPS {lat:.5f}, {lng:.5f}" in text
    sizes = {size for t, size in _text_sizes(sheets, 0) if t.startswith("c-emb-")}
    assert sizes == {9.0}


def _text_sizes(sheets: RenderedSheets, page: int) -> list[tuple[str, float]]:
    sizes: list[tuple[str, float]] = []
    reader = PdfReader(io.BytesIO(sheets.pdf))

    def visit(text: str, _cm: object, _tm: object, _font: object, size: float) -> None:
        if text.strip():
            sizes.append((text.strip(), size))

    reader.pages[page].extract_text(visitor_text=visit)
    return sizes


def test_one_map_panel_per_trip() -> None:
    """A truck emptying once mid-round gets one panel per trip, each showing only that trip's stops."""
    world = _world([12])
    panels = [p for p in _maps(world) if p.title.startswith("Rotation")]
    assert [p.title for p in panels] == ["Rotation 1/2 · arrêts 1 à 8", "Rotation 2/2 · arrêts 9 à 12"]
    first = {pt.number for pt, _x, _y in panels[0].points if pt.number}
    second = {pt.number for pt, _x, _y in panels[1].points if pt.number}
    assert first == set(range(1, 9))
    assert second == set(range(9, 13))


def test_each_panel_has_a_north_arrow_and_a_scale() -> None:
    """Every panel drawn on the first page has its own north arrow and km scale."""
    world = _world([12])
    sheets = world.render("bom-01")
    runs = _texts_at(sheets, 0)
    panels = _maps(world)
    assert len(panels) == 2
    assert sum(1 for t, _x, _y in runs if t == "N") == len(panels)
    assert sum(1 for t, _x, _y in runs if t.endswith((" km", " m")) and t[0].isdigit()) == len(panels)


@pytest.mark.parametrize("count", [12, 80, 150])
def test_every_stop_gets_its_number_on_the_maps(count: int) -> None:
    """However dense the round, each stop number is printed on some panel, inside the frame, labels apart."""
    world = _world([count])
    panels = _maps(world)
    numbered = {n for panel in panels for label in panel.labels for n in label.numbers}
    assert numbered == set(range(1, count + 1))
    for panel in panels:
        for label in panel.labels:
            rect = label.rect
            assert 0 <= rect.x <= panel.width - rect.w
            assert 0 <= rect.y <= panel.height - rect.h
        overlapping = [
            (a.text, b.text) for a, b in itertools.combinations(panel.labels, 2) if a.rect.overlaps(b.rect)
        ]
        assert overlapping == []


def test_dense_trip_gets_a_detail_panel() -> None:
    """Stops crowded in one spot go to a lettered detail panel at a larger scale, outlined on the trip's."""
    world = _world([12])
    route = world.plan.routes[0]
    # Twelve stops 40 m apart in the centre of Soissons: less than a label apart at the trip's scale.
    for k, visit in enumerate(v for v in route.visits if v.containers):
        visit.location.latitude = 49.3817 + 0.00036 * (k % 4)
        visit.location.longitude = 3.3236 + 0.00055 * (k // 4)
    panels = _maps(world)
    details = [p for p in panels if p.title.startswith("Détail A")]
    assert len(details) == 1
    trip = next(p for p in panels if any(box.letter == "A" for box in p.details))
    assert details[0].scale > 1.5 * trip.scale
    numbered = {n for label in details[0].labels for n in label.numbers}
    assert numbered >= set(range(1, 9))  # the first trip's stops, now apart
    assert all(len(label.numbers) == 1 for label in details[0].labels)


def test_map_names_the_communes_at_their_stops() -> None:
    """Each commune of a trip is named on its panel, near the centroid of its stops, inside the frame."""
    world = _world([12])
    panel = _maps(world)[0]
    stops = [(pt, x, y) for pt, x, y in panel.points if pt.number]
    localities = {pt.locality for pt, _x, _y in stops}
    assert {c.name for c in panel.communes} == localities
    for commune in panel.communes:
        own = [(x, y) for pt, x, y in stops if pt.locality == commune.name]
        cx, cy = sum(x for x, _y in own) / len(own), sum(y for _x, y in own) / len(own)
        assert math.hypot(commune.x - cx, commune.y - cy) < 25
        assert commune.w / 2 <= commune.x <= panel.width - commune.w / 2
    # and they are drawn on the map, above the stop table
    sheets = world.render()
    runs = _texts_at(sheets, 0)
    table_top = next(y for t, _x, y in runs if t == "Conteneur")
    on_map = {t for t, _x, y in runs if y < table_top}
    assert localities <= on_map


def test_rendered_maps_print_every_stop_number() -> None:
    """On the rendered pages, the map labels (6.2 pt) of an 80-stop round name every stop."""
    world = _world([80])
    sheets = world.render()
    printed: set[int] = set()
    for page in range(sheets.page_count):
        for text, size in _text_sizes(sheets, page):
            if size == 6.2:
                printed |= {int(n) for n in text.split("/")}
    assert printed == set(range(1, 81))


def test_public_surface() -> None:
    """The package exports the renderer and the sheet-code reader, nothing else."""
    assert sorted(wastesvc.sheets.__all__) == [
        "RenderedSheets",
        "SheetCode",
        "parse_sheet_code",
        "render_route_sheets",
    ]
