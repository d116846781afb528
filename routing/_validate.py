"""Input validation: reject malformed problems with every faulty field named at once."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from routing._matrix import Location
from routing._model import Compartment, Problem, SolveOptions, Stop, TimeWindow, Vehicle

__all__ = ["FieldViolation", "ProblemError", "can_carry", "validate", "validate_options"]


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One faulty field.

    Attributes
    ----------
    field : str
        Where it is, addressed like `stops[3].volume_l` or `options.frozen['t1'][2]`.
    description : str
        What is wrong with it.
    """

    field: str
    description: str


class ProblemError(ValueError):
    """The problem or the options are malformed.

    Parameters
    ----------
    violations : list of FieldViolation
        Every faulty field; also the `violations` attribute, and joined into the message.
    """

    def __init__(self, violations: list[FieldViolation]) -> None:
        self.violations = violations
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in violations))

    def __reduce__(self) -> tuple[type[ProblemError], tuple[list[FieldViolation]]]:
        # Rebuilt from the violations, not the message, so it crosses the solver process boundary intact.
        return (ProblemError, (self.violations,))


def validate(problem: Problem) -> None:
    """Check a problem before solving it.

    Parameters
    ----------
    problem : Problem
        The day to check: unique ids, known depots, valid places, windows, amounts and breaks, streams
        that some facility accepts, and stops that the vehicles carrying them can hold (a mandatory stop
        also needs a vehicle with its stream and skills).

    Raises
    ------
    ProblemError
        Listing every malformed field of `problem`; nothing is raised when it is well formed.
    """
    out: list[FieldViolation] = []
    _unique_ids(out, "stops", (s.id for s in problem.stops))
    _unique_ids(out, "vehicles", (v.id for v in problem.vehicles))
    _unique_ids(out, "depots", (d.id for d in problem.depots))
    _unique_ids(out, "facilities", (f.id for f in problem.facilities))
    for i, depot in enumerate(problem.depots):
        _location(out, f"depots[{i}].location", depot.location)
    for i, facility in enumerate(problem.facilities):
        path = f"facilities[{i}]"
        _location(out, f"{path}.location", facility.location)
        _window(out, f"{path}.opening", facility.opening)
        _non_negative(out, f"{path}.dump_s", facility.dump_s)
    _vehicles(out, problem)
    _stops(out, problem)
    if out:
        raise ProblemError(out)


def validate_options(options: SolveOptions, problem: Problem | None = None) -> None:
    """Raise `ProblemError` for search options that cannot work, for `problem` when given."""
    out: list[FieldViolation] = []
    _positive(out, "options.time_limit_s", options.time_limit_s)
    if options.max_trips_per_vehicle is not None and options.max_trips_per_vehicle < 1:
        out.append(FieldViolation("options.max_trips_per_vehicle", "a vehicle needs at least its final dump"))
    if options.now_s is not None:
        _non_negative(out, "options.now_s", options.now_s)
    if options.warm_start not in ("auto", "pyvrp", "none"):
        out.append(FieldViolation("options.warm_start", "must be one of auto, pyvrp, none"))
    if options.objective not in ("cost", "vehicles"):
        out.append(FieldViolation("options.objective", "must be one of cost, vehicles"))
    if problem is not None:
        if options.frozen is not None:
            _sequences(out, "options.frozen", options.frozen, problem, strict=True)
        if options.initial_routes is not None:
            _sequences(out, "options.initial_routes", options.initial_routes, problem, strict=False)
        if options.now_s is not None and options.frozen:
            for i, v in enumerate(problem.vehicles):
                if options.frozen.get(v.id) and options.now_s > v.shift.end_s:
                    out.append(
                        FieldViolation(
                            "options.now_s", f"after the shift end of vehicles[{i}], which is on its way"
                        )
                    )
    if out:
        raise ProblemError(out)


def _sequences(
    out: list[FieldViolation],
    path: str,
    sequences: Mapping[str, Sequence[str]],
    problem: Problem,
    *,
    strict: bool,
) -> None:
    """Check vehicle → visit id sequences; `strict` ones must also be drivable by their vehicle."""
    vehicles = {v.id: v for v in problem.vehicles}
    stops = {s.id: s for s in problem.stops}
    facilities = {f.id: f for f in problem.facilities}
    seen: set[str] = set()
    for vehicle_id, refs in sequences.items():
        vehicle = vehicles.get(vehicle_id)
        if vehicle is None:
            out.append(FieldViolation(f"{path}[{vehicle_id!r}]", f"unknown vehicle id {vehicle_id!r}"))
            continue
        if isinstance(refs, str):
            out.append(FieldViolation(f"{path}[{vehicle_id!r}]", "must be a sequence of ids, not a string"))
            continue
        for k, ref in enumerate(refs):
            where = f"{path}[{vehicle_id!r}][{k}]"
            if ref in stops:
                if ref in seen:
                    out.append(FieldViolation(where, f"stop {ref!r} is listed more than once"))
                seen.add(ref)
                if strict and not can_carry(vehicle, stops[ref]):
                    out.append(
                        FieldViolation(
                            where,
                            f"vehicle {vehicle_id!r} cannot serve stop {ref!r} (stream, skills or size)",
                        )
                    )
            elif ref in facilities:
                if strict and not facilities[ref].streams & vehicle.streams:
                    out.append(
                        FieldViolation(
                            where, f"facility {ref!r} takes no stream vehicle {vehicle_id!r} carries"
                        )
                    )
            else:
                out.append(FieldViolation(where, f"unknown stop or facility id {ref!r}"))


def _room(vehicle: Vehicle, stream: str) -> Vehicle | Compartment:
    """What holds `stream` on the vehicle: its compartment for it, else the body."""
    j = vehicle.compartment_of(stream)
    if j < 0:
        return vehicle
    body, compartment = vehicle, vehicle.compartments[j]
    # The tighter of the two bounds each amount.
    if compartment.capacity_l <= body.capacity_l and compartment.capacity_kg <= body.capacity_kg:
        return compartment
    return Compartment(
        compartment.streams,
        min(compartment.capacity_l, body.capacity_l),
        min(compartment.capacity_kg, body.capacity_kg),
    )


def can_carry(vehicle: Vehicle, stop: Stop) -> bool:
    """Whether the vehicle carries the stream, has the skills and room for the stop (in its compartment)."""
    room = _room(vehicle, stop.stream)
    return (
        stop.stream in vehicle.streams
        and stop.required_skills <= vehicle.skills
        and stop.volume_l <= room.capacity_l
        and stop.weight_kg <= room.capacity_kg
    )


def _compartments(out: list[FieldViolation], path: str, v: Vehicle, problem: Problem) -> None:
    """Compartments with room, disjoint streams that make the vehicle's, each emptied somewhere."""
    seen: set[str] = set()
    for j, c in enumerate(v.compartments):
        where = f"{path}.compartments[{j}]"
        _positive(out, f"{where}.capacity_l", c.capacity_l)
        _positive(out, f"{where}.capacity_kg", c.capacity_kg)
        if not c.streams:
            out.append(FieldViolation(f"{where}.streams", "a compartment carries at least one stream"))
        if c.streams & seen:
            out.append(FieldViolation(f"{where}.streams", "a stream goes in one compartment only"))
        seen |= c.streams
        if c.streams and not any(c.streams <= f.streams for f in problem.facilities):
            out.append(FieldViolation(f"{where}.streams", "no facility accepts all of them"))
    if v.compartments and seen != v.streams:
        out.append(FieldViolation(f"{path}.compartments", "their streams must be the vehicle's streams"))


def _vehicles(out: list[FieldViolation], problem: Problem) -> None:
    depot_ids = {d.id for d in problem.depots}
    for i, v in enumerate(problem.vehicles):
        path = f"vehicles[{i}]"
        _positive(out, f"{path}.capacity_l", v.capacity_l)
        _positive(out, f"{path}.capacity_kg", v.capacity_kg)
        for name in ("start_depot", "end_depot"):
            if getattr(v, name) not in depot_ids:
                out.append(FieldViolation(f"{path}.{name}", f"unknown depot id {getattr(v, name)!r}"))
        _window(out, f"{path}.shift", v.shift)
        _compartments(out, path, v, problem)
        if v.driving_rule is not None:
            _positive(out, f"{path}.driving_rule.max_driving_s", v.driving_rule.max_driving_s)
            _positive(out, f"{path}.driving_rule.break_s", v.driving_rule.break_s)
        if v.latest_departure_s is not None and not v.shift.contains(v.latest_departure_s):
            out.append(FieldViolation(f"{path}.latest_departure_s", "outside the vehicle's shift"))
        _non_negative(out, f"{path}.cost_per_km", v.cost_per_km)
        _non_negative(out, f"{path}.cost_per_hour", v.cost_per_hour)
        _non_negative(out, f"{path}.fixed_cost", v.fixed_cost)
        if v.max_stops is not None:
            _non_negative(out, f"{path}.max_stops", v.max_stops)
        if v.route_volume_cap_l is not None:
            _non_negative(out, f"{path}.route_volume_cap_l", v.route_volume_cap_l)
        if v.max_duration_s is not None:
            _non_negative(out, f"{path}.max_duration_s", v.max_duration_s)
        if v.overtime_after_s is not None:
            _non_negative(out, f"{path}.overtime_after_s", v.overtime_after_s)
        _non_negative(out, f"{path}.overtime_cost_per_hour", v.overtime_cost_per_hour)
        if v.overtime_cost_per_hour > 0 and v.overtime_after_s is None:
            out.append(
                FieldViolation(f"{path}.overtime_after_s", "overtime_cost_per_hour needs the hour it starts")
            )
        if v.lunch is not None:
            lunch = v.lunch
            _non_negative(out, f"{path}.lunch.duration_s", lunch.duration_s)
            if lunch.earliest_start_s > lunch.latest_start_s:
                out.append(FieldViolation(f"{path}.lunch", "earliest_start_s is after latest_start_s"))
            elif not (
                max(lunch.earliest_start_s, v.shift.start_s) <= lunch.latest_start_s
                and max(lunch.earliest_start_s, v.shift.start_s) + lunch.duration_s <= v.shift.end_s
            ):
                out.append(FieldViolation(f"{path}.lunch", "the break cannot be taken within the shift"))


def _stops(out: list[FieldViolation], problem: Problem) -> None:
    carried = {s for v in problem.vehicles for s in v.streams}
    accepted = {s for f in problem.facilities for s in f.streams}
    unaccepted_reported: set[str] = set()
    for i, stop in enumerate(problem.stops):
        path = f"stops[{i}]"
        _location(out, f"{path}.location", stop.location)
        _non_negative(out, f"{path}.volume_l", stop.volume_l)
        _non_negative(out, f"{path}.weight_kg", stop.weight_kg)
        _non_negative(out, f"{path}.service_s", stop.service_s)
        _non_negative(out, f"{path}.prize", stop.prize)
        _non_negative(out, f"{path}.release_s", stop.release_s)
        for k, window in enumerate(stop.time_windows):
            _window(out, f"{path}.time_windows[{k}]", window)
        if stop.stream not in carried:
            if stop.required:
                out.append(FieldViolation(f"{path}.stream", f"no vehicle carries stream {stop.stream!r}"))
            continue
        if stop.stream not in accepted and stop.stream not in unaccepted_reported:
            unaccepted_reported.add(stop.stream)
            out.append(FieldViolation(f"{path}.stream", f"no facility accepts stream {stop.stream!r}"))
        compatible = [
            v for v in problem.vehicles if stop.stream in v.streams and stop.required_skills <= v.skills
        ]
        if not compatible:
            if stop.required:
                skills = ", ".join(sorted(stop.required_skills))
                out.append(
                    FieldViolation(
                        f"{path}.required_skills",
                        f"no vehicle carrying stream {stop.stream!r} has all of: {skills}",
                    )
                )
            continue
        if all(stop.volume_l > _room(v, stop.stream).capacity_l for v in compatible):
            out.append(
                FieldViolation(f"{path}.volume_l", "exceeds the capacity of every vehicle carrying it")
            )
        if all(stop.weight_kg > _room(v, stop.stream).capacity_kg for v in compatible):
            out.append(
                FieldViolation(f"{path}.weight_kg", "exceeds the capacity of every vehicle carrying it")
            )


def _unique_ids(out: list[FieldViolation], collection: str, ids: Iterable[str]) -> None:
    seen: set[str] = set()
    for i, ident in enumerate(ids):
        if ident in seen:
            out.append(FieldViolation(f"{collection}[{i}].id", f"duplicate id {ident!r}"))
        seen.add(ident)


def _location(out: list[FieldViolation], path: str, loc: Location) -> None:
    if not (math.isfinite(loc.lat) and -90.0 <= loc.lat <= 90.0):
        out.append(FieldViolation(f"{path}.lat", f"latitude {loc.lat} is outside [-90, 90]"))
    if not (math.isfinite(loc.lng) and -180.0 <= loc.lng <= 180.0):
        out.append(FieldViolation(f"{path}.lng", f"longitude {loc.lng} is outside [-180, 180]"))


def _window(out: list[FieldViolation], path: str, window: TimeWindow) -> None:
    if window.start_s < 0:
        out.append(FieldViolation(f"{path}.start_s", "must not be negative"))
    if window.start_s > window.end_s:
        out.append(FieldViolation(path, f"start_s {window.start_s} is after end_s {window.end_s}"))


def _non_negative(out: list[FieldViolation], path: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        out.append(FieldViolation(path, f"must be a non-negative number, got {value}"))


def _positive(out: list[FieldViolation], path: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        out.append(FieldViolation(path, f"must be a positive number, got {value}"))
