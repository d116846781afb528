"""Readers of data/benchmarks and the independent checker of bench/verify.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import vrplib

import routing
from bench.readers import (
    CATALOG,
    KIM_LITERATURE,
    LUNCH_EARLIEST_S,
    UNSEEN,
    KimInstance,
    KimSite,
    VrpInstance,
    benchmark_data,
    load,
    read_kim,
    read_solomon,
)
from bench.routing import PRESETS, SEPARATE_RESULTS, full_budget, merge_records
from bench.solvers import engine_problem
from bench.verify import KimRoute, verify_kim, verify_vrp

ROOT = benchmark_data()


def vrp(name: str) -> VrpInstance:
    instance = load(CATALOG[name], ROOT)
    assert isinstance(instance, VrpInstance)
    return instance


def kim(name: str) -> KimInstance:
    instance = load(CATALOG[name], ROOT)
    assert isinstance(instance, KimInstance)
    return instance


def bks_routes(name: str) -> list[list[int]]:
    path = ROOT / CATALOG[name].relpath
    routes: list[list[int]] = vrplib.read_solution(str(path.with_suffix(".sol")))["routes"]
    return routes


def test_benchmark_data_is_inside_the_repository() -> None:
    """The instances are read from the repository's own data/benchmarks, not from a folder beside it."""
    repo = Path(__file__).resolve().parents[2]
    assert repo / "data" / "benchmarks" == ROOT
    assert all((ROOT / spec.relpath).is_file() for spec in CATALOG.values())


def test_missing_benchmark_folder_fails_clearly(tmp_path: Path) -> None:
    """Without data/benchmarks the harness names the path it looked for."""
    with pytest.raises(FileNotFoundError, match="data/benchmarks"):
        benchmark_data(tmp_path / "repo")


@pytest.mark.parametrize(
    ("name", "customers", "capacity"),
    [
        ("X-n101-k25", 100, 206),
        ("X-n200-k36", 199, 402),
        ("X-n502-k39", 501, 13),
        ("X-n1001-k43", 1000, 131),
        ("Leuven1", 3000, 25),
    ],
)
def test_cvrp_reader_counts(name: str, customers: int, capacity: int) -> None:
    """Each CVRP file has the README's customers and capacity, no windows and an unlimited fleet."""
    instance = vrp(name)
    assert (instance.n_customers, instance.capacity) == (customers, capacity)
    assert instance.time_windows is None
    assert instance.fleet is None
    assert instance.demand[0] == 0
    assert CATALOG[name].customers == customers


@pytest.mark.parametrize(
    ("name", "customers", "fleet"),
    [
        ("C101", 100, 25),
        ("R101", 100, 25),
        ("RC201", 100, 25),
        ("C1_2_1", 200, 50),
        ("RC2_4_1", 400, 100),
        ("RC2_10_1", 1000, 250),
    ],
)
def test_vrptw_reader_counts(name: str, customers: int, fleet: int) -> None:
    """Solomon .txt and VRPLIB VRPTW files give the README's customer count, the fleet and windows."""
    instance = vrp(name)
    assert instance.n_customers == customers
    assert instance.fleet == fleet
    assert instance.time_windows is not None
    assert instance.time_windows.shape == (customers + 1, 2)
    assert instance.service[0] == 0
    assert instance.service[1:].min() > 0
    assert not instance.reload
    assert CATALOG[name].customers == customers


@pytest.mark.parametrize(
    ("name", "customers", "vehicles", "capacity"),
    [("RC201R0.5", 100, 8, 100), ("C2_2_01R0.5", 200, 20, 100)],
)
def test_mtvrptwr_reader_counts(name: str, customers: int, vehicles: int, capacity: int) -> None:
    """MTVRPTWR files give the README's customers, vehicles and capacity, reloads and release times."""
    instance = vrp(name)
    assert (instance.n_customers, instance.fleet, instance.capacity) == (customers, vehicles, capacity)
    assert instance.reload
    assert instance.release is not None
    assert instance.release.max() > 0
    assert instance.time_windows is not None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("102", (99, 2, 280, 400, 897)),
        ("277", (275, 1, 200, 2200, 2132.5)),
        ("444", (442, 1, 200, 400, 3991.3)),
        ("804", (784, 19, 280, 10000, 4620)),
        ("1051", (1048, 2, 200, 800, 12695.5)),
        ("1351", (1347, 3, 255, 800, 5445)),
        ("1932", (1927, 4, 462, 2000, 13205)),
        ("2100", (2092, 7, 462, 2000, 17166)),
    ],
)
def test_kim_reader_counts(name: str, expected: tuple[int, int, float, float, float]) -> None:
    """Each Kim file (CRLF, mixed tabs) gives the README's customers, facilities, capacities and load."""
    customers, facilities, vehicle_cap, route_cap, total_load = expected
    instance = kim(name)
    assert instance.n_customers == customers
    assert len(instance.facilities) == facilities
    assert (instance.vehicle_capacity, instance.route_capacity) == (vehicle_cap, route_cap)
    assert instance.total_load() == pytest.approx(total_load, abs=0.05)
    assert (instance.max_stops, instance.lunch_s, instance.speed_mph) == (500, 3600, 40)
    assert KIM_LITERATURE[name].customers == customers


def test_kim_reader_parses_hhmm_and_rows() -> None:
    """Kim times are HHMM (24:00 allowed) and the first rows of 102 read as in the file."""
    instance = read_kim(ROOT / "wcvrptw_kim2006" / "102_stop.txt")
    depot = instance.depot
    assert (depot.id, depot.early_s, depot.late_s) == (0, 4 * 3600, 15 * 3600)
    facility = instance.facilities[0]
    assert (facility.id, facility.early_s, facility.late_s, facility.service_s) == (1, 0, 24 * 3600, 1600)
    assert instance.sites[3] == KimSite(3, 1208344.0, 3469904.0, 7 * 3600, 24 * 3600, 180, 12.0, 1)


@pytest.mark.parametrize(
    ("name", "bks"),
    [
        ("X-n101-k25", 27591),
        ("R101", 1637.7),
        ("RC201", 1261.8),
        ("RC201R0.5", 1849.6),
        ("X-n200-k36", 58578),
        ("C101", 827.3),
        ("C1_2_1", 2698.6),
        ("C2_2_01R0.5", 4702.5),
    ],
)
def test_verifier_recosts_bks_exactly(name: str, bks: float) -> None:
    """The shipped BKS .sol re-costs to exactly the BKS under the family's convention and is feasible."""
    result = verify_vrp(vrp(name), bks_routes(name))
    assert result.violations == []
    assert result.cost == pytest.approx(bks, abs=1e-9)
    assert CATALOG[name].bks == bks


def test_verifier_recosts_sintef_solution_in_double_precision() -> None:
    """The RC2_4_1 SINTEF solution is 11 routes, 6682.37 in double precision, and feasible."""
    instance = read_solomon(ROOT / "vrptw" / "RC2_4_1.txt", "exact")
    text = (ROOT / "vrptw" / "RC2_4_1.sintef.sol").read_text(encoding="latin-1")
    routes = [
        [int(x) for x in line.split(":", 1)[1].split()]
        for line in text.splitlines()
        if line.startswith("Route")
    ]
    result = verify_vrp(instance, routes)
    assert result.violations == []
    assert (result.vehicles, round(result.cost, 2)) == (11, 6682.37)


def test_verifier_flags_a_dropped_customer() -> None:
    """Removing one customer from the BKS makes it infeasible, naming the customer."""
    routes = bks_routes("X-n101-k25")
    dropped = routes[0].pop()
    result = verify_vrp(vrp("X-n101-k25"), routes)
    assert not result.feasible
    assert any("not served" in v and str(dropped) in v for v in result.violations)


def test_verifier_flags_an_overload() -> None:
    """Merging two BKS routes of X-n101-k25 overloads the truck."""
    routes = bks_routes("X-n101-k25")
    routes[0] += routes.pop(1)
    result = verify_vrp(vrp("X-n101-k25"), routes)
    assert not result.feasible
    assert any("capacity" in v for v in result.violations)


def test_verifier_flags_a_merged_trip_and_a_late_customer() -> None:
    """Dropping a reload overloads an MTVRPTWR trip; reversing an R101 route breaks its windows."""
    routes = bks_routes("RC201R0.5")
    routes[3] = [c for c in routes[3] if c != 0]
    result = verify_vrp(vrp("RC201R0.5"), routes)
    assert any("capacity" in v for v in result.violations)
    r101 = bks_routes("R101")
    r101[0].reverse()
    assert any("due" in v for v in verify_vrp(vrp("R101"), r101).violations)


def test_verifier_flags_reloads_where_not_allowed() -> None:
    """A 0 inside a CVRP route is a reload, which CVRP does not allow."""
    routes = bks_routes("X-n101-k25")
    routes[0].insert(1, 0)
    assert any("reload" in v for v in verify_vrp(vrp("X-n101-k25"), routes).violations)


def tiny_kim(early_s: int = 0, late_s: int = 24 * 3600) -> KimInstance:
    """A 2-customer Kim instance: depot at 0, facility 5 280 ft east, customers on the way."""
    sites = (
        KimSite(0, 0.0, 0.0, 6 * 3600, 18 * 3600, 0, 9999.0, 0),
        KimSite(1, 5280.0, 0.0, 0, 24 * 3600, 600, 9999.0, 2),
        KimSite(2, 1000.0, 0.0, early_s, late_s, 60, 150.0, 1),
        KimSite(3, 2000.0, 1000.0, 0, 24 * 3600, 60, 100.0, 1),
    )
    return KimInstance("tiny", Path("tiny"), 280.0, 400.0, 500, 3600, 40.0, sites)


def test_kim_verifier_recosts_miles_and_checks_disposal() -> None:
    """Miles are exact Manhattan feet / 5280; a route must empty at a facility and respect capacities."""
    instance = tiny_kim()
    good = verify_kim(instance, [KimRoute((2, 3, 1))])
    assert good.violations == []
    assert good.cost == pytest.approx((1000 + 2000 + 3280 + 1000 + 5280) / 5280)
    no_dump = verify_kim(instance, [KimRoute((2, 3))])
    assert any("facility" in v for v in no_dump.violations)
    small = dataclasses.replace(instance, vehicle_capacity=200.0, route_capacity=200.0)
    overloaded = verify_kim(small, [KimRoute((2, 3, 1))])
    assert any("capacity" in v for v in overloaded.violations)
    assert any("route capacity" in v for v in overloaded.violations)


def test_kim_verifier_places_the_lunch() -> None:
    """A day spanning noon gets a lunch between 11:00 and 12:00; a window it pushes out is flagged."""
    fits = tiny_kim(early_s=13 * 3600)
    result = verify_kim(fits, [KimRoute((2, 3, 1))])
    assert result.violations == []
    assert result.lunches[0] is not None
    assert LUNCH_EARLIEST_S <= result.lunches[0] <= LUNCH_EARLIEST_S + 3600
    # 2 must start in 11:40-11:45 and 3 in 12:00-12:10: no gap leaves an hour for lunch starting by 12:00.
    tight = dataclasses.replace(
        fits,
        sites=(
            dataclasses.replace(fits.sites[0], early_s=10 * 3600),
            fits.sites[1],
            dataclasses.replace(fits.sites[2], early_s=11 * 3600 + 40 * 60, late_s=11 * 3600 + 45 * 60),
            dataclasses.replace(fits.sites[3], early_s=12 * 3600, late_s=12 * 3600 + 10 * 60),
        ),
    )
    assert not verify_kim(tight, [KimRoute((2, 3, 1))]).feasible


@pytest.mark.parametrize("name", ["X-n101-k25", "R101", "RC201R0.5", "102"])
def test_engine_problem_is_valid(name: str) -> None:
    """Every family turns into a routing.Problem that the engine's validator accepts."""
    routing.validate(engine_problem(load(CATALOG[name], ROOT), 1.0).problem)


def test_a_run_replaces_its_preset_s_instances_and_keeps_the_rest() -> None:
    """A quick re-run of Kim 102 replaces quick's three 102 records; kim's 102 and quick's R101 stay."""
    solvers = ("engine", "pyvrp", "ortools-default")
    earlier = [
        *({"instance": "102", "solver": s, "preset": "kim", "run": 1} for s in solvers),
        *({"instance": "102", "solver": s, "preset": "quick", "run": 1} for s in solvers),
        {"instance": "R101", "solver": "pyvrp", "preset": "quick", "run": 1},
    ]
    new = [{"instance": "102", "solver": s, "preset": "quick", "run": 2} for s in ("pyvrp", "engine")]
    merged = merge_records(earlier, new)
    assert [(r["preset"], r["instance"], r["solver"], r["run"]) for r in merged] == [
        ("quick", "R101", "pyvrp", 1),
        ("quick", "102", "engine", 2),
        ("quick", "102", "pyvrp", 2),
        ("kim", "102", "engine", 1),
        ("kim", "102", "pyvrp", 1),
        ("kim", "102", "ortools-default", 1),
    ]


def test_unseen_set_is_kept_apart_from_the_catalogue() -> None:
    """`UNSEEN` shares no name or file with `CATALOG`; only `unseen` runs it, at the `full` rule."""
    assert UNSEEN
    assert not set(UNSEEN) & set(CATALOG)
    assert all(spec.relpath.startswith("unseen/") for spec in UNSEEN.values())
    shipped = {Path(spec.relpath).name for spec in CATALOG.values()}
    assert not {Path(spec.relpath).name for spec in UNSEEN.values()} & shipped
    assert PRESETS["unseen"] == [(name, full_budget(spec.customers)) for name, spec in UNSEEN.items()]
    for preset, runs in PRESETS.items():
        assert preset == "unseen" or not {name for name, _ in runs} & set(UNSEEN)
    assert "unseen" in SEPARATE_RESULTS


@pytest.mark.parametrize("name", list(UNSEEN))
def test_unseen_instances_load_and_their_bks_recosts_exactly(name: str) -> None:
    """Each unseen instance parses with its customer count, and its `.sol` re-costs to the BKS, feasible."""
    spec = UNSEEN[name]
    instance = load(spec, ROOT)
    assert isinstance(instance, VrpInstance)
    assert (instance.family, instance.n_customers) == (spec.family, spec.customers)
    path = ROOT / spec.relpath
    routes = vrplib.read_solution(str(path.with_suffix(".sol")))["routes"]
    result = verify_vrp(instance, routes)
    assert result.violations == []
    assert result.cost == pytest.approx(spec.bks, abs=1e-9)
    assert result.vehicles == spec.bks_vehicles


def test_unseen_records_merge_after_the_catalogue_s() -> None:
    """Records of unseen instances sort by preset and instance like the others."""
    new = [{"instance": name, "solver": "engine", "preset": "unseen"} for name in reversed(UNSEEN)]
    merged = merge_records([{"instance": "R101", "solver": "engine", "preset": "quick"}], new)
    assert [r["instance"] for r in merged] == ["R101", *UNSEEN]
