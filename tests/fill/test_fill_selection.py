from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from wastesvc.fill import (
    DEFAULT_PARAMS,
    Candidate,
    Decision,
    DecisionKind,
    Finding,
    FindingKind,
    Forecast,
    PolicyParams,
    Reliability,
    SelectionPolicy,
    Severity,
    select_for_service_date,
)

EVENING = datetime(2026, 3, 2, 20, tzinfo=UTC)  # the plan is made the evening before
SERVICE = datetime(2026, 3, 3, 10, tzinfo=UTC)  # the truck passes at 10:00
DAY = timedelta(days=1)


def _forecast(level: float, rate_per_day: float) -> Forecast:
    """A forecast made at EVENING from `level`, deposits of one bag (1.25 %), a 10 % rate uncertainty."""
    rate = rate_per_day / 24
    return Forecast(
        now=EVENING,
        anchor=EVENING,
        level=level,
        rate_per_h=rate,
        weekday_factors=(1.0,) * 7,
        hourly_factors=(1.0,) * 24,
        level_var=0.02**2,
        rate_var=(0.1 * rate) ** 2,
        diffusion_per_h=rate * 0.0125,
        reliability=Reliability.HIGH,
        from_forecast_only=False,
        last_emptying=None,
        own_weight=1.0,
        own_rate_per_h=rate,
        own_rate_var=(0.1 * rate) ** 2,
        tz=UTC,
    )


def _decide(
    level: float,
    rate_per_day: float,
    policy: SelectionPolicy | None = None,
    *,
    commune: str = "Soissons",
    stream: str = "residual",
    findings: tuple[Finding, ...] = (),
    report: bool = False,
) -> Decision:
    candidate = Candidate("c1", stream, commune, _forecast(level, rate_per_day), findings, report)
    [decision] = select_for_service_date([candidate], SERVICE, policy or SelectionPolicy())
    return decision


def test_a_container_that_would_overflow_before_the_next_visit_is_mandatory() -> None:
    """80 % in the evening at 30 %/day: 97 % at service, surely over 100 % by the next day."""
    d = _decide(0.8, 0.3)
    assert d.kind is DecisionKind.MANDATORY
    assert d.p_overflow_next > 0.99
    assert d.fill_at_service == pytest.approx(0.975, abs=1e-3)
    assert "would overflow before the next possible visit" in d.reason
    assert d.prize == 0.0


def test_the_fill_is_read_at_the_service_time_not_at_the_last_reading() -> None:
    """55 % at the last reading, 60 %/day: 90 % when the truck passes, so mandatory (not 55 % and skipped)."""
    d = _decide(0.55, 0.6)
    assert d.fill_at_service == pytest.approx(0.9, abs=1e-3)
    assert d.kind is DecisionKind.MANDATORY
    assert "90%" in d.reason


def test_a_half_full_container_is_optional_with_the_prize_of_the_formula() -> None:
    """40 % at 15 %/day: optional; prize = 50 P(next) + 10 (P(after) − P(next)) + 5 × fill."""
    d = _decide(0.4, 0.15)
    assert d.kind is DecisionKind.OPTIONAL
    assert d.fill_at_service == pytest.approx(0.4875, abs=1e-3)
    expected = (
        50 * d.p_overflow_next + 10 * (d.p_overflow_after_next - d.p_overflow_next) + 5 * d.fill_at_service
    )
    assert d.prize == pytest.approx(expected)
    assert d.prize == pytest.approx(5 * 0.4875, abs=0.1)
    assert "expected fill 49% at service" in d.reason


def test_one_day_look_ahead_makes_a_container_that_overflows_the_day_after_worth_a_detour() -> None:
    """Two containers at 70 % at service: one at 20 %/day (110 % in two days) earns the look-ahead term.

    Neither is mandatory today; the fast one's prize exceeds the slow one's by about `lookahead_cost`.
    """
    fast = _decide(0.7 - 0.2 * 14 / 24, 0.2)
    slow = _decide(0.7 - 0.02 * 14 / 24, 0.02)
    assert fast.kind is slow.kind is DecisionKind.OPTIONAL
    assert fast.fill_at_service == pytest.approx(0.7, abs=1e-3)
    assert fast.p_overflow_next < DEFAULT_PARAMS.overflow_risk  # type: ignore[operator]
    assert fast.p_overflow_after_next > 0.8
    assert fast.prize - slow.prize > 0.7 * DEFAULT_PARAMS.lookahead_cost  # type: ignore[operator]


def test_a_nearly_empty_container_is_excluded() -> None:
    """10 % at 10 %/day: 16 % at service, below the 30 % worth a stop."""
    d = _decide(0.1, 0.1)
    assert d.kind is DecisionKind.EXCLUDED
    assert d.prize == 0.0
    assert "below 30%" in d.reason


def test_an_active_fire_or_an_open_overflow_report_makes_even_an_empty_container_mandatory() -> None:
    """Alarms and reports override the forecast; a tilt since resolved does not."""
    fire = Finding(FindingKind.FIRE, Severity.CRITICAL, EVENING, "temperature 80 °C", active=True)
    old_tilt = Finding(FindingKind.TILT, Severity.CRITICAL, EVENING, "tilted", active=False)
    on_fire = _decide(0.05, 0.1, findings=(fire,))
    assert on_fire.kind is DecisionKind.MANDATORY
    assert on_fire.reason.startswith("fire alarm")
    assert _decide(0.05, 0.1, report=True).kind is DecisionKind.MANDATORY
    assert _decide(0.05, 0.1, findings=(old_tilt,)).kind is DecisionKind.EXCLUDED


def test_a_village_visited_weekly_makes_mandatory_what_a_town_visited_daily_leaves_optional() -> None:
    """The same container (50 % at 15 %/day): optional in town (next visit tomorrow), mandatory in a village
    whose next visit is a week away."""
    policy = SelectionPolicy(communes={"Vauxrezis": PolicyParams(revisit=7 * DAY)})
    assert _decide(0.5, 0.15, policy, commune="Soissons").kind is DecisionKind.OPTIONAL
    village = _decide(0.5, 0.15, policy, commune="Vauxrezis")
    assert village.kind is DecisionKind.MANDATORY
    assert "Tue 10 Mar" in village.reason


def test_none_inherits_and_zero_overrides() -> None:
    """lookahead_cost=0 in a commune removes the look-ahead term; None there keeps the default's."""
    zero = SelectionPolicy(communes={"Soissons": PolicyParams(lookahead_cost=0.0)})
    unset = SelectionPolicy(communes={"Soissons": PolicyParams(lookahead_cost=None, min_fill=0.2)})
    level = 0.7 - 0.2 * 14 / 24
    with_lookahead = _decide(level, 0.2, unset)
    without = _decide(level, 0.2, zero)
    assert without.prize == pytest.approx(50 * without.p_overflow_next + 5 * without.fill_at_service)
    assert with_lookahead.prize - without.prize == pytest.approx(
        10 * (with_lookahead.p_overflow_after_next - with_lookahead.p_overflow_next)
    )


def test_the_most_specific_level_wins_field_by_field() -> None:
    """(stream, commune) over commune over stream over default, each field on its own."""
    policy = SelectionPolicy(
        streams={"glass": PolicyParams(min_fill=0.5, overflow_cost=20.0)},
        communes={"Soissons": PolicyParams(min_fill=0.4)},
        stream_communes={("glass", "Soissons"): PolicyParams(min_fill=0.6)},
    )
    assert policy.resolve("glass", "Soissons").min_fill == 0.6
    assert policy.resolve("glass", "Soissons").overflow_cost == 20.0
    assert policy.resolve("glass", "Belleu").min_fill == 0.5
    assert policy.resolve("residual", "Soissons").min_fill == 0.4
    assert policy.resolve("residual", "Belleu").min_fill == DEFAULT_PARAMS.min_fill


def test_invalid_or_incomplete_parameters_are_clear_errors() -> None:
    """A risk above 1, a negative cost or a default missing a field raise ValueError naming it."""
    with pytest.raises(ValueError, match="overflow_risk"):
        SelectionPolicy(streams={"glass": PolicyParams(overflow_risk=1.5)}).resolve("glass", "x")
    with pytest.raises(ValueError, match="must not be negative"):
        SelectionPolicy(communes={"x": PolicyParams(fill_value=-1.0)}).resolve("glass", "x")
    with pytest.raises(ValueError, match="overflow_cost is set nowhere"):
        SelectionPolicy(default=PolicyParams(overflow_risk=0.1)).resolve("glass", "x")  # no overflow_cost


def _at(
    cid: str,
    level: float,
    rate_per_day: float,
    where: tuple[float, float] | None,
    *,
    stream: str = "residual",
) -> Candidate:
    return Candidate(cid, stream, "Soissons", _forecast(level, rate_per_day), location=where)


# About 111 m per 0.001° of latitude.
TOWN = (49.381, 3.323)
NEXT_DOOR = (49.382, 3.323)
FAR = (49.401, 3.323)  # 2.2 km away


def test_a_neighbour_of_a_mandatory_container_gets_its_prize_multiplied() -> None:
    """Within 300 m of a mandatory container of its stream a 50 % one's prize is tripled; the same container
    2.2 km away, or next to a mandatory container of another stream, keeps its prize."""
    policy = SelectionPolicy(
        default=replace(DEFAULT_PARAMS, consolidation_radius_m=300.0, consolidation_factor=3.0)
    )
    urgent = _at("urgent", 0.8, 0.3, TOWN)
    glass_urgent = _at("glass", 0.8, 0.3, FAR, stream="glass")
    near, far = _at("near", 0.45, 0.15, NEXT_DOOR), _at("far", 0.45, 0.15, FAR)
    alone = select_for_service_date([near], SERVICE, policy)[0]

    u, g, n, f = select_for_service_date([urgent, glass_urgent, near, far], SERVICE, policy)

    assert u.kind is g.kind is DecisionKind.MANDATORY
    assert n.kind is f.kind is DecisionKind.OPTIONAL
    assert n.prize == pytest.approx(3.0 * alone.prize)
    assert f.prize == pytest.approx(alone.prize)
    assert "a mandatory visit 111 m away" in n.reason


def test_an_isolated_container_that_can_wait_is_deferred() -> None:
    """With `defer_isolated`, a 50 % container with no mandatory one within 300 m is excluded today; its
    neighbour of a mandatory one stays optional; a container that would overflow stays mandatory wherever."""
    policy = SelectionPolicy(
        default=replace(
            DEFAULT_PARAMS, consolidation_radius_m=300.0, consolidation_factor=1.0, defer_isolated=True
        )
    )
    urgent, lonely_urgent = _at("urgent", 0.8, 0.3, TOWN), _at("lonely", 0.8, 0.3, (49.5, 3.5))
    near, far = _at("near", 0.45, 0.15, NEXT_DOOR), _at("far", 0.45, 0.15, FAR)

    u, lu, n, f = select_for_service_date([urgent, lonely_urgent, near, far], SERVICE, policy)

    assert u.kind is lu.kind is DecisionKind.MANDATORY
    assert n.kind is DecisionKind.OPTIONAL
    assert f.kind is DecisionKind.EXCLUDED
    assert f.prize == 0.0
    assert f.reason.startswith("deferred: no mandatory visit within 300 m")
    # Off by default: the same container is optional.
    assert select_for_service_date([far], SERVICE)[0].kind is DecisionKind.OPTIONAL


def test_a_sweep_day_takes_what_would_overflow_before_the_next_sweep() -> None:
    """Swept on Tuesdays and Fridays: on Tuesday 3 March a 50 % container at 15 %/day (over 100 % by Friday)
    is mandatory, a 50 % one at 5 %/day (65 % by Friday) stays optional; on a Wednesday nothing is swept,
    and an empty set of days (the default) sweeps nothing."""
    swept = SelectionPolicy(communes={"Soissons": PolicyParams(sweep_days=frozenset({2, 5}))})
    fast = _decide(0.45, 0.15, swept)
    slow = _decide(0.45, 0.05, swept)
    assert fast.kind is DecisionKind.MANDATORY
    assert fast.reason.startswith("sweep day: would overflow before the next sweep (Fri 06 Mar 10:00)")
    assert slow.kind is DecisionKind.OPTIONAL
    assert _decide(0.45, 0.15).kind is DecisionKind.OPTIONAL
    wednesday = Candidate("c1", "residual", "Soissons", _forecast(0.45, 0.15))
    [on_wednesday] = select_for_service_date([wednesday], SERVICE + DAY, swept)
    assert on_wednesday.kind is DecisionKind.OPTIONAL
    assert DEFAULT_PARAMS.sweep_days == frozenset()


def test_bad_routing_aware_parameters_are_clear_errors() -> None:
    """A negative radius, a factor below 1 or a weekday 0 raise ValueError naming the field."""
    for bad, name in [
        (PolicyParams(consolidation_radius_m=-1.0), "consolidation_radius_m"),
        (PolicyParams(consolidation_factor=0.5), "consolidation_factor"),
        (PolicyParams(sweep_days=frozenset({0})), "sweep_days"),
    ]:
        with pytest.raises(ValueError, match=name):
            SelectionPolicy(streams={"glass": bad}).resolve("glass", "x")


def test_a_due_date_forces_the_visit_and_a_sweep_takes_it_early() -> None:
    """A container due (hygiene) before the service is mandatory; due on Thursday, a Tuesday sweep whose
    next sweep is Friday takes it now, one due next Monday is left optional."""
    swept = SelectionPolicy(default=replace(DEFAULT_PARAMS, sweep_days=frozenset({2, 5})))

    def due(by: datetime, policy: SelectionPolicy | None = None) -> Decision:
        c = Candidate(
            "c1", "glass", "Soissons", _forecast(0.4, 0.02), due_by=by, due_reason="not emptied (14 days)"
        )
        return select_for_service_date([c], SERVICE, policy or SelectionPolicy())[0]

    assert due(SERVICE - DAY).kind is DecisionKind.MANDATORY
    assert due(SERVICE - DAY).reason == "not emptied (14 days)"
    assert due(SERVICE + 2 * DAY).kind is DecisionKind.OPTIONAL
    early = due(SERVICE + 2 * DAY, swept)
    assert early.kind is DecisionKind.MANDATORY
    assert early.reason == "sweep day: due before the next sweep (not emptied (14 days))"
    assert due(SERVICE + 6 * DAY, swept).kind is DecisionKind.OPTIONAL
