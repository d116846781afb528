"""Printed route sheets: one A4 portrait PDF, a page or more per truck, for French collection crews.

Each truck's sheet opens with a header (service date, truck, stream, depot, shift, plan, a short sheet id and
a QR code of the sheet code, see `parse_sheet_code`), the map panels (one per trip between disposals, with
detail insets where stops crowd, every stop numbered, commune names, north arrow and km scale on each), then
the stop table in sequence with tick boxes, the depot, disposal and break rows, and the totals of the day.
Every page repeats the anomaly codes and, after the first, the QR code. Only fpdf2's core fonts are used and
QR codes are drawn as vectors, so the output is byte-reproducible for a given plan.

The maps draw the road path between the stops when `render_route_sheets` is given OSRM's (`roads`), else
the straight line between them; the legend says which.
"""

from wastesvc.sheets._code import SheetCode, parse_sheet_code
from wastesvc.sheets._render import RenderedSheets, render_route_sheets

__all__ = ["RenderedSheets", "SheetCode", "parse_sheet_code", "render_route_sheets"]
