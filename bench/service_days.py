"""`python -m bench.service_days`: the scenario's service days planned the way the service plans them.

Each day is the Grand Soissons scenario (`wastesvc/scenario/`) with simulated readings
(`wastesvc/simulate.py`, one seed per day) up to 05:00 local time on the service day, then selection,
the routing problem, the solve and the plan of `wastesvc.domain.planning`, in process and without
storage or gRPC. It prints, per day: containers selected, served and skipped (with the reasons), trucks
used, truck-hours and kilometres, and one line per truck. `--json PATH` keeps the numbers with the
commit they come from.

The first day (seed 7, the demo's default seed) stands for the demo day; the others vary seed and weekday.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import routing
from wastesvc.domain.forecasts import fit_container, forecast_of
from wastesvc.domain.planning import PlanningInput, build_problem, solution_to_plan
from wastesvc.domain.selection import select_for_plan
from wastesvc.fill import Reading, Series
from wastesvc.scenario import Scenario, ScenarioContainer, fill_from_distance, load_default
from wastesvc.simulate import simulate_readings
from wastesvc.storage import ContainerRow, DepotRow, FacilityRow, VehicleRow
from wastesvc.v1 import planning_pb2

__all__ = ["DAYS", "DayResult", "plan_day"]

TENANT = "bench"
# (simulation seed, service day): the demo's seed first, then other seeds on other weekdays.
DAYS = ((7, date(2026, 12, 1)), (11, date(2026, 11, 30)), (23, date(2026, 12, 2)), (42, date(2026, 12, 3)))
HISTORY_DAYS = 5  # as the demo (`wastesvc.demo.SIMULATED_DAYS`)
PLANNED_AT = time(5, 0)  # local time: before the 06:00 shifts
# The service's defaults: the selection policy alone decides, each stream keeps the scenario's age limit.
FILL_THRESHOLD = 0.0
MAX_DAYS_WITHOUT_EMPTYING = 0


@dataclass(frozen=True)
class DayResult:
    """What one planned day comes to."""

    seed: int
    service_date: str
    selected: int
    served: int
    skipped: int
    skip_reasons: dict[str, int]
    trucks: int
    truck_hours: float
    km: float
    routes: list[str]


def _seconds(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


def _container_row(scenario: Scenario, c: ScenarioContainer, now: datetime) -> ContainerRow:
    model = scenario.model(c.model_id)
    return ContainerRow(
        tenant=TENANT,
        id=c.id,
        commune_code=c.insee_code,
        lat=c.lat,
        lng=c.lng,
        stream=c.stream,
        volume_l=c.volume_l,
        model_id=model.id,
        empty_distance_mm=model.height_mm,
        full_distance_mm=model.d_full_mm,
        access_windows=json.dumps([[_seconds(w.start), _seconds(w.end)] for w in c.access_windows]),
        service_s=c.service_s,
        isle=c.isle_id or "",
        required_equipment=model.lift,
        sensor_id=c.sensor_id,
        create_time=now,
        update_time=now,
    )


def planning_input(scenario: Scenario, seed: int, service_date: date) -> tuple[PlanningInput, datetime]:
    """The scenario's state at `PLANNED_AT` on `service_date`, as the planner reads it from storage."""
    tz = ZoneInfo(scenario.timezone)
    now = datetime.combine(service_date, PLANNED_AT, tz).astimezone(UTC)
    containers = [_container_row(scenario, c, now) for c in scenario.containers]
    by_id = {c.id: c for c in scenario.containers}
    history = []
    for r in simulate_readings(scenario, now - timedelta(days=HISTORY_DAYS), HISTORY_DAYS, seed=seed):
        if r.measure_time > now:
            continue
        fill = r.fill_fraction
        if fill is None:
            assert r.distance_mm is not None
            fill = fill_from_distance(scenario.model(by_id[r.container_id].model_id), r.distance_mm)
        history.append((r.container_id, Reading(time=r.measure_time, fill=fill)))
    by_container: dict[str, list[Reading]] = {}
    for container_id, reading in history:
        by_container.setdefault(container_id, []).append(reading)
    forecasts = {
        c.id: forecast_of(fit_container(c, Series.from_readings(by_container.get(c.id, []), now), [], now))
        for c in containers
    }
    vehicles = [
        VehicleRow(
            tenant=TENANT,
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
            compartments=json.dumps(
                [[",".join(c.streams), c.capacity_l, c.capacity_kg] for c in v.compartments]
            ),
            create_time=now,
            update_time=now,
        )
        for v in scenario.vehicles
    ]
    depot = scenario.depot
    facilities = [
        FacilityRow(
            tenant=TENANT,
            id=f.id,
            lat=f.lat,
            lng=f.lng,
            streams=",".join(f.streams),
            open_s=_seconds(f.opening.start),
            close_s=_seconds(f.opening.end),
            dump_s=f.dump_s,
            create_time=now,
            update_time=now,
        )
        for f in scenario.facilities
    ]
    data = PlanningInput(
        tenant=TENANT,
        service_date=service_date,
        timezone=tz,
        containers=containers,
        forecasts=forecasts,
        vehicles=vehicles,
        depots={depot.id: DepotRow(tenant=TENANT, id=depot.id, lat=depot.lat, lng=depot.lng)},
        facilities=facilities,
        streams=frozenset(s.id for s in scenario.streams),
        fill_threshold=FILL_THRESHOLD,
        max_days_without_emptying=MAX_DAYS_WITHOUT_EMPTYING,
    )
    return data, now


def plan_day(scenario: Scenario, seed: int, service_date: date, time_limit_s: float) -> DayResult:
    """Select, build, solve and read back one day; the plan's numbers."""
    data, now = planning_input(scenario, seed, service_date)
    selected = select_for_plan(data)
    built = build_problem(data, selected)
    solution = routing.solve(built.problem, routing.SolveOptions(time_limit_s=time_limit_s))
    plan = solution_to_plan("bench", data, built, solution, now)
    reasons = Counter(f"{planning_pb2.SkipReason.Name(s.reason)}: {s.detail}" for s in plan.skipped)
    tz = ZoneInfo(scenario.timezone)
    routes = []
    for route in plan.routes:
        start = route.visits[0].start_time.ToDatetime(tzinfo=UTC).astimezone(tz)
        end = route.visits[-1].arrival_time.ToDatetime(tzinfo=UTC).astimezone(tz)
        dumps = sum(1 for v in route.visits if v.kind == planning_pb2.VISIT_KIND_DISPOSAL)
        streams = _route_streams(route, data)
        routes.append(
            f"{route.vehicle.rsplit('/', 1)[-1]}: {route.container_count} containers, "
            f"{'/'.join(streams)}, {dumps} dump(s), {start:%H:%M}-{end:%H:%M}, "
            f"{route.distance_meters / 1000:.1f} km"
        )
    totals = plan.totals
    return DayResult(
        seed=seed,
        service_date=service_date.isoformat(),
        selected=len(selected),
        served=totals.container_count,
        skipped=totals.skipped_count,
        skip_reasons=dict(reasons),
        trucks=totals.vehicle_count,
        truck_hours=round(totals.duration.ToTimedelta().total_seconds() / 3600, 2),
        km=round(totals.distance_meters / 1000, 1),
        routes=routes,
    )


def _route_streams(route: planning_pb2.VehicleRoute, data: PlanningInput) -> list[str]:
    """The streams of a route's trips in order, read from the containers it empties."""
    stream_of = {c.id: c.stream for c in data.containers}
    out: list[str] = []
    for visit in route.visits:
        for name in visit.containers[:1]:
            stream = stream_of[name.rsplit("/", 1)[-1]]
            if not out or out[-1] != stream:
                out.append(stream)
    return out


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def main(argv: Sequence[str] | None = None) -> None:
    """Plan the days and print their numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--time-limit", type=float, default=20.0, help="solver seconds per day (service default)"
    )
    parser.add_argument("--days", type=int, default=len(DAYS), help="how many of DAYS to plan")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    scenario = load_default()
    commit = _commit()
    results = []
    for seed, day in DAYS[: args.days]:
        result = plan_day(scenario, seed, day, args.time_limit)
        results.append(result)
        print(
            f"seed {seed} {day}: selected {result.selected}, served {result.served}, "
            f"skipped {result.skipped}, "
            f"{result.trucks} trucks, {result.truck_hours:.2f} truck-hours, {result.km:.1f} km",
            flush=True,
        )
        for line in result.routes:
            print(f"  {line}")
        for reason, count in sorted(result.skip_reasons.items()):
            print(f"  skipped {count}: {reason}")
    if args.json:
        payload = {"commit": commit, "time_limit_s": args.time_limit, "days": [r.__dict__ for r in results]}
        args.json.write_text(json.dumps(payload, indent=1) + "\n")


if __name__ == "__main__":
    main()
