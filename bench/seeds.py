"""`python -m bench.seeds [--seeds 0 1] [--solvers engine pyvrp] [PRESET [INSTANCE ...]]`: runs over seeds.

The engine and PyVRP on each instance of a preset (by default `quick`), once per seed, each run in its own
process as in `bench.routing` and checked the same way (`bench.routing.make_record`). It writes
`bench/results/seeds-<commit>.json` (every record, with the commit and seeds) and prints a Markdown table:
per instance, each solver's cost and vehicles per seed, and the engine/PyVRP cost ratio's mean and spread
(min-max) over the seeds where both plans are feasible. Seed `s` runs the engine with `SolveOptions.seed = s`
and PyVRP with `seed = s + 1` (PyVRP's seeds start at 1 in `bench.routing`).

Unlike `bench.routing` it does not touch `routing.json` or BENCHMARKS.md, so a partial run on a busy machine
never mixes into the report's tables of another commit.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from typing import Any

from bench._commit import measured_commit
from bench.readers import spec_for
from bench.routing import PRESETS, REPO, RESULTS, make_record, run_in_child

__all__ = ["main", "ratio_table"]


def run(
    preset: str, names: Sequence[str], seeds: Sequence[int], solvers: Sequence[str]
) -> list[dict[str, Any]]:
    """Every (instance, seed, solver) run's record, in that order."""
    records = []
    for name, budget in PRESETS[preset]:
        if names and name not in names:
            continue
        for seed in seeds:
            for solver in solvers:
                payload = run_in_child(name, solver, budget, seed + (1 if solver == "pyvrp" else 0))
                record = make_record(spec_for(name), solver, budget, payload, preset)
                record["seed"] = seed
                record["wall_s"] = round(payload["wall_s"], 2)
                records.append(record)
                print(
                    f"{name:>12} seed {seed} {solver:>7} {budget:5.0f}s  cost={record['cost']}"
                    f"  veh={record['vehicles']}  feasible={record['feasible']}",
                    flush=True,
                )
    return records


def ratio_table(records: Sequence[dict[str, Any]]) -> str:
    """Per instance: costs and vehicles per seed, and the engine/PyVRP cost ratio over feasible pairs."""
    lines = [
        "| instance | budget (s) | seed | engine cost (veh) | pyvrp cost (veh) | engine / pyvrp |",
        "|---|---|---|---|---|---|",
    ]
    ratios_all: list[float] = []
    for name in dict.fromkeys(r["instance"] for r in records):
        ratios = []
        for seed in sorted({r["seed"] for r in records if r["instance"] == name}):
            runs = {r["solver"]: r for r in records if r["instance"] == name and r["seed"] == seed}
            engine, pyvrp = runs.get("engine"), runs.get("pyvrp")
            ratio = "—"
            if engine and pyvrp and engine["feasible"] and pyvrp["feasible"]:
                ratios.append(engine["cost"] / pyvrp["cost"])
                ratio = f"{ratios[-1]:.4f}"
            lines.append(
                f"| {name} | {(engine or pyvrp or {}).get('budget_s', '')} | {seed} | {_cell(engine)} | "
                f"{_cell(pyvrp)} | {ratio} |"
            )
        if ratios:
            ratios_all += ratios
            lines.append(
                f"| **{name}** | | mean (min–max) | | | **{statistics.mean(ratios):.4f}** "
                f"({min(ratios):.4f}–{max(ratios):.4f}) |"
            )
    if ratios_all:
        lines.append(
            f"| **all** | | mean (min–max) over {len(ratios_all)} pairs | | | "
            f"**{statistics.mean(ratios_all):.4f}** ({min(ratios_all):.4f}–{max(ratios_all):.4f}) |"
        )
    return "\n".join(lines)


def _cell(record: dict[str, Any] | None) -> str:
    if record is None or record["cost"] is None:
        return "—"
    mark = "" if record["feasible"] else " **infeasible**"
    return f"{record['cost']:,.1f} ({record['vehicles']}){mark}"


def main(argv: Sequence[str] | None = None) -> None:
    """Run, save the records with the commit, print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("preset", nargs="?", default="quick", choices=sorted(PRESETS))
    parser.add_argument("instances", nargs="*", help="only these instances of the preset")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--solvers", nargs="+", default=["engine", "pyvrp"], choices=["engine", "pyvrp"])
    args = parser.parse_args(argv)
    commit = measured_commit("routing", "bench")
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    records = run(args.preset, args.instances, args.seeds, args.solvers)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"seeds-{args.preset}-{commit}.json"
    payload = {
        "commit": commit,
        "started": started,
        "preset": args.preset,
        "seeds": args.seeds,
        "records": records,
    }
    out.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    print(f"commit {commit}, started {started}; records in {out.relative_to(REPO)}")
    print(ratio_table(records))


if __name__ == "__main__":
    main()
