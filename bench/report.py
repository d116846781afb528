"""BENCHMARKS.md and `bench/results/gap.png` from the records of a run of `bench.routing`."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import Patch

from bench.readers import CATALOG, KIM_LITERATURE

__all__ = ["plot_gaps", "targets", "write_report"]

SOLVERS = ("engine", "pyvrp", "ortools-default")
FAMILIES = (
    ("cvrp", "CVRP (Uchoa et al. X set; `round`: nint Euclidean)"),
    ("vrptw", "VRPTW (Solomon / Gehring-Homberger; `dimacs`: floor(10 d)/10, distance only)"),
    ("mtvrptwr", "MTVRPTWR (multi-trip VRPTW with release dates, reload at the depot; `dimacs`)"),
    ("wcvrptw", "WCVRPTW (Kim, Kim & Sahoo 2006; miles, vehicles first)"),
)
_MEMORY_LIMIT_MB = 24 * 1024
_FIRST_PLAN_LIMIT_S = 5.0
_TARGET_RATIO = 1.00
_TARGET_EACH = 1.01
# Kim under the hierarchical objective: the fewest known vehicles on all eight, the miles on this many.
_KIM_MILES_AT_COUNT = 6

# BENCHMARKS.md keeps everything after this line when it is regenerated.
KEPT_MARKER = "<!-- kept by bench.report: hand-written sections below -->"


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _by(records: Iterable[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["instance"], r["solver"]): r for r in records}


def _cell(record: dict[str, Any] | None, digits: int) -> list[str]:
    if record is None:
        return ["", "", "", ""]
    cost = _fmt(record["cost"], digits)
    gap = "—" if record["gap_pct"] is None else f"{record['gap_pct']:+.2f}"
    vehicles = "—" if record["vehicles"] is None else str(record["vehicles"])
    ok = "yes" if record["feasible"] else "**no**"
    return [cost, gap, vehicles, ok]


def _mean_gap(records: list[dict[str, Any]]) -> str:
    feasible = [r["gap_pct"] for r in records if r["feasible"] and r["gap_pct"] is not None]
    if not records:
        return ""
    mean = f"{statistics.fmean(feasible):+.2f} %" if feasible else "—"
    return f"{mean} ({len(feasible)}/{len(records)} feasible)"


def targets(records: list[dict[str, Any]], meta: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(target, status, evidence) for each target of the issue."""
    out: list[tuple[str, str, str]] = []

    # 1. engine vs PyVRP on the CVRP / VRPTW / multi-trip instances, per preset (the target names quick).
    for preset in _presets(records):
        mine = [r for r in records if _preset(r) == preset and r["family"] in ("cvrp", "vrptw", "mtvrptwr")]
        if mine:
            out.append(_versus_pyvrp(preset, mine))

    # 2. Kim on the full model, all eight instances: the run of the eight (`kim`, else `full`, else any).
    kim_runs = [p for p in ("kim", "full") if p in _presets(records)] or _presets(records)
    kim = [
        r
        for r in records
        if r["family"] == "wcvrptw" and r["solver"] == "engine" and kim_runs and _preset(r) == kim_runs[0]
    ]
    solved = [r for r in kim if r["feasible"]]
    detail = ", ".join(
        f"{r['instance']}: {r['vehicles'] or '—'} veh / {_fmt(r['cost'])} mi"
        f" (best known {KIM_LITERATURE[r['instance']].best_vehicles} / {r['bks']:g})"
        + ("" if r["feasible"] else " infeasible")
        for r in kim
    )
    status = (
        _met(len(solved) == len(KIM_LITERATURE))
        if len(kim) == len(KIM_LITERATURE)
        else f"partly assessed ({len(kim)}/8 run)"
    )
    out.append(
        (
            "Kim WCVRPTW solved on the full model, all 8 instances, vs Kim 2006 / B&B 2010 / Buhrkal 2012",
            status,
            f"`{kim_runs[0] if kim_runs else '—'}`: {len(solved)}/{len(kim)} engine runs feasible; {detail}",
        )
    )

    if len(kim) == len(KIM_LITERATURE):
        out.append(_vehicles_first(kim))

    # 3. first feasible plan on a 2 000-stop waste instance (the latest run's probe).
    probes = _latest_probes(meta)
    if probes:
        first = probes[0]
        ok = bool(first["feasible"]) and (first["time_s"] or 1e9) < _FIRST_PLAN_LIMIT_S
        parts = []
        for probe in probes:
            if probe["feasible"]:
                outcome = (
                    f"feasible plan, {probe['vehicles']} vehicles, {_fmt(probe['cost'])} mi,"
                    f" returned after {probe['time_s']} s"
                )
            else:
                outcome = f"no feasible plan after {probe['time_s']} s ({probe['note'] or 'no detail'})"
            parts.append(f"{probe['budget_s']:g} s limit: {outcome}")
        name = first["instance"]
        text = f"engine on Kim {name} ({CATALOG[name].customers} stops): " + "; ".join(parts)
        out.append(("2 000-stop waste instance: first feasible plan < 5 s", _met(ok), text))

    # 4. never past the time limit ("Bad input": never a run past the time limit).
    latest_probes = _latest_probes(meta)
    engine = [
        r for r in [*records, *latest_probes] if r["solver"] == "engine" and r.get("time_s") is not None
    ]
    if engine:
        worst = max(engine, key=lambda r: r["time_s"] - r["budget_s"])
        over = worst["time_s"] - worst["budget_s"]
        text = (
            f"largest `solve` time minus budget: {over:+.2f} s"
            f" ({worst['instance']}, {worst['time_s']} s for {worst['budget_s']:g} s;"
            f" every engine run and first-plan probe counted)"
        )
        out.append(("engine returns within its time limit", _met(over <= 0), text))

    # 5. memory.
    runs = [*records, *probes]
    peaks = [r["peak_rss_mb"] for r in runs if r.get("peak_rss_mb") is not None]
    crashed = [f"{r['instance']}/{r['solver']}" for r in runs if r.get("peak_rss_mb") is None]
    if peaks:
        worst = max(runs, key=lambda r: r.get("peak_rss_mb") or 0)
        text = f"largest peak RSS {max(peaks):,.0f} MB ({worst['instance']}, {worst['solver']})"
        if crashed:
            text += f"; no RSS (crash or timeout): {', '.join(crashed)}"
        out.append(("no OOM on 24 GB", _met(max(peaks) < _MEMORY_LIMIT_MB and not crashed), text))
    return out


def _vehicles_first(kim: list[dict[str, Any]]) -> tuple[str, str, str]:
    """Kim under the literature's objective: vehicles first, then miles.

    A plan with fewer vehicles than any paper beats the literature whatever its miles; at the fewest
    published count its miles are compared with the fewest published at that count.
    """
    counts_ok, miles_ok, evidence = 0, 0, []
    for r in kim:
        vehicles, miles = KIM_LITERATURE[r["instance"]].fewest()
        mine = r["vehicles"] if r["feasible"] else None
        if mine is None:
            evidence.append(f"{r['instance']}: infeasible")
            continue
        counts_ok += mine <= vehicles
        at_count = mine < vehicles or (mine == vehicles and round(r["cost"], 1) <= miles)
        miles_ok += at_count
        relation = "fewer than" if mine < vehicles else ("more than" if mine > vehicles else "=")
        evidence.append(
            f"{r['instance']}: {mine} veh / {_fmt(r['cost'])} mi ({relation} {vehicles} / {miles:g})"
            + ("" if at_count else " ✗")
        )
    met = counts_ok == len(kim) and miles_ok >= _KIM_MILES_AT_COUNT
    return (
        "Kim, vehicles first: the fewest published vehicles or fewer on 8/8, and miles at or below the"
        f" fewest published at that count on ≥ {_KIM_MILES_AT_COUNT}/8",
        _met(met),
        f"vehicles {counts_ok}/8, miles {miles_ok}/8 (engine against the fewest published vehicles /"
        f" the fewest miles published at that count): {'; '.join(evidence)}",
    )


def _latest_probes(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """The first-plan probes of the latest run that made them (a partial run makes none)."""
    runs = sorted(meta["runs"].values(), key=lambda run: str(run["date"]), reverse=True)
    return next((list(run["first_plan_probes"]) for run in runs if run.get("first_plan_probes")), [])


def _versus_pyvrp(preset: str, records: list[dict[str, Any]]) -> tuple[str, str, str]:
    """Target 1 on the records of one preset."""
    by = _by(records)
    names = sorted(
        {r["instance"] for r in records if r["family"] in ("cvrp", "vrptw", "mtvrptwr")},
        key=lambda n: list(CATALOG).index(n),
    )
    ratios: list[float] = []
    evidence: list[str] = []
    failed: list[str] = []
    for name in names:
        engine, pyvrp = by.get((name, "engine")), by.get((name, "pyvrp"))
        if engine is None or pyvrp is None:
            continue
        if not (engine["feasible"] and pyvrp["feasible"]):
            failed.append(f"{name}: engine {'ok' if engine['feasible'] else 'infeasible'}")
            continue
        ratio = engine["cost"] / pyvrp["cost"]
        ratios.append(ratio)
        evidence.append(f"{name} {ratio:.4f}")
    if ratios:
        mean = statistics.fmean(ratios)
        met = not failed and mean <= _TARGET_RATIO + 1e-9 and max(ratios) <= _TARGET_EACH + 1e-9
        text = f"mean engine/PyVRP cost ratio {mean:.4f}, worst {max(ratios):.4f} ({', '.join(evidence)})"
        if failed:
            text += f"; not comparable: {', '.join(failed)}"
        return (
            f"`{preset}`: mean cost ≤ 1.00× PyVRP at equal time (CVRP/VRPTW/MTVRPTWR), each ≤ 1.01×",
            _met(met),
            text,
        )
    return (f"`{preset}`: mean cost ≤ 1.00× PyVRP at equal time", "not assessed", "no comparable instance")


PRESET_ORDER = ("quick", "kim", "classic", "full")


def _preset(record: dict[str, Any]) -> str:
    """The preset of a record; records from before presets were recorded come from `quick`."""
    return str(record.get("preset") or "quick")


def _presets(records: list[dict[str, Any]]) -> list[str]:
    present = {_preset(r) for r in records}
    return [p for p in PRESET_ORDER if p in present]


def _met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def plot_gaps(records: list[dict[str, Any]], path: Path) -> None:
    """Grouped bars: gap to BKS per instance and solver; hatched bars are infeasible plans."""
    names = [n for n in CATALOG if any(r["instance"] == n for r in records)]
    by = _by(records)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(names) + 2), 4.5))
    width = 0.8 / len(SOLVERS)
    colours = {"engine": "#1f77b4", "pyvrp": "#2ca02c", "ortools-default": "#ff7f0e"}
    for k, solver in enumerate(SOLVERS):
        for i, name in enumerate(names):
            record = by.get((name, solver))
            x = i + (k - (len(SOLVERS) - 1) / 2) * width
            if record is None or record["gap_pct"] is None or not record["feasible"]:
                # Infeasible plans have no meaningful gap (dropped stops make them look cheap).
                ax.plot(x, 0, marker="x", color=colours[solver], markersize=9, markeredgewidth=2)
                ax.text(x, 0.3, "infeasible", ha="center", va="bottom", fontsize=7, rotation=90)
                continue
            ax.bar(x, record["gap_pct"], width, color=colours[solver])
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=20)
    ax.set_ylabel("gap to best known (%)")
    title = "Gap to best known at equal time (×: no feasible plan under the full model)"
    if any(r["family"] == "wcvrptw" for r in records):
        title += "\nKim: miles only, whatever the vehicles (compare those in the table)"
    ax.set_title(title)
    # Below the axes: inside, it hid the bars of the first instance.
    ax.legend(
        handles=[Patch(color=colours[s], label=s) for s in SOLVERS],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.18),
        ncol=len(SOLVERS),
        frameon=False,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(records: list[dict[str, Any]], meta: dict[str, Any], results: Path, md_path: Path) -> None:
    """Write `gap-PRESET.png` into `results` for each preset, and the markdown report at `md_path`."""
    presets = _presets(records)
    for preset in presets:
        plot_gaps([r for r in records if _preset(r) == preset], results / f"gap-{preset}.png")
    m = meta["runs"][meta["latest"]]["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)
    runs = [meta["runs"][p] for p in PRESET_ORDER if p in meta["runs"]]
    lines = [
        "# Routing benchmarks",
        "",
        "Generated by `python -m bench.routing PRESET` (`make bench-routing PRESET=…`). Each preset's"
        " latest run is kept, one section each; within a section every instance's three solvers ran in the"
        " same run. Runs in this report: "
        + "; ".join(
            f"`{run['preset']}` on {run['date']}"
            + (f" at commit `{run['commit']}`" if run.get("commit") else "")
            + f" ({len(run['budgets'])} instances, {run['total_runtime_s']:.0f} s)"
            + "".join(
                f", then {', '.join(again['budgets'])} again on {again['date']}"
                + (f" at `{again['commit']}`" if again.get("commit") else "")
                for again in run.get("reruns", [])
            )
            for run in runs
        )
        + ". Raw records: `bench/results/routing.json` (one per preset, instance and solver), machine and"
        " probes: `bench/results/routing_meta.json`, plans: `bench/results/solutions/PRESET/`.",
        "",
        f"**Machine**: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB RAM. {versions}.",
        "",
        "**Protocol**: per instance, the three solvers run one after the other"
        " (each in its own spawned process,"
        " so each has a core and its peak RSS is its own) with the same wall-time budget: `engine` ="
        " `routing.solve(problem, SolveOptions(time_limit_s=budget − time spent building the problem))`"
        " (seed 0); `pyvrp` = PyVRP"
        " `pyvrp.solve(data, stop=MaxRuntime(budget), seed=1)`; `ortools-default` = OR-Tools as a newcomer"
        " writes it (Python callbacks, PATH_CHEAPEST_ARC + GUIDED_LOCAL_SEARCH,"
        " time limit = budget). Every plan"
        " is re-costed and checked from the raw instance by `bench/verify.py` (capacity, time windows in the"
        " family's convention, release dates, reloads, Kim's disposal / lunch / route capacity / stop limit);"
        " the engine's plans are also checked by `routing.check`. `feasible` requires both."
        " gap = 100 × (cost − BKS) / BKS. Costs of infeasible plans are shown for information only.",
        "",
        "## Targets",
        "",
        "| target | status | evidence |",
        "|---|---|---|",
    ]
    lines += [f"| {t} | {s} | {e} |" for t, s, e in targets(records, meta)]
    lines.append("")
    for preset in presets:
        lines += _preset_section(preset, [r for r in records if _preset(r) == preset], m)
    lines += _notes(records)
    lines += _conventions()
    # Hand-written sections (runs outside this generator, each with its commit) survive a regeneration.
    earlier = md_path.read_text(encoding="utf-8") if md_path.exists() else ""
    if KEPT_MARKER in earlier:
        lines += ["", KEPT_MARKER + earlier.split(KEPT_MARKER, 1)[1].rstrip("\n")]
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _preset_section(preset: str, records: list[dict[str, Any]], m: dict[str, Any]) -> list[str]:
    by = _by(records)
    lines = [
        f"## Preset `{preset}`",
        "",
        f"![gap per instance and solver, preset {preset}](bench/results/gap-{preset}.png)",
        "",
    ]
    for family, title in FAMILIES:
        fam = [r for r in records if r["family"] == family]
        if not fam:
            continue
        digits = 0 if family == "cvrp" else 1
        names = [n for n in CATALOG if any(r["instance"] == n for r in fam)]
        budgets = sorted({r["budget_s"] for r in fam})
        lines += [
            f"### {title}",
            "",
            f"Budget: {' / '.join(f'{b:g}' for b in budgets)} s of wall time per solver and instance (column"
            f" `budget`), solvers run one after the other on {m['cpu']} ({m['cores']} cores).",
            "",
        ]
        head = ["instance", "n", "budget (s)", "BKS"]
        for solver in SOLVERS:
            head += [f"{solver} cost", "gap %", "veh", "feasible"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for name in names:
            spec = CATALOG[name]
            budget = next(r["budget_s"] for r in fam if r["instance"] == name)
            bks = f"{spec.bks:,.{digits}f}" + (f" ({spec.bks_vehicles} veh)" if spec.bks_vehicles else "")
            row = [name, str(spec.customers), f"{budget:g}", bks]
            for solver in SOLVERS:
                row += _cell(by.get((name, solver)), digits)
            lines.append("| " + " | ".join(row) + " |")
        means = ["**mean gap**", "", "", ""]
        for solver in SOLVERS:
            means += [_mean_gap([r for r in fam if r["solver"] == solver]), "", "", ""]
        lines += ["| " + " | ".join(means) + " |", ""]
        if family == "wcvrptw":
            lines += _kim_literature(fam)
    return lines


def _kim_literature(fam: list[dict[str, Any]]) -> list[str]:
    by = _by(fam)
    names = [n for n in KIM_LITERATURE if any(r["instance"] == n for r in fam)]
    lines = [
        "Vehicles / miles against the literature (README table; Buhrkal: best of the no-clustering and"
        " clustering runs; Benjamin & Beasley: both of their tables where they differ). The objective is"
        " hierarchical: a plan with more vehicles than the literature is worse whatever its miles, so read"
        " `veh` before `gap %` (which compares miles only). PyVRP solves a"
        " relaxation (no lunch, no daily route capacity, no stop limit); its plans are checked against the"
        " full model and pass only when the relaxation happens to respect it. Miles *below* the literature"
        " are possible: the papers' rules differ in details (zero-load stops, lunch; README), no literature"
        " routes exist to re-check, while every plan here is re-checked from the raw file by"
        " `bench/verify.py` (the plans are in `bench/results/solutions/PRESET/*.json`).",
        "",
        "| instance | Kim 2006 | Benjamin & Beasley 2010 | Buhrkal 2012 | engine | pyvrp (relaxation) "
        "| ortools-default |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in names:
        lit = KIM_LITERATURE[name]
        cells = [name, *(f"{v} / {d:g}" for v, d in (lit.kim2006, lit.benjamin_beasley2010, lit.buhrkal2012))]
        # Benjamin & Beasley 2010 published Table 1 and, with vehicle reduction, Table 2.
        cells[2] += "".join(f"; {v} / {d:g}" for v, d in lit.other_plans)
        for solver in SOLVERS:
            r = by.get((name, solver))
            if r is None or r["cost"] is None:
                cells.append("—")
            else:
                cells.append(
                    f"{r['vehicles']} / {r['cost']:.1f}" + ("" if r["feasible"] else " (infeasible)")
                )
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _notes(records: list[dict[str, Any]]) -> list[str]:
    noted = [r for r in records if r.get("note")]
    if not noted:
        return []
    lines = ["## Run notes", ""]
    lines += [f"* `{_preset(r)}` {r['instance']} / {r['solver']}: {r['note']}" for r in noted]
    return [*lines, ""]


def _conventions() -> list[str]:
    return [
        "## Conventions and modelling choices",
        "",
        "* Cost conventions follow `data/benchmarks/README.md`. The solvers get integer matrices in the"
        " instance's scaled units: CVRP nint Euclidean; VRPTW / MTVRPTWR"
        " `floor(10 d)` for distance and travel"
        " time with windows, service and release times ×10; Kim: Manhattan feet (rounded to the foot) and"
        " travel seconds at 40 mph rounded up. The engine's `ExplicitMatrix` calls these units metres and"
        " seconds; `cost_per_km` is 1000 / scale (1000 / 5280 for Kim) so that"
        " the model's distance cost is the"
        " family's cost. The checker uses exact values (exact feet, exact seconds for Kim).",
        "* CVRP / VRPTW in the engine: one disposal facility on the depot (zero"
        " distance, zero dump time) and a"
        " single trip per vehicle; fleet = the file's `VEHICLES` (VRPTW / MTVRPTWR) or ceil(1.2 ⌈Σq/Q⌉) + 2"
        " for CVRP (unlimited in PyVRP). MTVRPTWR: the depot facility allows"
        " reloads and each customer's release date is the stop's `release_s`"
        " (a trip leaves at or after the latest release of its stops).",
        "* Kim: a fixed cost of 10 000 miles per vehicle gives the hierarchical objective (vehicles, then"
        " miles), and the engine is asked for fewest vehicles first (`SolveOptions.objective`); fleet ="
        " ⌈1.25 b⌉ + 2 from the instance alone, `b` its volume / time lower bound"
        " (`bench.solvers.kim_lower_bound`); lunch 1 h starting 11:00–12:00;"
        " every route ends by emptying at a facility. PyVRP: facilities are reload depots and a virtual end"
        " depot charges the best `d(i, F) + d(F, depot)` (with the dump time) to go home empty.",
        "* ortools-default: customers sit in disjunctions with a large drop penalty (OR-Tools' documented"
        " remedy when PATH_CHEAPEST_ARC finds no first solution, as on R101); any dropped customer makes the"
        " plan infeasible. Reloads / disposal trips are optional node copies with a load slack (`cvrp_reload`"
        " sample); lunch via `SetBreakIntervalsOfVehicle`; no release dates.",
        "* `full` budgets: max(10, ⌈0.2 n⌉) s for n customers, one twelfth of the DIMACS CVRP rule"
        " n × 240/100 s used by PyVRP's benchmarks (so the 63 runs fit in one 3-hour session), applied to"
        " every family (Benjamin & Beasley's run times are not in the README). `kim` and `classic`: the"
        " eight Kim instances and all the others, at their `full` budgets. `quick`: 10 s on the"
        " 100-customer instances, 15 s on Kim 102, 30 s on Kim 277.",
        "* The first-plan probe runs the engine on Kim 2100 (2 092 stops) with a 4.5 s limit (the target is"
        " a plan within 5 s of calling `solve`), and once more with 30 s when that gives no plan.",
    ]
