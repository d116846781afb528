"""SelectionPolicyService on a real channel, and per-commune parameters reaching the plan."""

from __future__ import annotations

from collections.abc import Awaitable

import grpc
from google.protobuf import field_mask_pb2
from google.type import dayofweek_pb2

from tests.conftest import OTHER_TENANT, TENANT, Api, create_container, create_fleet, token
from tests.errors import assert_error, rpc_error, violations
from tests.test_planning_selection import _hourly, _ingest, _plan, _reasons
from wastesvc.client import open_channel
from wastesvc.config import Settings
from wastesvc.v1 import common_pb2, policies_pb2, policies_pb2_grpc

NAME = f"{TENANT}/selectionPolicy"


def _stub(api: Api) -> policies_pb2_grpc.SelectionPolicyServiceAsyncStub:
    return policies_pb2_grpc.SelectionPolicyServiceStub(api.channel)


def _update(policy: policies_pb2.SelectionPolicy, *paths: str) -> policies_pb2.UpdateSelectionPolicyRequest:
    return policies_pb2.UpdateSelectionPolicyRequest(
        selection_policy=policy, update_mask=field_mask_pb2.FieldMask(paths=list(paths))
    )


async def test_default_policy_is_shown_before_any_update(api: Api) -> None:
    """A tenant without a stored policy sees the service's defaults, per stream too, and no update time."""
    policy = await _stub(api).GetSelectionPolicy(policies_pb2.GetSelectionPolicyRequest(name=NAME))

    assert policy.name == NAME
    assert policy.defaults.overflow_risk == 0.1
    assert policy.defaults.revisit.seconds == 86400
    assert {o.stream for o in policy.stream_overrides} >= {common_pb2.WASTE_STREAM_RESIDUAL}
    assert not policy.HasField("update_time")


async def test_update_keeps_zero_and_unmasked_parts(api: Api) -> None:
    """A zero look-ahead cost is stored as zero (not unset); parts outside the mask are kept."""
    before = await _stub(api).GetSelectionPolicy(policies_pb2.GetSelectionPolicyRequest(name=NAME))
    patch = policies_pb2.SelectionPolicy(name=NAME)
    patch.defaults.lookahead_cost = 0.0
    patch.commune_overrides.add(commune_code="02722", parameters=policies_pb2.PolicyParameters(min_fill=0.5))

    updated = await _stub(api).UpdateSelectionPolicy(_update(patch, "defaults", "commune_overrides"))
    got = await _stub(api).GetSelectionPolicy(policies_pb2.GetSelectionPolicyRequest(name=NAME))

    assert got == updated
    assert got.defaults.HasField("lookahead_cost")
    assert got.defaults.lookahead_cost == 0.0
    assert not got.defaults.HasField("overflow_risk")
    assert [c.commune_code for c in got.commune_overrides] == ["02722"]
    assert list(got.stream_overrides) == list(before.stream_overrides)
    assert got.HasField("update_time")


async def test_bad_policy_is_invalid_with_every_field(api: Api) -> None:
    """Out-of-range values, a duplicate stream and an unknown mask path are named at once."""
    patch = policies_pb2.SelectionPolicy(name=NAME)
    patch.defaults.overflow_risk = 0.0
    patch.defaults.min_fill = 1.5
    patch.stream_overrides.add(
        stream=common_pb2.WASTE_STREAM_GLASS, parameters=policies_pb2.PolicyParameters(fill_value=-1)
    )
    patch.stream_overrides.add(stream=common_pb2.WASTE_STREAM_GLASS)

    err = await rpc_error(_stub(api).UpdateSelectionPolicy(_update(patch, "defaults", "colour")))

    assert_error(err, grpc.StatusCode.INVALID_ARGUMENT)
    assert set(violations(err)) == {
        "update_mask",
        "selection_policy.defaults.overflow_risk",
        "selection_policy.defaults.min_fill",
        "selection_policy.stream_overrides[0].parameters.fill_value",
        "selection_policy.stream_overrides[1].stream",
    }


async def test_other_tenant_and_commune_agent_are_denied(api: Api, settings: Settings) -> None:
    """Another tenant's policy is PERMISSION_DENIED; a commune's agent may read but not change it."""
    stub = _stub(api)
    other = f"{OTHER_TENANT}/selectionPolicy"
    calls: list[Awaitable[object]] = [
        stub.GetSelectionPolicy(policies_pb2.GetSelectionPolicyRequest(name=other)),
        stub.UpdateSelectionPolicy(_update(policies_pb2.SelectionPolicy(name=other))),
    ]
    for call in calls:
        assert_error(await rpc_error(call), grpc.StatusCode.PERMISSION_DENIED)
    async with open_channel(api.address, settings, token(settings, "agent", communes=["02722"])) as channel:
        agent = policies_pb2_grpc.SelectionPolicyServiceStub(channel)
        await agent.GetSelectionPolicy(policies_pb2.GetSelectionPolicyRequest(name=NAME))
        err = await rpc_error(agent.UpdateSelectionPolicy(_update(policies_pb2.SelectionPolicy(name=NAME))))
    assert_error(err, grpc.StatusCode.PERMISSION_DENIED)


async def test_commune_override_changes_the_plan(api: Api) -> None:
    """Two containers alike but for their commune: a village's lower minimum fill makes its one worth a
    stop (optional), while the town's stays excluded."""
    await create_fleet(api)
    await create_container(api, "town", commune="02722", lng=3.33)
    await create_container(api, "village", commune="02003", lng=3.34)
    for cid in ("town", "village"):
        await _ingest(api, cid, _hourly([0.15 + 0.001 * k for k in range(48)]))
    patch = policies_pb2.SelectionPolicy(name=NAME)
    patch.commune_overrides.add(commune_code="02003", parameters=policies_pb2.PolicyParameters(min_fill=0.1))
    await _stub(api).UpdateSelectionPolicy(_update(patch, "commune_overrides"))

    plan = await _plan(api, days_ahead=1)
    reasons = _reasons(plan)
    skipped = {s.container.rsplit("/", 1)[1] for s in plan.skipped}

    assert reasons["village"].startswith("optional") if "village" in reasons else "village" in skipped
    assert "town" not in reasons
    assert "town" not in skipped


async def test_routing_aware_parameters_are_stored_and_validated(api: Api) -> None:
    """A zero radius, a factor and sweep days round-trip (an empty sweep is kept as set); a negative radius,
    a factor below 1 and a repeated or unspecified day are INVALID_ARGUMENT naming each field."""
    patch = policies_pb2.SelectionPolicy(name=NAME)
    patch.defaults.consolidation_radius_m = 0.0
    patch.defaults.consolidation_factor = 2.5
    patch.defaults.defer_isolated = False
    patch.defaults.sweep_days.SetInParent()
    patch.commune_overrides.add(
        commune_code="02003",
        parameters=policies_pb2.PolicyParameters(
            defer_isolated=True,
            sweep_days=policies_pb2.SweepDays(days=[dayofweek_pb2.MONDAY, dayofweek_pb2.THURSDAY]),
        ),
    )
    got = await _stub(api).UpdateSelectionPolicy(_update(patch, "defaults", "commune_overrides"))
    assert got.defaults.HasField("consolidation_radius_m")
    assert got.defaults.HasField("defer_isolated")
    assert got.defaults.HasField("sweep_days")
    assert not got.defaults.sweep_days.days
    assert list(got.commune_overrides[0].parameters.sweep_days.days) == [
        dayofweek_pb2.MONDAY,
        dayofweek_pb2.THURSDAY,
    ]

    bad = policies_pb2.SelectionPolicy(name=NAME)
    bad.defaults.consolidation_radius_m = -5.0
    bad.defaults.consolidation_factor = 0.5
    bad.defaults.sweep_days.days.extend(
        [dayofweek_pb2.MONDAY, dayofweek_pb2.MONDAY, dayofweek_pb2.DAY_OF_WEEK_UNSPECIFIED]
    )
    bad.stream_overrides.add(
        stream=common_pb2.WASTE_STREAM_GLASS,
        parameters=policies_pb2.PolicyParameters(consolidation_radius_m=1e9),
    )
    err = await rpc_error(_stub(api).UpdateSelectionPolicy(_update(bad, "defaults", "stream_overrides")))

    assert_error(err, grpc.StatusCode.INVALID_ARGUMENT)
    assert set(violations(err)) == {
        "selection_policy.defaults.consolidation_radius_m",
        "selection_policy.defaults.consolidation_factor",
        "selection_policy.defaults.sweep_days.days[1]",
        "selection_policy.defaults.sweep_days.days[2]",
    }
    # A value no field may hold is refused by the limits every request is checked against first.
    bad.stream_overrides[0].parameters.consolidation_radius_m = float("inf")
    err = await rpc_error(_stub(api).UpdateSelectionPolicy(_update(bad, "defaults", "stream_overrides")))
    assert set(violations(err)) == {"selection_policy.stream_overrides[0].parameters.consolidation_radius_m"}
    after = await _stub(api).GetSelectionPolicy(policies_pb2.GetSelectionPolicyRequest(name=NAME))
    assert after == got


async def test_a_stale_etag_makes_the_update_aborted(api: Api) -> None:
    """Two dispatchers editing the policy: the second one's update, based on what the first changed,
    is ABORTED naming the etag; without an etag the update is unconditional."""
    read = await _stub(api).GetSelectionPolicy(policies_pb2.GetSelectionPolicyRequest(name=NAME))
    first = policies_pb2.SelectionPolicy(name=NAME, etag=read.etag)
    first.defaults.min_fill = 0.6
    updated = await _stub(api).UpdateSelectionPolicy(_update(first, "defaults"))
    stale = policies_pb2.SelectionPolicy(name=NAME, etag=read.etag)
    stale.defaults.min_fill = 0.3

    err = await rpc_error(_stub(api).UpdateSelectionPolicy(_update(stale, "defaults")))

    assert read.etag
    assert updated.etag not in ("", read.etag)
    assert assert_error(err, grpc.StatusCode.ABORTED, "selection_policy.etag").reason == "ETAG_MISMATCH"
    again = await _stub(api).GetSelectionPolicy(policies_pb2.GetSelectionPolicyRequest(name=NAME))
    assert again.defaults.min_fill == 0.6
    assert again.etag == updated.etag
    stale.etag = ""
    assert (await _stub(api).UpdateSelectionPolicy(_update(stale, "defaults"))).defaults.min_fill == 0.3
