"""What a truck's sheet says, gathered from the plan and the entities it refers to (no drawing here)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from google.protobuf import timestamp_pb2

from wastesvc.sheets._code import SheetCode, version_of
from wastesvc.sheets._style import STREAM_SHORT, stream_style
from wastesvc.sheets._text import (
    DASH,
    EN_DASH,
    NBSP,
    coordinates_text,
    crew_label,
    french_number,
    hours_minutes,
    is_set,
    last_segment,
    unique,
    window_text,
)
from wastesvc.v1 import containers_pb2, fleet_pb2, planning_pb2


@dataclass
class Context:
    """The plan being printed and everything it refers to."""

    plan: planning_pb2.RoutePlan
    containers: Mapping[str, containers_pb2.Container]
    vehicles: Mapping[str, fleet_pb2.Vehicle]
    depots: Mapping[str, fleet_pb2.Depot]
    facilities: Mapping[str, fleet_pb2.Facility]
    tz: ZoneInfo

    def local(self, ts: timestamp_pb2.Timestamp) -> datetime | None:
        if not is_set(ts):
            return None
        return datetime.fromtimestamp(ts.seconds + ts.nanos / 1e9, tz=UTC).astimezone(self.tz)

    def hhmm(self, ts: timestamp_pb2.Timestamp) -> str:
        moment = self.local(ts)
        return moment.strftime("%H:%M") if moment else DASH

    @property
    def plan_id(self) -> str:
        return last_segment(self.plan.name) if self.plan.name else "sans nom"

    def creation_date(self) -> datetime:
        if is_set(self.plan.create_time):
            return datetime.fromtimestamp(self.plan.create_time.seconds, tz=UTC)
        d = self.plan.service_date
        if d.year and d.month and d.day:
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        return datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Point:
    """A place drawn on the map; `number` is the stop number and `locality` the commune of container stops.

    `road` is the road path from here to the next place of the day, (longitude, latitude) pairs from this
    place to that one; empty when the path is drawn straight.
    """

    kind: int
    lat: float
    lng: float
    number: int = 0
    locality: str = ""
    road: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class Row:
    """One line of the stop table: a numbered container stop (`cells`) or a shaded event row (`text`)."""

    kind: int
    time: str
    cells: tuple[str, ...] = ()
    text: str = ""


@dataclass
class Sheet:
    """One truck's sheet."""

    vehicle_id: str
    truck: str
    stream: int
    depot: str
    shift: str
    sheet_id: str
    code: SheetCode
    service_day: date | None
    rows: list[Row] = field(default_factory=list)
    path: list[Point] = field(default_factory=list)
    totals: list[tuple[str, str]] = field(default_factory=list)
    stop_count: int = 0
    start: str = DASH
    end: str = DASH
    # Each disposal trip's stream in order, when the truck changes stream during the day.
    streams: list[int] = field(default_factory=list)
    # Whether the map's path follows the roads ("osrm") or joins the places straight (see wastesvc.roads).
    path_source: str = "straight"


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


def _service_day(ctx: Context, route: planning_pb2.VehicleRoute) -> date | None:
    d = ctx.plan.service_date
    if d.year and d.month and d.day:
        return date(d.year, d.month, d.day)
    first = next((ctx.local(v.arrival_time) for v in route.visits if is_set(v.arrival_time)), None)
    return first.date() if first else None


def build_sheet(ctx: Context, route: planning_pb2.VehicleRoute) -> Sheet:
    """The content of `route`'s sheet: header facts, table rows, map points and totals."""
    vehicle = ctx.vehicles.get(route.vehicle)
    vehicle_id = last_segment(route.vehicle)
    display = crew_label(vehicle.display_name) if vehicle and vehicle.display_name else vehicle_id
    depot_name = vehicle.home_depot if vehicle and vehicle.home_depot else ""
    if not depot_name:
        depot_name = next((v.site for v in route.visits if v.kind == planning_pb2.VISIT_KIND_DEPOT_START), "")
    depot = ctx.depots.get(depot_name)
    depot_label = crew_label(depot.display_name) if depot and depot.display_name else last_segment(depot_name)
    sheet = Sheet(
        vehicle_id=vehicle_id,
        truck=display,
        stream=route.stream,
        streams=list(route.streams),
        depot=depot_label,
        shift=window_text(vehicle.shift) if vehicle and vehicle.HasField("shift") else DASH,
        sheet_id=_sheet_id(ctx.plan.name, route.vehicle),
        code=SheetCode(ctx.plan.name, route.vehicle, version_of(ctx.plan.create_time)),
        service_day=_service_day(ctx, route),
    )
    number = 0
    load_before = 0.0
    compartments_before: list[float] = []
    disposals = 0
    distance_m = 0
    litres = 0.0
    for visit in route.visits:
        distance_m += visit.distance_meters
        arrival = ctx.hhmm(visit.arrival_time)
        if visit.kind == planning_pb2.VISIT_KIND_CONTAINER:
            number += 1
            row, point, volume = _container_row(ctx, visit, number, arrival)
            litres += volume
            sheet.rows.append(row)
            if point:
                sheet.path.append(point)
        elif visit.kind == planning_pb2.VISIT_KIND_DISPOSAL:
            disposals += 1
            _disposal(ctx, sheet, visit, arrival, load_before, compartments_before=compartments_before)
        elif visit.kind in (planning_pb2.VISIT_KIND_BREAK, planning_pb2.VISIT_KIND_REST):
            sheet.rows.append(_break_row(ctx, visit))
        elif visit.kind in (planning_pb2.VISIT_KIND_DEPOT_START, planning_pb2.VISIT_KIND_DEPOT_END):
            _depot_visit(ctx, sheet, visit, depot, arrival)
        load_before = visit.load_liters
        compartments_before = list(visit.compartment_load_liters)
    sheet.stop_count = number
    sheet.totals = _totals(
        route, sheet, stops=number, disposals=disposals, distance_m=distance_m, litres=litres
    )
    return sheet


def _disposal(
    ctx: Context,
    sheet: Sheet,
    visit: planning_pb2.Visit,
    arrival: str,
    load_before: float,
    *,
    compartments_before: list[float],
) -> None:
    facility = ctx.facilities.get(visit.site)
    label = crew_label(facility.display_name) if facility and facility.display_name else ""
    text = (
        f"Vidage {DASH} {label or last_segment(visit.site)}, arrivée {arrival}, "
        f"charge avant vidage {french_number(load_before)} L"
    )
    if compartments_before:
        # A compartmented truck: what each compartment holds before and after, so the crew knows which
        # ones to empty here.
        before = " + ".join(f"{french_number(x)}" for x in compartments_before)
        after = " + ".join(f"{french_number(x)}" for x in visit.compartment_load_liters)
        text += f" (compartiments {before} L, après {after} L)"
    if is_set(visit.end_time):
        text += f", départ {ctx.hhmm(visit.end_time)}"
    sheet.rows.append(Row(visit.kind, arrival, text=text))
    loc = _location(visit.location, facility.location if facility else None)
    if loc:
        sheet.path.append(Point(visit.kind, *loc))


def _break_row(ctx: Context, visit: planning_pb2.Visit) -> Row:
    start = ctx.hhmm(visit.start_time if is_set(visit.start_time) else visit.arrival_time)
    end = ctx.hhmm(visit.end_time)
    # "Repos": the rest the driving-time rule owes, told apart from the meal break.
    label = "Pause" if visit.kind == planning_pb2.VISIT_KIND_BREAK else "Repos (temps de conduite)"
    text = f"{label} {start}{EN_DASH}{end}"
    if is_set(visit.end_time) and is_set(visit.start_time):
        text += f" ({round((visit.end_time.seconds - visit.start_time.seconds) / 60)} min)"
    return Row(visit.kind, start, text=text)


def _depot_visit(
    ctx: Context, sheet: Sheet, visit: planning_pb2.Visit, home: fleet_pb2.Depot | None, arrival: str
) -> None:
    site = ctx.depots.get(visit.site) or home
    site_label = crew_label(site.display_name) if site and site.display_name else sheet.depot
    if visit.kind == planning_pb2.VISIT_KIND_DEPOT_START:
        leave = ctx.hhmm(visit.end_time if is_set(visit.end_time) else visit.arrival_time)
        sheet.start = leave
        sheet.rows.append(Row(visit.kind, leave, text=f"Départ du dépôt {DASH} {site_label}, {leave}"))
    else:
        sheet.end = arrival
        text = f"Retour au dépôt {DASH} {site_label}, arrivée {arrival}"
        if visit.load_liters > 0:
            text += f", charge à bord {french_number(visit.load_liters)} L"
        sheet.rows.append(Row(visit.kind, arrival, text=text))
    loc = _location(visit.location, site.location if site else None)
    if loc:
        sheet.path.append(Point(visit.kind, *loc))


def _totals(
    route: planning_pb2.VehicleRoute,
    sheet: Sheet,
    *,
    stops: int,
    disposals: int,
    distance_m: int,
    litres: float,
) -> list[tuple[str, str]]:
    if route.distance_meters:
        distance_m = route.distance_meters
    duration_s = route.duration.seconds if route.HasField("duration") else 0
    if not duration_s and route.visits:
        first, last = route.visits[0], route.visits[-1]
        start = first.end_time if is_set(first.end_time) else first.arrival_time
        if is_set(start) and is_set(last.arrival_time):
            duration_s = max(0, last.arrival_time.seconds - start.seconds)
    if route.collected_liters:
        litres = route.collected_liters
    containers = route.container_count or sum(
        len(v.containers) for v in route.visits if v.kind == planning_pb2.VISIT_KIND_CONTAINER
    )
    return [
        ("Conteneurs à vider", f"{containers} ({stops} arrêts)"),
        ("Distance", f"{french_number(distance_m / 1000, 1)} km"),
        ("Durée", hours_minutes(duration_s)),
        ("Volume collecté", f"{french_number(litres)} L"),
        ("Vidages", str(disposals)),
        ("Départ / retour", f"{sheet.start} / {sheet.end}"),
    ]


def _container_row(
    ctx: Context, visit: planning_pb2.Visit, number: int, arrival: str
) -> tuple[Row, Point | None, float]:
    found = [ctx.containers[n] for n in visit.containers if n in ctx.containers]
    ids = "\n".join(last_segment(n) for n in visit.containers) or DASH
    localities = unique(c.locality for c in found if c.locality)
    streams = unique(STREAM_SHORT.get(c.stream, stream_style(c.stream)[0]) for c in found)
    windows = unique(window_text(w) for c in found for w in c.access_windows)
    fill = visit.expected_fill if visit.expected_fill > 0 else max((c.latest_fill for c in found), default=0)
    when = arrival
    waits = visit.start_time.seconds - visit.arrival_time.seconds
    if is_set(visit.start_time) and is_set(visit.arrival_time) and waits >= 60:
        when += f"\ndébut {ctx.hhmm(visit.start_time)}"
    loc = _location(visit.location, found[0].location if found else None)
    # What tells the stop apart on a street with several: the isle and the exact position.
    where = unique(crew_label(c.street_address) for c in found if c.street_address)
    where += unique(f"Îlot {c.isle}" for c in found if c.isle)
    if loc:
        where.append(coordinates_text(*loc))
    cells = (
        str(number),
        when,
        ids,
        "\n".join(localities) or DASH,
        "\n".join(where),
        "\n".join(streams) or DASH,
        f"{round(fill * 100)}{NBSP}%" if fill > 0 else DASH,
        "\n".join(windows) or "libre",
        "",
        "¼  ½  ¾  1",
        "",
    )
    point = Point(visit.kind, loc[0], loc[1], number, localities[0] if localities else "") if loc else None
    volume = float(sum(c.volume_liters for c in found))
    return Row(visit.kind, arrival, cells=cells), point, volume
