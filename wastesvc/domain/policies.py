"""The tenant's selection policy: validation, and the fill library's `SelectionPolicy` it stands for.

What a tenant stores is laid over the service's defaults (`wastesvc.domain.selection.default_policy`)
field by field: an unset field keeps the default, a set one (zero included) replaces it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Literal

from google.protobuf import json_format

from wastesvc.domain._common import STREAM_KEYS, parse_tenant, stream_from_key, to_duration
from wastesvc.errors import FieldViolation, InvalidArgument
from wastesvc.fill import PolicyParams, SelectionPolicy
from wastesvc.scenario import Scenario
from wastesvc.storage import Storage
from wastesvc.v1 import policies_pb2

__all__ = [
    "POLICY_PARTS",
    "merge",
    "policy_etag",
    "policy_message",
    "policy_name",
    "policy_tenant",
    "scenario_policy",
    "stored_policy",
    "to_fill_policy",
    "validate_policy",
]

POLICY_PARTS = ("defaults", "stream_overrides", "commune_overrides")
_Scalar = Literal[
    "overflow_risk",
    "min_fill",
    "overflow_cost",
    "lookahead_cost",
    "fill_value",
    "consolidation_radius_m",
    "consolidation_factor",
    "defer_isolated",
]
_FRACTIONS: tuple[_Scalar, ...] = ("overflow_risk", "min_fill")
_COSTS: tuple[_Scalar, ...] = ("overflow_cost", "lookahead_cost", "fill_value")
_GROUPING: tuple[_Scalar, ...] = ("consolidation_radius_m", "consolidation_factor", "defer_isolated")
_SCALARS = (*_FRACTIONS, *_COSTS, *_GROUPING)


def policy_name(tenant: str) -> str:
    """`tenants/{tenant}/selectionPolicy`."""
    return f"tenants/{tenant}/selectionPolicy"


def policy_tenant(name: str, field: str) -> str:
    """The tenant of `tenants/{tenant}/selectionPolicy`; anything else is INVALID_ARGUMENT on `field`."""
    parent, _, last = name.rpartition("/")
    if last != "selectionPolicy":
        raise InvalidArgument([FieldViolation(field, "must look like tenants/{tenant}/selectionPolicy")])
    return parse_tenant(parent, field)


def scenario_policy(scenario: Scenario, tenant: str) -> policies_pb2.SelectionPolicy | None:
    """The tenant policy a scenario ships with (`planning.selection_policy`), or None: the defaults."""
    if not scenario.planning.selection_policy:
        return None
    message = json_format.ParseDict(dict(scenario.planning.selection_policy), policies_pb2.SelectionPolicy())
    message.name = policy_name(tenant)
    return message


def _params(message: policies_pb2.PolicyParameters) -> PolicyParams:
    values: dict[str, object] = {name: getattr(message, name) for name in _SCALARS if message.HasField(name)}
    if message.HasField("revisit"):
        values["revisit"] = message.revisit.ToTimedelta()
    if message.HasField("sweep_days"):
        values["sweep_days"] = frozenset(int(d) for d in message.sweep_days.days)
    return PolicyParams(**values)  # type: ignore[arg-type]


def _message(params: PolicyParams) -> policies_pb2.PolicyParameters:
    result = policies_pb2.PolicyParameters()
    for name in _SCALARS:
        value = getattr(params, name)
        if value is not None:
            setattr(result, name, value)
    if params.revisit is not None:
        result.revisit.CopyFrom(to_duration(params.revisit.total_seconds()))
    if params.sweep_days is not None:
        result.sweep_days.SetInParent()  # set with no days: no sweep
        result.sweep_days.days.extend(sorted(params.sweep_days))
    return result


def _over(base: PolicyParams | None, top: PolicyParams) -> PolicyParams:
    """`top`'s set fields over `base`'s."""
    if base is None:
        return top
    changes = {
        f.name: getattr(top, f.name) for f in dataclasses.fields(top) if getattr(top, f.name) is not None
    }
    return dataclasses.replace(base, **changes)


def to_fill_policy(message: policies_pb2.SelectionPolicy, base: SelectionPolicy) -> SelectionPolicy:
    """The stored policy laid over `base`, as the fill library takes it."""
    streams = dict(base.streams)
    for o in message.stream_overrides:
        key = STREAM_KEYS[o.stream]
        streams[key] = _over(streams.get(key), _params(o.parameters))
    communes: dict[str, PolicyParams] = dict(base.communes)
    pairs: dict[tuple[str, str], PolicyParams] = dict(base.stream_communes)
    for c in message.commune_overrides:
        if c.stream:
            pairs[(STREAM_KEYS[c.stream], c.commune_code)] = _params(c.parameters)
        else:
            communes[c.commune_code] = _params(c.parameters)
    return SelectionPolicy(
        default=_over(base.default, _params(message.defaults)),
        streams=streams,
        communes=communes,
        stream_communes=pairs,
    )


def policy_message(
    tenant: str, stored: policies_pb2.SelectionPolicy | None, base: SelectionPolicy
) -> policies_pb2.SelectionPolicy:
    """What GetSelectionPolicy shows: the stored policy, or the defaults in force, with its etag."""
    if stored is not None:
        result = policies_pb2.SelectionPolicy()
        result.CopyFrom(stored)
    else:
        result = policies_pb2.SelectionPolicy(name=policy_name(tenant), defaults=_message(base.default))
        for stream, params in sorted(base.streams.items()):
            result.stream_overrides.add(stream=stream_from_key(stream), parameters=_message(params))
    result.etag = policy_etag(tenant, result)
    return result


def policy_etag(tenant: str, policy: policies_pb2.SelectionPolicy) -> str:
    """The policy's version (AIP-154): every update moves its update_time; the defaults have their own."""
    version = policy.update_time.ToJsonString() if policy.HasField("update_time") else "defaults"
    return hashlib.sha256(f"{tenant}/selectionPolicy@{version}".encode()).hexdigest()[:20]


def _check_params(p: policies_pb2.PolicyParameters, path: str) -> list[FieldViolation]:
    v = []
    if p.HasField("overflow_risk") and not 0.0 < p.overflow_risk <= 1.0:
        v.append(FieldViolation(f"{path}.overflow_risk", "must be within (0, 1]"))
    if p.HasField("min_fill") and not 0.0 <= p.min_fill <= 1.0:
        v.append(FieldViolation(f"{path}.min_fill", "must be within [0, 1]"))
    v += [
        FieldViolation(f"{path}.{name}", "must not be negative")
        for name in _COSTS
        if p.HasField(name) and not getattr(p, name) >= 0.0
    ]
    if p.HasField("revisit") and p.revisit.ToTimedelta() <= timedelta(0):
        v.append(FieldViolation(f"{path}.revisit", "must be positive"))
    if p.HasField("consolidation_radius_m") and not 0.0 <= p.consolidation_radius_m < math.inf:
        v.append(FieldViolation(f"{path}.consolidation_radius_m", "must be a finite distance, at least 0"))
    if p.HasField("consolidation_factor") and not 1.0 <= p.consolidation_factor < math.inf:
        v.append(FieldViolation(f"{path}.consolidation_factor", "must be finite and at least 1"))
    return v + _check_sweep(p.sweep_days, f"{path}.sweep_days")


def _check_sweep(sweep: policies_pb2.SweepDays, path: str) -> list[FieldViolation]:
    v = []
    seen: set[int] = set()
    for i, day in enumerate(sweep.days):
        if not 1 <= day <= 7:  # Monday..Sunday
            v.append(FieldViolation(f"{path}.days[{i}]", "must be a day of the week, Monday to Sunday"))
        elif day in seen:
            v.append(FieldViolation(f"{path}.days[{i}]", "is listed twice"))
        seen.add(day)
    return v


def validate_policy(message: policies_pb2.SelectionPolicy) -> list[FieldViolation]:
    """Every problem of a policy at once (ranges, unknown streams, duplicate overrides)."""
    v = _check_params(message.defaults, "selection_policy.defaults")
    streams: set[int] = set()
    for i, o in enumerate(message.stream_overrides):
        path = f"selection_policy.stream_overrides[{i}]"
        if o.stream not in STREAM_KEYS:
            v.append(FieldViolation(f"{path}.stream", "must be a known stream"))
        elif o.stream in streams:
            v.append(FieldViolation(f"{path}.stream", "is overridden twice"))
        streams.add(o.stream)
        v += _check_params(o.parameters, f"{path}.parameters")
    pairs: set[tuple[str, int]] = set()
    for i, c in enumerate(message.commune_overrides):
        path = f"selection_policy.commune_overrides[{i}]"
        if not c.commune_code:
            v.append(FieldViolation(f"{path}.commune_code", "is required"))
        if c.stream and c.stream not in STREAM_KEYS:
            v.append(FieldViolation(f"{path}.stream", "must be a known stream or unset"))
        elif (c.commune_code, c.stream) in pairs:
            v.append(FieldViolation(path, "overrides the same commune and stream twice"))
        pairs.add((c.commune_code, c.stream))
        v += _check_params(c.parameters, f"{path}.parameters")
    return v


def merge(
    current: policies_pb2.SelectionPolicy, patch: policies_pb2.SelectionPolicy, paths: Mapping[str, bool]
) -> policies_pb2.SelectionPolicy:
    """`current` with the parts named in `paths` taken from `patch`."""
    result = policies_pb2.SelectionPolicy()
    result.CopyFrom(current)
    for part in POLICY_PARTS:
        if paths.get(part):
            result.ClearField(part)  # type: ignore[arg-type]
            if part == "defaults":
                result.defaults.CopyFrom(patch.defaults)
            else:
                getattr(result, part).extend(getattr(patch, part))
    return result


def stored_policy(storage: Storage, tenant: str) -> policies_pb2.SelectionPolicy | None:
    """The tenant's stored policy message, or None while it holds the defaults."""
    row = storage.get_policy(tenant)
    return None if row is None else policies_pb2.SelectionPolicy.FromString(row.body)
