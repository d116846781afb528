"""Check a solver constant on the tuning set: the engine with each value, same instances, budgets, seeds.

`python -m bench.tune routing._search._WARM_START_SHARE 0.7 0.85 1.0 [--instances …] [--seeds 0 1]`

The instances default to the tuning set of bench/NOTES.md ("Tuning set and report set"), never the
instances BENCHMARKS.md reports, at their `full` budgets unless `--budget` says otherwise. Each run is
the engine as `bench.routing` runs it, in its own process with the constant replaced there, and its plan
is checked the same way. Prints per instance and value the mean cost over the seeds (vehicles, cost) and
each value's mean cost ratio to the first value; writes `bench/results/tune-<name>-<commit>.json` (the
last run's plans land in `bench/results/solutions/tune/`, which git ignores).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench._commit import measured_commit
from bench.readers import CATALOG
from bench.routing import RESULTS, full_budget, make_record, run_in_child

__all__ = ["TUNING_SET", "main", "summary"]

# bench/NOTES.md, "Tuning set and report set".
TUNING_SET = (
    "X-n200-k36",
    "X-n502-k39",
    "X-n1001-k43",
    "Leuven1",
    "C101",
    "C1_2_1",
    "RC2_4_1",
    "RC2_10_1",
    "C2_2_01R0.5",
)


def summary(records: Sequence[dict[str, Any]], values: Sequence[float]) -> str:
    """Per instance and value: mean vehicles and cost over the seeds; per value: mean ratio to the first."""
    lines = [
        "| instance | " + " | ".join(f"{v:g}" for v in values) + " |",
        "|---" * (len(values) + 1) + "|",
    ]
    ratios: dict[float, list[float]] = {v: [] for v in values}
    for name in dict.fromkeys(r["instance"] for r in records):
        cells, means = [name], {}
        for value in values:
            runs = [r for r in records if r["instance"] == name and r["value"] == value]
            feasible = [r for r in runs if r["feasible"]]
            if len(feasible) < len(runs) or not runs:
                cells.append(f"{len(runs) - len(feasible)} infeasible")
                continue
            means[value] = statistics.fmean(r["cost"] for r in feasible)
            vehicles = statistics.fmean(r["vehicles"] for r in feasible)
            cells.append(f"{means[value]:,.1f} ({vehicles:g} veh)")
        lines.append("| " + " | ".join(cells) + " |")
        if values[0] in means:
            for value, mean in means.items():
                ratios[value].append(mean / means[values[0]])
    lines.append(
        "| **mean ratio to the first value** | "
        + " | ".join(f"{statistics.fmean(ratios[v]):.4f}" if ratios[v] else "—" for v in values)
        + " |"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tune", description=__doc__.splitlines()[0])
    parser.add_argument("constant", help="module.NAME, e.g. routing._search._WARM_START_SHARE")
    parser.add_argument("values", type=float, nargs="+")
    parser.add_argument("--instances", nargs="+", default=list(TUNING_SET), choices=TUNING_SET)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--budget", type=float, help="seconds per run (default: the `full` budget)")
    parser.add_argument("--output", type=Path, help="default: bench/results/tune-NAME-COMMIT.json")
    args = parser.parse_args(argv)
    module, _, attribute = args.constant.rpartition(".")
    commit = measured_commit("routing", "bench")
    records = []
    for name in args.instances:
        spec = CATALOG[name]
        budget = args.budget or full_budget(spec.customers)
        for seed in args.seeds:
            for value in args.values:
                payload = run_in_child(name, "engine", budget, seed, (module, attribute, value))
                record = make_record(spec, "engine", budget, payload, "tune")
                record.update(seed=seed, value=value, constant=args.constant, commit=commit)
                records.append(record)
                print(
                    f"{name:>12} seed {seed} {attribute}={value:g}: cost={record['cost']}"
                    f" veh={record['vehicles']} feasible={record['feasible']} {record['time_s']}s",
                    flush=True,
                )
    print(summary(records, args.values))
    out = args.output or RESULTS / f"tune-{attribute.strip('_').lower()}-{commit}.json"
    payload = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "commit": commit, "records": records}
    out.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
