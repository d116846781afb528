"""The stop table with its tick boxes, and the totals block that closes a truck's sheet."""

from __future__ import annotations

from fpdf import FPDF
from fpdf.enums import TableCellFillMode
from fpdf.fonts import FontFace

from wastesvc.sheets._content import Sheet
from wastesvc.sheets._style import (
    BODY_W,
    FONT,
    GREY_TEXT,
    INK,
    MARGIN,
    PANEL,
    ROW_FILLS,
    ROW_SYMBOLS,
    RULE,
    WHITE,
    ZEBRA,
)
from wastesvc.sheets._text import pdf_text, wrap

COLUMNS: tuple[tuple[str, float], ...] = (
    ("N°", 7),
    ("Heure prévue", 11),
    ("Conteneur", 25),
    ("Commune", 24),
    ("Adresse / repère", 38),
    ("Flux", 16),
    ("Rempl. prévu", 10),
    ("Créneau d'accès", 17),
    ("Vidé", 8),
    ("Rempl. constaté (entourer)", 18),
    ("Anomalie (code)", 16),
)
_PAD_X = 0.8
_ID_PT = 9.0  # the container id is what the crew reads on the container: large type
_TEXT_PT = 7.5
# Columns wrapped by hand (at hyphens too), with the font they are printed in: (emphasis, size).
_WRAPPED = {2: ("B", _ID_PT), 3: ("B", _TEXT_PT), 4: ("", _TEXT_PT)}
_CENTRED = (0, 1, 6, 8, 9)


def draw_table(pdf: FPDF, sheet: Sheet) -> None:
    """The stop table in visit order; its heading repeats on each page."""
    pdf.set_text_color(*INK)
    pdf.set_draw_color(*RULE)
    pdf.set_line_width(0.2)
    # Rows without zebra shading are filled with the colour current when the table starts.
    pdf.set_fill_color(*WHITE)
    pdf.set_font(FONT, "", _TEXT_PT)
    heading = FontFace(emphasis="B", size_pt=7, fill_color=(225, 225, 225), color=INK)
    styles: dict[int, FontFace] = {
        0: FontFace(emphasis="B"),
        2: FontFace(emphasis="B", size_pt=_ID_PT),
        3: FontFace(emphasis="B"),
        9: FontFace(color=GREY_TEXT, size_pt=8),
    }
    # ZapfDingbats "q" is a shadowed box, the tick box for "emptied".
    tick = FontFace(family="ZapfDingbats", size_pt=11, color=GREY_TEXT)
    with pdf.table(
        col_widths=[w for _h, w in COLUMNS],
        width=BODY_W,
        line_height=3.4,
        padding=(1.3, _PAD_X, 1.3, _PAD_X),
        text_align="LEFT",
        v_align="MIDDLE",
        headings_style=heading,
        repeat_headings=1,
        cell_fill_color=ZEBRA,
        cell_fill_mode=TableCellFillMode.EVEN_ROWS,
    ) as table:
        head = table.row()
        for title, _w in COLUMNS:
            head.cell(pdf_text(title), align="C")
        for row in sheet.rows:
            line = table.row()
            if not row.cells:
                fill = FontFace(emphasis="B", fill_color=ROW_FILLS.get(row.kind, PANEL))
                line.cell(ROW_SYMBOLS.get(row.kind, ""), align="C", style=fill)
                line.cell(pdf_text(row.time), align="C", style=fill)
                line.cell(pdf_text(row.text), colspan=len(COLUMNS) - 2, style=fill)
                continue
            for i, raw in enumerate(row.cells):
                if i == 8:
                    line.cell("q", align="C", style=tick)
                    continue
                text = raw
                if i in _WRAPPED:
                    emphasis, size = _WRAPPED[i]
                    pdf.set_font(FONT, emphasis, size)
                    text = wrap(pdf, raw, COLUMNS[i][1] - 2 * _PAD_X - 0.5)
                line.cell(pdf_text(text), align="C" if i in _CENTRED else "L", style=styles.get(i))
        pdf.set_font(FONT, "", _TEXT_PT)  # the table is drawn on leaving the block, in the current font


def draw_totals(pdf: FPDF, sheet: Sheet) -> None:
    """The day's totals, the filling-in hint, and boxes for remarks and the driver's signature."""
    if pdf.will_page_break(42.0):
        pdf.add_page()
    top = pdf.get_y() + 3
    pdf.set_fill_color(*PANEL)
    pdf.rect(MARGIN, top, BODY_W, 19, style="F")
    pdf.set_xy(MARGIN + 2, top + 1)
    pdf.set_text_color(*INK)
    pdf.set_font(FONT, "B", 9.5)
    pdf.cell(60, 5, "Totaux de la tournée")
    col_w = (BODY_W - 4) / 3
    for i, (label, value) in enumerate(sheet.totals):
        pdf.set_xy(MARGIN + 2 + (i % 3) * col_w, top + 6.5 + (i // 3) * 5.5)
        pdf.set_font(FONT, "", 8.5)
        pdf.set_text_color(*GREY_TEXT)
        pdf.cell(30, 5, pdf_text(label))
        pdf.set_font(FONT, "B", 9.5)
        pdf.set_text_color(*INK)
        pdf.cell(col_w - 30, 5, pdf_text(value))
    pdf.set_xy(MARGIN, top + 21)
    pdf.set_font(FONT, "", 7.5)
    pdf.set_text_color(*GREY_TEXT)
    hint = (
        "Cocher « Vidé » pour chaque conteneur vidé, entourer le remplissage constaté, noter le code "
        "d'anomalie (liste en bas de page). La feuille se saisit en retour par son code QR."
    )
    pdf.multi_cell(BODY_W, 3.6, pdf_text(hint))
    y = pdf.get_y() + 1.5
    pdf.set_draw_color(*RULE)
    pdf.set_line_width(0.3)
    pdf.rect(MARGIN, y, BODY_W * 0.68, 14)
    pdf.rect(MARGIN + BODY_W * 0.7, y, BODY_W * 0.3, 14)
    pdf.set_xy(MARGIN + 1, y + 0.5)
    pdf.cell(60, 4, "Observations")
    pdf.set_xy(MARGIN + BODY_W * 0.7 + 1, y + 0.5)
    pdf.cell(50, 4, "Signature du chauffeur")
    pdf.set_y(y + 15)
