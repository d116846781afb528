"""Reading the `google.rpc.Status` details (BadRequest, ErrorInfo) a grpc.aio call failed with."""

from __future__ import annotations

from collections.abc import Awaitable

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from wastesvc.errors import DOMAIN
from wastesvc.v1 import common_pb2

__all__ = ["assert_error", "assert_item_error", "error_info", "rpc_error", "rpc_status", "violations"]

_DETAILS_KEY = "grpc-status-details-bin"


async def rpc_error(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    """The error a call fails with; fails the test if the call succeeds."""
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value


def rpc_status(err: grpc.aio.AioRpcError) -> status_pb2.Status:
    """The rich status of a failed call, checked against its code and message."""
    metadata = err.trailing_metadata() or ()
    raw = [value for key, value in metadata if key == _DETAILS_KEY]
    assert raw, f"no {_DETAILS_KEY} in the trailing metadata of {err.code()}: {err.details()}"
    status = status_pb2.Status.FromString(raw[0])
    assert status.code == err.code().value[0], "status code differs from the call's code"
    assert status.message == err.details(), "status message differs from the call's details"
    return status


def violations(err: grpc.aio.AioRpcError) -> dict[str, str]:
    """Field path → description of every BadRequest field violation."""
    result: dict[str, str] = {}
    for detail in rpc_status(err).details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            result.update((v.field, v.description) for v in bad.field_violations)
    return result


def error_info(err: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    """The ErrorInfo detail; fails if there is none."""
    for detail in rpc_status(err).details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    raise AssertionError(f"no ErrorInfo in the details of {err.code()}: {err.details()}")


def assert_error(
    err: grpc.aio.AioRpcError, code: grpc.StatusCode, field: str | None = None
) -> error_details_pb2.ErrorInfo:
    """Asserts the code, the service's ErrorInfo domain and, if given, a violation naming `field`.

    For INVALID_ARGUMENT `field` must be a BadRequest field violation; for other codes it must be the
    ErrorInfo's `field` metadata. Returns the ErrorInfo for further checks.
    """
    assert err.code() == code, f"expected {code}, got {err.code()}: {err.details()}"
    info = error_info(err)
    assert info.domain == DOMAIN
    assert info.reason
    if field is not None:
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            found = violations(err)
            assert field in found, f"no violation on {field!r}; got {found}"
            assert found[field], "a field violation without description"
        else:
            assert info.metadata.get("field") == field, f"ErrorInfo names {dict(info.metadata)}"
    return info


def _details(status: status_pb2.Status) -> tuple[dict[str, str], error_details_pb2.ErrorInfo | None]:
    found: dict[str, str] = {}
    info = None
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found.update((v.field, v.description) for v in bad.field_violations)
        elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
    return found, info


def assert_item_error(
    result: common_pb2.ItemResult, code: grpc.StatusCode, field: str | None = None
) -> error_details_pb2.ErrorInfo:
    """The same checks as `assert_error` on one refused item of a batch."""
    assert result.outcome == common_pb2.ITEM_OUTCOME_REJECTED, f"item not rejected: {result}"
    assert result.error.code == code.value[0], f"expected {code}, got {result.error}"
    found, info = _details(result.error)
    assert info is not None, f"no ErrorInfo in {result.error}"
    assert info.domain == DOMAIN
    assert info.reason
    if field is not None:
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            assert field in found, f"no violation on {field!r}; got {found}"
        else:
            assert info.metadata.get("field") == field, f"ErrorInfo names {dict(info.metadata)}"
    return info
