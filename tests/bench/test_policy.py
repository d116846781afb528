"""The policy simulator's pieces: the fixed schedule, one simulated day, the report section."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bench.policy import fixed_due, simulate, write_section
from wastesvc.scenario import load_default
from wastesvc.storage import ContainerRow

_STAMP = datetime(2027, 1, 1, tzinfo=UTC)


def _row(stream: str, commune: str) -> ContainerRow:
    return ContainerRow(
        tenant="t", id="c", commune_code=commune, lat=49.0, lng=3.0, stream=stream, volume_l=660,
        create_time=_STAMP, update_time=_STAMP,
    )  # fmt: skip


def test_fixed_schedule_keeps_its_frequency() -> None:
    """A twice-weekly round visits 8 times in 28 days, a fortnightly one twice, whatever the commune."""
    for commune in ("02722", "02003"):
        assert sum(fixed_due(_row("residual", commune), 3.5)(d) for d in range(28)) == 8
        assert sum(fixed_due(_row("glass", commune), 14)(d) for d in range(28)) == 2


def test_one_day_of_a_threshold_policy_is_consistent() -> None:
    """A simulated day counts every container once, drives, and empties what it routed at a real fill."""
    run = simulate("threshold-80", 1, 7, 0.5)
    record = run.record()

    containers = len(load_default().containers)
    assert record["container_days"] == containers
    assert record["km"] > 0
    assert 0 < record["collections"] <= containers
    assert 0.5 < record["avg_fill_at_emptying"] <= 1.0
    assert record["overflow_container_days"] == run.daily_overflows[0]


def test_report_section_is_replaced_not_duplicated(tmp_path: Path) -> None:
    """Writing the section twice leaves one copy, and the sections around it untouched."""
    report = tmp_path / "BENCHMARKS.md"
    report.write_text("# Benchmarks\n\n## Routing\n\nkeep me\n", encoding="utf-8")

    write_section(report, "## Selection policies (`make bench-policy`)\n\nfirst\n")
    write_section(report, "## Selection policies (`make bench-policy`)\n\nsecond\n")

    text = report.read_text(encoding="utf-8")
    assert text.count("## Selection policies") == 1
    assert "second" in text
    assert "first" not in text
    assert "keep me" in text
