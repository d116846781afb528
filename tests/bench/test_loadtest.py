"""The load test harness: a short locust run against a real server with both tenants."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.loadtest.run import run_load, summarise


def test_short_load_run_has_no_error_and_denies_every_cross_tenant_attempt(tmp_path: Path) -> None:
    """20 s, 6 users: ingest, reads and plans succeed; every attempt on the other tenant is denied."""
    result = run_load(users=6, seconds=20, work=tmp_path, plan_every_s=8, solver_s=2)
    record = result.record
    assert record["errors"] == 0, result.per_method
    assert record["requests"] > 20
    assert {"BatchCreateReadings", "OptimizeRoutes", "GetOperation"} <= set(result.per_method)
    assert record["plans_submitted"] >= 2
    assert record["plans_finished"] == record["plans_submitted"]
    assert record["cross_tenant_attempts"] > 0
    assert record["cross_tenant_denied"] == record["cross_tenant_attempts"]
    assert 0 < record["p99_ms"] < 30_000
    assert set(record) == {
        "locust_users",
        "locust_minutes",
        "requests",
        "errors",
        "p99_ms",
        "replica_kills",
        "worker_kills",
        "plans_submitted",
        "plans_finished",
        "cross_tenant_attempts",
        "cross_tenant_denied",
    }


def test_a_cross_tenant_leak_is_counted_as_not_denied() -> None:
    """A cross-tenant request that succeeded is an attempt that was not denied, and an error."""
    stats = [
        {
            "name": "cross-tenant GetContainer",
            "method": "grpc",
            "num_requests": 4,
            "num_failures": 1,
            "response_times": {"3": 4},
        },
        {
            "name": "GetContainer",
            "method": "grpc",
            "num_requests": 98,
            "num_failures": 0,
            "response_times": {"10": 90, "250": 8},
        },
        {
            "name": "plan finished",
            "method": "plan",
            "num_requests": 2,
            "num_failures": 0,
            "response_times": {"9000": 2},
        },
    ]
    record = summarise(stats, users=5, minutes=1).record
    assert (record["cross_tenant_attempts"], record["cross_tenant_denied"]) == (4, 3)
    assert (record["requests"], record["errors"]) == (102, 1)
    assert record["p99_ms"] == 250
    assert record["plans_finished"] == 2


@pytest.mark.postgres
@pytest.mark.rabbitmq
def test_killing_a_replica_and_a_worker_mid_solve_loses_no_plan(tmp_path: Path) -> None:
    """40 s with two replicas and two workers; one of each killed mid-solve: no error, every plan done."""
    result = run_load(users=6, seconds=40, work=tmp_path, plan_every_s=8, solver_s=4, faults=True)
    record = result.record
    assert (record["replica_kills"], record["worker_kills"]) == (1, 1)
    assert record["errors"] == 0, result.per_method
    assert record["plans_submitted"] >= 2
    assert record["plans_finished"] == record["plans_submitted"]
    assert record["cross_tenant_denied"] == record["cross_tenant_attempts"] > 0
    # The killed worker's operation was taken up by the surviving worker.
    assert result.rerun_by
    assert any("started" in line for line in result.rerun_by)
