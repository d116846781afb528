"""Printed route sheets: one A4 portrait PDF, a page or more per truck, for French collection crews.

Each truck's sheet opens with a header (service date, truck, stream, depot, shift, plan and a short sheet id
for entering the ticks back), a tile-free map drawn from the coordinates (route in visit order, numbered
stops, depot and disposal facilities, north arrow, km scale), then the stop table in sequence with tick
boxes, the depot, disposal and break rows, and the totals of the day. Only fpdf2's core fonts are used, so the
output is the same on any machine; it is byte-reproducible for a given plan.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from fpdf import FPDF
from fpdf.enums import TableCellFillMode
from fpdf.fonts import FontFace
from google.protobuf import timestamp_pb2

from wastesvc.v1 import common_pb2, containers_pb2, fleet_pb2, planning_pb2

__all__ = ["RenderedSheets", "render_route_sheets"]

PARIS = ZoneInfo("Europe/Paris")

# Page geometry, millimetres (A4 portrait).
_PAGE_W = 210.0
_MARGIN = 10.0
_BODY_W = _PAGE_W - 2 * _MARGIN
_BOTTOM = 16.0
_FONT = "Helvetica"
_MAP_HEIGHT = 100.0  # map and its legend strip on a truck's first page
_MAP_HEIGHT_MIN = 76.0

_BLACK = (0, 0, 0)
_INK = (35, 35, 35)
_GREY_TEXT = (95, 95, 95)
_RULE = (150, 150, 150)
_PANEL = (242, 242, 242)
_ZEBRA = (247, 247, 247)
_ROUTE = (70, 70, 70)
_MAP_BG = (250, 250, 248)
_DEPOT = (25, 55, 110)
_FACILITY = (200, 60, 30)
_FILL_DEPOT = (220, 228, 240)
_FILL_DISPOSAL = (253, 226, 200)
_FILL_BREAK = (214, 236, 214)

# Stream names as French crews say them, and the usual bin colours of the stream (and the text colour on it).
_STREAMS: dict[int, tuple[str, tuple[int, int, int], tuple[int, int, int]]] = {
    common_pb2.WASTE_STREAM_UNSPECIFIED: ("Non précisé", (120, 120, 120), (255, 255, 255)),
    common_pb2.WASTE_STREAM_RESIDUAL: ("Ordures ménagères", (85, 85, 85), (255, 255, 255)),
    common_pb2.WASTE_STREAM_PACKAGING: ("Emballages", (240, 192, 0), (0, 0, 0)),
    common_pb2.WASTE_STREAM_PAPER: ("Papiers", (30, 95, 170), (255, 255, 255)),
    common_pb2.WASTE_STREAM_GLASS: ("Verre", (35, 130, 60), (255, 255, 255)),
    common_pb2.WASTE_STREAM_BIOWASTE: ("Biodéchets", (130, 85, 40), (255, 255, 255)),
}
_STREAM_SHORT: dict[int, str] = {common_pb2.WASTE_STREAM_RESIDUAL: "OMR"}

_WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)

# Characters the core fonts cannot show (they are cp1252-encoded), with a readable stand-in.
_REPLACEMENTS = {
    "\u2009": " ",  # thin space
    "\u202f": "\u00a0",  # narrow no-break space, the French thousands separator
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2212": "-",
    "\u2192": "->",
    "\u2264": "<=",
    "\u2265": ">=",
    "\u2715": "x",
}
_NBSP = "\u00a0"
_DASH = "\u2014"  # em dash, in cp1252
_EN_DASH = "\u2013"

_COLUMNS: tuple[tuple[str, float], ...] = (
    ("N°", 7),
    ("Heure prévue", 11),
    ("Conteneur", 18),
    ("Commune", 35),
    ("Adresse / accès", 33),
    ("Flux", 16),
    ("Rempl. prévu", 11),
    ("Créneau d'accès", 18),
    ("Vidé", 9),
    ("Rempl. constaté (entourer)", 18),
    ("Anomalie (code)", 14),
)
_CELL_PAD_X = 0.8
# Shading and first-column letter of the rows that are not container stops.
_ROW_FILLS: dict[int, tuple[int, int, int]] = {
    planning_pb2.VISIT_KIND_DEPOT_START: _FILL_DEPOT,
    planning_pb2.VISIT_KIND_DEPOT_END: _FILL_DEPOT,
    planning_pb2.VISIT_KIND_DISPOSAL: _FILL_DISPOSAL,
    planning_pb2.VISIT_KIND_BREAK: _FILL_BREAK,
    planning_pb2.VISIT_KIND_REST: _FILL_BREAK,
}
_ROW_SYMBOLS: dict[int, str] = {
    planning_pb2.VISIT_KIND_DEPOT_START: "D",
    planning_pb2.VISIT_KIND_DEPOT_END: "D",
    planning_pb2.VISIT_KIND_DISPOSAL: "V",
    planning_pb2.VISIT_KIND_BREAK: "P",
    planning_pb2.VISIT_KIND_REST: "R",
}
_ANOMALY_CODES = (
    "A accès bloqué",
    "D débordement / dépôt sauvage",
    "E conteneur endommagé",
    "C capteur HS",
    "X autre (préciser)",
)


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
) -> RenderedSheets:
    """Render the route sheets of `plan`, every truck or only `vehicle` (`vehicles/{id}` or the bare id).

    Entities missing from the mappings are printed with what the plan knows (their id); nothing raises
    `KeyError`. Raises `LookupError` when `vehicle` has no route in the plan.
    """
    routes: list[planning_pb2.VehicleRoute] = list(plan.routes)
    if vehicle:
        # A full name or a bare id: `tenants/t/vehicles/bom-02` or `bom-02`.
        routes = [r for r in plan.routes if vehicle in (r.vehicle, _last_segment(r.vehicle))]
        if not routes:
            raise LookupError(f"vehicle {vehicle!r} has no route in plan {plan.name!r}")
    ctx = _Context(plan, containers, vehicles, depots, facilities, tz)
    sheets = [_build_sheet(ctx, route) for route in routes]
    # The first pass counts each truck's pages, so that the last one can print "page 2/3". A sheet that
    # just spills onto a second page gets a smaller map if that keeps it on one page.
    heights = [_MAP_HEIGHT] * len(sheets)
    counts = _Document(ctx).render(sheets, heights)
    spilling = [i for i, count in enumerate(counts) if count == 2]
    if spilling:
        trial = [_MAP_HEIGHT_MIN if i in spilling else h for i, h in enumerate(heights)]
        trial_counts = _Document(ctx).render(sheets, trial)
        for i in spilling:
            if trial_counts[i] == 1:
                heights[i], counts[i] = _MAP_HEIGHT_MIN, 1
    final = _Document(ctx, pages_per_sheet=counts)
    final.render(sheets, heights)
    return RenderedSheets(pdf=bytes(final.output()), page_count=int(final.pages_count))


# --------------------------------------------------------------------------------------------- text helpers


def _pdf_text(text: str) -> str:
    """Return `text` with every character the core fonts (cp1252) cannot show replaced by a stand-in."""
    out: list[str] = []
    for ch in text:
        if ch in _REPLACEMENTS:
            out.append(_REPLACEMENTS[ch])
            continue
        try:
            ch.encode("cp1252")
        except UnicodeEncodeError:
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            try:
                base.encode("cp1252")
            except UnicodeEncodeError:
                base = "?"
            out.append(base or "?")
        else:
            out.append(ch if ch.isprintable() or ch == "\n" else " ")
    return "".join(out)


def _last_segment(name: str) -> str:
    return name.rsplit("/", 1)[-1] if name else "?"


def _french_number(value: float, decimals: int = 0) -> str:
    text = f"{value:,.{decimals}f}"
    return text.replace(",", _NBSP).replace(".", ",")


def _french_date(day: date) -> str:
    return f"{_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"


def _hm(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


def _is_set(ts: timestamp_pb2.Timestamp) -> bool:
    return bool(ts.seconds or ts.nanos)


def _stream_label(stream: int) -> str:
    return _STREAMS.get(stream, _STREAMS[common_pb2.WASTE_STREAM_UNSPECIFIED])[0]


def _window_text(window: common_pb2.TimeWindow) -> str:
    start, end = window.start_time, window.end_time
    return f"{start.hours:02d}:{start.minutes:02d}{_EN_DASH}{end.hours:02d}:{end.minutes:02d}"


# ------------------------------------------------------------------------------------------- sheet content


@dataclass
class _Context:
    plan: planning_pb2.RoutePlan
    containers: Mapping[str, containers_pb2.Container]
    vehicles: Mapping[str, fleet_pb2.Vehicle]
    depots: Mapping[str, fleet_pb2.Depot]
    facilities: Mapping[str, fleet_pb2.Facility]
    tz: ZoneInfo

    def local(self, ts: timestamp_pb2.Timestamp) -> datetime | None:
        if not _is_set(ts):
            return None
        return datetime.fromtimestamp(ts.seconds + ts.nanos / 1e9, tz=UTC).astimezone(self.tz)

    def hhmm(self, ts: timestamp_pb2.Timestamp) -> str:
        moment = self.local(ts)
        return moment.strftime("%H:%M") if moment else _DASH

    @property
    def plan_id(self) -> str:
        return _last_segment(self.plan.name) if self.plan.name else "sans nom"

    def creation_date(self) -> datetime:
        if _is_set(self.plan.create_time):
            return datetime.fromtimestamp(self.plan.create_time.seconds, tz=UTC)
        d = self.plan.service_date
        if d.year and d.month and d.day:
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        return datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class _Point:
    """A place drawn on the map; `number` is the stop number for container stops."""

    kind: int
    lat: float
    lng: float
    number: int = 0


@dataclass(frozen=True)
class _Row:
    """One line of the stop table: a numbered container stop (`cells`) or a shaded event row (`text`)."""

    kind: int
    time: str
    cells: tuple[str, ...] = ()
    text: str = ""


@dataclass
class _Sheet:
    vehicle_id: str
    truck: str
    stream: int
    depot: str
    shift: str
    sheet_id: str
    service_day: date | None
    rows: list[_Row] = field(default_factory=list)
    path: list[_Point] = field(default_factory=list)
    totals: list[tuple[str, str]] = field(default_factory=list)
    stop_count: int = 0
    start: str = _DASH
    end: str = _DASH


class _LatLng(Protocol):
    """A `google.type.LatLng`."""

    @property
    def latitude(self) -> float: ...
    @property
    def longitude(self) -> float: ...


def _sheet_id(plan_name: str, vehicle: str) -> str:
    digest = hashlib.sha256(f"{plan_name}|{vehicle}".encode()).hexdigest()[:8].upper()
    return f"{digest[:4]}-{digest[4:]}"


def _location(*candidates: _LatLng | None) -> tuple[float, float] | None:
    for loc in candidates:
        if loc is not None and (loc.latitude or loc.longitude):
            return (loc.latitude, loc.longitude)
    return None


def _build_sheet(ctx: _Context, route: planning_pb2.VehicleRoute) -> _Sheet:
    vehicle = ctx.vehicles.get(route.vehicle)
    vehicle_id = _last_segment(route.vehicle)
    display = vehicle.display_name if vehicle and vehicle.display_name else vehicle_id
    depot_name = vehicle.home_depot if vehicle and vehicle.home_depot else ""
    if not depot_name:
        depot_name = next((v.site for v in route.visits if v.kind == planning_pb2.VISIT_KIND_DEPOT_START), "")
    depot = ctx.depots.get(depot_name)
    depot_label = depot.display_name if depot and depot.display_name else _last_segment(depot_name)
    shift = _window_text(vehicle.shift) if vehicle and vehicle.HasField("shift") else _DASH

    service_day: date | None = None
    d = ctx.plan.service_date
    if d.year and d.month and d.day:
        service_day = date(d.year, d.month, d.day)
    else:
        first = next((ctx.local(v.arrival_time) for v in route.visits if _is_set(v.arrival_time)), None)
        service_day = first.date() if first else None

    sheet = _Sheet(
        vehicle_id=vehicle_id,
        truck=display,
        stream=route.stream,
        depot=depot_label,
        shift=shift,
        sheet_id=_sheet_id(ctx.plan.name, route.vehicle),
        service_day=service_day,
    )

    number = 0
    load_before = 0.0
    disposals = 0
    distance_m = 0
    litres = 0.0
    for visit in route.visits:
        distance_m += visit.distance_meters
        arrival = ctx.hhmm(visit.arrival_time)
        if visit.kind == planning_pb2.VISIT_KIND_CONTAINER:
            number += 1
            row, loc, volume = _container_row(ctx, visit, number, arrival)
            litres += volume
            sheet.rows.append(row)
            if loc:
                sheet.path.append(_Point(visit.kind, loc[0], loc[1], number))
        elif visit.kind == planning_pb2.VISIT_KIND_DISPOSAL:
            disposals += 1
            facility = ctx.facilities.get(visit.site)
            label = facility.display_name if facility and facility.display_name else _last_segment(visit.site)
            text = (
                f"Vidage {_DASH} {label}, arrivée {arrival}, "
                f"charge avant vidage {_french_number(load_before)} L"
            )
            if _is_set(visit.end_time):
                text += f", départ {ctx.hhmm(visit.end_time)}"
            sheet.rows.append(_Row(visit.kind, arrival, text=text))
            loc = _location(visit.location, facility.location if facility else None)
            if loc:
                sheet.path.append(_Point(visit.kind, *loc))
        elif visit.kind in (planning_pb2.VISIT_KIND_BREAK, planning_pb2.VISIT_KIND_REST):
            start = ctx.hhmm(visit.start_time if _is_set(visit.start_time) else visit.arrival_time)
            end = ctx.hhmm(visit.end_time)
            # "Repos": the rest the driving-time rule owes, told apart from the meal break.
            label = "Pause" if visit.kind == planning_pb2.VISIT_KIND_BREAK else "Repos (temps de conduite)"
            text = f"{label} {start}{_EN_DASH}{end}"
            if _is_set(visit.end_time) and _is_set(visit.start_time):
                text += f" ({round((visit.end_time.seconds - visit.start_time.seconds) / 60)} min)"
            sheet.rows.append(_Row(visit.kind, start, text=text))
        elif visit.kind in (planning_pb2.VISIT_KIND_DEPOT_START, planning_pb2.VISIT_KIND_DEPOT_END):
            site = ctx.depots.get(visit.site) or depot
            site_label = site.display_name if site and site.display_name else depot_label
            loc = _location(visit.location, site.location if site else None)
            if visit.kind == planning_pb2.VISIT_KIND_DEPOT_START:
                leave = ctx.hhmm(visit.end_time if _is_set(visit.end_time) else visit.arrival_time)
                sheet.start = leave
                text = f"Départ du dépôt {_DASH} {site_label}, {leave}"
                sheet.rows.append(_Row(visit.kind, leave, text=text))
            else:
                sheet.end = arrival
                text = f"Retour au dépôt {_DASH} {site_label}, arrivée {arrival}"
                if visit.load_liters > 0:
                    text += f", charge à bord {_french_number(visit.load_liters)} L"
                sheet.rows.append(_Row(visit.kind, arrival, text=text))
            if loc:
                sheet.path.append(_Point(visit.kind, *loc))
        load_before = visit.load_liters

    sheet.stop_count = number
    if route.distance_meters:
        distance_m = route.distance_meters
    duration_s = route.duration.seconds if route.HasField("duration") else 0
    if not duration_s and route.visits:
        first_ts, last_ts = route.visits[0], route.visits[-1]
        start_ts = first_ts.end_time if _is_set(first_ts.end_time) else first_ts.arrival_time
        if _is_set(start_ts) and _is_set(last_ts.arrival_time):
            duration_s = max(0, last_ts.arrival_time.seconds - start_ts.seconds)
    if route.collected_liters:
        litres = route.collected_liters
    containers_total = route.container_count or sum(
        len(v.containers) for v in route.visits if v.kind == planning_pb2.VISIT_KIND_CONTAINER
    )
    sheet.totals = [
        ("Conteneurs à vider", f"{containers_total} ({number} arrêts)"),
        ("Distance", f"{_french_number(distance_m / 1000, 1)} km"),
        ("Durée", _hm(duration_s)),
        ("Volume collecté", f"{_french_number(litres)} L"),
        ("Vidages", str(disposals)),
        ("Départ / retour", f"{sheet.start} / {sheet.end}"),
    ]
    return sheet


def _container_row(
    ctx: _Context, visit: planning_pb2.Visit, number: int, arrival: str
) -> tuple[_Row, tuple[float, float] | None, float]:
    found = [ctx.containers[n] for n in visit.containers if n in ctx.containers]
    ids = "\n".join(_last_segment(n) for n in visit.containers) or _DASH
    localities = _unique(c.locality for c in found if c.locality)
    streets = _unique(c.street_address for c in found if c.street_address)
    streams = _unique(_STREAM_SHORT.get(c.stream, _stream_label(c.stream)) for c in found)
    windows = _unique(_window_text(w) for c in found for w in c.access_windows)
    fill = visit.expected_fill if visit.expected_fill > 0 else max((c.latest_fill for c in found), default=0)
    fill_text = f"{round(fill * 100)}{_NBSP}%" if fill > 0 else _DASH
    when = arrival
    waits = visit.start_time.seconds - visit.arrival_time.seconds
    if _is_set(visit.start_time) and _is_set(visit.arrival_time) and waits >= 60:
        when += f"\ndébut {ctx.hhmm(visit.start_time)}"
    cells = (
        str(number),
        when,
        ids,
        "\n".join(localities) or _DASH,
        "\n".join(streets) or "",
        "\n".join(streams) or _DASH,
        fill_text,
        "\n".join(windows) or "libre",
        "",
        "¼  ½  ¾  1",
        "",
    )
    loc = _location(visit.location, found[0].location if found else None)
    volume = float(sum(c.volume_liters for c in found))
    return _Row(visit.kind, arrival, cells=cells), loc, volume


def _wrap(pdf: FPDF, text: str, width: float) -> str:
    """Break `text` into lines of at most `width` mm in the current font, at spaces or after hyphens.

    fpdf2 only breaks at spaces, so a long hyphenated commune ("Villeneuve-Saint-Germain") would otherwise
    be cut in the middle of a word.
    """
    lines: list[str] = []
    for paragraph in text.split("\n"):
        pieces: list[str] = []
        for word in paragraph.split(" "):
            parts = word.split("-")
            pieces.extend(f"{p}-" for p in parts[:-1])
            pieces.append(parts[-1] + " ")
        current = ""
        for piece in pieces:
            candidate = current + piece
            if current and pdf.get_string_width(_pdf_text(candidate.rstrip())) > width:
                lines.append(current.rstrip())
                current = piece
            else:
                current = candidate
        lines.append(current.rstrip())
    return "\n".join(lines)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


# ---------------------------------------------------------------------------------------------- the document


class _Document(FPDF):
    """The PDF being written, with the running header and footer of continuation pages."""

    def __init__(self, ctx: _Context, pages_per_sheet: Sequence[int] | None = None) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.ctx = ctx
        self.pages_per_sheet = pages_per_sheet
        self.core_fonts_encoding = "cp1252"
        self.set_margins(_MARGIN, _MARGIN, _MARGIN)
        self.set_auto_page_break(auto=True, margin=_BOTTOM)
        self.set_creation_date(ctx.creation_date())
        self.set_title(_pdf_text(f"Feuilles de route {_DASH} plan {ctx.plan_id}"))
        self.set_author("wastesvc")
        self.set_creator("wastesvc")
        self.set_subject("Feuilles de route de collecte")
        self.sheet: _Sheet | None = None
        self.sheet_index = 0
        self.sheet_first_page = 0
        # The sheet the next page starts; taken over in `header`, after the previous page's footer is drawn.
        self.next_sheet: tuple[int, _Sheet] | None = None

    # -- running parts

    def sheet_page(self) -> str:
        page = self.page - self.sheet_first_page + 1
        total = self.pages_per_sheet[self.sheet_index] if self.pages_per_sheet else 0
        return f"Page {page}/{total}" if total else f"Page {page}"

    def header(self) -> None:
        if self.next_sheet is not None:
            self.sheet_index, self.sheet = self.next_sheet
            self.sheet_first_page = self.page
            self.next_sheet = None
        sheet = self.sheet
        if sheet is None or self.page == self.sheet_first_page:
            return
        self.set_text_color(*_INK)
        day = _french_date(sheet.service_day) if sheet.service_day else ""
        left = f"{sheet.vehicle_id} {_DASH} {day} (suite) {_DASH} {sheet.truck}"
        self.set_xy(_MARGIN, _MARGIN)
        self.cell(_BODY_W * 0.72, 6, self._fitted(_pdf_text(left), _BODY_W * 0.72))
        self.set_font(_FONT, "", 9)
        self.set_xy(_MARGIN + _BODY_W * 0.75, _MARGIN)
        self.cell(_BODY_W * 0.25, 6, _pdf_text(f"N° {sheet.sheet_id} · {self.sheet_page()}"), align="R")
        self.set_draw_color(*_RULE)
        self.set_line_width(0.3)
        self.line(_MARGIN, _MARGIN + 7, _MARGIN + _BODY_W, _MARGIN + 7)
        self.set_y(_MARGIN + 10)

    def footer(self) -> None:
        sheet = self.sheet
        self.set_y(-11)
        self.set_draw_color(*_RULE)
        self.set_line_width(0.2)
        self.line(_MARGIN, self.get_y() - 1, _MARGIN + _BODY_W, self.get_y() - 1)
        self.set_font(_FONT, "", 7.5)
        self.set_text_color(*_GREY_TEXT)
        left = f"wastesvc {_DASH} plan {self.ctx.plan_id}"
        if sheet:
            left += (
                f" · feuille n° {sheet.sheet_id} · camion {sheet.vehicle_id} · {self.sheet_page().lower()}"
            )
        self.cell(_BODY_W * 0.75, 5, _pdf_text(left))
        total = sum(self.pages_per_sheet) if self.pages_per_sheet else 0
        right = f"Document p. {self.page}/{total}" if total else f"Document p. {self.page}"
        self.cell(_BODY_W * 0.25, 5, _pdf_text(right), align="R")

    # -- body

    def render(self, sheets: Sequence[_Sheet], map_heights: Sequence[float]) -> list[int]:
        """Write the sheets, each with a map of the given height (mm); return each sheet's page count."""
        counts: list[int] = []
        for index, (sheet, map_height) in enumerate(zip(sheets, map_heights, strict=True)):
            self.next_sheet = (index, sheet)
            self.add_page()
            self._first_header(sheet)
            self._map(sheet, top=self.get_y() + 2, height=map_height)
            self._table(sheet)
            self._totals(sheet)
            counts.append(self.page - self.sheet_first_page + 1)
        if not sheets:
            self.sheet = None
            self.add_page()
            self.set_font(_FONT, "", 11)
            self.cell(_BODY_W, 10, _pdf_text(f"Le plan {self.ctx.plan_id} ne contient aucune tournée."))
        return counts

    def _first_header(self, sheet: _Sheet) -> None:
        name, colour, on_colour = _STREAMS.get(sheet.stream, _STREAMS[common_pb2.WASTE_STREAM_UNSPECIFIED])
        top = _MARGIN
        # Title line: what the document is, and the truck's page count.
        self.set_text_color(*_INK)
        self.set_xy(_MARGIN, top)
        self.set_font(_FONT, "B", 17)
        self.cell(_BODY_W * 0.7, 8, "Feuille de route")
        self.set_font(_FONT, "", 9)
        self.set_xy(_MARGIN + _BODY_W * 0.7, top)
        self.cell(_BODY_W * 0.3, 8, _pdf_text(self.sheet_page()), align="R")
        # Date and stream badge.
        self.set_xy(_MARGIN, top + 8.5)
        self.set_font(_FONT, "B", 12.5)
        day = _french_date(sheet.service_day).capitalize() if sheet.service_day else "Date non précisée"
        self.cell(None, 7, _pdf_text(f"{day} {_DASH} Tournée {name}"))
        self.set_font(_FONT, "B", 9.5)
        badge_w = self.get_string_width(_pdf_text(name.upper())) + 8
        self.set_fill_color(*colour)
        self.set_draw_color(*colour)
        self.rect(_MARGIN + _BODY_W - badge_w, top + 9, badge_w, 6.5, style="F", round_corners=True)
        self.set_text_color(*on_colour)
        self.set_xy(_MARGIN + _BODY_W - badge_w, top + 9)
        self.cell(badge_w, 6.5, _pdf_text(name.upper()), align="C")
        # Information panel.
        panel_top = top + 18
        rows = (
            (("Camion", f"{sheet.truck} ({sheet.vehicle_id})"), ("Plan", self.ctx.plan_id)),
            (("Dépôt", sheet.depot), ("Feuille n°", sheet.sheet_id)),
            (
                ("Poste", sheet.shift),
                ("Départ / retour prévus", f"{sheet.start} / {sheet.end}"),
            ),
        )
        line_h = 5.2
        self.set_fill_color(*_PANEL)
        self.rect(_MARGIN, panel_top, _BODY_W, line_h * len(rows) + 2, style="F")
        half = _BODY_W / 2
        for i, pair in enumerate(rows):
            y = panel_top + 1 + i * line_h
            for j, (label, value) in enumerate(pair):
                x = _MARGIN + 2 + j * half
                label_w = 22 if j == 0 else 38
                self.set_xy(x, y)
                self.set_text_color(*_GREY_TEXT)
                self.set_font(_FONT, "", 8.5)
                self.cell(label_w, line_h, _pdf_text(label))
                self.set_text_color(*_INK)
                self.cell(half - label_w - 4, line_h, self._fitted(_pdf_text(value), half - label_w - 4))
        self.set_y(panel_top + line_h * len(rows) + 2)

    def _fitted(self, text: str, width: float) -> str:
        """Sets a bold size at which `text` fits `width` (down to 7 pt), then shortens it with an ellipsis."""
        for size in (9.5, 8.5, 7.5, 7.0):
            self.set_font(_FONT, "B", size)
            if self.get_string_width(text) <= width:
                return text
        while text and self.get_string_width(text + "...") > width:
            text = text[:-1]
        return text + "..."

    # -- the map

    def _map(self, sheet: _Sheet, *, top: float, height: float) -> None:
        left, width = _MARGIN, _BODY_W
        legend_h = 6.0
        frame_h = height - legend_h
        self.set_fill_color(*_MAP_BG)
        self.set_draw_color(*_RULE)
        self.set_line_width(0.3)
        self.rect(left, top, width, frame_h, style="DF")
        points = sheet.path
        if not points:
            self.set_text_color(*_GREY_TEXT)
            self.set_font(_FONT, "I", 9)
            self.set_xy(left, top + frame_h / 2 - 3)
            self.cell(width, 6, "Pas de coordonnées pour cette tournée.", align="C")
            self.set_y(top + height + 2)
            return

        project, mm_per_km = _projection(points, left, top, width, frame_h, inset=9.0)
        xy = [project(p) for p in points]

        with self.rect_clip(left, top, width, frame_h):
            # Route in visit order, with small arrowheads giving the direction of travel.
            self.set_draw_color(*_ROUTE)
            self.set_line_width(0.45)
            if len(xy) > 1:
                self.polyline(xy)
            self.set_fill_color(*_ROUTE)
            for (x0, y0), (x1, y1) in itertools.pairwise(xy):
                seg = math.hypot(x1 - x0, y1 - y0)
                if seg > 14:
                    _arrowhead(self, (x0 + x1) / 2, (y0 + y1) / 2, math.atan2(y1 - y0, x1 - x0), 2.0)

            stops = [
                (p, q) for p, q in zip(points, xy, strict=True) if p.kind == planning_pb2.VISIT_KIND_CONTAINER
            ]
            dense = len(stops) > 60
            radius = 1.5 if dense else 2.3
            font_size = 4.6 if dense else 6.2
            labels = _place_labels([(p.number, q) for p, q in stops], radius, dense)
            _name, colour, on_colour = _STREAMS.get(
                sheet.stream, _STREAMS[common_pb2.WASTE_STREAM_UNSPECIFIED]
            )
            self.set_line_width(0.25)
            self.set_draw_color(*_BLACK)
            self.set_fill_color(*colour)
            for p, (x, y) in stops:
                label_at = labels.get(p.number)
                if label_at != (x, y):
                    self.circle(x, y, radius * 0.6, style="DF")
            # Labels moved off a crowded spot hang on a thin leader line.
            self.set_line_width(0.15)
            for p, (x, y) in stops:
                label_at = labels.get(p.number)
                if label_at and label_at != (x, y):
                    self.line(x, y, *label_at)
            self.set_font(_FONT, "B", font_size)
            self.set_line_width(0.25)
            for p, _xy in stops:
                if p.number not in labels:
                    continue
                lx, ly = labels[p.number]
                self.set_fill_color(*colour)
                self.circle(lx, ly, radius, style="DF")
                self.set_text_color(*on_colour)
                self.set_xy(lx - radius * 1.5, ly - radius)
                self.cell(radius * 3, radius * 2, str(p.number), align="C")

            # Facilities (triangles) and the depot (square) on top.
            for p, (x, y) in zip(points, xy, strict=True):
                if p.kind == planning_pb2.VISIT_KIND_DISPOSAL:
                    _triangle(self, x, y, 3.2)
            for p, (x, y) in zip(points, xy, strict=True):
                if p.kind in (planning_pb2.VISIT_KIND_DEPOT_START, planning_pb2.VISIT_KIND_DEPOT_END):
                    _square(self, x, y, 3.4)

        _north_arrow(self, left + width - 6, top + 2)
        self._legend(sheet, top=top + frame_h, h=legend_h, mm_per_km=mm_per_km)
        self.set_y(top + height + 2)

    def _legend(self, sheet: _Sheet, *, top: float, h: float, mm_per_km: float) -> None:
        _name, colour, _on = _STREAMS.get(sheet.stream, _STREAMS[common_pb2.WASTE_STREAM_UNSPECIFIED])
        y = top + h / 2
        x = _MARGIN + 1
        self.set_font(_FONT, "", 7.5)
        self.set_text_color(*_INK)

        def label(text: str, at: float) -> float:
            self.set_xy(at, top + 0.5)
            w: float = self.get_string_width(_pdf_text(text)) + 1
            self.cell(w, h - 1, _pdf_text(text))
            return at + w + 4

        self.set_draw_color(*_BLACK)
        self.set_line_width(0.25)
        self.set_fill_color(*colour)
        self.circle(x + 2, y, 1.8, style="DF")
        x = label("Point de collecte (n° = ordre du tableau)", x + 4.5)
        _square(self, x + 1.8, y, 3.0)
        x = label("Dépôt", x + 4.5)
        _triangle(self, x + 1.8, y, 3.0)
        x = label("Vidage (exutoire)", x + 4.5)
        self.set_draw_color(*_ROUTE)
        self.set_line_width(0.45)
        self.line(x, y, x + 7, y)
        self.set_fill_color(*_ROUTE)
        _arrowhead(self, x + 4.5, y, 0.0, 1.4)
        label("Itinéraire", x + 8.5)
        _scale_bar(self, _MARGIN + _BODY_W, top, h, mm_per_km)

    # -- the stop table

    def _table(self, sheet: _Sheet) -> None:
        self.set_text_color(*_INK)
        self.set_draw_color(*_RULE)
        self.set_line_width(0.2)
        self.set_font(_FONT, "", 7.5)
        heading = FontFace(emphasis="B", size_pt=7, fill_color=(225, 225, 225), color=_INK)
        with self.table(
            col_widths=[w for _h, w in _COLUMNS],
            width=_BODY_W,
            line_height=3.4,
            padding=(1.3, _CELL_PAD_X, 1.3, _CELL_PAD_X),
            text_align="LEFT",
            v_align="MIDDLE",
            headings_style=heading,
            repeat_headings=1,
            cell_fill_color=_ZEBRA,
            cell_fill_mode=TableCellFillMode.EVEN_ROWS,
        ) as table:
            head = table.row()
            for title, _w in _COLUMNS:
                head.cell(_pdf_text(title), align="C")
            bold = FontFace(emphasis="B")
            tick = FontFace(family="ZapfDingbats", size_pt=11, color=_GREY_TEXT)
            for row in sheet.rows:
                line = table.row()
                if row.cells:
                    for i, raw in enumerate(row.cells):
                        text = raw
                        if i in (2, 3, 4):
                            self.set_font(_FONT, "B" if i == 3 else "", 7.5)
                            text = _wrap(self, raw, _COLUMNS[i][1] - 2 * _CELL_PAD_X - 0.5)
                        style: FontFace | None = None
                        align = "L"
                        if i in (0, 1, 6, 8, 9):
                            align = "C"
                        if i in (0, 3):
                            style = bold
                        if i == 9:
                            style = FontFace(color=_GREY_TEXT, size_pt=8)
                        if i == 8:
                            # ZapfDingbats "q" is a shadowed box, the tick box for "emptied".
                            line.cell("q", align="C", style=tick)
                            continue
                        line.cell(_pdf_text(text), align=align, style=style)
                else:
                    fill = FontFace(emphasis="B", fill_color=_ROW_FILLS.get(row.kind, _PANEL))
                    symbol = _ROW_SYMBOLS.get(row.kind, "")
                    line.cell(symbol, align="C", style=fill)
                    line.cell(_pdf_text(row.time), align="C", style=fill)
                    line.cell(_pdf_text(row.text), colspan=len(_COLUMNS) - 2, style=fill)
            self.set_font(_FONT, "", 7.5)  # the table is drawn on leaving the block, in the current font

    def _totals(self, sheet: _Sheet) -> None:
        block_h = 44.0
        if self.will_page_break(block_h + 3):
            self.add_page()
        top = self.get_y() + 3
        self.set_fill_color(*_PANEL)
        self.rect(_MARGIN, top, _BODY_W, 19, style="F")
        self.set_xy(_MARGIN + 2, top + 1)
        self.set_text_color(*_INK)
        self.set_font(_FONT, "B", 9.5)
        self.cell(60, 5, "Totaux de la tournée")
        col_w = (_BODY_W - 4) / 3
        for i, (label, value) in enumerate(sheet.totals):
            x = _MARGIN + 2 + (i % 3) * col_w
            y = top + 6.5 + (i // 3) * 5.5
            self.set_xy(x, y)
            self.set_font(_FONT, "", 8.5)
            self.set_text_color(*_GREY_TEXT)
            self.cell(30, 5, _pdf_text(label))
            self.set_font(_FONT, "B", 9.5)
            self.set_text_color(*_INK)
            self.cell(col_w - 30, 5, _pdf_text(value))
        # Crew feedback: anomaly codes and a box for remarks and signature.
        y = top + 21
        self.set_xy(_MARGIN, y)
        self.set_font(_FONT, "", 7.5)
        self.set_text_color(*_GREY_TEXT)
        codes = " · ".join(_ANOMALY_CODES)
        hint = (
            f"Cocher « Vidé » pour chaque conteneur vidé, entourer le remplissage constaté, "
            f"noter le code d'anomalie : {codes}."
        )
        self.multi_cell(_BODY_W, 3.6, _pdf_text(hint))
        y = self.get_y() + 1.5
        self.set_draw_color(*_RULE)
        self.set_line_width(0.3)
        self.rect(_MARGIN, y, _BODY_W * 0.68, 14)
        self.rect(_MARGIN + _BODY_W * 0.7, y, _BODY_W * 0.3, 14)
        self.set_font(_FONT, "", 7.5)
        self.set_xy(_MARGIN + 1, y + 0.5)
        self.cell(60, 4, "Observations")
        self.set_xy(_MARGIN + _BODY_W * 0.7 + 1, y + 0.5)
        self.cell(50, 4, "Signature du chauffeur")
        self.set_y(y + 15)


# ------------------------------------------------------------------------------------------- map geometry


def _projection(
    points: Sequence[_Point], left: float, top: float, width: float, height: float, *, inset: float
) -> tuple[Callable[[_Point], tuple[float, float]], float]:
    """Fit an equirectangular projection (x scaled by cos of the mean latitude) to the points' bounding box.

    Returns the projection (a `_Point` to page millimetres) and the map scale in millimetres per kilometre.
    """
    lats = [p.lat for p in points]
    lat0 = (min(lats) + max(lats)) / 2
    cos0 = math.cos(math.radians(lat0))
    km_per_deg = 111.32
    xs = [p.lng * cos0 * km_per_deg for p in points]
    ys = [p.lat * km_per_deg for p in points]
    span_x = max(max(xs) - min(xs), 0.5)
    span_y = max(max(ys) - min(ys), 0.5)
    inner_w, inner_h = width - 2 * inset, height - 2 * inset
    scale = min(inner_w / span_x, inner_h / span_y)  # mm per km
    cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    mid_x, mid_y = left + width / 2, top + height / 2

    def project(p: _Point) -> tuple[float, float]:
        x = p.lng * cos0 * km_per_deg
        y = p.lat * km_per_deg
        return (mid_x + (x - cx) * scale, mid_y - (y - cy) * scale)

    return project, scale


def _place_labels(
    stops: Sequence[tuple[int, tuple[float, float]]], radius: float, dense: bool
) -> dict[int, tuple[float, float]]:
    """Where to draw each numbered stop circle: on the stop, or next to it when that spot is taken.

    Greedy in route order; a label never overlaps another label nor hides another stop's dot. A stop with
    no free spot nearby keeps an unnumbered dot. With more than 60 stops only the first, the last and every
    fifth stop are numbered.
    """
    last = stops[-1][0] if stops else 0
    dots = [xy for _n, xy in stops]
    placed: dict[int, tuple[float, float]] = {}
    directions = [(math.cos(k * math.pi / 4), math.sin(k * math.pi / 4)) for k in (7, 1, 5, 3, 0, 4, 6, 2)]

    def free(x: float, y: float, own: tuple[float, float]) -> bool:
        if any(math.hypot(x - lx, y - ly) < 2 * radius + 0.2 for lx, ly in placed.values()):
            return False
        return all(math.hypot(x - dx, y - dy) >= radius + 0.6 * radius for dx, dy in dots if (dx, dy) != own)

    for number, (x, y) in stops:
        if dense and not (number in (1, last) or number % 5 == 0):
            continue
        if free(x, y, (x, y)):
            placed[number] = (x, y)
            continue
        for distance in (3.2 * radius, 4.5 * radius):
            spot = next(
                ((x + dx * distance, y + dy * distance) for dx, dy in directions
                 if free(x + dx * distance, y + dy * distance, (x, y))),
                None,
            )  # fmt: skip
            if spot:
                placed[number] = spot
                break
    return placed


def _arrowhead(pdf: FPDF, x: float, y: float, angle: float, size: float) -> None:
    tip = (x + size * math.cos(angle), y + size * math.sin(angle))
    back = angle + math.pi
    wing = 0.5
    a = (x + size * 0.6 * math.cos(back + wing), y + size * 0.6 * math.sin(back + wing))
    b = (x + size * 0.6 * math.cos(back - wing), y + size * 0.6 * math.sin(back - wing))
    pdf.polygon([tip, a, b], style="F")


def _triangle(pdf: FPDF, x: float, y: float, size: float) -> None:
    h = size * math.sqrt(3) / 2
    pdf.set_fill_color(*_FACILITY)
    pdf.set_draw_color(*_BLACK)
    pdf.set_line_width(0.25)
    pdf.polygon([(x, y - h * 2 / 3), (x + size / 2, y + h / 3), (x - size / 2, y + h / 3)], style="DF")


def _square(pdf: FPDF, x: float, y: float, size: float) -> None:
    pdf.set_fill_color(*_DEPOT)
    pdf.set_draw_color(*_BLACK)
    pdf.set_line_width(0.25)
    pdf.rect(x - size / 2, y - size / 2, size, size, style="DF")


def _north_arrow(pdf: FPDF, x: float, y: float) -> None:
    """A north arrow whose tip is at (x, y + 3), with the "N" above it."""
    pdf.set_text_color(*_INK)
    pdf.set_font(_FONT, "B", 7)
    pdf.set_xy(x - 2, y - 0.5)
    pdf.cell(4, 3, "N", align="C")
    tip, base = (x, y + 2.6), y + 8.5
    pdf.set_fill_color(*_INK)
    pdf.set_draw_color(*_INK)
    pdf.set_line_width(0.2)
    pdf.polygon([tip, (x + 1.8, base), (x, base - 1.6)], style="DF")
    pdf.set_fill_color(255, 255, 255)
    pdf.polygon([tip, (x - 1.8, base), (x, base - 1.6)], style="DF")


def _scale_bar(pdf: FPDF, right: float, top: float, h: float, mm_per_km: float) -> None:
    """A two-segment scale bar of a round length ending at `right`, in the legend strip."""
    km = 0.1
    for candidate in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100):
        if candidate * mm_per_km <= 32:
            km = candidate
    length = km * mm_per_km
    text = f"{_french_number(km, 1 if km < 1 else 0)} km"
    pdf.set_font(_FONT, "", 7.5)
    label_w: float = pdf.get_string_width(text) + 2
    x0 = right - label_w - length - 1
    y = top + h / 2 - 0.8
    pdf.set_draw_color(*_BLACK)
    pdf.set_line_width(0.2)
    pdf.set_fill_color(*_BLACK)
    pdf.rect(x0, y, length / 2, 1.6, style="DF")
    pdf.set_fill_color(255, 255, 255)
    pdf.rect(x0 + length / 2, y, length / 2, 1.6, style="DF")
    pdf.set_text_color(*_INK)
    pdf.set_xy(x0 + length + 1, top + 0.5)
    pdf.cell(label_w, h - 1, text)
    pdf.set_xy(x0 - 3, top + 0.5)
    pdf.cell(2.5, h - 1, "0", align="R")
