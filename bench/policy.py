"""Selection policies compared on a seeded, replayable simulation of Grand Soissons (`make bench-policy`).

Every container of the scenario gets a deposit process drawn once from the seed (`wastesvc.fill.synthetic`:
compound Poisson deposits at the stream's rate × a per-container factor, with the stream's weekday factors
and a daytime profile); the same deposits feed every policy. Each simulated day, at 06:00, a policy selects
containers from what it can know (the sensors' readings so far, the emptyings its trucks made), the
service's own problem builder turns the selection into a routing problem (`wastesvc.domain.planning`) and
the real engine routes it (`routing.solve`) with the same fleet, shifts and solver time for every policy —
the per-day budget. Trucks empty only the containers on their routes, at the planned arrival times; the
sensors (noise, dropouts, a silence after each emptying) then report the day.

Policies:
    fixed                today's practice as modelled by the scenario's status quo (`wastesvc/simulate.py`):
                         residual and biowaste twice a week, packaging weekly, glass and paper fortnightly,
                         each commune on its own weekdays;
    fixed-equal-service  the same schedules at higher frequencies (×2, then ×3), the cheapest whose overflow
                         container-days are no more than wastesvc's (the last one tried if none is);
    threshold-70/-80     every container whose last reading is at or above 70 % / 80 %;
    wastesvc             the service's selection (`wastesvc.domain.selection.select_for_plan`): forecasts at
                         the service time, mandatory / optional with a prize / excluded.

Writes bench/results/policy.json, bench/results/policy.png and the "Selection policies" section of
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time as clock
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np

import routing
from wastesvc.domain.forecasts import PARIS
from wastesvc.domain.planning import PlanningInput, Selection, build_problem
from wastesvc.domain.priors import prior_for
from wastesvc.domain.selection import select_for_plan
from wastesvc.fill import Forecast, Series, fit_forecast
from wastesvc.fill._time import HOUR_S, to_epoch
from wastesvc.fill.synthetic import DepositProfile, SensorProfile, SyntheticContainer, deposits, observe
from wastesvc.scenario import Scenario, load_default
from wastesvc.storage import ContainerRow, DepotRow, FacilityRow, VehicleRow

__all__ = ["PolicyRun", "fixed_due", "main", "simulate", "write_section"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
START = date(2027, 1, 4)  # a Monday, outside school holidays
# Days between two visits of a container in today's practice (see the module docstring).
FIXED_PERIOD_DAYS = {"residual": 3.5, "biowaste": 3.5, "packaging": 7, "glass": 14, "paper": 14}
_SIX_AM = time(6, 0)
# The frequency multipliers tried for fixed-equal-service (each is a whole simulation).
_RAISES = (2.0, 3.0)
_WARM_UP_DAYS = 2
# Fill of the containers when the warm-up starts: uniform below this.
_START_LEVEL = 0.4
# Containers differ around their stream's mean rate (households served, a market nearby).
RATE_SPREAD = 0.35
SENSOR = SensorProfile(interval_h=1.0, noise_sd=0.02, dropout=0.05, outlier=0.005, miss_after_emptying_h=1.0)


@dataclass
class _Box:
    """One container's simulated truth and what its sensor said, for one policy."""

    row: ContainerRow
    truth: SyntheticContainer
    rng: np.random.Generator
    times: list[float] = field(default_factory=list)
    fills: list[float] = field(default_factory=list)

    def observe_until(self, start_s: float, end_s: float) -> None:
        seen = observe(self.rng, SENSOR, self.truth, start_s, end_s)
        self.times += seen.times_s.tolist()
        self.fills += seen.fills.tolist()

    def last_reading(self) -> float:
        return self.fills[-1] if self.fills else 0.0


@dataclass
class PolicyRun:
    """The KPIs of one policy over the simulation."""

    policy: str
    days: int
    seed: int
    km: float = 0.0
    truck_hours: float = 0.0
    collections: int = 0
    container_days: int = 0
    fill_at_emptying: list[float] = field(default_factory=list)
    overflow_events: int = 0
    overflow_container_days: int = 0
    co2_kg: float = 0.0
    daily_km: list[float] = field(default_factory=list)
    daily_overflows: list[int] = field(default_factory=list)
    note: str = ""  # for the report, not the records

    def record(self) -> dict[str, Any]:
        fills = self.fill_at_emptying
        return {
            "policy": self.policy,
            "days": self.days,
            "seed": self.seed,
            "km": round(self.km, 1),
            "truck_hours": round(self.truck_hours, 1),
            "collections": self.collections,
            "container_days": self.container_days,
            "avg_fill_at_emptying": round(float(np.mean(fills)), 3) if fills else 0.0,
            "overflow_events": self.overflow_events,
            "overflow_container_days": self.overflow_container_days,
            "co2_kg": round(self.co2_kg, 1),
        }


def _rows(scenario: Scenario) -> tuple[list[ContainerRow], list[VehicleRow], DepotRow, list[FacilityRow]]:
    """The scenario as the storage rows the service plans from."""
    stamp = datetime(2027, 1, 1, tzinfo=UTC)
    containers = [
        ContainerRow(
            tenant="bench",
            id=c.id,
            commune_code=c.insee_code,
            lat=c.lat,
            lng=c.lng,
            stream=c.stream,
            volume_l=c.volume_l,
            access_windows=json.dumps([[_seconds(w.start), _seconds(w.end)] for w in c.access_windows]),
            service_s=c.service_s,
            isle=c.isle_id or "",
            required_equipment=scenario.model(c.model_id).lift,
            create_time=stamp,
            update_time=stamp,
        )
        for c in scenario.containers
    ]
    vehicles = [
        VehicleRow(
            tenant="bench",
            id=v.id,
            capacity_l=v.capacity_l,
            capacity_kg=v.capacity_kg,
            streams=",".join(v.streams),
            home_depot=v.depot_id,
            shift_start_s=_seconds(v.shift.start),
            shift_end_s=_seconds(v.shift.end),
            break_start_s=_seconds(v.pause.earliest_start) if v.pause else 0,
            break_end_s=_seconds(v.pause.latest_start) if v.pause else 0,
            break_s=v.pause.duration_s if v.pause else 0,
            cost_per_km=v.cost_per_km,
            cost_per_hour=v.cost_per_hour,
            daily_volume_cap_l=v.daily_cap_l or 0,
            equipment=",".join(v.lifts),
            create_time=stamp,
            update_time=stamp,
        )
        for v in scenario.vehicles
    ]
    d = scenario.depot
    depot = DepotRow(tenant="bench", id=d.id, lat=d.lat, lng=d.lng, create_time=stamp, update_time=stamp)
    facilities = [
        FacilityRow(
            tenant="bench",
            id=f.id,
            lat=f.lat,
            lng=f.lng,
            streams=",".join(f.streams),
            open_s=_seconds(f.opening.start),
            close_s=_seconds(f.opening.end),
            dump_s=f.dump_s,
            create_time=stamp,
            update_time=stamp,
        )
        for f in scenario.facilities
    ]
    return containers, vehicles, depot, facilities


def _seconds(t: time) -> int:
    return t.hour * 3600 + t.minute * 60


def _boxes(scenario: Scenario, rows: Sequence[ContainerRow], seed: int, days: int) -> list[_Box]:
    """Every container's deposits over the horizon (and the warm-up), drawn from the seed."""
    start_s = _warm_start()
    end_s = to_epoch(datetime.combine(START + timedelta(days=days + 1), time(0), tzinfo=PARIS))
    boxes = []
    calibrated = {c.id: c.fill_rate_per_day for c in scenario.containers}
    for row in rows:
        rng = np.random.default_rng([seed, zlib.crc32(row.id.encode())])
        stream = scenario.stream(row.stream)
        # A spread of mean 1 around the calibrated rate keeps the scenario's kg per inhabitant.
        rate = calibrated[row.id] * float(rng.lognormal(-(RATE_SPREAD**2) / 2, RATE_SPREAD))
        profile = DepositProfile(rate_per_day=rate, weekday_factors=stream.weekday_factors)
        times, sizes = deposits(rng, profile, start_s, end_s)
        # Somewhere in its cycle when the warm-up starts.
        level = float(rng.uniform(0.0, _START_LEVEL))
        truth = SyntheticContainer(times, sizes, (), level, Series.from_arrays([], []))
        boxes.append(_Box(row, truth, rng))
    return boxes


def _warm_start() -> float:
    """The simulation starts this long before START, so the sensors have a history on the first day."""
    return to_epoch(datetime.combine(START, time(0), tzinfo=PARIS)) - _WARM_UP_DAYS * 24 * HOUR_S


def fixed_due(row: ContainerRow, period_days: float) -> Callable[[int], bool]:
    """Whether today's schedule visits the container on day `d` (each commune its own phase)."""
    phase = zlib.crc32(f"{row.commune_code}/{row.stream}".encode()) % 997

    def due(d: int) -> bool:
        return int((d + phase) // period_days) != int((d - 1 + phase) // period_days)

    return due


def _select(policy: str, boxes: Sequence[_Box], data: PlanningInput, d: int, scale: float) -> list[Selection]:
    if policy.startswith("threshold-"):
        level = int(policy.removeprefix("threshold-")) / 100
        return [
            Selection(b.row, b.last_reading(), f"last reading ≥ {level:.0%}")
            for b in boxes
            if b.last_reading() >= level
        ]
    if policy.startswith("fixed"):
        chosen = []
        for b in boxes:
            if fixed_due(b.row, FIXED_PERIOD_DAYS[b.row.stream] / scale)(d):
                # The fill only sizes the truck's load (when to unload), never the choice.
                chosen.append(Selection(b.row, max(b.last_reading(), 0.5), "scheduled"))
        return chosen
    return select_for_plan(data)


def _forecasts(boxes: Sequence[_Box], now: datetime, crew: dict[str, list[datetime]]) -> dict[str, Forecast]:
    out = {}
    now_s = to_epoch(now)
    for b in boxes:
        t = np.asarray(b.times)
        keep = t >= now_s - 21 * 24 * HOUR_S
        series = Series.from_arrays(t[keep], np.asarray(b.fills)[keep])
        out[b.row.id] = fit_forecast(
            series, now, prior_for(b.row.stream), collections=crew[b.row.id][-3:], tz=PARIS
        )
    return out


def simulate(
    policy: str, days: int, seed: int, time_limit_s: float, *, scale: float = 1.0, name: str | None = None
) -> PolicyRun:
    """Runs one policy over `days` days from START; `scale` multiplies the fixed schedules' frequencies."""
    scenario = load_default()
    rows, vehicles, depot, facilities = _rows(scenario)
    boxes = _boxes(scenario, rows, seed, days)
    co2 = {v.id: v.co2_kg_per_km for v in scenario.vehicles}
    run = PolicyRun(name or policy, days, seed)
    crew: dict[str, list[datetime]] = {b.row.id: [] for b in boxes}
    warm = _warm_start()
    first_morning = to_epoch(datetime.combine(START, _SIX_AM, tzinfo=PARIS))
    for b in boxes:
        b.observe_until(warm, first_morning)
    overflowing = {b.row.id: False for b in boxes}
    for d in range(days):
        day = START + timedelta(days=d)
        morning = datetime.combine(day, _SIX_AM, tzinfo=PARIS)
        data = PlanningInput(
            tenant="bench",
            service_date=day,
            timezone=PARIS,
            containers=rows,
            forecasts=_forecasts(boxes, morning, crew) if policy == "wastesvc" else {},
            vehicles=vehicles,
            depots={depot.id: depot},
            facilities=facilities,
            streams=frozenset(FIXED_PERIOD_DAYS),
            fill_threshold=0.0,
            max_days_without_emptying=0,
        )
        selected = _select(policy, boxes, data, d, scale)
        day_km = _route_day(data, selected, boxes, time_limit_s=time_limit_s, run=run, co2=co2, crew=crew)
        run.daily_km.append(day_km)
        next_morning = to_epoch(morning + timedelta(days=1))
        overflows = 0
        for b in boxes:
            b.observe_until(to_epoch(morning), next_morning)
            full = _overflowed(b.truth, to_epoch(morning), next_morning)
            overflows += full
            run.overflow_events += full and not overflowing[b.row.id]
            overflowing[b.row.id] = full
        run.overflow_container_days += overflows
        run.daily_overflows.append(overflows)
        run.container_days += len(boxes)
    return run


def _route_day(
    data: PlanningInput,
    selected: Sequence[Selection],
    boxes: Sequence[_Box],
    *,
    time_limit_s: float,
    run: PolicyRun,
    co2: dict[str, float],
    crew: dict[str, list[datetime]],
) -> float:
    """Routes the day, empties what the routes visit; returns the day's km."""
    if not selected:
        return 0.0
    built = build_problem(data, selected)
    if not built.problem.stops:
        return 0.0
    solution = routing.solve(built.problem, routing.SolveOptions(time_limit_s=time_limit_s, seed=1))
    by_id = {b.row.id: b for b in boxes}
    km = 0.0
    for route in solution.routes:
        km += route.distance_m / 1000
        run.truck_hours += route.duration_s / 3600
        run.co2_kg += route.distance_m / 1000 * co2[route.vehicle_id]
        for visit in route.visits:
            if visit.kind is not routing.VisitKind.STOP:
                continue
            when = datetime.combine(data.service_date, time(0), tzinfo=PARIS) + timedelta(
                seconds=visit.arrival_s
            )
            for member in built.containers_of_stop[visit.ref_id]:
                box = by_id[member.container.id]
                at = to_epoch(when)
                run.fill_at_emptying.append(box.truth.fill_at(at))
                box.truth = dataclasses.replace(box.truth, emptyings_s=(*box.truth.emptyings_s, at))
                crew[box.row.id].append(when)
                run.collections += 1
    run.km += km
    return km


def _overflowed(truth: SyntheticContainer, start_s: float, end_s: float) -> bool:
    """Whether the container is full at some hour of the day."""
    return bool(np.any(truth.fills_at(np.arange(start_s, end_s + 1, HOUR_S)) >= 1.0))


def _equal_service(days: int, seed: int, limit: float, ours: PolicyRun) -> PolicyRun:
    """The cheapest raised fixed schedule with no more overflow container-days than ours."""
    tried = None
    for scale in (2.0, 3.0):
        tried = simulate("fixed", days, seed, limit, scale=scale, name="fixed-equal-service")
        print(
            f"  fixed ×{scale:g}: {tried.km:.0f} km, {tried.overflow_container_days} overflow container-days"
        )
        if tried.overflow_container_days <= ours.overflow_container_days:
            break
    assert tried is not None
    return tried


def _plot(runs: Sequence[PolicyRun], path: Path) -> None:
    import matplotlib  # noqa: PLC0415 - only the report needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for run in runs:
        top.plot(run.daily_km, label=run.policy)
        bottom.plot(run.daily_overflows, label=run.policy)
    top.set_ylabel("km driven")
    bottom.set_ylabel("containers overflowing")
    bottom.set_xlabel(f"day from {START.isoformat()}")
    top.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def _table(records: Sequence[dict[str, Any]], notes: Sequence[str], limit: float, elapsed_s: float) -> str:
    head = (
        "| policy | km | truck-hours | collections | km / collection | avg fill at emptying "
        "| overflow events | overflow container-days | share | CO₂ kg |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r['policy']} | {r['km']:.0f} | {r['truck_hours']:.0f} | {r['collections']} "
        f"| {r['km'] / max(r['collections'], 1):.2f} | {r['avg_fill_at_emptying']:.0%} "
        f"| {r['overflow_events']} | {r['overflow_container_days']} "
        f"| {r['overflow_container_days'] / r['container_days']:.2%} | {r['co2_kg']:.0f} |"
        for r in records
    ]
    r0 = records[0]
    return (
        "## Selection policies (`make bench-policy`)\n\n"
        f"{r0['days']} simulated days of Grand Soissons from {START.isoformat()}, seed {r0['seed']}, "
        f"{r0['container_days'] // r0['days']} containers; every day the same fleet and shifts and "
        f"{limit:g} s of `routing.solve` for every policy (the per-day budget). CO₂ is km × each truck's "
        f"`co2_kg_per_km` in the scenario. Generated by `bench/policy.py` in {elapsed_s / 60:.0f} min; "
        "plot: `bench/results/policy.png`.\n\n"
        + head
        + "\n".join(lines)
        + "\n"
        + "".join(f"\n{note}\n" for note in notes)
    )


def write_section(path: Path, text: str) -> None:
    """Replaces (or appends) the section `text` heads (its first line, up to a parenthesis) in the report
    at `path`, leaving the other sections alone."""
    current = path.read_text(encoding="utf-8")
    marker = text.split("\n", 1)[0].split(" (", 1)[0]
    if marker in current:
        before, _, rest = current.partition(marker)
        after = rest.split("\n## ", 1)
        # Comment lines in the replaced section are other tools' markers (bench.report's), not its text.
        kept = [line for line in after[0].splitlines() if line.startswith("<!--")]
        current = before + text + "".join(f"\n{line}\n" for line in kept)
        current += "\n## " + after[1] if len(after) > 1 else ""
    else:
        current = current.rstrip("\n") + "\n\n" + text
    path.write_text(current, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=56)
    parser.add_argument("--seed", type=int, default=2027)
    parser.add_argument("--time-limit", type=float, default=1.5, help="solver seconds per day")
    parser.add_argument("--no-write", action="store_true", help="print only (a development run)")
    args = parser.parse_args(argv)
    began = clock.monotonic()
    runs = []
    for policy in ("wastesvc", "fixed", "threshold-70", "threshold-80"):
        run = simulate(policy, args.days, args.seed, args.time_limit)
        print(policy, run.record(), f"{clock.monotonic() - began:.0f} s", flush=True)
        runs.append(run)
    runs.insert(2, _equal_service(args.days, args.seed, args.time_limit, runs[0]))
    records = [r.record() for r in runs]
    print(json.dumps(records, indent=1))
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "policy.json").write_text(json.dumps(records, indent=1) + "\n", encoding="utf-8")
        _plot(runs, RESULTS / "policy.png")
        write_section(
            ROOT / "BENCHMARKS.md",
            _table(records, [r.note for r in runs if r.note], args.time_limit, clock.monotonic() - began),
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
