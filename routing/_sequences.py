"""Stop and facility id sequences as nodes of a layout: frozen prefixes and initial routes.

A sequence names stops and facilities; the layout has several nodes for each (a node per stop window, a
copy per trip and stream for each facility), and `pick` chooses which.
"""

from __future__ import annotations

from routing._layout import Layout

__all__ = ["pick"]


def pick(layout: Layout, v: int, refs: list[str], fixed: list[int]) -> list[tuple[int, int]]:
    """Nodes for vehicle `v` to visit stop and facility ids `refs` in order, with their positions.

    The first `len(fixed)` nodes are given. A stop takes the first of its window alternatives that an
    earliest-time walk along the sequence (releases included, breaks not) can still make; a facility
    takes the next unused copy for the stream its trip carries (else the first stream of the
    sequence). Ids with no node left are left out.
    """
    problem, matrix = layout.problem, layout.matrix
    vehicle = problem.vehicles[v]
    facility_by_id = {f.id: k for k, f in enumerate(problem.facilities)}
    streams, releases = _trips_along(layout, refs)
    default_stream = next((stream for stream in streams if stream), None)
    used: set[int] = set(fixed)
    picked: list[tuple[int, int]] = []
    t, row, trip_open = vehicle.shift.start_s, layout.depot_row(vehicle.start_depot), True
    for k, ref in enumerate(refs):
        node_id: int | None
        i = layout.stop_by_id.get(ref, -1)
        if i >= 0:
            if trip_open:
                t, trip_open = max(t, releases[k]), False
            node_id = fixed[k] if k < len(fixed) else _stop_node(layout, v, i, used, t=t, row=row)
        elif ref in facility_by_id:
            stream = streams[k] or default_stream
            node_id = fixed[k] if k < len(fixed) else _free_copy(layout, v, facility_by_id[ref], stream, used)
            if node_id is not None:
                trip_open = True
        else:
            continue
        if node_id is None:
            continue
        node = layout.nodes[node_id]
        used.add(node_id)
        picked.append((node_id, k))
        t = max(t + int(matrix.durations_s[row, node.row]), node.window.start_s) + node.service_s
        row = node.row
    return picked


def _trips_along(layout: Layout, refs: list[str]) -> tuple[list[str | None], list[int]]:
    """Per position of `refs`: the stream of its trip (its first stop's) and the trip's release."""
    problem = layout.problem
    streams: list[str | None] = [None] * len(refs)
    releases = [0] * len(refs)
    trip: list[int] = []
    for k, ref in enumerate([*refs, None]):
        i = layout.stop_by_id.get(ref, -1) if ref is not None else -1
        if i >= 0:
            trip.append(k)
            continue
        stops = [problem.stops[layout.stop_by_id[refs[j]]] for j in trip]
        stream = stops[0].stream if stops else None
        release = max((s.release_s for s in stops), default=0)
        for j in [*trip, *([k] if k < len(refs) else [])]:
            streams[j] = stream
        for j in trip:
            releases[j] = release
        trip = []
    return streams, releases


def _stop_node(layout: Layout, v: int, i: int, used: set[int], *, t: int, row: int) -> int | None:
    """Stop `i`'s first unused window node for vehicle `v` still open on arrival from `row` at `t`."""
    candidates = [n for n in layout.stop_nodes.get(i, []) if v in layout.nodes[n].vehicles and n not in used]
    if not candidates:
        return None
    arrival = t + int(layout.matrix.durations_s[row, layout.nodes[candidates[0]].row])
    return next((n for n in candidates if layout.nodes[n].window.end_s >= arrival), candidates[-1])


def _free_copy(layout: Layout, v: int, f: int, stream: str | None, used: set[int]) -> int | None:
    """Vehicle `v`'s first unused copy of facility `f` for `stream` (any stream if None)."""
    pools = [
        nodes
        for (cv, cf, cs), nodes in sorted(layout.copies.items())
        if cv == v and cf == f and (stream is None or cs == stream)
    ]
    return next((n for pool in pools for n in pool if n not in used), None)
