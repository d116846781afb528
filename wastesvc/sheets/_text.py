"""Text for the page: what the core fonts can show, French numbers and dates, crew-facing names."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import date

from fpdf import FPDF
from fpdf.fonts import CORE_FONTS_CHARWIDTHS
from google.protobuf import timestamp_pb2

from wastesvc.v1 import common_pb2

NBSP = "\u00a0"
DASH = "\u2014"  # em dash, in cp1252
EN_DASH = "\u2013"

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
    "\u202f": NBSP,  # narrow no-break space, the French thousands separator
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2212": "-",
    "\u2192": "->",
    "\u2264": "<=",
    "\u2265": ">=",
    "\u2715": "x",
}

# Notes about the data's quality ("(supposé)": the place is assumed) are for the dispatcher, not the crew.
_QUALITY_NOTE = re.compile(r"\s*\((?:supposée?s?|assumed|à vérifier|non vérifiée?)\)", re.IGNORECASE)


def pdf_text(text: str) -> str:
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


def crew_label(name: str) -> str:
    """Return a place or vehicle name as a crew should read it: without the data-quality notes."""
    return " ".join(_QUALITY_NOTE.sub("", name).split())


def text_width(text: str, size_pt: float, *, bold: bool = False) -> float:
    """Width in millimetres of `text` in Helvetica at `size_pt`, without an FPDF instance."""
    widths = CORE_FONTS_CHARWIDTHS["helveticaB" if bold else "helvetica"]
    units = sum(widths.get(ch, 556) for ch in pdf_text(text))
    return units * size_pt / 1000 * 25.4 / 72


def last_segment(name: str) -> str:
    """The id at the end of a resource name (`vehicles/bom-01` -> `bom-01`)."""
    return name.rsplit("/", 1)[-1] if name else "?"


def french_number(value: float, decimals: int = 0) -> str:
    """`value` with a no-break space between thousands and a decimal comma."""
    text = f"{value:,.{decimals}f}"
    return text.replace(",", NBSP).replace(".", ",")


def french_date(day: date) -> str:
    """`lundi 30 novembre 2026`."""
    return f"{_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"


def hours_minutes(seconds: float) -> str:
    """A duration as `h:mm`."""
    minutes = round(seconds / 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


def is_set(ts: timestamp_pb2.Timestamp) -> bool:
    """Whether a timestamp field carries a time (proto3 leaves unset messages at the epoch)."""
    return bool(ts.seconds or ts.nanos)


def window_text(window: common_pb2.TimeWindow) -> str:
    """`07:00–11:00`."""
    start, end = window.start_time, window.end_time
    return f"{start.hours:02d}:{start.minutes:02d}{EN_DASH}{end.hours:02d}:{end.minutes:02d}"


def coordinates_text(lat: float, lng: float) -> str:
    """Decimal degrees to 5 places (about a metre), in the `lat, lng` form GPS apps accept."""
    return f"GPS {lat:.5f}, {lng:.5f}"


def unique(items: Iterable[str]) -> list[str]:
    """`items` without repeats, in first-seen order."""
    return list(dict.fromkeys(items))


def wrap(pdf: FPDF, text: str, width: float) -> str:
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
            if current and pdf.get_string_width(pdf_text(candidate.rstrip())) > width:
                lines.append(current.rstrip())
                current = piece
            else:
                current = candidate
        lines.append(current.rstrip())
    return "\n".join(lines)
