"""Page geometry, colours and the crews' vocabulary shared by every part of the sheets."""

from __future__ import annotations

from wastesvc.v1 import common_pb2, planning_pb2

Rgb = tuple[int, int, int]

# Page geometry, millimetres (A4 portrait).
PAGE_W = 210.0
MARGIN = 10.0
BODY_W = PAGE_W - 2 * MARGIN
FOOTER_H = 12.0  # rule, anomaly-code legend, page line
BOTTOM = FOOTER_H + 3.0
QR_FIRST = 30.0  # the sheet code's QR symbol on a sheet's first page, and on the pages that follow
QR_NEXT = 17.0
FONT = "Helvetica"

BLACK: Rgb = (0, 0, 0)
WHITE: Rgb = (255, 255, 255)
INK: Rgb = (35, 35, 35)
GREY_TEXT: Rgb = (95, 95, 95)
COMMUNE_TEXT: Rgb = (120, 120, 150)
RULE: Rgb = (150, 150, 150)
PANEL: Rgb = (242, 242, 242)
ZEBRA: Rgb = (247, 247, 247)
ROUTE: Rgb = (70, 70, 70)
MAP_BG: Rgb = (250, 250, 248)
DEPOT: Rgb = (25, 55, 110)
FACILITY: Rgb = (200, 60, 30)
DETAIL: Rgb = (160, 40, 140)
FILL_DEPOT: Rgb = (220, 228, 240)
FILL_DISPOSAL: Rgb = (253, 226, 200)
FILL_BREAK: Rgb = (214, 236, 214)

# Stream names as French crews say them, and the usual bin colours of the stream (and the text colour on it).
STREAMS: dict[int, tuple[str, Rgb, Rgb]] = {
    common_pb2.WASTE_STREAM_UNSPECIFIED: ("Non précisé", (120, 120, 120), WHITE),
    common_pb2.WASTE_STREAM_RESIDUAL: ("Ordures ménagères", (85, 85, 85), WHITE),
    common_pb2.WASTE_STREAM_PACKAGING: ("Emballages", (240, 192, 0), BLACK),
    common_pb2.WASTE_STREAM_PAPER: ("Papiers", (30, 95, 170), WHITE),
    common_pb2.WASTE_STREAM_GLASS: ("Verre", (35, 130, 60), WHITE),
    common_pb2.WASTE_STREAM_BIOWASTE: ("Biodéchets", (130, 85, 40), WHITE),
}
STREAM_SHORT: dict[int, str] = {common_pb2.WASTE_STREAM_RESIDUAL: "OMR"}


def stream_style(stream: int) -> tuple[str, Rgb, Rgb]:
    """The stream's name, bin colour and text colour on that bin colour."""
    return STREAMS.get(stream, STREAMS[common_pb2.WASTE_STREAM_UNSPECIFIED])


# Shading and first-column letter of the table rows that are not container stops.
ROW_FILLS: dict[int, Rgb] = {
    planning_pb2.VISIT_KIND_DEPOT_START: FILL_DEPOT,
    planning_pb2.VISIT_KIND_DEPOT_END: FILL_DEPOT,
    planning_pb2.VISIT_KIND_DISPOSAL: FILL_DISPOSAL,
    planning_pb2.VISIT_KIND_BREAK: FILL_BREAK,
    planning_pb2.VISIT_KIND_REST: FILL_BREAK,
}
ROW_SYMBOLS: dict[int, str] = {
    planning_pb2.VISIT_KIND_DEPOT_START: "D",
    planning_pb2.VISIT_KIND_DEPOT_END: "D",
    planning_pb2.VISIT_KIND_DISPOSAL: "V",
    planning_pb2.VISIT_KIND_BREAK: "P",
    planning_pb2.VISIT_KIND_REST: "R",
}
ANOMALY_CODES = (
    "A accès bloqué",
    "D débordement / dépôt sauvage",
    "E conteneur endommagé",
    "C capteur HS",
    "X autre (préciser)",
)
