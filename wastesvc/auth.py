"""Who is calling and what they may do: signed tokens, scopes, tenants, and the interceptor that checks them.

A token is a JWT signed with HMAC-SHA256 by the service's key (`auth_key_file`). Its claims:

- ``tenant``: the tenant it acts for (``grand-soissons``), whose resources are named ``tenants/{tenant}/…``;
- ``scopes``: what it may do there, among `SCOPES`;
- ``communes`` (optional): INSEE codes a commune's agent is limited to (its containers and their readings);
- ``sub`` (who), ``exp`` (expiry), ``iat``.

The interceptor turns the ``authorization: Bearer …`` metadata into a `Caller` for the handler's task;
servicers then ask `authorize_read`, `authorize_write`, … for the tenant named in the request. A name of
another tenant is PERMISSION_DENIED before any lookup, so the answer reveals nothing of what exists there.
"""

from __future__ import annotations

import contextvars
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import jwt
from grpc_status import rpc_status

from wastesvc.errors import PermissionDenied, ServiceError, Unauthenticated

__all__ = [
    "ROLES",
    "SCOPES",
    "AuthInterceptor",
    "Caller",
    "authorize",
    "authorize_ingest",
    "authorize_read",
    "authorize_write",
    "commune_scope",
    "current_caller",
    "denied_ingest",
    "issue_token",
    "load_key",
]

SCOPES = frozenset({"read", "write", "ingest", "plan", "field"})
# The callers the brief names, as scope sets: `wastesvc token --role …` issues one of these.
ROLES: dict[str, frozenset[str]] = {
    "operator": frozenset({"read", "write", "ingest", "plan", "field"}),  # the agglomeration's service
    "agent": frozenset({"read", "write"}),  # a commune's agent (with --commune)
    "dispatch": frozenset({"read", "plan", "field"}),  # fleet dispatch
    "gateway": frozenset({"ingest"}),  # a sensor gateway or an adapter
    "driver": frozenset({"field"}),  # a driver app or telematics box
}
_ALGORITHM = "HS256"
# Services no credentials are needed for: a load balancer's health check and server reflection.
_OPEN_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller of the current RPC."""

    subject: str
    tenant: str
    scopes: frozenset[str]
    communes: frozenset[str] | None  # None: every commune of the tenant


_CALLER: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("wastesvc_caller", default=None)


def load_key(path: str | os.PathLike[str]) -> bytes:
    """The signing key at `path`, created (32 random bytes, owner-only) on first use."""
    key_path = Path(path)
    if not key_path.exists():
        key_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return key_path.read_text(encoding="ascii").strip().encode()


def issue_token(
    key: bytes,
    *,
    tenant: str,
    scopes: Iterable[str],
    subject: str,
    communes: Sequence[str] = (),
    ttl_s: float = 3600.0,
) -> str:
    """A signed token; unknown scopes are refused."""
    wanted = set(scopes)
    unknown = wanted - SCOPES
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(sorted(unknown))}; known: {', '.join(sorted(SCOPES))}")
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "tenant": tenant,
        "scopes": sorted(wanted),
        "iat": now,
        "exp": now + int(ttl_s),
    }
    if communes:
        claims["communes"] = sorted(communes)
    return jwt.encode(claims, key, algorithm=_ALGORITHM)


def _caller_from(token: str, key: bytes) -> tuple[Caller, float]:
    """The caller a token names and when the token expires (epoch seconds)."""
    try:
        claims = jwt.decode(token, key, algorithms=[_ALGORITHM], options={"require": ["exp", "tenant"]})
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the token has expired", reason="TOKEN_EXPIRED") from None
    except jwt.InvalidTokenError:
        raise Unauthenticated("the token is not one this service signed", reason="TOKEN_INVALID") from None
    communes = claims.get("communes")
    caller = Caller(
        subject=str(claims.get("sub", "")),
        tenant=str(claims["tenant"]),
        scopes=frozenset(claims.get("scopes", ())) & SCOPES,
        communes=frozenset(communes) if communes else None,
    )
    return caller, float(claims["exp"])


class _VerifiedTokens:
    """Tokens whose signature was checked, with their caller, until they expire.

    Checking a signature and decoding the claims is a fixed cost per call that a gateway sending one
    reading per call pays thousands of times a second with the same token. A token only ever verifies
    to the same caller, so the result is kept, keyed by the token string; an expired entry is checked
    again (and refused as expired). Only tokens that verified are kept, at most `_MAX` of them.
    """

    _MAX = 1024

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._known: dict[str, tuple[Caller, float]] = {}

    def caller(self, token: str) -> Caller:
        known = self._known.get(token)
        if known is not None and time.time() < known[1]:
            return known[0]
        caller, expires = _caller_from(token, self._key)
        if len(self._known) >= self._MAX:
            self._known.clear()
        self._known[token] = (caller, expires)
        return caller


def current_caller() -> Caller | None:
    """The authenticated caller of the current RPC, or None outside a call or before authentication."""
    return _CALLER.get()


def _current() -> Caller:
    caller = _CALLER.get()
    if caller is None:  # only reachable when a servicer is called without the interceptor
        raise Unauthenticated("no credentials", reason="CREDENTIALS_MISSING")
    return caller


def authorize(tenant: str, scope: str, *, commune_wide: bool = False) -> Caller:
    """The caller, if it may use `scope` in `tenant`; PERMISSION_DENIED otherwise.

    `commune_wide` marks what only a caller of the whole tenant may do (fleet, plans): a commune's
    agent is refused.
    """
    caller = _current()
    if caller.tenant != tenant:
        raise PermissionDenied(
            f"the caller may not access tenants/{tenant}", reason="TENANT_DENIED", metadata={"tenant": tenant}
        )
    if scope not in caller.scopes:
        raise PermissionDenied(
            f"the caller lacks the {scope!r} scope", reason="SCOPE_MISSING", metadata={"scope": scope}
        )
    if commune_wide and caller.communes is not None:
        raise PermissionDenied(
            "a commune's credentials do not reach the agglomeration's fleet and plans",
            reason="COMMUNE_SCOPED",
        )
    return caller


def authorize_read(tenant: str, *, commune_wide: bool = False) -> Caller:
    return authorize(tenant, "read", commune_wide=commune_wide)


def authorize_write(tenant: str, *, commune_wide: bool = False) -> Caller:
    return authorize(tenant, "write", commune_wide=commune_wide)


def authorize_ingest(tenant: str) -> Caller:
    return authorize(tenant, "ingest")


def denied_ingest(tenant: str) -> ServiceError | None:
    """The per-item form of `authorize_ingest` for batches: the error, or None when allowed."""
    try:
        authorize_ingest(tenant)
    except ServiceError as error:
        return error
    return None


def commune_scope() -> frozenset[str] | None:
    """The communes the current caller is limited to, or None for the whole tenant."""
    return _current().communes


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Checks the bearer token of every call (health and reflection excepted) before the handler runs."""

    def __init__(self, key: bytes) -> None:
        self._tokens = _VerifiedTokens(key)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(_OPEN_SERVICES):
            return handler
        return _wrapped(handler, self._tokens)


Context = grpc.aio.ServicerContext[Any, Any]


def _token(context: Context) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str) and value.startswith("Bearer "):
            return value.removeprefix("Bearer ")
    raise Unauthenticated(
        "this call needs `authorization: Bearer <token>` metadata (`wastesvc token` issues one)",
        reason="CREDENTIALS_MISSING",
    )


async def _authenticate(context: Context, tokens: _VerifiedTokens) -> None:
    try:
        _CALLER.set(tokens.caller(_token(context)))
    except ServiceError as error:
        await context.abort_with_status(rpc_status.to_status(error.to_status()))


def _wrapped(handler: Any, tokens: _VerifiedTokens) -> Any:
    """The same handler, authenticating first; the caller is set in the handler's own task."""
    if handler.unary_unary or handler.stream_unary:
        inner = handler.unary_unary or handler.stream_unary

        async def unary_response(request: Any, context: Context) -> Any:
            await _authenticate(context, tokens)
            return await inner(request, context)

        make = (
            grpc.unary_unary_rpc_method_handler
            if handler.unary_unary
            else grpc.stream_unary_rpc_method_handler
        )
        return make(unary_response, handler.request_deserializer, handler.response_serializer)
    inner_stream = handler.unary_stream or handler.stream_stream

    async def stream_response(request: Any, context: Context) -> Any:
        await _authenticate(context, tokens)
        async for item in inner_stream(request, context):
            yield item

    make = (
        grpc.unary_stream_rpc_method_handler
        if handler.unary_stream
        else grpc.stream_stream_rpc_method_handler
    )
    return make(stream_response, handler.request_deserializer, handler.response_serializer)
