"""Readers for every instance format in `data/benchmarks/`, and the catalogue of instances and BKS.

Two instance types come out of here:

* `VrpInstance` for the CVRP (VRPLIB), VRPTW (Solomon `.txt` and VRPLIB) and MTVRPTWR (PyVRP VRPLIB with
  `VEHICLES_RELOAD_DEPOT_SECTION` and release times) families. Node 0 is the depot, customers are 1..n: this
  is the numbering of the instance files' own `.sol` files (VRPLIB node `k` is `k - 1`; Solomon's `CUST NO.`).
* `KimInstance` for Kim, Kim & Sahoo (2006) WCVRPTW `*_stop.txt` files. Sites keep the ids of the file.

Each family is costed under its own convention (see `data/benchmarks/README.md`); the integer matrices
here are in the instance's *scaled* units, which is what the solvers are fed:

* CVRP `round`: nint Euclidean distance, scale 1; no times.
* VRPTW / MTVRPTWR `dimacs`: `floor(10 d)`, scale 10, for distance *and* time; windows, service and release
  times are multiplied by 10 too. Cost = scaled distance / 10.
* Kim: Manhattan distance in feet (rounded to the foot for the solvers, exact in the checker), cost in miles
  (feet / 5280), travel time = miles / 40 mph in seconds (rounded *up* for the solvers, so their plans stay
  feasible under the checker's exact times).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import vrplib

__all__ = [
    "CATALOG",
    "FEET_PER_MILE",
    "KIM_LITERATURE",
    "LUNCH_EARLIEST_S",
    "LUNCH_LATEST_S",
    "UNSEEN",
    "BenchmarkSpec",
    "Convention",
    "Family",
    "KimInstance",
    "KimLiterature",
    "KimSite",
    "VrpInstance",
    "benchmark_data",
    "load",
    "read_kim",
    "read_solomon",
    "read_vrplib",
    "spec_for",
]

Family = Literal["cvrp", "vrptw", "mtvrptwr", "wcvrptw"]
Convention = Literal["round", "dimacs", "exact"]

FEET_PER_MILE = 5280.0
# Kim et al.: the one-hour lunch starts between 11:00 and 12:00.
LUNCH_EARLIEST_S = 11 * 3600
LUNCH_LATEST_S = 12 * 3600

_SCALE: dict[Convention, int] = {"round": 1, "dimacs": 10, "exact": 1}


def benchmark_data(repo: Path | None = None) -> Path:
    """`<repo>/data/benchmarks`, the instances shipped with the repository, or a clear error when missing."""
    root = repo if repo is not None else Path(__file__).resolve().parent.parent
    path = (root / "data" / "benchmarks").resolve()
    if not (path / "README.md").is_file():
        raise FileNotFoundError(
            f"benchmark data not found at {path}: the harness expects the instance files "
            "(cvrp/, vrptw/, mtvrptwr/, wcvrptw_kim2006/ and README.md) in data/benchmarks of the repository"
        )
    return path


# --------------------------------------------------------------------------------------------------------
# VRPLIB and Solomon


@dataclass(frozen=True, eq=False)
class VrpInstance:
    """A CVRP, VRPTW or MTVRPTWR instance; node 0 is the depot, customers are 1..n.

    Times (`service`, `time_windows`, `release`) are in the file's units; `scale` turns them and the
    distances into the integer units the solvers get. `fleet` is None for an unlimited fleet (CVRP).
    """

    name: str
    family: Family
    path: Path
    convention: Convention
    coords: npt.NDArray[np.float64]
    demand: npt.NDArray[np.int64]
    capacity: int
    fleet: int | None
    service: npt.NDArray[np.float64]
    time_windows: npt.NDArray[np.float64] | None
    release: npt.NDArray[np.float64] | None
    reload: bool
    _dist: npt.NDArray[np.float64] | None = field(default=None, init=False, repr=False)

    @property
    def n_customers(self) -> int:
        """Number of customers (nodes 1..n)."""
        return len(self.coords) - 1

    @property
    def scale(self) -> int:
        """Integer units per instance unit: 10 under `dimacs`, else 1."""
        return _SCALE[self.convention]

    def euclidean(self) -> npt.NDArray[np.float64]:
        """Double-precision Euclidean distances between all nodes."""
        diff = self.coords[:, None, :] - self.coords[None, :, :]
        return np.asarray(np.sqrt((diff**2).sum(axis=2)), dtype=np.float64)

    def distances(self) -> npt.NDArray[np.float64]:
        """Arc lengths in scaled units under the family's convention (integral except for `exact`)."""
        if self._dist is None:
            d = self.euclidean()
            if self.convention == "round":
                # TSPLIB nint: half up. sqrt of an integer is never exactly .5, so this equals np.round.
                d = np.floor(d + 0.5)
            elif self.convention == "dimacs":
                # floor(10 d) with a guard against 10*d landing a hair under an integer.
                d = np.floor(10.0 * d + 1e-9)
            object.__setattr__(self, "_dist", d)
        assert self._dist is not None
        return self._dist

    def int_distances(self) -> npt.NDArray[np.int64]:
        """`distances()` as int64 (the solvers' matrix); not available under `exact`."""
        if self.convention == "exact":
            raise ValueError("the exact convention has no integer matrix")
        return self.distances().astype(np.int64)

    def scaled(self, values: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """Instance times (windows, service, release) in integer solver units."""
        return np.rint(np.asarray(values, dtype=np.float64) * self.scale).astype(np.int64)


def read_vrplib(path: Path, family: Family, convention: Convention) -> VrpInstance:
    """A VRPLIB `.vrp` file (CVRP, VRPTW or PyVRP's MTVRPTWR) read with the `vrplib` package."""
    data = vrplib.read_instance(str(path), compute_edge_weights=False)
    depots = np.atleast_1d(np.asarray(data.get("depot", [0])))
    if depots.size != 1 or int(depots[0]) != 0:
        raise ValueError(f"{path.name}: expected a single depot at node 1, got {depots.tolist()}")
    coords = np.asarray(data["node_coord"], dtype=np.float64)
    n = len(coords)
    service = np.zeros(n, dtype=np.float64)
    if "service_time" in data:
        service[:] = np.asarray(data["service_time"], dtype=np.float64)
        service[0] = 0.0
    time_windows = (
        np.asarray(data["time_window"], dtype=np.float64).reshape(n, 2) if "time_window" in data else None
    )
    release = np.asarray(data["release_time"], dtype=np.float64) if "release_time" in data else None
    reload = "vehicles_reload_depot" in data
    if reload and not (np.asarray(data["vehicles_reload_depot"]) == 1).all():
        raise ValueError(f"{path.name}: only reloading at the depot (node 1) is supported")
    fleet = int(data["vehicles"]) if "vehicles" in data else None
    return VrpInstance(
        name=str(data.get("name", path.stem)),
        family=family,
        path=path,
        convention=convention,
        coords=coords,
        demand=np.asarray(data["demand"], dtype=np.int64),
        capacity=int(data["capacity"]),
        fleet=fleet,
        service=service,
        time_windows=time_windows,
        release=release,
        reload=reload,
    )


def read_solomon(path: Path, convention: Convention = "dimacs") -> VrpInstance:
    """A Solomon / Gehring-Homberger `.txt` VRPTW file, read with `vrplib`'s Solomon parser."""
    data = vrplib.read_instance(str(path), instance_format="solomon", compute_edge_weights=False)
    coords = np.asarray(data["node_coord"], dtype=np.float64)
    service = np.asarray(data["service_time"], dtype=np.float64).copy()
    service[0] = 0.0
    return VrpInstance(
        name=str(data.get("name", path.stem)),
        family="vrptw",
        path=path,
        convention=convention,
        coords=coords,
        demand=np.asarray(data["demand"], dtype=np.int64),
        capacity=int(data["capacity"]),
        fleet=int(data["vehicles"]),
        service=service,
        time_windows=np.asarray(data["time_window"], dtype=np.float64),
        release=None,
        reload=False,
    )


# --------------------------------------------------------------------------------------------------------
# Kim et al. (2006)


@dataclass(frozen=True, slots=True)
class KimSite:
    """One row of a Kim `*_stop.txt` file; `early_s`/`late_s` bound the *start* of service."""

    id: int
    x_ft: float
    y_ft: float
    early_s: int
    late_s: int
    service_s: int
    load: float
    type: int  # 0 depot, 1 customer, 2 disposal facility


@dataclass(frozen=True, eq=False)
class KimInstance:
    """A Kim, Kim & Sahoo (2006) WCVRPTW instance. `sites` are in file order; ids are the file's."""

    name: str
    path: Path
    vehicle_capacity: float
    route_capacity: float
    max_stops: int
    lunch_s: int
    speed_mph: float
    sites: tuple[KimSite, ...]
    family: Family = "wcvrptw"

    @property
    def depot(self) -> KimSite:
        """The single depot (type 0)."""
        (depot,) = (s for s in self.sites if s.type == 0)
        return depot

    @property
    def facilities(self) -> tuple[KimSite, ...]:
        """Disposal facilities (type 2), in file order."""
        return tuple(s for s in self.sites if s.type == 2)

    @property
    def customers(self) -> tuple[KimSite, ...]:
        """Collection stops (type 1), in file order."""
        return tuple(s for s in self.sites if s.type == 1)

    @property
    def n_customers(self) -> int:
        """Number of collection stops."""
        return len(self.customers)

    def index(self) -> dict[int, int]:
        """Site id -> position in `sites`."""
        return {s.id: k for k, s in enumerate(self.sites)}

    def feet(self, sites: Sequence[KimSite] | None = None) -> npt.NDArray[np.float64]:
        """Exact Manhattan distances in feet between `sites` (default: all, in file order)."""
        chosen = self.sites if sites is None else sites
        x = np.array([s.x_ft for s in chosen], dtype=np.float64)
        y = np.array([s.y_ft for s in chosen], dtype=np.float64)
        return np.asarray(np.abs(x[:, None] - x[None, :]) + np.abs(y[:, None] - y[None, :]), dtype=np.float64)

    def seconds_per_foot(self) -> float:
        """Driving time per foot at the file's speed."""
        return 3600.0 / (FEET_PER_MILE * self.speed_mph)

    def solver_matrices(
        self, sites: Sequence[KimSite] | None = None
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(feet rounded to the foot, seconds rounded up) as int64: what the solvers are fed."""
        feet = self.feet(sites)
        seconds = np.ceil(feet * self.seconds_per_foot() - 1e-9)
        return np.rint(feet).astype(np.int64), seconds.astype(np.int64)

    def total_load(self) -> float:
        """Sum of the customers' loads (yd³)."""
        return sum(s.load for s in self.customers)


def _hhmm(token: str) -> int:
    """HHMM (as written by Kim et al., e.g. `0400`, `800`, `2400`, even `1675`) to seconds."""
    value = int(float(token))
    return (value // 100) * 3600 + (value % 100) * 60


def read_kim(path: Path) -> KimInstance:
    """A Kim et al. `*_stop.txt`: 5 header lines, a column header, then one row per site.

    The files use CRLF, mixed tabs and spaces, and some rows have trailing tabs.
    """
    lines = path.read_text(encoding="latin-1").splitlines()
    header = [line.split()[0] for line in lines[:5]]
    vehicle_capacity, route_capacity = float(header[0]), float(header[1])
    max_stops, lunch_s, speed = int(float(header[2])), int(float(header[3])), float(header[4])
    if not lines[5].lower().startswith("stop_id"):
        raise ValueError(f"{path.name}: line 6 should be the column header, got {lines[5][:40]!r}")
    sites = []
    for number, line in enumerate(lines[6:], start=7):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) < 8:
            raise ValueError(f"{path.name}:{number}: expected 8 columns, got {len(tokens)}")
        sid, x, y, early, late, service, load, kind = tokens[:8]
        sites.append(
            KimSite(
                id=int(sid),
                x_ft=float(x),
                y_ft=float(y),
                early_s=_hhmm(early),
                late_s=_hhmm(late),
                service_s=int(float(service)),
                load=float(load),
                type=int(kind),
            )
        )
    if len({s.id for s in sites}) != len(sites):
        raise ValueError(f"{path.name}: duplicate site ids")
    if sum(s.type == 0 for s in sites) != 1:
        raise ValueError(f"{path.name}: expected exactly one depot")
    name = re.sub(r"_stop$", "", path.stem)
    return KimInstance(
        name=name,
        path=path,
        vehicle_capacity=vehicle_capacity,
        route_capacity=route_capacity,
        max_stops=max_stops,
        lunch_s=lunch_s,
        speed_mph=speed,
        sites=tuple(sites),
    )


# --------------------------------------------------------------------------------------------------------
# Catalogue


@dataclass(frozen=True, slots=True)
class KimLiterature:
    """Vehicles / miles from `data/benchmarks/README.md` (literature values, not re-checkable)."""

    customers: int
    kim2006: tuple[int, float]
    benjamin_beasley2010: tuple[int, float]
    buhrkal2012: tuple[int, float]
    best_miles: float
    best_vehicles: int
    best_source: str
    # Other published plans (vehicles, miles), e.g. Benjamin & Beasley 2010's Table 2 with vehicle reduction.
    other_plans: tuple[tuple[int, float], ...] = ()

    def fewest(self) -> tuple[int, float]:
        """The fewest vehicles any paper published, and the fewest miles published at that count."""
        plans = [self.kim2006, self.benjamin_beasley2010, self.buhrkal2012, *self.other_plans]
        return min(plans)


# README "Reference results" table. Buhrkal: best of no-clustering / clustering runs (vehicles as published).
KIM_LITERATURE: dict[str, KimLiterature] = {
    "102": KimLiterature(99, (3, 205.1), (3, 183.5), (3, 174.5), 174.5, 3, "Buhrkal 2012"),
    "277": KimLiterature(275, (3, 527.3), (3, 464.5), (3, 447.6), 447.6, 3, "Buhrkal 2012"),
    "444": KimLiterature(442, (11, 87.0), (11, 89.1), (11, 78.3), 78.3, 11, "Buhrkal 2012"),
    "804": KimLiterature(
        784, (5, 769.5), (5, 725.6), (5, 586.2), 586.2, 5, "Buhrkal 2012 (clustered)", ((6, 755.8),)
    ),
    "1051": KimLiterature(
        1048, (18, 2370.4), (17, 2250.5), (17, 2295.2), 2250.5, 17, "Benjamin & Beasley 2010"
    ),
    "1351": KimLiterature(
        1347, (7, 1039.7), (8, 915.1), (8, 828.1), 828.1, 8, "Buhrkal 2012", ((7, 1011.9),)
    ),
    "1932": KimLiterature(1927, (17, 1395.3), (16, 1262.8), (16, 1128.7), 1128.7, 16, "Buhrkal 2012"),
    "2100": KimLiterature(
        2092, (16, 1833.8), (16, 1749.0), (17, 1594.2), 1749.0, 16, "Benjamin & Beasley 2010"
    ),
}


@dataclass(frozen=True, slots=True)
class BenchmarkSpec:
    """One instance of the suite: where it is, how to read it, its best-known value."""

    name: str
    family: Family
    relpath: str
    convention: Convention
    customers: int
    bks: float
    bks_vehicles: int | None
    note: str = ""


CATALOG: dict[str, BenchmarkSpec] = {
    s.name: s
    for s in (
        BenchmarkSpec("X-n101-k25", "cvrp", "cvrp/X-n101-k25.vrp", "round", 100, 27591, 26),
        BenchmarkSpec("X-n200-k36", "cvrp", "cvrp/X-n200-k36.vrp", "round", 199, 58578, 36),
        BenchmarkSpec("X-n502-k39", "cvrp", "cvrp/X-n502-k39.vrp", "round", 501, 69226, 39),
        BenchmarkSpec("X-n1001-k43", "cvrp", "cvrp/X-n1001-k43.vrp", "round", 1000, 72355, 43),
        BenchmarkSpec("Leuven1", "cvrp", "cvrp/Leuven1.vrp", "round", 3000, 192848, 203),
        BenchmarkSpec("C101", "vrptw", "vrptw/C101.txt", "dimacs", 100, 827.3, 10),
        BenchmarkSpec("R101", "vrptw", "vrptw/R101.txt", "dimacs", 100, 1637.7, 20),
        BenchmarkSpec("RC201", "vrptw", "vrptw/RC201.txt", "dimacs", 100, 1261.8, 9),
        BenchmarkSpec("C1_2_1", "vrptw", "vrptw/C1_2_1.txt", "dimacs", 200, 2698.6, 20),
        BenchmarkSpec(
            "RC2_4_1",
            "vrptw",
            "vrptw/RC2_4_1.txt",
            "dimacs",
            400,
            6147.3,
            None,
            "dimacs BKS 6147.3 quoted from CVRPLIB via a third party, routes not available "
            "(SINTEF hierarchical BKS: 11 vehicles / 6682.37)",
        ),
        BenchmarkSpec("RC2_10_1", "vrptw", "vrptw/RC2_10_1.vrp", "dimacs", 1000, 28122.6, 29),
        BenchmarkSpec("RC201R0.5", "mtvrptwr", "mtvrptwr/RC201R0.5.vrp", "dimacs", 100, 1849.6, 8),
        BenchmarkSpec("C2_2_01R0.5", "mtvrptwr", "mtvrptwr/C2_2_01R0.5.vrp", "dimacs", 200, 4702.5, 20),
        *(
            BenchmarkSpec(
                name,
                "wcvrptw",
                f"wcvrptw_kim2006/{name}_stop.txt",
                "exact",
                lit.customers,
                lit.best_miles,
                lit.best_vehicles,
                f"best known distance: {lit.best_source}",
            )
            for name, lit in KIM_LITERATURE.items()
        ),
    )
}


# Instances of the same families that are NOT in the shared reference set the constants were tuned on
# (`data/benchmarks/unseen/`, README "unseen/"). Kept apart: never used to tune, not in `CATALOG`, so the
# `quick` / `full` / `classic` presets and the report do not change; `bench.routing unseen` measures them.
UNSEEN: dict[str, BenchmarkSpec] = {
    s.name: s
    for s in (
        BenchmarkSpec("X-n153-k22", "cvrp", "unseen/X-n153-k22.vrp", "round", 152, 21220, 23),
        BenchmarkSpec("X-n228-k23", "cvrp", "unseen/X-n228-k23.vrp", "round", 227, 25742, 23),
        BenchmarkSpec("R201", "vrptw", "unseen/R201.txt", "dimacs", 100, 1143.2, 8),
        BenchmarkSpec("R1_4_5", "vrptw", "unseen/R1_4_5.vrp", "dimacs", 400, 9184.6, 37),
        BenchmarkSpec("C1_10_1", "vrptw", "unseen/C1_10_1.vrp", "dimacs", 1000, 42444.8, 100),
        BenchmarkSpec("C201R0.25", "mtvrptwr", "unseen/C201R0.25.vrp", "dimacs", 100, 1500.6, 8),
        BenchmarkSpec("C2_2_03R0.75", "mtvrptwr", "unseen/C2_2_03R0.75.vrp", "dimacs", 200, 4777.6, 20),
    )
}


def spec_for(name: str) -> BenchmarkSpec:
    """The spec of `name` in `CATALOG`, else in `UNSEEN` (the two share no name)."""
    return CATALOG[name] if name in CATALOG else UNSEEN[name]


def load(spec: BenchmarkSpec, root: Path | None = None) -> VrpInstance | KimInstance:
    """Read the instance of `spec` from the benchmark folder (`data/benchmarks` unless `root` is given)."""
    path = (root if root is not None else benchmark_data()) / spec.relpath
    if spec.family == "wcvrptw":
        return read_kim(path)
    if path.suffix == ".txt":
        return read_solomon(path, spec.convention)
    return read_vrplib(path, spec.family, spec.convention)
