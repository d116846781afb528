"""The OR-Tools dimensions: time and shifts, loads that dumps empty, daily caps, one stream per trip, trip
releases, breaks.

Each function adds one concern to a routing model whose nodes a `routing._layout.Layout` gives; they are
called in a fixed order by `routing._build.build`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from ortools.constraint_solver import pywrapcp

from routing._layout import COST_SCALE, LOAD_SCALE, Layout
from routing._model import LUNCH, REST, Vehicle, VisitKind

__all__ = [
    "add_breaks",
    "add_compartments",
    "add_loads",
    "add_release",
    "add_time",
    "add_trip_streams",
    "break_slots",
]


def add_time(
    layout: Layout, routing: Any, durations: npt.NDArray[np.int64], service: npt.NDArray[np.int64]
) -> Any:
    """Add the `time` dimension and bound each vehicle's day by its shift; returns the dimension.

    Service and dump times ride on the arc leaving the node, so a cumul is the start of service.
    """
    vehicles = layout.problem.vehicles
    horizon = max(v.shift.end_s for v in vehicles)
    transit = _time_transits(layout, durations, service, horizon)
    time_cb = routing.RegisterTransitMatrix(transit.tolist())
    routing.AddDimension(time_cb, horizon, horizon, False, "time")
    time_dim = routing.GetDimensionOrDie("time")
    for v, vehicle in enumerate(vehicles):
        _bound_day(layout, routing, time_dim, v, vehicle)
    return time_dim


def _time_transits(
    layout: Layout, durations: npt.NDArray[np.int64], service: npt.NDArray[np.int64], horizon: int
) -> npt.NDArray[np.int64]:
    """Drive plus service time per arc, with facility copies chained.

    Copies of one facility chain for free (the dump is charged on leaving the last one), so a heuristic
    can park a stack of them on a route and later split trips by inserting stops in between: inserting a
    lone copy always costs a detour and never pays on its own. Chaining copies of different facilities is
    never useful and is forbidden.
    """
    transit = durations + service[:, None]
    facility_of = np.array([n.ref if n.kind is VisitKind.FACILITY else -1 for n in layout.nodes])
    is_copy = facility_of >= 0
    transit[np.ix_(is_copy, is_copy)] = horizon + 1
    # A compartmented vehicle may empty its compartments at several facilities in a row.
    owner = np.array([n.vehicles[0] if n.compartment >= 0 else -1 for n in layout.nodes])
    in_row = (owner[:, None] == owner[None, :]) & (owner[:, None] >= 0)
    transit[in_row] = (durations + service[:, None])[in_row]
    same = is_copy[:, None] & (facility_of[:, None] == facility_of[None, :])
    transit[same] = 0
    return transit


def _bound_day(layout: Layout, routing: Any, time_dim: Any, v: int, vehicle: Vehicle) -> None:
    """Vehicle `v`'s shift, latest departure, hourly cost, day cap and overtime on the time dimension."""
    for index in (routing.Start(v), routing.End(v)):
        time_dim.CumulVar(index).SetRange(vehicle.shift.start_s, vehicle.shift.end_s)
    if vehicle.latest_departure_s is not None:
        # A re-planned vehicle still at its depot leaves from now on, however late that is.
        latest = max(vehicle.latest_departure_s, layout.options.now_s or 0)
        time_dim.CumulVar(routing.Start(v)).SetMax(latest)
    if vehicle.cost_per_hour:
        coefficient = round(vehicle.cost_per_hour / 3600 * COST_SCALE)
        time_dim.SetSpanCostCoefficientForVehicle(coefficient, v)
    # The span runs from the Start to the End cumul, which is the day the checker measures.
    if vehicle.max_duration_s is not None:
        time_dim.SetSpanUpperBoundForVehicle(vehicle.max_duration_s, v)
    if vehicle.overtime_after_s is not None and vehicle.overtime_cost_per_hour:
        coefficient = round(vehicle.overtime_cost_per_hour / 3600 * COST_SCALE)
        bound = pywrapcp.BoundCost(vehicle.overtime_after_s, coefficient)
        time_dim.SetSoftSpanUpperBoundForVehicle(bound, v)
    # Without an hourly cost the schedule is free: come back as early as possible, then leave as late as
    # that allows, so a day does not open with idle waiting.
    routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(routing.End(v)))
    routing.AddVariableMaximizedByFinalizer(time_dim.CumulVar(routing.Start(v)))


def add_loads(layout: Layout, routing: Any, manager: Any) -> None:
    """Litres and kilograms on board, emptied at each dump; the daily volume cap and stop limit."""
    vehicles = layout.problem.vehicles
    volume = [n.volume for n in layout.nodes]
    _add_load(layout, routing, manager, "load_l", demand=volume, capacities=[v.capacity_l for v in vehicles])
    weight = [n.weight for n in layout.nodes]
    if any(weight):
        _add_load(
            layout, routing, manager, "load_kg", demand=weight, capacities=[v.capacity_kg for v in vehicles]
        )
    if any(v.route_volume_cap_l is not None for v in vehicles):
        caps = [
            sum(volume) if v.route_volume_cap_l is None else math.floor(v.route_volume_cap_l * LOAD_SCALE)
            for v in vehicles
        ]
        cb = routing.RegisterUnaryTransitVector(volume)
        routing.AddDimensionWithVehicleCapacity(cb, 0, caps, True, "collected_l")
    if any(v.max_stops is not None for v in vehicles):
        caps = [len(layout.nodes) if v.max_stops is None else v.max_stops for v in vehicles]
        cb = routing.RegisterUnaryTransitVector([int(n.kind is VisitKind.STOP) for n in layout.nodes])
        routing.AddDimensionWithVehicleCapacity(cb, 0, caps, True, "stops")


def _add_load(
    layout: Layout, routing: Any, manager: Any, name: str, *, demand: list[int], capacities: list[float]
) -> None:
    """A load dimension that facility copies empty (the `cvrp_reload` pattern).

    A copy's transit is `-big` with up to `big` of slack, so the load after it is anything between 0 and
    the load before; `End <= 0` then forces a full dump before going home.
    """
    caps = [math.floor(c * LOAD_SCALE) for c in capacities]
    big = max(caps)
    transit = [-big if n.kind is VisitKind.FACILITY else d for n, d in zip(layout.nodes, demand, strict=True)]
    routing.AddDimensionWithVehicleCapacity(
        routing.RegisterUnaryTransitVector(transit), big, caps, True, name
    )
    dim = routing.GetDimensionOrDie(name)
    for node_id, node in enumerate(layout.nodes):
        if node.kind in (VisitKind.STOP, VisitKind.BREAK):
            dim.SlackVar(manager.NodeToIndex(node_id)).SetValue(0)
    for v in range(len(capacities)):
        dim.SlackVar(routing.Start(v)).SetValue(0)
        dim.CumulVar(routing.End(v)).SetMax(0)


def add_trip_streams(layout: Layout, routing: Any, manager: Any) -> None:
    """One stream per trip, when some vehicle carries several of the streams to collect.

    A body is not compartmented, so a trip carries one stream, but a truck may change stream after a
    dump. A `stream` dimension holds the index of the stream on board: a stop and a facility copy fix
    their cumul to their stream's, a stop passes it on unchanged (transit and slack 0), so the trip's
    next stop and the copy that ends it carry the same stream, and a copy frees it (transit `-top` with
    up to `2 top` of slack) for the next trip.
    """
    index_of = {s: k for k, s in enumerate(layout.present_streams)}
    vehicles = layout.problem.vehicles
    if not any(len(v.streams & index_of.keys()) > 1 for v in vehicles):
        return
    top = len(index_of) - 1
    # A compartmented vehicle mixes streams in a trip: after its stops too the next stream is free.
    compartmented = [k for k, v in enumerate(vehicles) if v.compartments]
    free_after = (VisitKind.FACILITY,) if not compartmented else (VisitKind.FACILITY, VisitKind.STOP)
    transit = [-top if n.kind in free_after else 0 for n in layout.nodes]
    routing.AddDimension(routing.RegisterUnaryTransitVector(transit), 2 * top, top, False, "stream")
    dim = routing.GetDimensionOrDie("stream")
    solver = routing.solver()
    for node_id, node in enumerate(layout.nodes):
        index = manager.NodeToIndex(node_id)
        if node.kind in (VisitKind.STOP, VisitKind.FACILITY) and node.stream:
            dim.CumulVar(index).SetValue(index_of[node.stream])
        if node.kind is VisitKind.BREAK or (node.kind is VisitKind.STOP and not compartmented):
            dim.SlackVar(index).SetValue(0)
        elif node.kind is VisitKind.STOP and not set(node.vehicles) & set(compartmented):
            dim.SlackVar(index).SetValue(top)  # net transit 0, as above
        elif node.kind is VisitKind.STOP:
            # Net transit 0 (slack `top`) unless a compartmented vehicle serves the stop.
            mixed = solver.IsMemberVar(routing.VehicleVar(index), compartmented)
            solver.Add(dim.SlackVar(index) - top <= top * mixed)
            solver.Add(top - dim.SlackVar(index) <= top * mixed)
    for v in range(len(layout.problem.vehicles)):
        dim.SlackVar(routing.Start(v)).SetValue(0)


def add_compartments(layout: Layout, routing: Any, manager: Any) -> None:
    """Litres and kilograms in each compartment of compartmented vehicles, emptied by their copies.

    Dimension `compartment_l_j` counts, for each vehicle, what its `j`-th compartment holds: a stop adds
    its load there when the vehicle puts its stream in that compartment (so the transit depends on the
    vehicle), and the vehicle's copies for that compartment empty it as in `_add_load`.
    """
    vehicles = layout.problem.vehicles
    depth = max(len(v.compartments) for v in vehicles)
    for j in range(depth):
        for unit, amount in (("l", "volume"), ("kg", "weight")):
            caps, vectors = [], []
            for v, vehicle in enumerate(vehicles):
                has = j < len(vehicle.compartments)
                room = getattr(vehicle.compartments[j], f"capacity_{unit}") if has else 0.0
                caps.append(math.floor(room * LOAD_SCALE))
                vectors.append(
                    _compartment_transits(layout, v, j, amount) if has else [0] * len(layout.nodes)
                )
            big = max(*caps, 1)
            callbacks = [routing.RegisterUnaryTransitVector([max(t, -big) for t in vec]) for vec in vectors]
            name = f"compartment_{unit}_{j}"
            routing.AddDimensionWithVehicleTransitAndCapacity(callbacks, big, caps, True, name)
            dim = routing.GetDimensionOrDie(name)
            for node_id, node in enumerate(layout.nodes):
                if not (node.kind is VisitKind.FACILITY and node.compartment == j):
                    dim.SlackVar(manager.NodeToIndex(node_id)).SetValue(0)
            for v in range(len(vehicles)):
                dim.SlackVar(routing.Start(v)).SetValue(0)
                dim.CumulVar(routing.End(v)).SetMax(0)


def _compartment_transits(layout: Layout, v: int, j: int, amount: str) -> list[int]:
    """Vehicle `v`'s transit per node in its compartment `j`: stops it puts there, its copies emptying it."""
    vehicle = layout.problem.vehicles[v]
    streams = vehicle.compartments[j].streams
    out = []
    for node in layout.nodes:
        if node.kind is VisitKind.STOP and node.stream in streams:
            out.append(getattr(node, amount))
        elif node.kind is VisitKind.FACILITY and node.compartment == j and node.vehicles == (v,):
            out.append(-(2**40))  # clipped to -capacity by the caller: up to everything on board
        else:
            out.append(0)
    return out


def add_release(layout: Layout, routing: Any, manager: Any, time_dim: Any) -> None:
    """Each trip leaves its start point no earlier than the latest release among its stops.

    A `trip` dimension carries the departure time of the current trip along the route: it equals the Start
    cumul of the time dimension at the depot, passes unchanged through stops (slack 0) and jumps, through
    the slack of a facility copy, to the end of that dump. A stop's release is a lower bound on its `trip`
    cumul. So the dump ends at or after the release (the truck waits at the facility before dumping rather
    than after it, which differs only when the facility closes meanwhile).
    """
    problem = layout.problem
    releases = {i: problem.stops[i].release_s for i in layout.stop_nodes}
    if not any(releases.values()):
        return
    horizon = max(v.shift.end_s for v in problem.vehicles)
    routing.AddConstantDimensionWithSlack(0, horizon, horizon, False, "trip")
    trip = routing.GetDimensionOrDie("trip")
    solver = routing.solver()
    for i, node_ids in layout.stop_nodes.items():
        for node_id in node_ids:
            index = manager.NodeToIndex(node_id)
            trip.SlackVar(index).SetValue(0)
            trip.CumulVar(index).SetMin(releases[i])
    for node_id in layout.resume_node.values():
        trip.SlackVar(manager.NodeToIndex(node_id)).SetValue(0)
    for v in range(len(problem.vehicles)):
        start = routing.Start(v)
        trip.SlackVar(start).SetValue(0)
        solver.Add(trip.CumulVar(start) == time_dim.CumulVar(start))
    for node_id, node in enumerate(layout.nodes):
        if node.kind is VisitKind.FACILITY:
            index = manager.NodeToIndex(node_id)
            solver.Add(
                trip.CumulVar(index) + trip.SlackVar(index) == time_dim.CumulVar(index) + node.service_s
            )


def add_breaks(layout: Layout, routing: Any, manager: Any, time_dim: Any) -> dict[int, list[tuple[str, Any]]]:
    """Each vehicle's lunch and rests as break intervals, and its driving rule; returns them per vehicle.

    Breaks may interrupt driving or waiting, never a service or a dump.
    """
    breaks_of: dict[int, list[tuple[str, Any]]] = {}
    visit_transits = [layout.nodes[manager.IndexToNode(i)].service_s for i in range(routing.Size())]
    solver = routing.solver()
    for v, vehicle in enumerate(layout.problem.vehicles):
        breaks = [
            (ref, _break_interval(solver, vehicle, v, k, ref)) for k, ref in enumerate(break_slots(vehicle))
        ]
        if breaks:
            time_dim.SetBreakIntervalsOfVehicle([b for _, b in breaks], v, visit_transits)
            breaks_of[v] = breaks
        rule = vehicle.driving_rule
        if rule is not None:
            # Every break of at least `break_s` counts, the lunch included, and so do the nights.
            time_dim.SetBreakDistanceDurationOfVehicle(rule.max_driving_s, rule.break_s, v)
    return breaks_of


def _break_interval(solver: Any, vehicle: Vehicle, v: int, k: int, ref: str) -> Any:
    """The interval of vehicle `v`'s `k`-th break slot, a lunch or a rest.

    Rests are not optional intervals although a short day needs none: with optional ones OR-Tools found
    no first plan whenever a rest was due (bench/NOTES.md, "Rests"); an unneeded rest goes after the
    day's end, off duty, and the route shows none.
    """
    if ref == LUNCH:
        assert vehicle.lunch is not None
        lunch = vehicle.lunch
        earliest, latest, duration = lunch.earliest_start_s, lunch.latest_start_s, lunch.duration_s
    else:
        assert vehicle.driving_rule is not None
        duration = vehicle.driving_rule.break_s
        earliest, latest = vehicle.shift.start_s, vehicle.shift.end_s
    return solver.FixedDurationIntervalVar(earliest, latest, duration, False, f"{ref} {v} {k}")


def break_slots(vehicle: Vehicle) -> list[str]:
    """The break intervals the model gives `vehicle`: its lunch, and as many rests as a shift could need."""
    slots = [LUNCH] if vehicle.lunch is not None else []
    rule = vehicle.driving_rule
    if rule is not None:
        # k rests cover a day of k × (max_driving_s + break_s) + max_driving_s.
        slots += [REST] * (
            (vehicle.shift.end_s - vehicle.shift.start_s) // (rule.max_driving_s + rule.break_s)
        )
    return slots
