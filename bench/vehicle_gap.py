"""Where the engine's extra vehicles come from (issue 13): PyVRP alone against each phase of the engine.

`python -m bench.vehicle_gap [--instances RC2_10_1 RC2_4_1 C1_2_1] [--budget S] [--seeds 0 1]`

Tuning-set instances only (bench/NOTES.md, "Tuning set and report set"), at their `full` budgets
(`bench.routing.full_budget`) unless `--budget` says otherwise. For each instance and seed `s`, one run
after the other in this process, each plan re-costed and checked by `bench.verify`:

* `pyvrp`: `pyvrp.solve` over the whole budget, as `bench.solvers.run_pyvrp` runs it (seed `s + 1`: the
  benchmarks pair the engine's seed 0 with PyVRP's seed 1);
* `relaxation`: the engine's PyVRP warm-start plan when its share of the time limit ends (the routes
  `routing._search.warm_start` returns: the relaxation walked, lunch put back), before route elimination
  and OR-Tools;
* `eliminated`: that plan after route elimination, when elimination runs (`objective="vehicles"`, i.e.
  Kim; not on CVRP / VRPTW, which the benchmarks solve for distance only);
* `engine`: the engine's final plan, as `bench.solvers.run_engine` runs it (seed `s`);
* `pyvrp-share`: `pyvrp.solve` given only the engine's PyVRP share of the budget
  (`routing._search._WARM_START_SHARE` × budget), same seed as `pyvrp`: "less time" against "another way
  of running PyVRP".

The intermediate plans are caught by wrapping `routing._solver.warm_start`, `routing._solver.eliminate`
and `routing._pyvrp._search` for the duration of the engine run (the wrappers pass everything through and
only keep what is returned), so the solver runs as in the benchmarks. Writes
`bench/results/vehicle_gap.json` (after each instance, so a cut run keeps what it measured) and prints a
table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import routing
import routing._pyvrp
import routing._search
import routing._solver
from bench._commit import measured_commit
from bench.readers import CATALOG, KimInstance, VrpInstance, load
from bench.routing import RESULTS, full_budget
from bench.solvers import instance_routes, run_engine, run_pyvrp
from bench.tune import TUNING_SET
from bench.verify import VerifyResult, verify_routes

__all__ = ["DEFAULT_INSTANCES", "STAGES", "WRAPPED", "diagnose", "main", "summary"]

DEFAULT_INSTANCES = ("RC2_10_1", "RC2_4_1", "C1_2_1")
STAGES = ("pyvrp", "pyvrp-share", "relaxation", "eliminated", "engine")
OUTPUT = RESULTS / "vehicle_gap.json"
# The functions wrapped during an engine run, as (module, name).
WRAPPED = ((routing._solver, "warm_start"), (routing._solver, "eliminate"), (routing._pyvrp, "_search"))

Instance = VrpInstance | KimInstance


@contextlib.contextmanager
def _recording(log: dict[str, Any], started: float) -> Iterator[None]:
    """Wrap the engine's phase functions so that `log` keeps what each returned, and when."""
    originals: list[tuple[Any, str, Callable[..., Any]]] = []

    def wrap(owner: Any, name: str, keep: Callable[[Any], None]) -> None:
        original = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            out = original(*args, **kwargs)
            keep(out)
            return out

        originals.append((owner, name, original))
        setattr(owner, name, wrapper)

    def warm(out: tuple[tuple[routing.Route, ...] | None, bool]) -> None:
        log["relaxation"] = (out[0], time.monotonic() - started, out[1])

    def eliminated(out: tuple[routing.Route, ...]) -> None:
        log["eliminated"] = (out, time.monotonic() - started, False)

    def searched(out: Any) -> None:  # a pyvrp.Solution of one stream group, before the walk
        log.setdefault("pyvrp_solutions", []).append((out.num_routes(), bool(out.is_feasible())))

    for (owner, name), keep in zip(WRAPPED, (warm, eliminated, searched), strict=True):
        wrap(owner, name, keep)
    try:
        yield
    finally:
        for owner, name, original in reversed(originals):
            setattr(owner, name, original)


def _record(
    name: str,
    seed: int,
    *,
    stage: str,
    budget_s: float,
    check: VerifyResult | None,
    at_s: float | None,
    note: str,
) -> dict[str, Any]:
    return {
        "instance": name,
        "seed": seed,
        "stage": stage,
        "budget_s": budget_s,
        "vehicles": None if check is None else check.vehicles,
        "cost": None if check is None else round(check.cost, 4),
        "feasible": check is not None and check.feasible,
        "at_s": None if at_s is None else round(at_s, 2),
        "note": note,
    }


def diagnose(name: str, budget_s: float, seed: int, *, log: bool = False) -> list[dict[str, Any]]:
    """One record per stage of `STAGES` for `name` at `budget_s`: engine seed `seed`, PyVRP `seed + 1`."""
    instance = load(CATALOG[name])
    records = []
    share = routing._search._WARM_START_SHARE
    for stage, seconds in (("pyvrp", budget_s), ("pyvrp-share", share * budget_s)):
        out = run_pyvrp(instance, seconds, seed + 1)
        check = verify_routes(instance, out.routes, out.lunches)
        records.append(
            _record(name, seed, stage=stage, budget_s=seconds, check=check, at_s=out.time_s, note=out.note)
        )
        if log:
            _print(records[-1])
    caught: dict[str, Any] = {}
    started = time.monotonic()
    with _recording(caught, started):
        out = run_engine(instance, budget_s, seed)
    solutions = caught.get("pyvrp_solutions", [])
    for stage in ("relaxation", "eliminated"):
        if stage not in caught:
            note = "did not run" if stage == "eliminated" else "no warm start"
            records.append(
                _record(name, seed, stage=stage, budget_s=budget_s, check=None, at_s=None, note=note)
            )
            continue
        plan, at_s, final = caught[stage]
        phase = None if plan is None else verify_routes(instance, *instance_routes(instance, plan))
        note = ""
        if stage == "relaxation":
            raw = ", ".join(f"{n} ({'feasible' if ok else 'infeasible'})" for n, ok in solutions)
            note = f"PyVRP routes before the walk: {raw or 'none'}" + (
                "; the answer already" if final else ""
            )
        records.append(_record(name, seed, stage=stage, budget_s=budget_s, check=phase, at_s=at_s, note=note))
    check = verify_routes(instance, out.routes, out.lunches)
    notes = [out.note] if out.note else []
    notes += [f"routing.check: {v}" for v in out.engine_violations[:3]]
    records.append(
        _record(
            name, seed, stage="engine", budget_s=budget_s, check=check, at_s=out.time_s, note="; ".join(notes)
        )
    )
    if log:
        for record in records[2:]:
            _print(record)
    return records


def _print(record: dict[str, Any]) -> None:
    what = "—" if record["vehicles"] is None else f"{record['vehicles']} veh / {record['cost']:,.1f}"
    at = "" if record["at_s"] is None else f" at {record['at_s']:g} s"
    print(
        f"{record['instance']:>12} seed {record['seed']} {record['stage']:>11}: {what}"
        f" feasible={record['feasible']}{at}" + (f" [{record['note'][:140]}]" if record["note"] else ""),
        flush=True,
    )


def _cell(runs: Sequence[dict[str, Any]]) -> str:
    done = [r for r in runs if r["vehicles"] is not None]
    if not done:
        return "—"
    vehicles = statistics.fmean(r["vehicles"] for r in done)
    cost = statistics.fmean(r["cost"] for r in done)
    infeasible = sum(not r["feasible"] for r in done)
    return f"{vehicles:g} / {cost:,.1f}" + (f" ({infeasible} infeasible)" if infeasible else "")


def summary(records: Sequence[dict[str, Any]]) -> str:
    """Vehicles / cost per instance, seed and stage, and each instance's mean over its seeds."""
    lines = [
        "| instance | seed | budget (s) | " + " | ".join(STAGES) + " |",
        "|---" * (len(STAGES) + 3) + "|",
    ]
    for name in dict.fromkeys(r["instance"] for r in records):
        mine = [r for r in records if r["instance"] == name]
        seeds = list(dict.fromkeys(r["seed"] for r in mine))
        budget = next(r["budget_s"] for r in mine if r["stage"] == "engine")
        rows = [(str(s), [r for r in mine if r["seed"] == s]) for s in seeds]
        if len(seeds) > 1:
            rows.append(("mean", mine))
        for label, runs in rows:
            cells = [_cell([r for r in runs if r["stage"] == stage]) for stage in STAGES]
            lines.append(f"| {name} | {label} | {budget:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.vehicle_gap", description=__doc__.splitlines()[0])
    parser.add_argument("--instances", nargs="+", default=list(DEFAULT_INSTANCES), choices=TUNING_SET)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--budget", type=float, help="seconds per run (default: the `full` budget)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    commit = measured_commit("routing", "bench")
    payload: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "commit": commit,
        "command": "python -m bench.vehicle_gap " + " ".join(sys.argv[1:] if argv is None else argv),
        "records": [],
    }
    for seed in args.seeds:
        for name in args.instances:
            budget = args.budget or full_budget(CATALOG[name].customers)
            payload["records"] += diagnose(name, budget, seed, log=True)
            payload["finished"] = time.strftime("%Y-%m-%d %H:%M %Z")
            args.output.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    print(summary(payload["records"]))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
