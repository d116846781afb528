"""`python -m bench.osrm_matrix [--stops N] [--solve S]`: a road matrix at agglomeration scale, then a plan.

Prepares the Liechtenstein extract with `scripts/osrm.sh` (the only extract in the repository), starts its
`osrm-routed` (MLD) on loopback, snaps `--stops` random points of the country to their nearest road, and
times `routing.OsrmMatrix` building the whole matrix (stops, one depot, one facility) through chunked
`/table` requests: once in blocks of 100 (osrm-routed's default `--max-table-size`), once in blocks of
1 000 (a server started with a larger limit, as here). Then it plans a residual-waste day on that matrix
with `routing.solve` for `--solve` seconds and checks the plan with `routing.check`. Prints one line per
step and writes `bench/results/osrm_matrix-<commit>.json`.
"""

from __future__ import annotations

import argparse
import json
import math
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np

import routing
from bench._commit import measured_commit
from bench.routing import REPO, RESULTS

__all__ = ["main"]

PBF = REPO / "data" / "osm" / "liechtenstein-latest.osm.pbf"
# The country's bounding box (lat, lng), and places for the depot (Vaduz) and the facility (Schaan).
BOX = ((47.05, 9.47), (47.27, 9.64))
DEPOT = routing.Location(47.1410, 9.5215)
FACILITY = routing.Location(47.1650, 9.5100)
MAX_SNAP_M = 300.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_server() -> tuple[subprocess.Popen[bytes], str, float]:
    """osrm-routed on the prepared extract; its process, URL and the preparation time."""
    started = time.monotonic()
    prepared = subprocess.run([REPO / "scripts" / "osrm.sh", PBF], capture_output=True, text=True, check=True)
    base, routed = prepared.stdout.split()
    port = _free_port()
    server = subprocess.Popen(
        [
            routed,
            "--algorithm",
            "mld",
            "--max-table-size",
            "1000",
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            base,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            httpx.get(f"{url}/nearest/v1/driving/9.5215,47.1410", timeout=1.0)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    return server, url, time.monotonic() - started


def _snapped(url: str, count: int, seed: int) -> list[routing.Location]:
    """`count` distinct random points of the box moved onto their nearest road (within `MAX_SNAP_M`).

    The snap is asked of `/table` (one row from the depot), which snaps as the matrix requests will:
    `/nearest` may answer a road of a small disconnected component that `/table` does not use.
    """
    rng = np.random.default_rng(seed)
    found: dict[routing.Location, None] = {}
    # A new connection per request: osrm-routed may close a kept-alive one between requests.
    with httpx.Client(timeout=5.0, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        while len(found) < count:
            lat = rng.uniform(BOX[0][0], BOX[1][0])
            lng = rng.uniform(BOX[0][1], BOX[1][1])
            answer = client.get(
                f"{url}/table/v1/driving/{DEPOT.lng},{DEPOT.lat};{lng:.6f},{lat:.6f}?sources=0"
            ).json()
            waypoint = answer["destinations"][1]
            if waypoint["distance"] <= MAX_SNAP_M:
                lng_s, lat_s = waypoint["location"]
                found[routing.Location(round(lat_s, 6), round(lng_s, 6))] = None
    return list(found)


def _timed_matrix(
    url: str, locations: Sequence[routing.Location], block: int
) -> tuple[routing.Matrix, float]:
    provider = routing.OsrmMatrix(url, max_table_size=block, timeout_s=120.0)
    started = time.monotonic()
    try:
        matrix = provider.matrix(locations)
    finally:
        provider.close()
    return matrix, time.monotonic() - started


def _problem(stops: Sequence[routing.Location], matrix: routing.Matrix) -> routing.Problem:
    """240 L bins 80 % full, 30 s each, and enough 20 m³ trucks working 06:00-14:00 with a lunch."""
    shift = routing.TimeWindow(6 * 3600, 14 * 3600)
    facility = routing.Facility(
        "ts", FACILITY, frozenset({"residual"}), routing.TimeWindow(5 * 3600, 18 * 3600), 900
    )
    vehicles = tuple(
        routing.Vehicle(
            id=f"bom-{k:02d}",
            capacity_l=20_000.0,
            capacity_kg=10_000.0,
            streams=frozenset({"residual"}),
            start_depot="depot",
            end_depot="depot",
            shift=shift,
            cost_per_km=1.5,
            cost_per_hour=95.0,
            lunch=routing.Break(11 * 3600, 12 * 3600, 1800),
            latest_departure_s=shift.start_s,
        )
        for k in range(12)
    )
    problem_stops = tuple(
        routing.Stop(f"c{k}", loc, "residual", volume_l=192.0, weight_kg=29.0, service_s=30)
        for k, loc in enumerate(stops)
    )
    problem = routing.Problem(problem_stops, vehicles, (routing.Depot("depot", DEPOT),), (facility,))
    explicit = routing.ExplicitMatrix(problem.locations(), matrix.distances_m, matrix.durations_s)
    return routing.Problem(problem_stops, vehicles, problem.depots, problem.facilities, explicit)


def main(argv: Sequence[str] | None = None) -> None:
    """Prepare, start, snap, time the matrix twice, plan, print and save."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stops", type=int, default=2000)
    parser.add_argument("--solve", type=float, default=60.0, help="solver seconds (0: no plan)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result: dict[str, Any] = {
        "commit": measured_commit("routing", "bench"),
        "stops": args.stops,
        "seed": args.seed,
    }
    server, url, prepare_s = _start_server()
    try:
        print(f"osrm.sh and osrm-routed ready in {prepare_s:.1f} s", flush=True)
        stops = _snapped(url, args.stops, args.seed)
        locations = (DEPOT, FACILITY, *stops)  # `Problem.locations()` order: depots, facilities, stops
        timings = {}
        matrix = None
        for block in (100, 1000):
            matrix, seconds = _timed_matrix(url, locations, block)
            timings[block] = round(seconds, 2)
            requests = math.ceil(len(locations) / block) ** 2
            print(
                f"matrix {len(locations)}×{len(locations)} in blocks of {block}"
                f" ({requests} /table requests): {seconds:.1f} s",
                flush=True,
            )
        result["matrix_s_by_block"] = timings
        result["locations"] = len(locations)
        assert matrix is not None
        if args.solve > 0:
            problem = _problem(stops, matrix)
            solution = routing.solve(problem, routing.SolveOptions(time_limit_s=args.solve))
            violations = routing.check(problem, solution)
            result["plan"] = {
                "time_limit_s": args.solve,
                "solve_s": round(solution.solve_time_s, 1),
                "status": solution.status,
                "vehicles": len(solution.routes),
                "km": round(sum(r.distance_m for r in solution.routes) / 1000, 1),
                "skipped": len(solution.skipped),
                "check_violations": len(violations),
                "notes": list(solution.notes),
            }
            print(f"plan: {result['plan']}", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=10)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"osrm_matrix-{result['commit']}.json"
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"saved {Path(out).relative_to(REPO)}")


if __name__ == "__main__":
    main()
