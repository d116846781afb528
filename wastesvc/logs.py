"""Structured logs: one JSON object per line, with the request id and tenant of the RPC, and no secrets.

`configure_logging` installs the format the operator chose (`log_format`: ``text`` or ``json``). Both
formats pass every line through `redact`, which masks bearer tokens, JWTs and passwords in database URLs,
so a secret that reaches a log message (a URL in an error, a header echoed by a library) is not written.
The RPC interceptor (`wastesvc.telemetry`) opens a `RequestContext` per call; every line logged while the
call runs carries its ``request_id`` and ``method``, and the ``tenant`` once the caller is authenticated.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wastesvc.auth import current_caller

__all__ = [
    "LOG_FORMATS",
    "JsonFormatter",
    "RequestContext",
    "TextFormatter",
    "configure_logging",
    "current_request",
    "redact",
    "start_request",
]

LOG_FORMATS = ("text", "json")
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_SECRETS = (
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1***"),
    (re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "***"),
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1***@"),
    (re.compile(r"(?i)(password\s*=\s*)[^\s&;]+"), r"\1***"),
)
# Record attributes the RPC access log sets through `extra=`, copied into the JSON object when present.
_EXTRA_FIELDS = ("request_id", "tenant", "method", "code", "duration_ms")


@dataclass(frozen=True, slots=True)
class RequestContext:
    """The RPC being served: its request id (from ``x-request-id`` or generated) and full method name."""

    request_id: str
    method: str


_REQUEST: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "wastesvc_request", default=None
)


def start_request(request_id: str, method: str) -> RequestContext:
    """Marks the current task as serving this RPC; lines logged from it carry the request id."""
    context = RequestContext(request_id, method)
    _REQUEST.set(context)
    return context


def current_request() -> RequestContext | None:
    """The RPC the current task serves, or None outside a call."""
    return _REQUEST.get()


def redact(text: str) -> str:
    """`text` with bearer tokens, JWTs and passwords (URL userinfo, ``password=``) replaced by ``***``."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the RPC's fields when in a call."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        request = current_request()
        if request is not None:
            entry["request_id"], entry["method"] = request.request_id, request.method
        caller = current_caller()
        if caller is not None:
            entry["tenant"] = caller.tenant
        for field in _EXTRA_FIELDS:
            if field in record.__dict__:
                entry[field] = record.__dict__[field]
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The classic one-line text format, redacted like the JSON one."""

    def __init__(self) -> None:
        super().__init__(_TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(log_format: str = "text", level: int = logging.INFO) -> None:
    """Sends the root logger's lines to stderr in `log_format` (one of `LOG_FORMATS`).

    The per-RPC access log (``wastesvc.access``) is for a log pipeline: it is written in the JSON format
    only, so a person reading the text format (the demo, the CLI) is not flooded with one line per call.
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log_format must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("wastesvc.access").setLevel(level if log_format == "json" else logging.WARNING)
