"""Drawing the map panels laid out by `_layout`: route, stops and their numbers, communes, scale, north."""

from __future__ import annotations

import itertools
import math

from fpdf import FPDF

from wastesvc.sheets._layout import COMMUNE_PT, DOT_R, LABEL_PT, SCALE_H, SCALE_W, Panel
from wastesvc.sheets._style import (
    BLACK,
    COMMUNE_TEXT,
    DEPOT,
    DETAIL,
    FACILITY,
    FONT,
    INK,
    MAP_BG,
    ROUTE,
    RULE,
    WHITE,
    stream_style,
)
from wastesvc.sheets._text import french_number, pdf_text
from wastesvc.v1 import planning_pb2

TITLE_H = 5.0  # the strip above a panel's frame
ARROW_EVERY_MM = 22.0  # the direction of travel along a road path
LEGEND_H = 6.0


def draw_panel(pdf: FPDF, panel: Panel, stream: int, x: float, y: float) -> None:
    """Draw `panel` with its title strip at (x, y); the frame starts `TITLE_H` lower."""
    pdf.set_text_color(*INK)
    pdf.set_font(FONT, "B", 8)
    pdf.set_xy(x, y)
    pdf.cell(panel.width, TITLE_H - 0.5, pdf_text(panel.title))
    top = y + TITLE_H
    pdf.set_fill_color(*MAP_BG)
    pdf.set_draw_color(*RULE)
    pdf.set_line_width(0.3)
    pdf.rect(x, top, panel.width, panel.height, style="DF")
    with pdf.rect_clip(x, top, panel.width, panel.height):
        _communes(pdf, panel, x, top)
        _route(pdf, panel, x, top)
        _details(pdf, panel, x, top)
        _stops(pdf, panel, stream, x, top)
        _markers(pdf, panel, x, top)
    _north_arrow(pdf, x + panel.width - 4.5, top + 1)
    _scale_bar(pdf, x + 0.5, top + panel.height - SCALE_H - 0.5, panel.scale)


def draw_legend(pdf: FPDF, stream: int, top: float, *, by_road: bool = False) -> None:
    """The symbols' key, once under a sheet's panels; `by_road` when the path drawn follows the roads."""
    _name, colour, on_colour = stream_style(stream)
    y = top + LEGEND_H / 2
    x = pdf.l_margin + 1
    pdf.set_font(FONT, "", 7.5)
    pdf.set_text_color(*INK)

    def label(text: str, at: float) -> float:
        pdf.set_font(FONT, "", 7.5)
        pdf.set_text_color(*INK)
        pdf.set_xy(at, top + 0.5)
        w: float = pdf.get_string_width(pdf_text(text)) + 1
        pdf.cell(w, LEGEND_H - 1, pdf_text(text))
        return at + w + 4

    _pill(pdf, "7", cx=x + 2, cy=y, w=3.4, h=3.3, colour=colour, on_colour=on_colour)
    x = label("Arrêt (n° = ordre du tableau), relié à son point s'il est décalé", x + 4.5)
    _square(pdf, x + 1.8, y, 3.0)
    x = label("Dépôt", x + 4.5)
    _triangle(pdf, x + 1.8, y, 3.0)
    x = label("Vidage", x + 4.5)
    pdf.set_draw_color(*ROUTE)
    pdf.set_line_width(0.45)
    pdf.line(x, y, x + 7, y)
    pdf.set_fill_color(*ROUTE)
    _arrowhead(pdf, x + 4.5, y, 0.0, 1.4)
    x = label("Itinéraire (par la route)" if by_road else "Itinéraire (à vol d'oiseau)", x + 8.5)
    pdf.set_draw_color(*DETAIL)
    pdf.set_line_width(0.3)
    pdf.set_dash_pattern(dash=0.8, gap=0.6)
    pdf.rect(x, y - 1.5, 4, 3)
    pdf.set_dash_pattern()
    label("Zone agrandie (détail)", x + 5)


def _communes(pdf: FPDF, panel: Panel, x: float, top: float) -> None:
    pdf.set_font(FONT, "B", COMMUNE_PT)
    pdf.set_text_color(*COMMUNE_TEXT)
    for commune in panel.communes:
        pdf.set_xy(x + commune.x - commune.w / 2, top + commune.y - commune.h / 2)
        pdf.cell(commune.w, commune.h, pdf_text(commune.name), align="C")


def _route(pdf: FPDF, panel: Panel, x: float, top: float) -> None:
    pdf.set_draw_color(*ROUTE)
    pdf.set_fill_color(*ROUTE)
    if panel.road:
        road = [(x + px, top + py) for px, py in panel.road]
        pdf.set_line_width(0.35)
        pdf.polyline(road)
        for ax, ay, angle in _along(road, ARROW_EVERY_MM):
            _arrowhead(pdf, ax, ay, angle, 2.0)
        return
    xy = [(x + px, top + py) for _p, px, py in panel.points]
    pdf.set_line_width(0.4)
    if len(xy) > 1:
        pdf.polyline(xy)
    for (x0, y0), (x1, y1) in itertools.pairwise(xy):
        if math.hypot(x1 - x0, y1 - y0) > 14:
            _arrowhead(pdf, (x0 + x1) / 2, (y0 + y1) / 2, math.atan2(y1 - y0, x1 - x0), 2.0)


def _along(line: list[tuple[float, float]], every: float) -> list[tuple[float, float, float]]:
    """Points every `every` mm along `line` (the first half-way), each with the line's direction there."""
    out: list[tuple[float, float, float]] = []
    due = every / 2
    walked = 0.0
    for (x0, y0), (x1, y1) in itertools.pairwise(line):
        length = math.hypot(x1 - x0, y1 - y0)
        while length > 0 and due <= walked + length:
            t = (due - walked) / length
            out.append((x0 + t * (x1 - x0), y0 + t * (y1 - y0), math.atan2(y1 - y0, x1 - x0)))
            due += every
        walked += length
    return out


def _details(pdf: FPDF, panel: Panel, x: float, top: float) -> None:
    for box in panel.details:
        r = box.rect
        pdf.set_draw_color(*DETAIL)
        pdf.set_line_width(0.4)
        pdf.set_dash_pattern(dash=1.2, gap=0.8)
        pdf.rect(x + r.x, top + r.y, r.w, r.h)
        pdf.set_dash_pattern()
        pdf.set_fill_color(*DETAIL)
        pdf.rect(x + r.x, top + r.y, 4, 4, style="F")
        pdf.set_text_color(*WHITE)
        pdf.set_font(FONT, "B", 8)
        pdf.set_xy(x + r.x, top + r.y)
        pdf.cell(4, 4, box.letter, align="C")


def _stops(pdf: FPDF, panel: Panel, stream: int, x: float, top: float) -> None:
    _name, colour, on_colour = stream_style(stream)
    numbered = {n for label in panel.labels for n in label.numbers}
    pdf.set_draw_color(*BLACK)
    pdf.set_line_width(0.2)
    for p, px, py in panel.points:
        if p.kind == planning_pb2.VISIT_KIND_CONTAINER:
            # A stop numbered on another panel is a hollow dot here.
            pdf.set_fill_color(*(colour if p.number in numbered else WHITE))
            pdf.circle(x + px, top + py, DOT_R, style="DF")
    pdf.set_line_width(0.15)
    for label in panel.labels:
        if label.aside:
            rect = label.rect
            # The leader line ends at the label's edge nearest to the stop.
            ex = min(max(label.stop[0], rect.x), rect.x + rect.w)
            ey = min(max(label.stop[1], rect.y), rect.y + rect.h)
            pdf.line(x + label.stop[0], top + label.stop[1], x + ex, top + ey)
    for label in panel.labels:
        _pill(
            pdf,
            label.text,
            cx=x + label.x,
            cy=top + label.y,
            w=label.w,
            h=label.h,
            colour=colour,
            on_colour=on_colour,
        )


def _pill(
    pdf: FPDF,
    text: str,
    *,
    cx: float,
    cy: float,
    w: float,
    h: float,
    colour: tuple[int, int, int],
    on_colour: tuple[int, int, int],
) -> None:
    pdf.set_draw_color(*BLACK)
    pdf.set_line_width(0.2)
    pdf.set_fill_color(*colour)
    pdf.rect(cx - w / 2, cy - h / 2, w, h, style="DF", round_corners=True, corner_radius=h / 2)
    pdf.set_font(FONT, "B", LABEL_PT)
    pdf.set_text_color(*on_colour)
    pdf.set_xy(cx - w / 2, cy - h / 2)
    pdf.cell(w, h, text, align="C")


def _markers(pdf: FPDF, panel: Panel, x: float, top: float) -> None:
    for p, px, py in panel.points:
        if p.kind == planning_pb2.VISIT_KIND_DISPOSAL:
            _triangle(pdf, x + px, top + py, 3.4)
    for p, px, py in panel.points:
        if p.kind in (planning_pb2.VISIT_KIND_DEPOT_START, planning_pb2.VISIT_KIND_DEPOT_END):
            _square(pdf, x + px, top + py, 3.4)


def _arrowhead(pdf: FPDF, x: float, y: float, angle: float, size: float) -> None:
    tip = (x + size * math.cos(angle), y + size * math.sin(angle))
    back = angle + math.pi
    wing = 0.5
    a = (x + size * 0.6 * math.cos(back + wing), y + size * 0.6 * math.sin(back + wing))
    b = (x + size * 0.6 * math.cos(back - wing), y + size * 0.6 * math.sin(back - wing))
    pdf.polygon([tip, a, b], style="F")


def _triangle(pdf: FPDF, x: float, y: float, size: float) -> None:
    h = size * math.sqrt(3) / 2
    pdf.set_fill_color(*FACILITY)
    pdf.set_draw_color(*BLACK)
    pdf.set_line_width(0.25)
    pdf.polygon([(x, y - h * 2 / 3), (x + size / 2, y + h / 3), (x - size / 2, y + h / 3)], style="DF")


def _square(pdf: FPDF, x: float, y: float, size: float) -> None:
    pdf.set_fill_color(*DEPOT)
    pdf.set_draw_color(*BLACK)
    pdf.set_line_width(0.25)
    pdf.rect(x - size / 2, y - size / 2, size, size, style="DF")


def _north_arrow(pdf: FPDF, x: float, y: float) -> None:
    """A north arrow whose tip is at (x, y + 3), with the "N" above it."""
    pdf.set_text_color(*INK)
    pdf.set_font(FONT, "B", 7)
    pdf.set_xy(x - 2, y - 0.5)
    pdf.cell(4, 3, "N", align="C")
    tip, base = (x, y + 2.6), y + 8.5
    pdf.set_fill_color(*INK)
    pdf.set_draw_color(*INK)
    pdf.set_line_width(0.2)
    pdf.polygon([tip, (x + 1.8, base), (x, base - 1.6)], style="DF")
    pdf.set_fill_color(*WHITE)
    pdf.polygon([tip, (x - 1.8, base), (x, base - 1.6)], style="DF")


def scale_length_km(mm_per_km: float, longest_mm: float) -> float:
    """The longest round length (0.05 km up to 100 km) whose bar fits in `longest_mm`."""
    km = 0.05
    for candidate in (0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100):
        if candidate * mm_per_km <= longest_mm:
            km = candidate
    return km


def _scale_bar(pdf: FPDF, x: float, y: float, mm_per_km: float) -> None:
    """A two-segment scale bar of a round length on a white plate at (x, y), `SCALE_W` × `SCALE_H`."""
    pdf.set_fill_color(*WHITE)
    pdf.rect(x, y, SCALE_W, SCALE_H, style="F")
    pdf.set_font(FONT, "", 7)
    km = scale_length_km(mm_per_km, SCALE_W - 16)
    length = km * mm_per_km
    text = f"{french_number(km * 1000)} m" if km < 1 else f"{french_number(km)} km"
    x0 = x + 3
    bar_y = y + SCALE_H / 2 - 0.7
    pdf.set_draw_color(*BLACK)
    pdf.set_line_width(0.2)
    pdf.set_fill_color(*BLACK)
    pdf.rect(x0, bar_y, length / 2, 1.4, style="DF")
    pdf.set_fill_color(*WHITE)
    pdf.rect(x0 + length / 2, bar_y, length / 2, 1.4, style="DF")
    pdf.set_text_color(*INK)
    pdf.set_xy(x0 - 2.5, y)
    pdf.cell(2.2, SCALE_H, "0", align="R")
    pdf.set_xy(x0 + length + 0.5, y)
    pdf.cell(14, SCALE_H, text)
