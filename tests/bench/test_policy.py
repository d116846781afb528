"""The policy simulator's pieces: the fixed schedule, one simulated day, the report section."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

import bench.policy
from bench.policy import (
    START,
    PolicyRun,
    _boxes,
    _rows,
    _warm_start,
    calendar_factor,
    equal_service,
    fixed_due,
    simulate,
    write_section,
)
from wastesvc.domain.forecasts import PARIS
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
    # Every km is counted once per stream and once per commune kind (or hauls).
    assert sum(record["km_by_stream"].values()) == pytest.approx(record["km"], abs=1.0)
    assert sum(record["km_by_commune_kind"].values()) == pytest.approx(record["km"], abs=1.0)
    assert sum(record["collections_by_stream"].values()) == record["collections"]


def test_the_calendar_has_holidays_a_summer_dip_and_a_year_end_peak() -> None:
    """14 July and Easter Monday 2027 deposit like a Sunday; August 15 % less; New Year's Eve more glass."""
    week = (1.0, 0.9, 1.1, 1.0, 1.2, 1.3, 0.5)
    assert calendar_factor(date(2027, 7, 13), "residual", week) == 1.0  # a Tuesday before the holidays
    assert calendar_factor(date(2027, 7, 14), "residual", week) == pytest.approx(0.5 / 1.1 * 0.85)
    assert calendar_factor(date(2027, 3, 29), "residual", week) == pytest.approx(0.5 / 1.0)
    assert calendar_factor(date(2027, 8, 2), "residual", week) == pytest.approx(0.85)
    assert calendar_factor(date(2027, 12, 31), "glass", week) == pytest.approx(1.4)
    assert calendar_factor(date(2027, 12, 31), "residual", week) == pytest.approx(1.2)


def test_equal_service_raises_only_the_rounds_that_overflowed() -> None:
    """One raise doubles the one overflowing round and runs it with twice the fleet; the fixed run itself
    is kept when it already overflows no more than ours."""
    fixed = PolicyRun("fixed", 1, 7, overflow_container_days=3)
    fixed.overflows_by_group.update({("residual", "02722"): 3, ("glass", "02722"): 0})

    raised = equal_service(fixed, ours=0, time_limit_s=0.2, raises=1)
    same = equal_service(fixed, ours=3, time_limit_s=0.2)

    assert raised.policy == same.policy == "fixed-equal-service"
    assert "1 raise(s), 1 rounds ×2 of 2, 2× the fleet" in raised.note
    assert raised.note.endswith("still more than wastesvc's after 1 raises; the row is the last one.")
    assert raised.km > 0
    assert same.km == fixed.km


def test_equal_service_narrows_the_raise_that_overshot(monkeypatch: pytest.MonkeyPatch) -> None:
    """Doubling a round from ×1 to ×2 overshoots; two bisections of its factor (×√2, then ×2^¾ or ×2^¼)
    keep the cheapest frequency that still overflows no more than ours."""

    def fake_simulate(policy: str, days: int, seed: int, limit: float, **kwargs: Any) -> PolicyRun:
        factor = kwargs["frequencies"][("residual", "02722")]
        # Overflows fall and km rise with the frequency.
        return PolicyRun(
            kwargs["name"], days, seed, km=1000 * factor, overflow_container_days=round(40 / factor**3)
        )

    monkeypatch.setattr(bench.policy, "simulate", fake_simulate)
    fixed = PolicyRun("fixed", 56, 7, overflow_container_days=40)
    fixed.overflows_by_group.update({("residual", "02722"): 40})

    run = equal_service(fixed, ours=12, time_limit_s=1.0)

    # ×2 gives 5 (qualifies), ×√2 gives 14 (not), ×2^¾ gives 8 (qualifies, cheaper than ×2).
    assert run.km == pytest.approx(1000 * 2**0.75)
    assert run.overflow_container_days == 8
    assert "refinement 2" in run.note
    assert run.note.endswith("the cheapest qualifying run is the row.")


def test_simulated_deposits_give_back_the_cited_kg_per_inhabitant() -> None:
    """Over 8 weeks, what the simulated residents deposit per stream, in kg per served inhabitant per year,
    is within 8 % of the figure the scenario is calibrated on (224 kg of residual waste, Valor'Aisne)."""
    scenario = load_default()
    days = 56
    boxes = _boxes(scenario, _rows(scenario)[0], 1, days)
    end = datetime.combine(START + timedelta(days=days + 1), time(0), tzinfo=PARIS)
    years = (end.timestamp() - _warm_start()) / (365 * 24 * 3600)
    volume = {c.id: c.volume_l for c in scenario.containers}
    kg: dict[str, float] = defaultdict(float)
    for box in boxes:
        density = scenario.stream(box.row.stream).density_kg_per_l
        kg[box.row.stream] += float(box.truth.deposit_sizes.sum()) * volume[box.row.id] * density
    for deposit in scenario.deposits:
        served = sum(c.population * c.served_share[deposit.stream] for c in scenario.communes)
        simulated = kg[deposit.stream] / years / served
        assert simulated == pytest.approx(deposit.kg_per_inhabitant_year, rel=0.08), deposit.stream


def test_report_section_is_replaced_not_duplicated(tmp_path: Path) -> None:
    """Writing the section twice leaves one copy, and the sections around it untouched; bench.report's
    marker at the end of a replaced section stays where it was."""
    report = tmp_path / "BENCHMARKS.md"
    marker = "<!-- kept by bench.report: hand-written sections below -->"
    sections = f"## Routing\n\nkeep me\n\n## Forecast error\n\nold\n\n{marker}\n\n## Hand\n"
    report.write_text("# Benchmarks\n\n" + sections, encoding="utf-8")

    write_section(report, "## Selection policies (`make bench-policy`)\n\nfirst\n")
    write_section(report, "## Selection policies (`make bench-policy`)\n\nsecond\n")
    write_section(report, "## Forecast error (`make bench-policy`)\n\nnew\n")

    text = report.read_text(encoding="utf-8")
    assert text.count("## Selection policies") == 1
    assert "second" in text
    assert "first" not in text
    assert "keep me" in text
    assert "old" not in text
    assert f"\n\nnew\n\n{marker}\n\n## Hand\n" in text
