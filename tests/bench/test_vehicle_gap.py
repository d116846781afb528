"""`bench.vehicle_gap` on a small tuning instance at 2 s: one consistent record per stage."""

from __future__ import annotations

import routing._search
from bench.vehicle_gap import STAGES, WRAPPED, diagnose, summary

BUDGET_S = 2.0


def test_every_stage_is_recorded_and_consistent() -> None:
    records = diagnose("C101", BUDGET_S, 0)
    by_stage = {r["stage"]: r for r in records}

    assert [r["stage"] for r in records] == sorted(by_stage, key=STAGES.index)
    assert set(by_stage) == set(STAGES)
    # VRPTW is solved for distance: route elimination (objective="vehicles") does not run.
    assert by_stage["eliminated"]["vehicles"] is None
    assert by_stage["eliminated"]["note"] == "did not run"
    for stage in ("pyvrp", "pyvrp-share", "relaxation", "engine"):
        assert by_stage[stage]["vehicles"] > 0, by_stage[stage]
        assert by_stage[stage]["feasible"], by_stage[stage]
    # The engine's answer is its warm start's plan or a plan OR-Tools ranks no worse.
    assert by_stage["engine"]["cost"] <= by_stage["relaxation"]["cost"] + 1e-6
    # The warm start ends at its share of the time limit, before the engine returns.
    assert by_stage["relaxation"]["at_s"] <= by_stage["engine"]["at_s"] <= BUDGET_S + 0.5
    share = routing._search._WARM_START_SHARE
    assert by_stage["pyvrp-share"]["budget_s"] == share * BUDGET_S
    assert "PyVRP routes before the walk: " in by_stage["relaxation"]["note"]
    assert "| C101 | 0 | 2 |" in summary(records)


def test_the_wrapped_phases_are_put_back() -> None:
    before = [getattr(owner, name) for owner, name in WRAPPED]

    diagnose("C101", 1.0, 1)

    assert [getattr(owner, name) for owner, name in WRAPPED] == before
