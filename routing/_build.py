"""A layout built into an OR-Tools routing model: costs, dimensions, visits, penalties, frozen prefixes.

`build` adds everything in one fixed order (costs, time, loads, trip streams, visits, releases, frozen
prefixes, breaks); the search then works on the `Model` it returns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from ortools.constraint_solver import pywrapcp

from routing._dimensions import (
    add_breaks,
    add_compartments,
    add_loads,
    add_release,
    add_time,
    add_trip_streams,
)
from routing._layout import COST_SCALE, Layout
from routing._model import Vehicle, VisitKind
from routing._sequences import pick
from routing._validate import FieldViolation, ProblemError

__all__ = ["Model", "build"]


@dataclass(slots=True)
class Model:
    """A built OR-Tools routing model and what reading it back needs.

    `breaks` holds each vehicle's break intervals with their kind (`LUNCH` or `REST`); `frozen_nodes` the
    nodes each frozen prefix is pinned to.
    """

    layout: Layout
    manager: Any
    routing: Any
    time: Any
    breaks: dict[int, list[tuple[str, Any]]]
    frozen_nodes: dict[int, list[int]]


def build(layout: Layout) -> Model:
    """Build the OR-Tools model of a layout that has something to plan."""
    vehicles = layout.problem.vehicles
    manager = pywrapcp.RoutingIndexManager(
        len(layout.nodes),
        len(vehicles),
        [layout.depot_node[v.start_depot] for v in vehicles],
        [layout.depot_node[v.end_depot] for v in vehicles],
    )
    routing = pywrapcp.RoutingModel(manager)
    rows = np.array([n.row for n in layout.nodes], dtype=np.intp)
    distances = layout.matrix.distances_m[np.ix_(rows, rows)]
    durations = layout.matrix.durations_s[np.ix_(rows, rows)]
    service = np.array([n.service_s for n in layout.nodes], dtype=np.int64)
    _add_costs(routing, vehicles, distances)
    time_dim = add_time(layout, routing, durations, service)
    add_loads(layout, routing, manager)
    add_trip_streams(layout, routing, manager)
    if any(v.compartments for v in vehicles):
        add_compartments(layout, routing, manager)
    _add_visits(layout, routing, manager, time_dim, _required_penalty(layout, distances))
    add_release(layout, routing, manager, time_dim)
    frozen_nodes = _freeze(layout, routing, manager, time_dim)
    breaks = add_breaks(layout, routing, manager, time_dim)
    return Model(layout, manager, routing, time_dim, breaks, frozen_nodes)


def _add_costs(routing: Any, vehicles: tuple[Vehicle, ...], distances: npt.NDArray[np.int64]) -> None:
    """Each vehicle's cost per metre on its arcs (one matrix per rate) and its fixed cost."""
    arc_cost_by_rate: dict[float, int] = {}
    for v, vehicle in enumerate(vehicles):
        if vehicle.cost_per_km not in arc_cost_by_rate:
            costs = np.rint(distances * (vehicle.cost_per_km / 1000 * COST_SCALE)).astype(np.int64)
            arc_cost_by_rate[vehicle.cost_per_km] = routing.RegisterTransitMatrix(costs.tolist())
        routing.SetArcCostEvaluatorOfVehicle(arc_cost_by_rate[vehicle.cost_per_km], v)
        routing.SetFixedCostOfVehicle(round(vehicle.fixed_cost * COST_SCALE), v)


def _required_penalty(layout: Layout, distances: npt.NDArray[np.int64]) -> int:
    """A drop penalty above any cost that serving one mandatory stop can add.

    Too low a penalty lets the search drop mandatory stops wholesale (or-tools #976); this one exceeds
    every vehicle driving its longest arc at every node, all fixed and hourly costs and all prizes.
    """
    vehicles = layout.problem.vehicles
    max_rate = max(v.cost_per_km for v in vehicles) / 1000 * COST_SCALE
    arcs = float(distances.max(initial=0)) * max_rate * (len(layout.nodes) + 1) * len(vehicles)
    horizon = max(v.shift.end_s for v in vehicles)
    hours = sum(v.cost_per_hour + v.overtime_cost_per_hour for v in vehicles) / 3600 * COST_SCALE * horizon
    fixed = sum(v.fixed_cost for v in vehicles) * COST_SCALE
    prizes = sum(s.prize for s in layout.problem.stops) * COST_SCALE
    return math.ceil(2 * (arcs + hours + fixed + prizes)) + 1


def _add_visits(layout: Layout, routing: Any, manager: Any, time_dim: Any, penalty: int) -> None:
    """Where each node may be served: its window, its vehicles, and what dropping it costs.

    Facility copies are free to drop; a stop's window nodes form one disjunction, priced `penalty` when the
    stop is mandatory and its prize otherwise.
    """
    problem = layout.problem
    # Allowed vehicles go on the vehicle variable (-1 = unperformed): the 9.15 wheel cannot convert a
    # Python list to the absl::Span that SetAllowedVehiclesForIndex takes.
    for node_id, node in enumerate(layout.nodes):
        if node.kind is VisitKind.DEPOT_START:
            continue
        index = manager.NodeToIndex(node_id)
        time_dim.CumulVar(index).SetRange(node.window.start_s, node.window.end_s)
        for a, b in layout.holes.get(node_id, []):
            time_dim.CumulVar(index).RemoveInterval(a, b)
        routing.VehicleVar(index).SetValues([-1, *node.vehicles])
        if node.kind is VisitKind.FACILITY:
            routing.AddDisjunction([index], 0)
    for i, node_ids in layout.stop_nodes.items():
        stop = problem.stops[i]
        indices = [manager.NodeToIndex(n) for n in node_ids]
        routing.AddDisjunction(indices, penalty if stop.required else round(stop.prize * COST_SCALE))


def _freeze(layout: Layout, routing: Any, manager: Any, time_dim: Any) -> dict[int, list[int]]:
    """Pin each frozen prefix at the head of its route; with `now_s`, start the rest no earlier.

    A vehicle with frozen visits passes its resume node right after them, so it leaves the last one at
    `now_s` or later; any other vehicle leaves its depot then, and nothing else opens earlier. Returns the
    nodes of each prefix.
    """
    frozen_nodes: dict[int, list[int]] = {}
    for v, refs in layout.frozen_refs.items():
        chain = _frozen_chain(layout, v, refs)
        frozen_nodes[v] = chain
        index = routing.Start(v)
        for node_id in [*chain, *([layout.resume_node[v]] if v in layout.resume_node else [])]:
            routing.NextVar(index).SetValue(manager.NodeToIndex(node_id))
            index = manager.NodeToIndex(node_id)
    now = layout.options.now_s
    if now is None:
        return frozen_nodes
    pinned = {node_id for chain in frozen_nodes.values() for node_id in chain}
    for node_id, node in enumerate(layout.nodes):
        if node.kind is VisitKind.FACILITY and node_id not in pinned:
            index = manager.NodeToIndex(node_id)
            if node.window.end_s < now:
                routing.ActiveVar(index).SetValue(0)
            else:
                time_dim.CumulVar(index).SetMin(now)
    for v, vehicle in enumerate(layout.problem.vehicles):
        if v in frozen_nodes:
            continue
        if vehicle.shift.end_s < now:
            routing.NextVar(routing.Start(v)).SetValue(routing.End(v))
        else:
            time_dim.CumulVar(routing.Start(v)).SetMin(now)
    return frozen_nodes


def _frozen_chain(layout: Layout, v: int, refs: list[str]) -> list[int]:
    """The nodes of vehicle `v`'s frozen visits `refs`, or a `ProblemError` naming the first with none."""
    picked = pick(layout, v, refs, [])
    if len(picked) != len(refs):
        missing = next(k for k, (_, position) in enumerate([*picked, (-1, -1)]) if k != position)
        path = f"options.frozen[{layout.problem.vehicles[v].id!r}][{missing}]"
        raise ProblemError([FieldViolation(path, "the vehicle has no facility copy left for it")])
    return [node_id for node_id, _ in picked]
