"""An independent feasibility checker.

It re-derives everything from the problem and its matrix and shares no code with the solver, so a bug in
the model, in the extraction or in a hand-edited plan shows up as a `Violation` rather than a wrong sheet.

Release times are checked on the exact rule: a trip (the stops between the start depot or a dump and the
next dump) leaves its start point at or after the release of each of its stops. The departure is the end
of the day start or of the dump, or later when the arrival at the next place shows that the truck waited
before leaving (breaks in between are counted as taken on the road, the earliest reading).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from routing._model import (
    LUNCH,
    REST,
    Facility,
    Problem,
    Route,
    SkipReason,
    Solution,
    Stop,
    Vehicle,
    Visit,
    VisitKind,
)

__all__ = ["Violation", "check"]

_TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True)
class Violation:
    """One rule a plan breaks.

    Attributes
    ----------
    code : str
        A stable upper-case tag such as `CAPACITY_L` or `TIME_WINDOW`.
    vehicle_id : str or None
        The vehicle whose route breaks it, if any.
    ref_id : str or None
        The stop, facility or depot concerned, if any.
    message : str
        What is wrong, in words.
    """

    code: str
    vehicle_id: str | None
    ref_id: str | None
    message: str


def check(problem: Problem, solution: Solution, *, now_s: int | None = None) -> list[Violation]:
    """Every rule a plan breaks, found independently of the solver.

    Parameters
    ----------
    problem : Problem
        The day the plan is for.
    solution : Solution
        The plan, from `solve` or written by hand.
    now_s : int, optional
        The time of an intraday re-plan (`SolveOptions.now_s`): a vehicle still at its depot then may
        leave after its `latest_departure_s`.

    Returns
    -------
    list of Violation
        Every rule broken; empty when the plan is feasible and consistent (costs, loads, times and
        skipped stops as the routes imply).
    """
    return _Checker(problem, solution, now_s or 0).run()


class _Checker:
    def __init__(self, problem: Problem, solution: Solution, now_s: int) -> None:
        self.problem = problem
        self.solution = solution
        self.now_s = now_s
        self.out: list[Violation] = []
        matrix = problem.matrix.matrix(problem.locations())
        self.distances = matrix.distances_m
        self.durations = matrix.durations_s
        n_depots, n_facilities = len(problem.depots), len(problem.facilities)
        self.depot_row = {d.id: k for k, d in reversed(list(enumerate(problem.depots)))}
        self.facilities = {f.id: (n_depots + k, f) for k, f in reversed(list(enumerate(problem.facilities)))}
        self.stops = {
            s.id: (n_depots + n_facilities + k, s) for k, s in reversed(list(enumerate(problem.stops)))
        }
        self.vehicles = {v.id: v for v in reversed(problem.vehicles)}
        self.visit_count: Counter[str] = Counter()

    def fail(self, code: str, vehicle: str | None, ref: str | None, message: str) -> None:
        self.out.append(Violation(code, vehicle, ref, message))

    def run(self) -> list[Violation]:
        seen_vehicles: set[str] = set()
        for route in self.solution.routes:
            vehicle = self.vehicles.get(route.vehicle_id)
            if vehicle is None:
                self.fail("UNKNOWN_VEHICLE", route.vehicle_id, None, "no such vehicle in the problem")
                continue
            if route.vehicle_id in seen_vehicles:
                self.fail("DUPLICATE_ROUTE", route.vehicle_id, None, "the vehicle has more than one route")
            seen_vehicles.add(route.vehicle_id)
            self.route(vehicle, route)
        self.coverage()
        self.cost()
        return self.out

    def route(self, vehicle: Vehicle, route: Route) -> None:
        vid = vehicle.id
        visits = route.visits
        if (
            len(visits) < 2
            or visits[0].kind is not VisitKind.DEPOT_START
            or visits[-1].kind is not VisitKind.DEPOT_END
        ):
            self.fail("ENDPOINTS", vid, None, "a route must open with DEPOT_START and close with DEPOT_END")
            return
        if visits[0].ref_id != vehicle.start_depot or visits[-1].ref_id != vehicle.end_depot:
            self.fail("ENDPOINTS", vid, None, "the route does not start and end at the vehicle's depots")
        inner_depots = [x for x in visits[1:-1] if x.kind in (VisitKind.DEPOT_START, VisitKind.DEPOT_END)]
        if inner_depots:
            self.fail("ENDPOINTS", vid, inner_depots[0].ref_id, "a depot visit in the middle of the route")
            return
        if visits[0].start_s < vehicle.shift.start_s or visits[-1].start_s > vehicle.shift.end_s:
            self.fail(
                "SHIFT",
                vid,
                None,
                f"day {visits[0].start_s}-{visits[-1].start_s} leaves shift "
                f"{vehicle.shift.start_s}-{vehicle.shift.end_s}",
            )
        latest = vehicle.latest_departure_s
        if latest is not None and visits[0].start_s > max(latest, self.now_s):
            self.fail("SHIFT", vid, None, f"leaves the depot at {visits[0].start_s}, after {latest}")
        for x in (visits[0], visits[-1]):
            if not x.arrival_s == x.start_s == x.end_s:
                self.fail("TIME", vid, x.ref_id, "depot visits take no time")

        load_l = load_kg = collected_l = 0.0
        # Per compartment of a compartmented body: litres, kilograms and streams on board.
        held: list[tuple[float, float, set[str]]] = [(0.0, 0.0, set()) for _ in vehicle.compartments]
        trip_streams: set[str] = set()
        departure: int | None = None
        n_stops = 0
        n_breaks = 0
        distance = 0
        prev_row = self.depot_row.get(visits[0].ref_id, 0)
        # `left` is when the truck finished at the last place; breaks since then are in `gap_breaks`.
        left = prev_end = visits[0].end_s
        gap_breaks = 0
        # Driving since the last break long enough for `Vehicle.driving_rule`, and the first such break
        # since `left`: a leg it interrupts may be driven partly before it, as far as time and rule allow.
        rule = vehicle.driving_rule
        driven = 0
        first_rest: int | None = None
        for x in visits[1:]:
            if not x.arrival_s <= x.start_s <= x.end_s:
                self.fail("TIME", vid, x.ref_id, f"arrival {x.arrival_s}, start {x.start_s}, end {x.end_s}")
            if x.start_s < prev_end:
                self.fail(
                    "OVERLAP", vid, x.ref_id, f"starts at {x.start_s}, before the previous end {prev_end}"
                )
            prev_end = x.end_s
            if x.kind is VisitKind.BREAK:
                n_breaks += x.ref_id == LUNCH
                self.break_(vehicle, x)
                gap_breaks += x.end_s - x.start_s
                if rule is not None and x.end_s - x.start_s >= rule.break_s:
                    first_rest = x.start_s if first_rest is None else first_rest
                self.loads(vid, x, load_l, load_kg)
                if x.distance_from_prev_m != 0:
                    self.fail("DISTANCE", vid, x.ref_id, "a break does not move the truck")
                continue
            row = self.row_of(vid, x)
            if row is None:
                return
            travel = int(self.durations[prev_row, row])
            leg = int(self.distances[prev_row, row])
            distance += leg
            if x.distance_from_prev_m != leg:
                self.fail("DISTANCE", vid, x.ref_id, f"leg is {leg} m, reported {x.distance_from_prev_m} m")
            if x.start_s - left - gap_breaks < travel:
                self.fail(
                    "TRAVEL_TIME",
                    vid,
                    x.ref_id,
                    f"needs {travel} s of driving after {left}, starts {x.start_s}",
                )
            if not left + travel <= x.arrival_s <= x.start_s:
                self.fail(
                    "ARRIVAL",
                    vid,
                    x.ref_id,
                    f"arrival {x.arrival_s} but earliest possible is {left + travel}",
                )
            if departure is None:
                departure = max(left, x.arrival_s - travel - gap_breaks)
            if rule is not None:
                if first_rest is not None:
                    before = min(travel, max(0, first_rest - left), max(0, rule.max_driving_s - driven))
                    driven = travel - before
                else:
                    driven += travel
                if driven > rule.max_driving_s:
                    self.fail(
                        "DRIVING",
                        vid,
                        x.ref_id,
                        f"{driven} s of driving since the last break of {rule.break_s} s or more,"
                        f" limit {rule.max_driving_s} s",
                    )
                    driven = 0  # reported once per stretch
                first_rest = None
            if x.kind is VisitKind.STOP:
                _, stop = self.stops[x.ref_id]
                self.visit_count[stop.id] += 1
                n_stops += 1
                load_l += stop.volume_l
                load_kg += stop.weight_kg
                collected_l += stop.volume_l
                trip_streams.add(stop.stream)
                self.stop(vehicle, stop, x, load_l, load_kg)
                if held:
                    held = self.into_compartment(vehicle, stop, held)
                if stop.release_s > departure:
                    self.fail(
                        "RELEASE",
                        vid,
                        stop.id,
                        f"released at {stop.release_s}, its trip left at {departure}",
                    )
            elif x.kind is VisitKind.FACILITY:
                _, facility = self.facilities[x.ref_id]
                if held:
                    # A dump empties every compartment whose streams the facility all accepts.
                    self.facility(vid, facility, x, set())
                    held = [h if h[2] and not h[2] <= facility.streams else (0.0, 0.0, set()) for h in held]
                    load_l, load_kg = sum(h[0] for h in held), sum(h[1] for h in held)
                    trip_streams = set().union(*(h[2] for h in held))
                else:
                    self.facility(vid, facility, x, trip_streams)
                    load_l = load_kg = 0.0
                    trip_streams = set()
                departure = None if not trip_streams else departure
            elif load_l > _TOLERANCE or load_kg > _TOLERANCE:
                self.fail(
                    "NOT_EMPTY", vid, x.ref_id, f"returns to the depot with {load_l:g} L, {load_kg:g} kg"
                )
            self.loads(vid, x, load_l, load_kg)
            if held and not all(
                math.isclose(a, h[0], abs_tol=1e-3) for a, h in zip(x.compartment_loads_l, held, strict=False)
            ):
                self.fail("LOAD_REPORTED", vid, x.ref_id, f"compartments hold {[h[0] for h in held]} L")
            prev_row, left, gap_breaks = row, x.end_s, 0
        self.totals(
            vehicle, route, distance=distance, n_stops=n_stops, n_breaks=n_breaks, collected_l=collected_l
        )

    def row_of(self, vid: str, x: Visit) -> int | None:
        table: dict[str, tuple[int, Stop]] | dict[str, tuple[int, Facility]]
        if x.kind is VisitKind.DEPOT_END:
            row = self.depot_row.get(x.ref_id)
        else:
            table = self.stops if x.kind is VisitKind.STOP else self.facilities
            entry = table.get(x.ref_id)
            row = None if entry is None else entry[0]
        if row is None:
            self.fail("UNKNOWN_REF", vid, x.ref_id, f"no {x.kind.value} with this id")
        return row

    def stop(self, vehicle: Vehicle, stop: Stop, x: Visit, load_l: float, load_kg: float) -> None:
        vid = vehicle.id
        if stop.stream not in vehicle.streams:
            self.fail("STREAM", vid, stop.id, f"vehicle does not carry {stop.stream!r}")
        if not stop.required_skills <= vehicle.skills:
            missing = ", ".join(sorted(stop.required_skills - vehicle.skills))
            self.fail("SKILLS", vid, stop.id, f"vehicle lacks {missing}")
        if x.end_s - x.start_s != stop.service_s:
            self.fail(
                "SERVICE_TIME", vid, stop.id, f"service lasts {x.end_s - x.start_s} s, not {stop.service_s} s"
            )
        if stop.time_windows and not any(w.contains(x.start_s) for w in stop.time_windows):
            self.fail("TIME_WINDOW", vid, stop.id, f"service starts at {x.start_s}, outside every window")
        if load_l > vehicle.capacity_l + _TOLERANCE:
            self.fail("CAPACITY_L", vid, stop.id, f"{load_l:g} L on board, capacity {vehicle.capacity_l:g} L")
        if load_kg > vehicle.capacity_kg + _TOLERANCE:
            self.fail(
                "CAPACITY_KG", vid, stop.id, f"{load_kg:g} kg on board, capacity {vehicle.capacity_kg:g} kg"
            )

    def into_compartment(
        self, vehicle: Vehicle, stop: Stop, held: list[tuple[float, float, set[str]]]
    ) -> list[tuple[float, float, set[str]]]:
        """`held` with the stop's load in its compartment, which must have room for it."""
        j = vehicle.compartment_of(stop.stream)
        if j < 0:
            return held  # STREAM already reported
        litres, kilos, streams = held[j]
        litres, kilos = litres + stop.volume_l, kilos + stop.weight_kg
        room = vehicle.compartments[j]
        if litres > room.capacity_l + _TOLERANCE or kilos > room.capacity_kg + _TOLERANCE:
            self.fail(
                "COMPARTMENT",
                vehicle.id,
                stop.id,
                f"compartment {j} holds {litres:g} L/{kilos:g} kg,"
                f" room {room.capacity_l:g} L/{room.capacity_kg:g} kg",
            )
        return [*held[:j], (litres, kilos, streams | {stop.stream}), *held[j + 1 :]]

    def facility(self, vid: str, facility: Facility, x: Visit, trip_streams: set[str]) -> None:
        if not trip_streams <= facility.streams:
            refused = ", ".join(sorted(trip_streams - facility.streams))
            self.fail("FACILITY_STREAM", vid, facility.id, f"does not accept {refused}")
        if len(trip_streams) > 1:
            self.fail("MIXED_STREAMS", vid, facility.id, f"one trip mixed {', '.join(sorted(trip_streams))}")
        if x.end_s - x.start_s != facility.dump_s:
            self.fail(
                "SERVICE_TIME",
                vid,
                facility.id,
                f"dump lasts {x.end_s - x.start_s} s, not {facility.dump_s} s",
            )
        if not facility.opening.contains(x.start_s):
            self.fail("FACILITY_HOURS", vid, facility.id, f"dump starts at {x.start_s}, facility closed")

    def break_(self, vehicle: Vehicle, x: Visit) -> None:
        vid = vehicle.id
        if x.ref_id == REST:
            rule = vehicle.driving_rule
            if rule is None:
                self.fail("BREAK", vid, x.ref_id, "the vehicle has no driving rule that calls for rests")
            elif x.end_s - x.start_s < rule.break_s:
                self.fail("BREAK", vid, x.ref_id, f"a rest of {x.end_s - x.start_s} s, owed {rule.break_s} s")
            return
        if x.ref_id != LUNCH:
            self.fail("BREAK", vid, x.ref_id, f"unknown break {x.ref_id!r}")
            return
        if vehicle.lunch is None:
            self.fail("BREAK", vid, x.ref_id, "the vehicle has no break to take")
            return
        lunch = vehicle.lunch
        if not lunch.earliest_start_s <= x.start_s <= lunch.latest_start_s:
            self.fail(
                "BREAK",
                vid,
                x.ref_id,
                f"starts at {x.start_s}, allowed {lunch.earliest_start_s}-{lunch.latest_start_s}",
            )
        if x.end_s - x.start_s != lunch.duration_s:
            self.fail("BREAK", vid, x.ref_id, f"lasts {x.end_s - x.start_s} s, not {lunch.duration_s} s")

    def loads(self, vid: str, x: Visit, load_l: float, load_kg: float) -> None:
        if not (
            math.isclose(x.load_l, load_l, abs_tol=1e-3) and math.isclose(x.load_kg, load_kg, abs_tol=1e-3)
        ):
            self.fail(
                "LOAD_REPORTED",
                vid,
                x.ref_id,
                f"reports {x.load_l:g} L/{x.load_kg:g} kg, is {load_l:g}/{load_kg:g}",
            )

    def totals(
        self,
        vehicle: Vehicle,
        route: Route,
        *,
        distance: int,
        n_stops: int,
        n_breaks: int,
        collected_l: float,
    ) -> None:
        vid = vehicle.id
        if route.distance_m != distance:
            self.fail("ROUTE_DISTANCE", vid, None, f"legs sum to {distance} m, reported {route.distance_m} m")
        duration = route.visits[-1].start_s - route.visits[0].start_s
        if route.duration_s != duration:
            self.fail("ROUTE_DURATION", vid, None, f"day lasts {duration} s, reported {route.duration_s} s")
        if vehicle.max_duration_s is not None and duration > vehicle.max_duration_s:
            self.fail("MAX_DURATION", vid, None, f"day lasts {duration} s, limit {vehicle.max_duration_s} s")
        if vehicle.max_stops is not None and n_stops > vehicle.max_stops:
            self.fail("MAX_STOPS", vid, None, f"{n_stops} stops, limit {vehicle.max_stops}")
        cap = vehicle.route_volume_cap_l
        if cap is not None and collected_l > cap + _TOLERANCE:
            self.fail("ROUTE_VOLUME_CAP", vid, None, f"collected {collected_l:g} L, daily cap {cap:g} L")
        lunch = vehicle.lunch
        day_start, day_end = route.visits[0].start_s, route.visits[-1].start_s
        # A day that ends before the latest start, or starts after the earliest end, leaves room to take
        # the break off duty; otherwise it must be on the route.
        due = (
            lunch is not None
            and day_end > lunch.latest_start_s
            and day_start < lunch.earliest_start_s + lunch.duration_s
        )
        if n_breaks > 1 or (due and n_breaks == 0):
            self.fail("BREAK", vid, None, f"{n_breaks} breaks taken, {int(due)} due")

    def coverage(self) -> None:
        skipped = Counter(s.stop_id for s in self.solution.skipped)
        for s in self.solution.skipped:
            if s.stop_id not in self.stops:
                self.fail("UNKNOWN_REF", None, s.stop_id, "skipped stop is not in the problem")
                continue
            _, stop = self.stops[s.stop_id]
            if s.reason is SkipReason.NOT_WORTH_IT and stop.required:
                self.fail("SKIP_REASON", None, stop.id, "a mandatory stop cannot be skipped as not worth it")
            servable = any(
                stop.stream in v.streams and stop.required_skills <= v.skills for v in self.problem.vehicles
            )
            if (s.reason is SkipReason.INCOMPATIBLE) == servable:
                self.fail(
                    "SKIP_REASON",
                    None,
                    stop.id,
                    f"{s.reason.value} but {'a' if servable else 'no'} vehicle has its stream and skills",
                )
        for stop in self.problem.stops:
            visits, skips = self.visit_count[stop.id], skipped[stop.id]
            if visits > 1:
                self.fail("DUPLICATE_VISIT", None, stop.id, f"visited {visits} times")
            if skips > 1 or (visits and skips):
                self.fail(
                    "DUPLICATE_SKIP", None, stop.id, f"visited {visits} times and skipped {skips} times"
                )
            if not visits and not skips:
                self.fail("MISSING_STOP", None, stop.id, "neither visited nor reported skipped")

    def cost(self) -> None:
        distance = time = overtime = fixed = 0.0
        for route in self.solution.routes:
            vehicle = self.vehicles.get(route.vehicle_id)
            if vehicle is not None:
                distance += route.distance_m / 1000 * vehicle.cost_per_km
                time += route.duration_s / 3600 * vehicle.cost_per_hour
                if vehicle.overtime_after_s is not None and route.duration_s > vehicle.overtime_after_s:
                    extra_h = (route.duration_s - vehicle.overtime_after_s) / 3600
                    overtime += extra_h * vehicle.overtime_cost_per_hour
                fixed += vehicle.fixed_cost
        lost = sum(s.prize for s in self.problem.stops if not s.required and not self.visit_count[s.id])
        cost = self.solution.cost
        expected = {
            "distance": distance,
            "time": time,
            "fixed": fixed,
            "prizes_lost": lost,
            "overtime": overtime,
            "total": distance + time + overtime + fixed + lost,
        }
        for name, value in expected.items():
            reported = getattr(cost, name)
            if not math.isclose(reported, value, rel_tol=_TOLERANCE, abs_tol=_TOLERANCE):
                self.fail("COST", None, None, f"{name} is {value:.6f}, reported {reported:.6f}")
