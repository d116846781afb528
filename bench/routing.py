"""`python -m bench.routing quick|full`: run every solver on every instance of a preset, check, report.

Each (instance, solver) run happens in its own process (multiprocessing *spawn*), one after the other so
that each solver has a core to itself and the timing is fair; the child reports its peak RSS, and a crash or
a hang (killed at `3 × budget + 120 s`) becomes a failed record instead of stopping the suite.

Outputs, all under `bench/results/` (paths in records are relative to it):

* `routing.json`: one record per run (see `make_record`); `routing_meta.json`: machine, versions, probes;
* `solutions/<preset>/<instance>.<solver>.sol` (VRPLIB, the instance's own numbering, the `Cost` line in the
  convention of the instance's shipped `.sol`) or `.json` for Kim (documented in the file);
* `gap.png`, and `BENCHMARKS.md` at the repository root.

Runs accumulate: a run replaces the records of the instances it ran and keeps the others, so
`quick`, `kim` (the eight Kim instances at their `full` budgets) and `classic` (the other `full`
instances) can be run on different days and still fill one report; each record names its preset,
date and commit, and `routing_meta.json` keeps one entry per preset.

`unseen`: the instances of `readers.UNSEEN` (`data/benchmarks/unseen/`, outside the shared reference set the
constants were tuned on) at the `full` rule. Its records go to `routing-unseen.json` and
`routing-unseen_meta.json` instead (`SEPARATE_RESULTS`), so the report, its plots and the other presets'
records stay as they are.

Budgets. `quick`: 10 s per solver on the 100-customer instances, 15 s on Kim 102 and 30 s on Kim 277.
`full`: every instance in `data/benchmarks`, at `max(10, ceil(0.2 n))` s for `n` customers, i.e. one
twelfth of the DIMACS / PyVRP-benchmark CVRP rule `n × 240 / 100` s, so that the whole suite (3 solvers, 21
instances, about 2.6 h) fits in one 3-hour session on 2 cores; the Kim instances get the same rule (the README
does not carry Benjamin & Beasley's run times, so theirs cannot be matched).
"""

from __future__ import annotations

import importlib
import json
import math
import multiprocessing as mp
import os
import platform
import resource
import sys
import time
import traceback
from dataclasses import asdict
from importlib import metadata
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import vrplib

from bench._commit import measured_commit
from bench.readers import (
    CATALOG,
    KIM_LITERATURE,
    UNSEEN,
    BenchmarkSpec,
    KimInstance,
    VrpInstance,
    load,
    spec_for,
)
from bench.report import write_report
from bench.solvers import SOLVERS, RunOutput
from bench.verify import VerifyResult, verify_routes

__all__ = ["FIRST_PLAN_PROBE", "PRESETS", "SEPARATE_RESULTS", "main", "merge_records", "run_suite"]

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
SOLVER_ORDER = ("engine", "pyvrp", "ortools-default")
SEEDS = {"engine": 0, "pyvrp": 1, "ortools-default": 0}

PRESETS: dict[str, list[tuple[str, float]]] = {
    "quick": [
        ("X-n101-k25", 10.0),
        ("R101", 10.0),
        ("RC201", 10.0),
        ("RC201R0.5", 10.0),
        ("102", 15.0),
        ("277", 30.0),
    ],
    "full": [],  # filled below from the catalogue
}

# "A 2 000-stop waste instance: first feasible plan in < 5 s": the engine on Kim 2100 with a 5 s limit;
# when that yields nothing, once more with 30 s to tell "a bit slow" from "nothing at all".
# 4.5 s, not 5: the target is a plan in under 5 s, and `solve` may overrun its limit by a few tenths.
FIRST_PLAN_PROBE = ("2100", (4.5, 30.0))


def full_budget(n_customers: int) -> float:
    """The `full` preset's budget: a twelfth of `n × 240 / 100` s, at least 10 s."""
    return float(max(10, math.ceil(0.2 * n_customers)))


PRESETS["full"] = [(name, full_budget(spec.customers)) for name, spec in CATALOG.items()]
PRESETS["kim"] = [(name, budget) for name, budget in PRESETS["full"] if CATALOG[name].family == "wcvrptw"]
PRESETS["classic"] = [(name, budget) for name, budget in PRESETS["full"] if CATALOG[name].family != "wcvrptw"]
# Instances outside the shared reference set (`readers.UNSEEN`), at the `full` rule.
PRESETS["unseen"] = [(name, full_budget(spec.customers)) for name, spec in UNSEEN.items()]

# Presets whose records stay out of `routing.json`, `routing_meta.json` and BENCHMARKS.md: they go to
# `<stem>.json` and `<stem>_meta.json` under `bench/results/`, and the run has no first-plan probe.
SEPARATE_RESULTS = {"unseen": "routing-unseen"}


# --------------------------------------------------------------------------------------------------------
# one run in a child process


# A solver constant set in the child before it solves (`bench.tune`): module, name, value.
Constant = tuple[str, str, float]


def _child(
    conn: Connection, name: str, solver: str, budget_s: float, seed: int, *, constant: Constant | None
) -> None:
    payload: dict[str, Any]
    try:
        if constant is not None:
            module, attribute, value = constant
            owner = importlib.import_module(module)
            setattr(owner, attribute, type(getattr(owner, attribute))(value))  # an int stays an int
        instance = load(spec_for(name))
        output = SOLVERS[solver](instance, budget_s, seed)
        payload = {"ok": True, "output": asdict(output)}
    except BaseException as exc:  # everything goes back to the parent as a failed run
        payload = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
    payload["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    conn.send(payload)
    conn.close()


def run_in_child(
    name: str, solver: str, budget_s: float, seed: int, constant: Constant | None = None
) -> dict[str, Any]:
    """Run one solver on one instance in a spawned process; never raises.

    `constant` (module, name, value) replaces one of the solver's constants in that process first.
    """
    ctx = mp.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(
        target=_child, args=(sender, name, solver, budget_s, seed), kwargs={"constant": constant}, daemon=True
    )
    started = time.monotonic()
    process.start()
    sender.close()
    deadline = 3 * budget_s + 120
    payload: dict[str, Any] | None = None
    try:
        if receiver.poll(deadline):
            payload = receiver.recv()
    except EOFError:
        payload = None
    process.join(10)
    if process.is_alive():
        process.kill()
        process.join()
    wall = time.monotonic() - started
    if payload is None:
        reason = "timed out" if wall >= deadline else f"crashed (exit code {process.exitcode})"
        payload = {"ok": False, "error": f"the run {reason} after {wall:.0f} s", "peak_rss_mb": None}
    payload["wall_s"] = wall
    return payload


# --------------------------------------------------------------------------------------------------------
# records


def _write_solution(
    spec: BenchmarkSpec,
    solver: str,
    instance: VrpInstance | KimInstance,
    out: RunOutput,
    check: VerifyResult,
    *,
    preset: str,
) -> str:
    folder = RESULTS / "solutions" / preset
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(instance, KimInstance):
        path = folder / f"{spec.name}.{solver}.json"
        kinds = {s.id: s.type for s in instance.sites}
        doc = {
            "format": (
                "Kim et al. WCVRPTW plan. Each route leaves the depot and returns to it (depot implicit); "
                "`visits` lists site ids as in the instance file (Stop_ID), customers (type 1) and disposal "
                "facilities (type 2) in order; the last visit is the facility where the truck empties. "
                "`lunch_start_s` is the solver's lunch start (seconds since midnight, null when it plans "
                "none); `checked_lunch_start_s` is where bench/verify.py found room for it."
            ),
            "instance": spec.name,
            "solver": solver,
            "depot": instance.depot.id,
            "miles": round(check.cost, 3),
            "vehicles": check.vehicles,
            "feasible": check.feasible,
            "routes": [
                {
                    "vehicle": k,
                    "visits": route,
                    "facilities": [v for v in route if kinds.get(v) == 2],
                    "lunch_start_s": lunch,
                    "checked_lunch_start_s": None if found is None else round(found, 1),
                }
                for k, (route, lunch, found) in enumerate(
                    zip(out.routes, out.lunches, check.lunches, strict=False), start=1
                )
                if route
            ],
        }
        path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    else:
        path = folder / f"{spec.name}.{solver}.sol"
        if instance.family == "mtvrptwr":
            cost: str = str(round(check.cost * instance.scale))  # shipped MTVRPTWR .sol: ×10 integer
        elif instance.convention == "dimacs":
            cost = f"{check.cost:.1f}"
        else:
            cost = str(round(check.cost))
        vrplib.write_solution(str(path), [r for r in out.routes if r], {"Cost": cost})
    return str(path.relative_to(RESULTS))


def make_record(
    spec: BenchmarkSpec, solver: str, budget_s: float, payload: dict[str, Any], preset: str
) -> dict[str, Any]:
    """Check a child's payload against the raw instance and turn it into a `routing.json` record."""
    record: dict[str, Any] = {
        "instance": spec.name,
        "family": spec.family,
        "solver": solver,
        "budget_s": budget_s,
        "cost": None,
        "bks": spec.bks,
        "gap_pct": None,
        "vehicles": None,
        "time_s": None,
        "feasible": False,
        "solution_file": None,
        "peak_rss_mb": None if payload.get("peak_rss_mb") is None else round(payload["peak_rss_mb"], 1),
        "seed": SEEDS[solver],
        "bks_vehicles": spec.bks_vehicles,
        "note": "",
    }
    if not payload["ok"]:
        record["note"] = payload["error"]
        record["time_s"] = round(payload["wall_s"], 2)
        return record
    out = RunOutput(**payload["output"])
    instance = load(spec)
    check = verify_routes(instance, out.routes, out.lunches)
    notes = [out.note] if out.note else []
    served = any(out.routes)
    if served:
        record["cost"] = round(check.cost, 4)
        record["gap_pct"] = round(100 * (check.cost - spec.bks) / spec.bks, 3)
        record["vehicles"] = check.vehicles
        record["trips"] = check.trips
        record["solution_file"] = _write_solution(spec, solver, instance, out, check, preset=preset)
    record["time_s"] = round(out.time_s, 2)
    record["status"] = out.status
    record["solver_cost"] = None if out.solver_cost is None else round(out.solver_cost, 4)
    record["violations"] = check.violations[:10]
    record["n_violations"] = len(check.violations)
    if solver == "engine":
        record["engine_check"] = out.engine_violations[:10]
        if out.engine_violations:
            notes.append(f"routing.check reports {len(out.engine_violations)} violation(s)")
    record["feasible"] = served and check.feasible and not out.engine_violations
    if served and not check.feasible:
        notes.append(f"checker: {check.summary(3)}")
    if isinstance(instance, KimInstance):
        lit = KIM_LITERATURE[spec.name]
        record["literature"] = {
            "kim2006": list(lit.kim2006),
            "benjamin_beasley2010": list(lit.benjamin_beasley2010),
            "buhrkal2012": list(lit.buhrkal2012),
        }
    record["note"] = "; ".join(notes)
    return record


# --------------------------------------------------------------------------------------------------------
# machine


def machine() -> dict[str, Any]:
    """CPU model, cores, memory, versions."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    versions: dict[str, str | None] = {}
    for package in ("ortools", "pyvrp", "vrplib", "numpy", "matplotlib"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    versions["python"] = platform.python_version()
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": mem_gb, "versions": versions}


# --------------------------------------------------------------------------------------------------------
# suite


def _load_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default


def run_suite(
    preset: str, *, only: set[str] | None = None, log: bool = True
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run `preset` (or its instances named in `only`), merge the records, rewrite plots and BENCHMARKS.md.

    A run of part of a preset (`only`) replaces those instances' records and is listed under the
    preset's run in `routing_meta.json` as a re-run; it runs no first-plan probe. A preset of
    `SEPARATE_RESULTS` uses its own two files instead, and touches neither the report nor its plots.
    """
    started = time.monotonic()
    run_date = time.strftime("%Y-%m-%d %H:%M %Z")
    commit = measured_commit("routing", "bench")
    RESULTS.mkdir(parents=True, exist_ok=True)
    separate = SEPARATE_RESULTS.get(preset)
    records_path = RESULTS / f"{separate or 'routing'}.json"
    meta_path = RESULTS / f"{separate or 'routing'}_meta.json"
    earlier: list[dict[str, Any]] = _load_json(records_path, [])
    records: list[dict[str, Any]] = []
    plan = [(name, budget) for name, budget in PRESETS[preset] if only is None or name in only]
    for name, budget in plan:
        spec = spec_for(name)
        for solver in SOLVER_ORDER:
            payload = run_in_child(name, solver, budget, SEEDS[solver])
            record = make_record(spec, solver, budget, payload, preset)
            record["wall_s"] = round(payload["wall_s"], 2)
            record["preset"] = preset
            record["run_date"] = run_date
            record["commit"] = commit
            records.append(record)
            if log:
                cost = "—" if record["cost"] is None else f"{record['cost']:g}"
                gap = "" if record["gap_pct"] is None else f" ({record['gap_pct']:+.2f} %)"
                print(
                    f"{name:>12} {solver:>15} {budget:5.0f}s  {cost}{gap}"
                    f"  feasible={record['feasible']}  {record['time_s']}s"
                    + (f"  [{record['note'][:120]}]" if record["note"] else ""),
                    flush=True,
                )
            text = json.dumps(merge_records(earlier, records), indent=1) + "\n"
            records_path.write_text(text, encoding="utf-8")
    probes = [] if only is not None or separate else _first_plan_probes(preset, log=log)
    meta = _load_json(meta_path, {})
    if "runs" not in meta:  # a file from before runs accumulated describes a single run
        meta = {"runs": {meta["preset"]: meta}} if "preset" in meta else {"runs": {}}
    run: dict[str, Any] = {
        "preset": preset,
        "machine": machine(),
        "budgets": dict(plan),
        "first_plan_probes": probes,
        "total_runtime_s": round(time.monotonic() - started, 1),
        "date": run_date,
        "commit": commit,
    }
    if only is not None and preset in meta["runs"]:
        meta["runs"][preset].setdefault("reruns", []).append(run)
    else:
        meta["runs"][preset] = run
        meta["latest"] = preset
    meta.setdefault("latest", preset)
    all_records = merge_records(earlier, records)
    records_path.write_text(json.dumps(all_records, indent=1) + "\n", encoding="utf-8")
    if not separate:
        write_report(all_records, meta, RESULTS, REPO / "BENCHMARKS.md")
    run["total_runtime_s"] = round(time.monotonic() - started, 1)
    meta_path.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return records, run


def _first_plan_probes(preset: str, *, log: bool) -> list[dict[str, Any]]:
    """The engine on `FIRST_PLAN_PROBE`'s instance at its first limit, then the second if that failed."""
    probe_name, probe_budgets = FIRST_PLAN_PROBE
    probes: list[dict[str, Any]] = []
    for probe_budget in probe_budgets:
        payload = run_in_child(probe_name, "engine", probe_budget, SEEDS["engine"])
        probe = make_record(CATALOG[probe_name], "engine", probe_budget, payload, f"{preset}-probe")
        probe["wall_s"] = round(payload["wall_s"], 2)
        probes.append(probe)
        if log:
            print(
                f"first-plan probe {probe_name} @ {probe_budget:g}s: feasible={probe['feasible']}"
                f" {probe['time_s']}s {probe['note'][:160]}",
                flush=True,
            )
        if probe["feasible"]:
            break
    return probes


def merge_records(earlier: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`new`, and the `earlier` records of what `new` does not cover, by preset, instance and solver.

    The records of one preset and instance are replaced as a whole, so the solvers shown side by side
    always come from the same run; other presets' records of that instance stay.
    """
    names, presets = [*CATALOG, *UNSEEN], [*PRESETS]
    covered = {(r["preset"], r["instance"]) for r in new}
    merged = [r for r in earlier if (r.get("preset", "quick"), r["instance"]) not in covered] + new
    return sorted(
        merged,
        key=lambda r: (
            presets.index(r.get("preset", "quick")),
            names.index(r["instance"]),
            SOLVER_ORDER.index(r["solver"]),
        ),
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point: `python -m bench.routing [PRESET [INSTANCE ...]]`, by default `quick`."""
    args = sys.argv[1:] if argv is None else argv
    preset = args[0] if args else "quick"
    names = {name for name, _ in PRESETS.get(preset, [])}
    if preset not in PRESETS or not set(args[1:]) <= names:
        print(
            f"usage: python -m bench.routing [{'|'.join(PRESETS)} [INSTANCE ...]];"
            f" {preset!r} has {', '.join(sorted(names)) or 'no instances'}",
            file=sys.stderr,
        )
        return 2
    _, meta = run_suite(preset, only=set(args[1:]) or None)
    separate = SEPARATE_RESULTS.get(preset)
    where = f"bench/results/{separate}.json" if separate else "BENCHMARKS.md"
    print(f"done in {meta['total_runtime_s']:.0f} s; see {where} and bench/results/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
