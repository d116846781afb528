"""QR symbols drawn as vector rectangles, so the page stays byte-reproducible and sharp at any scale."""

from __future__ import annotations

import segno
from fpdf import FPDF

from wastesvc.sheets._style import BLACK, WHITE

_QUIET_ZONE = 2  # modules of white around the symbol; 4 is the standard, 2 reads fine on white paper


def draw_qr(pdf: FPDF, text: str, x: float, y: float, size: float) -> None:
    """Draw the QR symbol of `text` (error correction M) in the `size`-mm square whose top-left is (x, y)."""
    symbol = segno.make(text, error="m", micro=False)
    rows = [list(row) for row in symbol.matrix_iter(border=_QUIET_ZONE)]
    module = size / len(rows)
    pdf.set_fill_color(*WHITE)
    pdf.rect(x, y, size, size, style="F")
    pdf.set_fill_color(*BLACK)
    for r, row in enumerate(rows):
        # One rectangle per run of dark modules: fewer operators and no hairline gaps between modules.
        c = 0
        while c < len(row):
            if not row[c]:
                c += 1
                continue
            start = c
            while c < len(row) and row[c]:
                c += 1
            pdf.rect(x + start * module, y + r * module, (c - start) * module, module, style="F")
