"""Service errors and their mapping onto `google.rpc.Status` with `BadRequest` and `ErrorInfo` details.

Domain code raises these; the servicer layer turns them into gRPC status codes, so a client always gets
INVALID_ARGUMENT / NOT_FOUND / … with the offending field named, never UNKNOWN.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

__all__ = [
    "DOMAIN",
    "Aborted",
    "AlreadyExists",
    "FailedPrecondition",
    "FieldViolation",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "PlanDataInvalid",
    "ResourceExhausted",
    "SensorInUse",
    "ServiceError",
    "Unauthenticated",
]

# The ErrorInfo domain and the resource types' domain: the project's own (AIP-193, AIP-123).
DOMAIN = "wastesvc.fr"


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad field, named by its path in the request (`requests[3].reading.fill_fraction`)."""

    field: str
    description: str


class ServiceError(Exception):
    """Base of the errors a client may cause; carries a gRPC code and an ErrorInfo reason."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    reason: str = "INTERNAL"

    def __init__(
        self, message: str, *, metadata: dict[str, str] | None = None, reason: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.metadata = metadata or {}
        if reason is not None:
            self.reason = reason

    def details(self) -> list[any_pb2.Any]:
        info = any_pb2.Any()
        info.Pack(error_details_pb2.ErrorInfo(reason=self.reason, domain=DOMAIN, metadata=self.metadata))
        return [info]

    def to_status(self) -> status_pb2.Status:
        code = getattr(code_pb2, self.code.name)
        return status_pb2.Status(code=code, message=self.message, details=self.details())


# The status details travel in the reply's trailers, which gRPC caps (a few KiB by default): past this
# many characters of violations, the rest are counted in ErrorInfo's metadata instead of listed.
_MAX_LISTED_CHARS = 4000


class InvalidArgument(ServiceError):
    """The request is malformed; every offending field is listed (as many as the trailers can carry,
    the rest counted in ErrorInfo's `unlisted_violations`)."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "INVALID_ARGUMENT"

    def __init__(
        self, violations: Iterable[FieldViolation], message: str | None = None, *, reason: str | None = None
    ) -> None:
        self.violations = list(violations)
        summary = "; ".join(f"{v.field}: {v.description}" for v in self.violations[:5])
        more = f" (+{len(self.violations) - 5} more)" if len(self.violations) > 5 else ""
        super().__init__(message or f"invalid request: {summary}{more}", reason=reason)

    def _listed(self) -> list[FieldViolation]:
        listed, chars = [], 0
        for violation in self.violations:
            chars += len(violation.field) + len(violation.description)
            if chars > _MAX_LISTED_CHARS:
                break
            listed.append(violation)
        return listed

    def details(self) -> list[any_pb2.Any]:
        listed = self._listed()
        if len(listed) < len(self.violations):
            self.metadata["unlisted_violations"] = str(len(self.violations) - len(listed))
        bad = any_pb2.Any()
        bad.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                    for v in listed
                ]
            )
        )
        return [bad, *super().details()]


class NotFound(ServiceError):
    """A named resource does not exist."""

    code = grpc.StatusCode.NOT_FOUND
    reason = "RESOURCE_NOT_FOUND"

    def __init__(self, resource_name: str, *, field: str | None = None, reason: str | None = None) -> None:
        metadata = {"resource": resource_name}
        if field:
            metadata["field"] = field
        where = f" ({field})" if field else ""
        super().__init__(f"{resource_name} not found{where}", metadata=metadata, reason=reason)
        self.field = field


class AlreadyExists(ServiceError):
    """Creating a resource whose name is taken."""

    code = grpc.StatusCode.ALREADY_EXISTS
    reason = "RESOURCE_EXISTS"

    def __init__(self, resource_name: str, *, message: str | None = None, reason: str | None = None) -> None:
        super().__init__(
            message or f"{resource_name} already exists", metadata={"resource": resource_name}, reason=reason
        )


class FailedPrecondition(ServiceError):
    """The system is not in a state that allows the call (for example deleting a depot still in use)."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = "FAILED_PRECONDITION"


class SensorInUse(FailedPrecondition):
    """A sensor id is already fitted to another container of the tenant."""

    reason = "SENSOR_IN_USE"

    def __init__(self, sensor_id: str, holder: str, field: str) -> None:
        super().__init__(
            f"sensor {sensor_id} is already fitted to {holder}", metadata={"field": field, "resource": holder}
        )


class Aborted(ServiceError):
    """A concurrent change conflicted with this one (a constraint another call just took); retry the call."""

    code = grpc.StatusCode.ABORTED
    reason = "CONCURRENT_CHANGE"


class ResourceExhausted(ServiceError):
    """A quota is used up for now; `RetryInfo` tells when to try again."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "QUOTA_EXCEEDED"

    def __init__(self, message: str, *, retry_after_s: int, metadata: dict[str, str] | None = None) -> None:
        super().__init__(message, metadata=metadata)
        self.retry_after_s = retry_after_s

    def details(self) -> list[any_pb2.Any]:
        retry = any_pb2.Any()
        retry.Pack(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=self.retry_after_s)))
        return [retry, *super().details()]


class PermissionDenied(ServiceError):
    """The caller's credentials do not allow this call on this resource (it may or may not exist)."""

    code = grpc.StatusCode.PERMISSION_DENIED
    reason = "PERMISSION_DENIED"


class Unauthenticated(ServiceError):
    """No valid credentials came with the call."""

    code = grpc.StatusCode.UNAUTHENTICATED
    reason = "UNAUTHENTICATED"


class PlanDataInvalid(FailedPrecondition):
    """The stored data a plan is built on cannot be planned; each problem names the resource field."""

    reason = "PLAN_DATA_INVALID"

    def __init__(self, violations: Iterable[FieldViolation], message: str) -> None:
        self.violations = list(violations)
        super().__init__(message)

    def details(self) -> list[any_pb2.Any]:
        failure = any_pb2.Any()
        failure.Pack(
            error_details_pb2.PreconditionFailure(
                violations=[
                    error_details_pb2.PreconditionFailure.Violation(
                        type="PLAN_DATA", subject=v.field, description=v.description
                    )
                    for v in self.violations
                ]
            )
        )
        return [failure, *super().details()]
