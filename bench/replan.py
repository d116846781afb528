"""Intraday re-plan benchmark: a 2,000-container day, one truck broken down at 10:30.

The day is Kim et al.'s WCVRPTW instance 2100 (2,092 containers, disposal trips, time windows, lunch), its
morning plan the engine's own in `MORNING_S` seconds. At 10:30 every visit that ended by then is done;
the truck with the most work left breaks down. The rest of the day is re-planned twice with the same
time budget, both checked by `routing.check`:

- *re-plan*: done visits frozen, the other crews' remaining order as the starting point (what
  `ReplanRoutes` does);
- *from scratch*: done visits frozen, no starting point.

A stop *moves* when its truck changes or it is left out. Writes `bench/results/replan.json`.

Run with `make bench-replan` (about a minute and a half).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import routing
from bench.readers import CATALOG, KimInstance, load
from bench.solvers import engine_problem

__all__ = ["main", "run"]

RESULTS = Path(__file__).resolve().parent / "results"
BREAKDOWN_S = 10 * 3600 + 30 * 60
MORNING_S = 60.0
BUDGET_S = 8.0  # the re-plan's solver budget; the target is a feasible answer within 10 s in all


def _ids(route: routing.Route) -> list[str]:
    return [v.ref_id for v in route.visits if v.kind in {routing.VisitKind.STOP, routing.VisitKind.FACILITY}]


def _assignment(solution: routing.Solution, stop_ids: set[str]) -> dict[str, str]:
    return {ref: r.vehicle_id for r in solution.routes for ref in _ids(r) if ref in stop_ids}


def morning(instance: KimInstance) -> tuple[routing.Problem, routing.Solution]:
    """The day's problem and the plan the crews follow."""
    problem = engine_problem(instance, MORNING_S).problem
    plan = routing.solve(problem, routing.SolveOptions(time_limit_s=MORNING_S))
    assert routing.check(problem, plan) == [], "the morning plan is not feasible"
    return problem, plan


def situation(
    problem: routing.Problem, plan: routing.Solution
) -> tuple[routing.Problem, dict[str, list[str]], dict[str, list[str]], str, list[str]]:
    """At 10:30: the problem of the rest of the day, the frozen visits, the crews' remaining order, the
    broken-down truck and the stops still to do."""
    frozen: dict[str, list[str]] = {}
    remaining: dict[str, list[str]] = {}
    for route in plan.routes:
        made = [
            v.ref_id
            for v in route.visits
            if v.kind in {routing.VisitKind.STOP, routing.VisitKind.FACILITY} and v.end_s <= BREAKDOWN_S
        ]
        frozen[route.vehicle_id] = made
        remaining[route.vehicle_id] = _ids(route)[len(made) :]
    stop_ids = {s.id for s in problem.stops}
    broken = max(remaining, key=lambda v: sum(x in stop_ids for x in remaining[v]))
    gone = set(frozen.pop(broken)) & stop_ids
    todo = [x for v in remaining for x in remaining[v] if x in stop_ids]
    remaining.pop(broken)
    rest = dataclasses.replace(
        problem,
        stops=tuple(s for s in problem.stops if s.id not in gone),
        vehicles=tuple(v for v in problem.vehicles if v.id != broken),
    )
    initial = {v: frozen[v] + remaining[v] for v in remaining}
    return rest, {v: ids for v, ids in frozen.items() if ids}, initial, broken, todo


def _moved(before: dict[str, str], after: dict[str, str], todo: list[str]) -> int:
    return sum(after.get(x) != before[x] for x in todo)


def run() -> list[dict[str, Any]]:
    instance = load(CATALOG["2100"])
    assert isinstance(instance, KimInstance)
    problem, plan = morning(instance)
    rest, frozen, initial, broken, todo = situation(problem, plan)
    stop_ids = {s.id for s in problem.stops}
    before = _assignment(plan, stop_ids)
    records = []
    results: dict[str, tuple[float, routing.Solution]] = {}
    for name, start in (("replan", initial), ("scratch", None)):
        options = routing.SolveOptions(
            time_limit_s=BUDGET_S, frozen=frozen, initial_routes=start, now_s=BREAKDOWN_S
        )
        started = time.monotonic()
        solution = routing.solve(rest, options)
        results[name] = (time.monotonic() - started, solution)
    replan_s, replanned = results["replan"]
    scratch_s, scratch = results["scratch"]
    feasible = not routing.check(rest, replanned) and replanned.status == "FEASIBLE"
    records.append(
        {
            "scenario": f"kim-2100, {broken} broken down at 10:30, done visits frozen",
            "stops": len(problem.stops),
            "replan_s": round(replan_s, 2),
            "feasible": feasible,
            "moved_stops": _moved(before, _assignment(replanned, stop_ids), todo),
            "moved_stops_from_scratch": _moved(before, _assignment(scratch, stop_ids), todo),
            "remaining_stops": len(todo),
            "left_out": len(replanned.skipped),
            "left_out_from_scratch": len(scratch.skipped),
            "from_scratch_s": round(scratch_s, 2),
            "from_scratch_feasible": not routing.check(rest, scratch) and scratch.status == "FEASIBLE",
            "budget_s": BUDGET_S,
        }
    )
    return records


def main(argv: list[str] | None = None) -> int:
    records = run()
    out = RESULTS / "replan.json"
    out.write_text(json.dumps(records, indent=1) + "\n")
    for r in records:
        print(json.dumps(r))
    return 0 if all(r["feasible"] and r["replan_s"] < 10 for r in records) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
