"""The PDF document: page furniture (headers with the sheet's QR code, footers with the anomaly codes) and
the order of a sheet's parts (header, map panels, stop table, totals)."""

from __future__ import annotations

from collections.abc import Sequence

from fpdf import FPDF

from wastesvc.sheets._content import Context, Sheet
from wastesvc.sheets._layout import Panel
from wastesvc.sheets._map import LEGEND_H, TITLE_H, draw_legend, draw_panel
from wastesvc.sheets._qr import draw_qr
from wastesvc.sheets._style import (
    ANOMALY_CODES,
    BODY_W,
    BOTTOM,
    FONT,
    FOOTER_H,
    GREY_TEXT,
    INK,
    MARGIN,
    PANEL,
    QR_FIRST,
    QR_NEXT,
    RULE,
    stream_style,
)
from wastesvc.sheets._table import draw_table, draw_totals
from wastesvc.sheets._text import DASH, french_date, pdf_text

PANEL_GAP = 2.0


class Document(FPDF):
    """The PDF being written, with the running header and footer of every page."""

    def __init__(self, ctx: Context, pages_per_sheet: Sequence[int] | None = None) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.ctx = ctx
        self.pages_per_sheet = pages_per_sheet
        self.core_fonts_encoding = "cp1252"
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(auto=True, margin=BOTTOM)
        self.set_creation_date(ctx.creation_date())
        self.set_title(pdf_text(f"Feuilles de route {DASH} plan {ctx.plan_id}"))
        self.set_author("wastesvc")
        self.set_creator("wastesvc")
        self.set_subject("Feuilles de route de collecte")
        self.sheet: Sheet | None = None
        self.sheet_index = 0
        self.sheet_first_page = 0
        # The sheet the next page starts; taken over in `header`, after the previous page's footer is drawn.
        self.next_sheet: tuple[int, Sheet] | None = None

    def sheet_page(self) -> str:
        page = self.page - self.sheet_first_page + 1
        total = self.pages_per_sheet[self.sheet_index] if self.pages_per_sheet else 0
        return f"Page {page}/{total}" if total else f"Page {page}"

    # -- running parts

    def header(self) -> None:
        if self.next_sheet is not None:
            self.sheet_index, self.sheet = self.next_sheet
            self.sheet_first_page = self.page
            self.next_sheet = None
        sheet = self.sheet
        if sheet is None or self.page == self.sheet_first_page:
            return
        text_w = BODY_W - QR_NEXT - 3
        self.set_text_color(*INK)
        day = french_date(sheet.service_day) if sheet.service_day else ""
        left = f"{sheet.vehicle_id} {DASH} {day} (suite) {DASH} {sheet.truck}"
        self.set_xy(MARGIN, MARGIN)
        self.cell(text_w, 6, self.fitted(pdf_text(left), text_w))
        self.set_font(FONT, "", 9)
        self.set_xy(MARGIN, MARGIN + 7)
        self.cell(
            text_w,
            5,
            pdf_text(f"Feuille n° {sheet.sheet_id} · plan {self.ctx.plan_id} · {self.sheet_page()}"),
        )
        draw_qr(self, sheet.code.text(), MARGIN + BODY_W - QR_NEXT, MARGIN - 1, QR_NEXT)
        self.set_draw_color(*RULE)
        self.set_line_width(0.3)
        self.line(MARGIN, MARGIN + QR_NEXT, MARGIN + BODY_W - QR_NEXT - 1, MARGIN + QR_NEXT)
        self.set_y(MARGIN + QR_NEXT + 2)

    def footer(self) -> None:
        """The anomaly codes (a crew fills them in on every page) and where the page belongs."""
        top = self.h - FOOTER_H
        self.set_draw_color(*RULE)
        self.set_line_width(0.2)
        self.line(MARGIN, top, MARGIN + BODY_W, top)
        self.set_xy(MARGIN, top + 0.8)
        self.set_text_color(*INK)
        self.set_font(FONT, "B", 7.5)
        prefix = "Codes anomalie : "
        self.cell(self.get_string_width(prefix), 4, prefix)
        self.set_font(FONT, "", 7.5)
        codes = pdf_text("  ·  ".join(ANOMALY_CODES))
        self.cell(BODY_W - self.get_string_width(prefix), 4, codes)
        self.set_xy(MARGIN, top + 5)
        self.set_font(FONT, "", 7.5)
        self.set_text_color(*GREY_TEXT)
        left = f"wastesvc {DASH} plan {self.ctx.plan_id}"
        sheet = self.sheet
        if sheet:
            left += (
                f" · feuille n° {sheet.sheet_id} · camion {sheet.vehicle_id} · {self.sheet_page().lower()}"
            )
        self.cell(BODY_W * 0.75, 4, pdf_text(left))
        total = sum(self.pages_per_sheet) if self.pages_per_sheet else 0
        right = f"Document p. {self.page}/{total}" if total else f"Document p. {self.page}"
        self.cell(BODY_W * 0.25, 4, pdf_text(right), align="R")

    # -- body

    def render(self, sheets: Sequence[Sheet], maps: Sequence[list[Panel]]) -> list[int]:
        """Write the sheets, each with its map panels; return each sheet's page count."""
        counts: list[int] = []
        for index, (sheet, panels) in enumerate(zip(sheets, maps, strict=True)):
            self.next_sheet = (index, sheet)
            self.add_page()
            self._first_header(sheet)
            self._maps(sheet, panels)
            draw_table(self, sheet)
            draw_totals(self, sheet)
            counts.append(self.page - self.sheet_first_page + 1)
        if not sheets:
            self.sheet = None
            self.add_page()
            self.set_font(FONT, "", 11)
            self.cell(BODY_W, 10, pdf_text(f"Le plan {self.ctx.plan_id} ne contient aucune tournée."))
        return counts

    def _first_header(self, sheet: Sheet) -> None:
        name, colour, on_colour = stream_style(sheet.stream)
        top = MARGIN
        width = BODY_W - QR_FIRST - 3  # the QR code takes the top-right corner
        self.set_text_color(*INK)
        self.set_xy(MARGIN, top)
        self.set_font(FONT, "B", 17)
        self.cell(width * 0.7, 8, "Feuille de route")
        self.set_font(FONT, "", 9)
        self.set_xy(MARGIN + width * 0.7, top)
        self.cell(width * 0.3, 8, pdf_text(self.sheet_page()), align="R")
        self.set_font(FONT, "B", 9.5)
        badge_w = self.get_string_width(pdf_text(name.upper())) + 8
        day = french_date(sheet.service_day).capitalize() if sheet.service_day else "Date non précisée"
        title = " puis ".join(stream_style(s)[0] for s in sheet.streams) if len(sheet.streams) > 1 else name
        line = pdf_text(f"{day} {DASH} Tournée {title}")
        for size in (12.5, 11.5, 10.5, 9.5):
            self.set_font(FONT, "B", size)
            if self.get_string_width(line) <= width - badge_w - 2:
                break
        self.set_xy(MARGIN, top + 8.5)
        self.cell(width - badge_w - 2, 7, line)
        self.set_font(FONT, "B", 9.5)
        self.set_fill_color(*colour)
        self.rect(MARGIN + width - badge_w, top + 9, badge_w, 6.5, style="F", round_corners=True)
        self.set_text_color(*on_colour)
        self.set_xy(MARGIN + width - badge_w, top + 9)
        self.cell(badge_w, 6.5, pdf_text(name.upper()), align="C")
        draw_qr(self, sheet.code.text(), MARGIN + BODY_W - QR_FIRST, top - 1, QR_FIRST)
        self._info_panel(sheet, top + 18, width)

    def _info_panel(self, sheet: Sheet, top: float, width: float) -> None:
        rows = (
            (("Camion", f"{sheet.truck} ({sheet.vehicle_id})"), ("Plan", self.ctx.plan_id)),
            (("Dépôt", sheet.depot), ("Feuille n°", sheet.sheet_id)),
            (("Poste", sheet.shift), ("Départ / retour", f"{sheet.start} / {sheet.end}")),
        )
        line_h = 5.2
        self.set_fill_color(*PANEL)
        self.rect(MARGIN, top, width, line_h * len(rows) + 2, style="F")
        columns = (width * 0.58, width * 0.42)
        for i, pair in enumerate(rows):
            y = top + 1 + i * line_h
            x = MARGIN + 2
            for (label, value), column_w in zip(pair, columns, strict=True):
                label_w = 14 if column_w == columns[0] else 25
                self.set_xy(x, y)
                self.set_text_color(*GREY_TEXT)
                self.set_font(FONT, "", 8.5)
                self.cell(label_w, line_h, pdf_text(label))
                self.set_text_color(*INK)
                self.cell(
                    column_w - label_w - 3, line_h, self.fitted(pdf_text(value), column_w - label_w - 3)
                )
                x += column_w
        self.set_y(top + line_h * len(rows) + 4)

    def _maps(self, sheet: Sheet, panels: list[Panel]) -> None:
        if not panels:
            self.set_text_color(*GREY_TEXT)
            self.set_font(FONT, "I", 9)
            self.cell(BODY_W, 8, "Pas de coordonnées pour cette tournée.", align="C")
            self.ln(10)
            return
        per_row = 1 if panels[0].width > BODY_W / 2 else 2
        for start in range(0, len(panels), per_row):
            row = panels[start : start + per_row]
            row_h = TITLE_H + max(p.height for p in row)
            if self.will_page_break(row_h + 1):
                self.add_page()
            y = self.get_y()
            for i, panel in enumerate(row):
                draw_panel(self, panel, sheet.stream, MARGIN + i * (panel.width + PANEL_GAP), y)
            self.set_y(y + row_h + 1)
        if self.will_page_break(LEGEND_H + 1):
            self.add_page()
        y = self.get_y()
        draw_legend(self, sheet.stream, y, by_road=sheet.path_source == "osrm")
        self.set_y(y + LEGEND_H + 1.5)

    def fitted(self, text: str, width: float) -> str:
        """Sets a bold size at which `text` fits `width` (down to 7 pt), then shortens it with an ellipsis."""
        for size in (9.5, 8.5, 7.5, 7.0):
            self.set_font(FONT, "B", size)
            if self.get_string_width(text) <= width:
                return text
        while text and self.get_string_width(text + "...") > width:
            text = text[:-1]
        return text + "..."
