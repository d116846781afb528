"""`make loadtest`: a real server with both tenants, locust headless against it, the numbers from its JSON.

Steps: start ``wastesvc serve`` on a fresh database, load the two shipped scenarios and two days of
readings through the API, run locust (``locustfile.py``) for the given time, then read locust's
``--json-file`` output (REFERENCE §8: its final CSV under-counts) into one `scale.json` record.
By default one server solves in its own process pool; ``--faults`` runs two API replicas and two solver
workers on PostgreSQL and RabbitMQ and kills one of each mid-solve (`cluster.Cluster.kill_mid_solve`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import psycopg
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.loadtest.cluster import Cluster
from wastesvc.client import open_channel
from wastesvc.config import Settings
from wastesvc.demo import feed_readings, load_into
from wastesvc.scenario import BUILTIN_SCENARIOS, load_builtin
from wastesvc.simulate import simulate_readings

__all__ = ["LoadResult", "main", "run_load", "summarise"]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
PG_ADMIN_URL = os.environ.get("WASTESVC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BROKER_URL = os.environ.get("WASTESVC_TEST_BROKER", "amqp://guest:guest@127.0.0.1:5672/")
CROSS_TENANT = "cross-tenant "


@dataclass(frozen=True)
class LoadResult:
    """The scale.json record and the per-method percentiles behind it."""

    record: dict[str, Any]
    per_method: dict[str, dict[str, float]]
    killed_operation: str | None = None
    """The operation whose worker was killed, with `--faults`."""
    rerun_by: list[str] | None = None
    """What the surviving workers logged for it: their `operation … started/finished` lines."""


def _wait_serving(address: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                if stub.Check(health_pb2.HealthCheckRequest(), timeout=2).status == 1:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the server on {address} did not become healthy")
            time.sleep(0.3)


async def _seed(address: str, key_file: str) -> None:
    now = datetime.now(UTC)
    for tenant in BUILTIN_SCENARIOS:
        settings = Settings(auth_key_file=key_file, tenant=tenant)
        scenario = load_builtin(tenant)
        async with open_channel(address, settings) as channel:
            await load_into(channel, scenario, tenant)
            await feed_readings(channel, simulate_readings(scenario, now - timedelta(days=2), 2), tenant)


def _percentile(buckets: dict[str, int], fraction: float) -> float:
    """Locust's own rounding buckets (ms -> count), read as a cumulative distribution."""
    total = sum(buckets.values())
    if not total:
        return 0.0
    seen = 0
    for value, count in sorted((float(k), v) for k, v in buckets.items()):
        seen += count
        if seen >= fraction * total:
            return value
    return max(float(k) for k in buckets)


def summarise(stats: Sequence[dict[str, Any]], users: int, minutes: float) -> LoadResult:
    """The scale.json record from locust's JSON stats (one entry per request name)."""
    per_method: dict[str, dict[str, float]] = {}
    merged: dict[str, int] = {}
    requests = errors = 0
    for entry in stats:
        name, buckets = str(entry["name"]), entry["response_times"]
        per_method[name] = {
            "requests": entry["num_requests"],
            "failures": entry["num_failures"],
            "p50_ms": _percentile(buckets, 0.50),
            "p99_ms": _percentile(buckets, 0.99),
        }
        if entry["method"] != "grpc":
            continue  # "plan finished" spans a whole operation; it is not a request
        requests += entry["num_requests"]
        errors += entry["num_failures"]
        for bucket, count in buckets.items():
            merged[bucket] = merged.get(bucket, 0) + count
    cross = [v for k, v in per_method.items() if k.startswith(CROSS_TENANT)]
    finished = per_method.get("plan finished", {"requests": 0, "failures": 0})
    submitted = per_method.get("OptimizeRoutes", {"requests": 0, "failures": 0})
    record = {
        "locust_users": users,
        "locust_minutes": minutes,
        "requests": requests,
        "errors": errors,
        "p99_ms": _percentile(merged, 0.99),
        "replica_kills": 0,
        "worker_kills": 0,
        "plans_submitted": int(submitted["requests"] - submitted["failures"]),
        "plans_finished": int(finished["requests"] - finished["failures"]),
        "cross_tenant_attempts": int(sum(v["requests"] for v in cross)),
        "cross_tenant_denied": int(sum(v["requests"] - v["failures"] for v in cross)),
    }
    return LoadResult(record, per_method)


def _fresh_database(admin_url: str) -> str:
    name = f"wastesvc_load_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def _drop_database(admin_url: str, db_url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{db_url.rsplit("/", 1)[1]}" WITH (FORCE)')


def run_load(
    *,
    users: int,
    seconds: float,
    work: Path,
    db_url: str | None = None,
    plan_every_s: float = 180.0,
    solver_s: float = 10.0,
    faults: bool = False,
) -> LoadResult:
    """Starts the servers, seeds both tenants, runs locust headless and summarises its JSON output.

    With `faults`: two replicas and two solver workers on a fresh PostgreSQL database (``PG_ADMIN_URL``)
    and RabbitMQ (``BROKER_URL``); 40 % into the run one replica and a worker running a plan are killed.
    """
    env = dict(os.environ)
    killed: str | None = None
    if faults:
        db_url = _fresh_database(PG_ADMIN_URL)
        env.update(
            WASTESVC_JOB_BROKER_URL=BROKER_URL, WASTESVC_JOB_QUEUE=f"wastesvc-load-{uuid.uuid4().hex[:8]}"
        )
    env.update(
        WASTESVC_DB_URL=db_url or f"sqlite:///{work / 'load.db'}",
        WASTESVC_AUTH_KEY_FILE=str(work / "auth.key"),
        WASTESVC_LOG_FORMAT="json",
        WASTESVC_LOAD_PLAN_EVERY_S=str(plan_every_s),
        WASTESVC_LOAD_SOLVER_S=str(solver_s),
    )
    cluster = Cluster(env, work, replicas=2 if faults else 1, workers=2 if faults else 0)
    report = work / "locust"
    try:
        for address in cluster.addresses:
            _wait_serving(address)
        asyncio.run(_seed(cluster.addresses[0], env["WASTESVC_AUTH_KEY_FILE"]))
        env["WASTESVC_LOAD_HOSTS"] = ",".join(cluster.addresses)
        command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary"]
        command += ["-u", str(users), "-r", str(max(1, users // 5)), "-t", f"{int(seconds)}s"]
        command += ["--host", cluster.addresses[0], "--json-file", str(report), "--stop-timeout", "60"]
        with (work / "locust.log").open("w") as locust_log:
            locust = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=locust_log)
            if faults:
                time.sleep(0.4 * seconds)
                # Past selection and problem building: the solver has run about half its budget.
                killed = cluster.kill_mid_solve(
                    timeout_s=0.5 * seconds, running_s=min(2.0, solver_s / 2) + 2.0
                )
            locust.wait()
    finally:
        cluster.stop()
        if faults and db_url:
            _drop_database(PG_ADMIN_URL, db_url)
    stats = json.loads(report.with_suffix(".json").read_text(encoding="utf-8"))
    result = summarise(stats, users, round(seconds / 60, 2))
    result.record.update(replica_kills=cluster.kills["replica"], worker_kills=cluster.kills["worker"])
    return LoadResult(result.record, result.per_method, killed, cluster.reruns(killed))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=30, help="simulated clients (default 30)")
    parser.add_argument("--minutes", type=float, default=10.0, help="run time (default 10)")
    parser.add_argument("--db-url", default=None, help="database of the server (default: a fresh SQLite)")
    parser.add_argument("--plan-every", type=float, default=180.0, help="seconds between a tenant's plans")
    parser.add_argument("--solver-seconds", type=float, default=10.0, help="solver budget per plan")
    parser.add_argument(
        "--faults", action="store_true", help="two replicas and two workers; kill one of each mid-solve"
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/scale.json"), help="record to write")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="wastesvc-load-") as work:
        result = run_load(
            users=args.users,
            seconds=args.minutes * 60,
            work=Path(work),
            db_url=args.db_url,
            plan_every_s=args.plan_every,
            solver_s=args.solver_seconds,
            faults=args.faults,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result.record, indent=2) + "\n", encoding="utf-8")
    print(f"{'request':<32} {'count':>8} {'fail':>5} {'p50 ms':>8} {'p99 ms':>8}")
    for name, row in sorted(result.per_method.items()):
        counts = f"{row['requests']:>8.0f} {row['failures']:>5.0f}"
        print(f"{name:<32} {counts} {row['p50_ms']:>8.0f} {row['p99_ms']:>8.0f}")
    if result.killed_operation:
        print(f"killed mid-solve: operation {result.killed_operation}; after the kill: {result.rerun_by}")
    print(json.dumps(result.record))
    return 0 if result.record["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
