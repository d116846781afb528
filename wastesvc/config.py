"""Service settings, read from the environment and optionally a TOML file."""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

__all__ = [
    "MAX_SOLVER_TIME_LIMIT_S",
    "MIN_SOLVER_TIME_LIMIT_S",
    "ConfigError",
    "Settings",
    "check_time_limit",
    "load_settings",
]

_ENV_PREFIX = "WASTESVC_"

# The API reads a zero budget as "the server's default"; below one second a budget is taken for a typo, not
# silently replaced by that default.
MIN_SOLVER_TIME_LIMIT_S = 1.0
# The server refuses longer budgets (`wastesvc.planner.MAX_TIME_LIMIT`).
MAX_SOLVER_TIME_LIMIT_S = 600.0


class ConfigError(ValueError):
    """Settings that cannot be read or cannot work; the message is one line for the operator."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything an operator may want to change without touching code."""

    db_url: str = "sqlite:///var/wastesvc.db"
    listen: str = "127.0.0.1:50051"
    # host:port of the operations board (wastesvc.board) started by `serve` and `demo` (port 0: a free
    # one, logged); empty: no board.
    board_listen: str = "127.0.0.1:0"
    solver_time_limit_s: float = 20.0
    solver_processes: int = 1
    timezone: str = "Europe/Paris"
    grace_s: float = 5.0
    # How often the service looks for sensors gone silent (seconds).
    sensor_check_s: float = 300.0
    # Least time between two assessment rounds under steady ingest (seconds): readings arriving meanwhile
    # are assessed together, so the rounds take a bounded share of the CPU. A read that waits for an
    # assessment (a listing of alerts, a container's forecast) starts the next round at once.
    assess_interval_s: float = 1.0
    # Base URL of an osrm-routed server for real road distances and times; empty = great-circle estimate.
    osrm_url: str = ""
    # RabbitMQ URL of the planning queue (amqp://…): replicas enqueue, `wastesvc worker` processes solve.
    # Empty: this process solves its own operations.
    job_broker_url: str = ""
    job_queue: str = "wastesvc-plans"
    # The tenant a client (CLI, demo) acts for, `tenants/{tenant}`.
    tenant: str = "grand-soissons"
    # HMAC key that signs and checks tokens; created on first use. Whoever reads it can mint tokens.
    auth_key_file: str = "var/auth.key"
    # A client's bearer token (`wastesvc token` issues one); empty: the CLI mints one from auth_key_file.
    token: str = ""
    # Client side: the deadline of a unary call that sets none, in seconds (a stream has none by default).
    call_deadline_s: float = 120.0
    # Server TLS: certificate chain and key (PEM); both empty = plaintext (loopback only).
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # Mutual TLS: CA that signs client certificates; set = clients must present one.
    tls_client_ca_file: str = ""
    # Client side: CA to trust for the server's certificate (and this client's own cert/key for mTLS).
    tls_ca_file: str = ""
    # MQTT broker the demo publishes its LoRaWAN frames on (mqtt://host:port); empty = an embedded one.
    mqtt_broker: str = ""

    # Prometheus metrics over HTTP at host:port/metrics; empty = not served.
    metrics_listen: str = ""
    # Log lines on stderr: "text" for people, "json" (one object per line) for a log pipeline.
    log_format: str = "text"


def check_time_limit(seconds: float) -> float:
    """`seconds` if it is a solver budget the service accepts, else a ValueError saying the bounds."""
    if not (math.isfinite(seconds) and MIN_SOLVER_TIME_LIMIT_S <= seconds <= MAX_SOLVER_TIME_LIMIT_S):
        raise ValueError(
            f"must be between {MIN_SOLVER_TIME_LIMIT_S:g} and "
            f"{MAX_SOLVER_TIME_LIMIT_S:g} seconds, got {seconds:g}"
        )
    return seconds


def _coerce(name: str, kind: Any, raw: Any, source: str) -> Any:
    # Field annotations are strings under `from __future__ import annotations`.
    try:
        if kind in ("float", float):
            return float(raw)
        if kind in ("int", int):
            return int(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} in {source} must be a number, got {raw!r}") from None
    return str(raw)


def _read_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def load_settings(config_file: str | os.PathLike[str] | None = None) -> Settings:
    """Defaults, then a TOML file (`WASTESVC_CONFIG` or the argument), then `WASTESVC_*` variables.

    Raises
    ------
    ConfigError
        The file is missing or unreadable, names an unknown setting, or a value cannot work.
    """
    settings = Settings()
    path = config_file or os.environ.get(f"{_ENV_PREFIX}CONFIG")
    known = {f.name: f.type for f in fields(Settings)}
    if path:
        data = _read_file(path)
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"unknown settings in {path}: {', '.join(unknown)}")
        settings = replace(settings, **{k: _coerce(k, known[k], v, str(path)) for k, v in data.items()})
    overrides = {}
    for name, kind in known.items():
        variable = f"{_ENV_PREFIX}{name.upper()}"
        if variable in os.environ:
            overrides[name] = _coerce(name, kind, os.environ[variable], variable)
    settings = replace(settings, **overrides)
    try:
        check_time_limit(settings.solver_time_limit_s)
    except ValueError as exc:
        raise ConfigError(f"solver_time_limit_s {exc}") from None
    if settings.log_format not in ("text", "json"):
        raise ConfigError(f"log_format must be text or json, got {settings.log_format!r}")
    return settings
