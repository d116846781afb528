"""Where everything goes on a sheet's map panels; pure geometry, no drawing.

A truck's day is cut into trips (from the depot or a disposal to the next disposal or the depot); each trip
gets its own panel, so that the trips of one truck are never drawn over each other. Every stop gets its
number once: on the stop, or next to it on a leader line (two stops too close to tell apart share one,
`12/13`). Where a trip is too dense for that at the panel's scale, the crowded stops are handed to detail
panels (insets at a larger scale, two levels at most, outlined by a lettered box on the panel they come
from; several details tile the crowd without overlapping). Coordinates are millimetres from the panel
frame's top-left corner, y pointing down.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from wastesvc.sheets._content import Point
from wastesvc.sheets._text import text_width
from wastesvc.v1 import planning_pb2

KM_PER_DEGREE = 111.32
LABEL_PT = 6.2  # stop numbers
LABEL_H = 3.3
COMMUNE_PT = 7.5
DOT_R = 0.8  # a stop whose number sits aside
MARKER_R = 2.0  # depot and facility symbols
NORTH_W, NORTH_H = 8.0, 11.0
SCALE_W, SCALE_H = 42.0, 6.0
_EDGE = 0.6  # labels keep off the frame by this much
_GAP = 0.35  # between two labels
_MAX_DEPTH = 2  # a detail of a detail, no further
_MIN_ZOOM = 1.6  # a detail is worth it only if it enlarges at least this much
_MAX_ZOOM = 3.5
_TILE_ZOOM = 2.5  # details tiling a spread-out crowd
_MAX_SHARED = 2  # stop numbers sharing one label
_CROWDED_MM = 1.8  # dots closer than this (centre to centre) cannot be told apart by leader lines
_ROAD_TOLERANCE_MM = 0.12  # a road bend smaller than this on paper is drawn straight
_RINGS = (2.7, 3.6, 4.8, 6.2, 7.8, 9.6, 11.6)
_DIRECTIONS = tuple(
    (math.cos(math.radians(a)), -math.sin(math.radians(a)))
    for a in (45, 135, 315, 225, 0, 180, 90, 270, 22.5, 157.5, 337.5, 202.5, 67.5, 112.5, 292.5, 247.5)
)
_STOP = planning_pb2.VISIT_KIND_CONTAINER
_MARKERS = (
    planning_pb2.VISIT_KIND_DISPOSAL,
    planning_pb2.VISIT_KIND_DEPOT_START,
    planning_pb2.VISIT_KIND_DEPOT_END,
)


@dataclass(frozen=True)
class Rect:
    """An axis-aligned rectangle; (x, y) is its top-left corner."""

    x: float
    y: float
    w: float
    h: float

    def overlaps(self, other: Rect, gap: float = 0.0) -> bool:
        return not (
            self.x + self.w + gap <= other.x
            or other.x + other.w + gap <= self.x
            or self.y + self.h + gap <= other.y
            or other.y + other.h + gap <= self.y
        )

    def distance(self, x: float, y: float) -> float:
        """Distance from (x, y) to the rectangle (0 inside)."""
        dx = max(self.x - x, 0.0, x - self.x - self.w)
        dy = max(self.y - y, 0.0, y - self.y - self.h)
        return math.hypot(dx, dy)

    def contains(self, x: float, y: float) -> bool:
        return self.x <= x <= self.x + self.w and self.y <= y <= self.y + self.h


@dataclass(frozen=True)
class Label:
    """A stop number (or the numbers of stops at one spot, `12/40`) centred at (x, y)."""

    text: str
    numbers: tuple[int, ...]
    x: float
    y: float
    w: float
    h: float
    stop: tuple[float, float]  # where the stop is: a leader line joins it when the label sits aside

    @property
    def rect(self) -> Rect:
        return Rect(self.x - self.w / 2, self.y - self.h / 2, self.w, self.h)

    @property
    def aside(self) -> bool:
        return math.hypot(self.x - self.stop[0], self.y - self.stop[1]) > 0.05


@dataclass(frozen=True)
class Commune:
    """A commune's name, centred at the centroid of its stops on the panel."""

    name: str
    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class DetailBox:
    """The area a detail panel enlarges, outlined on its parent panel."""

    letter: str
    rect: Rect


@dataclass
class Panel:
    """One map panel: a trip, or a detail of one. Stops without a label here are numbered on another
    panel (a detail, or the panel a detail was cut from)."""

    title: str
    width: float
    height: float
    scale: float  # millimetres per kilometre
    points: list[tuple[Point, float, float]]  # the trip's path, in visit order
    road: list[tuple[float, float]] = field(default_factory=list)  # the road driven, empty if straight
    labels: list[Label] = field(default_factory=list)
    communes: list[Commune] = field(default_factory=list)
    details: list[DetailBox] = field(default_factory=list)


@dataclass(frozen=True)
class _View:
    """An equirectangular window on the kilometre plane: its centre and scale."""

    cx: float
    cy: float
    scale: float
    width: float
    height: float

    def project(self, km: tuple[float, float]) -> tuple[float, float]:
        return (
            self.width / 2 + (km[0] - self.cx) * self.scale,
            self.height / 2 - (km[1] - self.cy) * self.scale,
        )


@dataclass(frozen=True)
class _Group:
    """Stops close enough on the panel to share one label."""

    numbers: tuple[int, ...]
    x: float
    y: float


def split_trips(path: Sequence[Point]) -> list[list[Point]]:
    """Cut a day's path at each disposal visit; a leg without container stops joins the trip before it."""
    trips: list[list[Point]] = []
    current: list[Point] = []
    for point in path:
        current.append(point)
        if point.kind == planning_pb2.VISIT_KIND_DISPOSAL:
            trips.append(current)
            current = [point]
    if len(current) > 1 or not trips:
        trips.append(current)
    merged: list[list[Point]] = []
    for trip in trips:
        if merged and not any(p.kind == _STOP for p in trip):
            merged[-1].extend(trip[1:])
        else:
            merged.append(trip)
    return merged


def layout_maps(
    path: Sequence[Point], *, full: tuple[float, float], half: tuple[float, float]
) -> list[Panel]:
    """The map panels of a day's `path`: `full`-size (w, h) if one panel does, else `half`-size ones."""
    if not path:
        return []
    lat0 = sum(p.lat for p in path) / len(path)
    cos0 = math.cos(math.radians(lat0))
    trips = split_trips(path)
    if len(trips) == 1:
        panels = _trip_panels(trips, cos0, *full)
        if len(panels) == 1:
            return panels
    return _trip_panels(trips, cos0, *half)


def _trip_panels(trips: list[list[Point]], cos0: float, width: float, height: float) -> list[Panel]:
    letters = iter(string.ascii_uppercase)
    panels: list[Panel] = []
    for index, trip in enumerate(trips, start=1):
        km = [_km(p.lng, p.lat, cos0) for p in trip]
        road = _road_km(trip, cos0)
        numbers = [p.number for p in trip if p.kind == _STOP]
        title = f"Arrêts {numbers[0]} à {numbers[-1]}" if numbers else "Trajet"
        if len(trips) > 1:
            title = f"Rotation {index}/{len(trips)} · {title.lower()}"
        view = _fit(km + road, width, height, pad=9.0)
        panels += _panels(trip, (km, road), view, title, own=None, depth=0, letters=letters)
    return panels


def _km(lng: float, lat: float, cos0: float) -> tuple[float, float]:
    """A place on the kilometre plane (equirectangular around the day's mean latitude)."""
    return lng * cos0 * KM_PER_DEGREE, lat * KM_PER_DEGREE


def _road_km(trip: Sequence[Point], cos0: float) -> list[tuple[float, float]]:
    """The road driven through `trip`, on the kilometre plane; empty when its places carry no road."""
    road: list[tuple[float, float]] = []
    for point in trip[:-1]:
        if not point.road:
            return []
        leg = [_km(lng, lat, cos0) for lng, lat in point.road]
        road += leg[1:] if road else leg
    return road


def simplify(line: Sequence[tuple[float, float]], tolerance: float) -> list[tuple[float, float]]:
    """`line` without the points that lie within `tolerance` of the line kept (Douglas–Peucker)."""
    if len(line) < 3:
        return list(line)
    keep = [False] * len(line)
    keep[0] = keep[-1] = True
    spans = [(0, len(line) - 1)]
    while spans:
        first, last = spans.pop()
        farthest, distance = first, tolerance
        for k in range(first + 1, last):
            d = _off_segment(line[k], line[first], line[last])
            if d > distance:
                farthest, distance = k, d
        if farthest != first:
            keep[farthest] = True
            spans += [(first, farthest), (farthest, last)]
    return [xy for xy, kept in zip(line, keep, strict=True) if kept]


def _off_segment(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    """Distance from `p` to the segment from `a` to `b`."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length2))
    return math.hypot(p[0] - a[0] - t * dx, p[1] - a[1] - t * dy)


def _fit(km: Sequence[tuple[float, float]], width: float, height: float, *, pad: float) -> _View:
    """The view showing every point of `km`, with `pad` mm kept free around them."""
    xs, ys = [x for x, _y in km], [y for _x, y in km]
    span_x, span_y = max(max(xs) - min(xs), 0.3), max(max(ys) - min(ys), 0.3)
    scale = min((width - 2 * pad) / span_x, (height - 2 * pad) / span_y)
    return _View((max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2, scale, width, height)


def _panels(
    trip: list[Point],
    plane: tuple[list[tuple[float, float]], list[tuple[float, float]]],
    view: _View,
    title: str,
    *,
    own: set[int] | None,
    depth: int,
    letters: Iterator[str],
) -> list[Panel]:
    """The panel of `trip` in `view`, numbering the stops of `own` (all those in the frame if None),
    followed by the detail panels it hands crowded stops to. `plane` is the trip's places and its road on
    the kilometre plane."""
    km, road = plane
    mm = [view.project(k) for k in km]
    points = [(p, *xy) for p, xy in zip(trip, mm, strict=True)]
    panel = Panel(title, view.width, view.height, view.scale, points)
    panel.road = simplify([view.project(k) for k in road], _ROAD_TOLERANCE_MM)
    frame = Rect(0, 0, view.width, view.height)
    shown = [
        (p, x, y)
        for p, x, y in points
        if p.kind == _STOP and frame.contains(x, y) and (own is None or p.number in own)
    ]
    markers = [(x, y) for p, x, y in points if p.kind in _MARKERS]
    panel.communes = _communes(shown, markers, frame)
    furniture = [
        Rect(view.width - NORTH_W - 0.5, 0.5, NORTH_W, NORTH_H),
        Rect(0.5, view.height - SCALE_H - 0.5, SCALE_W, SCALE_H),
    ]
    labels, unplaced = _place_labels(_groups(shown), markers, furniture, panel.communes, frame)
    children: list[Panel] = []
    if unplaced and depth < _MAX_DEPTH:
        handed: set[int] = set()
        for detail_view in _details(unplaced, view):
            box = _box(view, detail_view)
            delegated = {p.number for p, x, y in shown if box.contains(x, y)} - handed
            if not delegated:
                continue
            letter = next(letters)
            panel.details.append(DetailBox(letter, box))
            handed |= delegated
            children += _panels(
                trip, plane, detail_view, f"Détail {letter}", own=delegated, depth=depth + 1, letters=letters
            )
        kept = [(p, x, y) for p, x, y in shown if p.number not in handed]
        avoid = furniture + [_tag_rect(d) for d in panel.details]
        labels, unplaced = _place_labels(_groups(kept), markers, avoid, panel.communes, frame)
    for group in unplaced:
        labels.append(_forced(group, labels, frame))
    panel.labels = labels
    if depth:
        panel.title += f" · arrêts {number_ranges([n for label in labels for n in label.numbers])}"
    return [panel, *children]


def _box(parent: _View, child: _View) -> Rect:
    """The part of `child`'s window inside `parent`'s frame, in `parent`'s millimetres."""
    left, top = _to_panel(parent, child, 0, 0)
    right, bottom = _to_panel(parent, child, child.width, child.height)
    x0, y0 = max(left, 0.0), max(top, 0.0)
    x1, y1 = min(right, parent.width), min(bottom, parent.height)
    return Rect(x0, y0, x1 - x0, y1 - y0)


def number_ranges(numbers: Sequence[int]) -> str:
    """`1–4, 7, 9–10` for the numbers 1, 2, 3, 4, 7, 9, 10."""
    ordered = sorted(set(numbers))
    runs: list[list[int]] = []
    for n in ordered:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(f"{r[0]}\u2013{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def _to_panel(parent: _View, child: _View, x: float, y: float) -> tuple[float, float]:
    """Where the point (x, y) of `child`'s frame falls on `parent`'s frame."""
    return parent.project(_km_of(child, x, y))


def _tag_rect(box: DetailBox) -> Rect:
    """The letter tag at a detail box's top-left corner."""
    return Rect(box.rect.x - 0.2, box.rect.y - 0.2, 4.2, 4.2)


def _details(unplaced: list[_Group], view: _View) -> list[_View]:
    """Views enlarging the unplaced stops: one around them all if that enlarges enough (`_MIN_ZOOM`), else
    the tiles of a grid at `_TILE_ZOOM` that hold any, so that no two details show the same place."""
    km = [_km_of(view, g.x, g.y) for g in unplaced]
    detail = _fit(km, view.width, view.height, pad=14.0)
    if detail.scale >= _MIN_ZOOM * view.scale:
        # Enlarging more than needed would show a few stops and lose the streets around them.
        return [dataclasses.replace(detail, scale=min(detail.scale, _MAX_ZOOM * view.scale))]
    scale = _TILE_ZOOM * view.scale
    tile_w, tile_h = view.width / scale, view.height / scale  # km
    xs, ys = [x for x, _y in km], [y for _x, y in km]
    columns = math.ceil((max(xs) - min(xs)) / tile_w + 1e-9) or 1
    rows = math.ceil((max(ys) - min(ys)) / tile_h + 1e-9) or 1
    # The grid is centred on the stops; tiles are taken from the top-left, in reading order.
    left = (max(xs) + min(xs)) / 2 - columns * tile_w / 2
    top = (max(ys) + min(ys)) / 2 + rows * tile_h / 2
    views: list[_View] = []
    for row, column in itertools.product(range(rows), range(columns)):
        x0, y1 = left + column * tile_w, top - row * tile_h
        if any(x0 <= x < x0 + tile_w and y1 - tile_h < y <= y1 for x, y in km):
            views.append(_View(x0 + tile_w / 2, y1 - tile_h / 2, scale, view.width, view.height))
    return views


def _km_of(view: _View, x: float, y: float) -> tuple[float, float]:
    """The kilometre-plane point at (x, y) on `view`'s frame."""
    return (view.cx + (x - view.width / 2) / view.scale, view.cy - (y - view.height / 2) / view.scale)


def _groups(stops: Sequence[tuple[Point, float, float]]) -> list[_Group]:
    """The stops in route order, those too close to an earlier one to be told apart (`_CROWDED_MM`) sharing
    its label, up to `_MAX_SHARED` numbers: a crowd larger than that needs a detail."""
    groups: list[_Group] = []
    for p, x, y in stops:
        for i, g in enumerate(groups):
            if len(g.numbers) < _MAX_SHARED and math.hypot(g.x - x, g.y - y) < _CROWDED_MM:
                groups[i] = _Group((*g.numbers, p.number), g.x, g.y)
                break
        else:
            groups.append(_Group((p.number,), x, y))
    return groups


def _label_size(text: str) -> tuple[float, float]:
    return max(LABEL_H, text_width(text, LABEL_PT, bold=True) + 1.2), LABEL_H


def _label_text(numbers: tuple[int, ...]) -> str:
    return "/".join(str(n) for n in numbers)


def _place_labels(
    groups: list[_Group],
    markers: list[tuple[float, float]],
    furniture: list[Rect],
    communes: list[Commune],
    frame: Rect,
) -> tuple[list[Label], list[_Group]]:
    """Greedy placement in route order: on the stop if free, else the nearest free spot on a ring around it.

    A spot is free when the label stays inside the frame, clear of the panel's furniture, of other labels
    and of other stops' dots, and its leader line crosses no label. Commune names are avoided when possible.
    """
    dots = [(g.x, g.y, DOT_R + 0.25) for g in groups] + [(x, y, MARKER_R + 0.3) for x, y in markers]
    placer = _Placer(frame, dots)
    commune_rects = [Rect(c.x - c.w / 2, c.y - c.h / 2, c.w, c.h) for c in communes]
    unplaced: list[_Group] = []
    for group in groups:
        text = _label_text(group.numbers)
        w, h = _label_size(text)
        # A leader line to a dot that touches another one would not say which of the two it names.
        crowded = any(
            0 < math.hypot(g.x - group.x, g.y - group.y) < _CROWDED_MM for g in groups if g is not group
        )
        spot = None
        for avoid in (furniture + commune_rects, furniture):
            spot = next(
                (
                    xy
                    for xy in _candidates(group, aside=not crowded)
                    if placer.free(Rect(xy[0] - w / 2, xy[1] - h / 2, w, h), group, avoid)
                ),
                None,
            )
            if spot:
                break
        if spot is None:
            unplaced.append(group)
            continue
        placer.placed.append(Label(text, group.numbers, spot[0], spot[1], w, h, (group.x, group.y)))
    return placer.placed, unplaced


def _candidates(group: _Group, *, aside: bool = True) -> Iterator[tuple[float, float]]:
    yield group.x, group.y
    if not aside:
        return
    for radius, (dx, dy) in itertools.product(_RINGS, _DIRECTIONS):
        yield group.x + dx * radius, group.y + dy * radius


@dataclass
class _Placer:
    """The labels placed so far on a panel, and what a new one must keep clear of."""

    frame: Rect
    dots: list[tuple[float, float, float]]  # x, y and the distance a label keeps from it
    placed: list[Label] = field(default_factory=list)

    def inside(self, rect: Rect) -> bool:
        return (
            rect.x >= _EDGE
            and rect.y >= _EDGE
            and rect.x + rect.w <= self.frame.w - _EDGE
            and rect.y + rect.h <= self.frame.h - _EDGE
        )

    def free(self, rect: Rect, group: _Group, avoid: list[Rect]) -> bool:
        if not self.inside(rect):
            return False
        if any(rect.overlaps(r) for r in avoid) or any(rect.overlaps(lb.rect, _GAP) for lb in self.placed):
            return False
        if any(rect.distance(x, y) < r for x, y, r in self.dots if (x, y) != (group.x, group.y)):
            return False
        # The leader line, from the stop to the label's centre, must not run through another label.
        cx, cy = rect.x + rect.w / 2, rect.y + rect.h / 2
        for k in range(1, 8):
            px, py = group.x + (cx - group.x) * k / 8, group.y + (cy - group.y) * k / 8
            if any(lb.rect.contains(px, py) for lb in self.placed):
                return False
        return True


def _forced(group: _Group, placed: list[Label], frame: Rect) -> Label:
    """A label for a stop no free spot was found for: clear of other labels if possible, never dropped."""
    text = _label_text(group.numbers)
    w, h = _label_size(text)
    placer = _Placer(frame, [])
    inside = [xy for xy in _candidates(group) if placer.inside(Rect(xy[0] - w / 2, xy[1] - h / 2, w, h))]
    clear = (
        xy
        for xy in inside
        if not any(Rect(xy[0] - w / 2, xy[1] - h / 2, w, h).overlaps(lb.rect) for lb in placed)
    )
    spot = next(clear, inside[0] if inside else (group.x, group.y))
    return Label(text, group.numbers, spot[0], spot[1], w, h, (group.x, group.y))


def _communes(
    stops: Sequence[tuple[Point, float, float]], markers: Sequence[tuple[float, float]], frame: Rect
) -> list[Commune]:
    """Each commune's name near the centroid of its stops on the panel, clear of the stops and of the other
    names where a spot within a few millimetres allows."""
    by_name: dict[str, list[tuple[float, float]]] = {}
    for p, x, y in stops:
        if p.locality:
            by_name.setdefault(p.locality, []).append((x, y))
    dots = [(x, y) for _p, x, y in stops] + list(markers)
    communes: list[Commune] = []
    h = COMMUNE_PT * 0.45
    for name, spots in by_name.items():
        w = text_width(name, COMMUNE_PT, bold=True) + 1.0
        cx = sum(x for x, _y in spots) / len(spots)
        cy = sum(y for _x, y in spots) / len(spots)
        taken = [Rect(c.x - c.w / 2, c.y - c.h / 2, c.w, c.h) for c in communes]
        # The first spot clear of everything, else the one that covers the fewest stops.
        best, best_cost = (cx, cy), math.inf
        for x, y in _commune_spots(cx, cy):
            rect = Rect(x - w / 2, y - h / 2, w, h)
            if rect.x < 1 or rect.y < 1 or rect.x + w > frame.w - 1 or rect.y + h > frame.h - 1:
                continue
            cost = 100 * sum(rect.overlaps(t, 0.5) for t in taken)
            cost += sum(rect.distance(dx, dy) <= MARKER_R + 0.3 for dx, dy in dots)
            if cost < best_cost:
                best, best_cost = (x, y), cost
            if cost == 0:
                break
        x = min(max(best[0], w / 2 + 1), frame.w - w / 2 - 1)
        y = min(max(best[1], h / 2 + 1), frame.h - h / 2 - 1)
        communes.append(Commune(name, x, y, w, h))
    return communes


def _commune_spots(cx: float, cy: float) -> Iterator[tuple[float, float]]:
    yield cx, cy
    for radius in (3.0, 5.0, 7.5, 10.0, 13.0):
        for dx, dy in _DIRECTIONS[:8]:
            yield cx + dx * radius * 1.6, cy + dy * radius
