"""SelectionPolicyService: the tenant's selection policy, a singleton resource."""

from __future__ import annotations

from typing import Any

import grpc

from wastesvc.auth import authorize_read, authorize_write
from wastesvc.domain._common import to_timestamp
from wastesvc.domain.policies import (
    POLICY_PARTS,
    merge,
    policy_etag,
    policy_message,
    policy_name,
    policy_tenant,
    stored_policy,
    validate_policy,
)
from wastesvc.domain.selection import default_policy
from wastesvc.errors import Aborted, FieldViolation, InvalidArgument
from wastesvc.servicers._base import in_thread, now, unary
from wastesvc.storage import PolicyRow, Storage
from wastesvc.v1 import policies_pb2, policies_pb2_grpc

__all__ = ["SelectionPolicyServicer"]

Context = grpc.aio.ServicerContext[Any, Any]


class SelectionPolicyServicer(policies_pb2_grpc.SelectionPolicyServiceServicer):
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    @unary
    async def GetSelectionPolicy(
        self, request: policies_pb2.GetSelectionPolicyRequest, context: Context
    ) -> policies_pb2.SelectionPolicy:
        tenant = policy_tenant(request.name, "name")
        authorize_read(tenant)
        stored = await in_thread(stored_policy, self.storage, tenant)
        return policy_message(tenant, stored, default_policy())

    @unary
    async def UpdateSelectionPolicy(
        self, request: policies_pb2.UpdateSelectionPolicyRequest, context: Context
    ) -> policies_pb2.SelectionPolicy:
        tenant = policy_tenant(request.selection_policy.name, "selection_policy.name")
        # The policy shapes every plan of the agglomeration: not a commune agent's to change.
        authorize_write(tenant, commune_wide=True)
        paths = list(request.update_mask.paths) or list(POLICY_PARTS)
        unknown = [p for p in paths if p not in POLICY_PARTS]
        violations = [
            FieldViolation("update_mask", f"cannot update {p!r}; one of {', '.join(POLICY_PARTS)}")
            for p in unknown
        ]
        violations += validate_policy(request.selection_policy)
        if violations:
            raise InvalidArgument(violations)
        current = policy_message(
            tenant, await in_thread(stored_policy, self.storage, tenant), default_policy()
        )
        sent = request.selection_policy.etag
        if sent and sent != current.etag:
            raise Aborted(
                f"{current.name} changed since it was read; read it again and retry",
                metadata={"field": "selection_policy.etag", "resource": current.name},
                reason="ETAG_MISMATCH",
            )
        updated = merge(current, request.selection_policy, dict.fromkeys(paths, True))
        stamp = now()
        updated.name = policy_name(tenant)
        updated.update_time.CopyFrom(to_timestamp(stamp))
        updated.etag = policy_etag(tenant, updated)
        await in_thread(
            self.storage.save_policy,
            PolicyRow(tenant=tenant, body=updated.SerializeToString(), update_time=stamp),
        )
        return updated
