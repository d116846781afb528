"""`make bench-jobs` in small: the engines run their phases and the kill round finds the job finished once."""

from __future__ import annotations

import json

import pytest

from bench.job_engines import main

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, dict[str, object]]:
    assert main(["--latency-jobs", "5", "--throughput-jobs", "20", "--no-write", *args]) == 0
    return {record["engine"]: record for record in json.loads(capsys.readouterr().out)["engines"]}


def test_a_killed_dramatiq_job_is_restarted_at_once_and_completed_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """SIGKILL mid-job: RabbitMQ hands the job to the other worker within a second; it completes once."""
    record = _run(capsys, "--engines", "dramatiq-rabbitmq", "--kills", "1")["dramatiq-rabbitmq"]
    kill = record["kill"]
    assert isinstance(kill, dict)
    (round_,) = kill["rounds"]
    assert round_["finished"]
    assert (round_["starts"], round_["completions"]) == (2, 1)
    assert round_["redelivery_s"] < 1.0
    assert record["duplicates_outside_kills"] == 0


def test_the_postgresql_queues_run_every_job(capsys: pytest.CaptureFixture[str]) -> None:
    """procrastinate and pgqueuer on scratch databases: latency measured, the backlog drained."""
    records = _run(capsys, "--engines", "procrastinate,pgqueuer", "--kills", "0")
    for record in records.values():
        latency, throughput = record["latency"], record["throughput"]
        assert isinstance(latency, dict)
        assert isinstance(throughput, dict)
        assert latency["jobs"] == 5
        assert 0 < latency["p50_ms"] <= latency["p99_ms"]
        assert throughput["drain_per_s"] > 0
        assert record["duplicates_outside_kills"] == 0
