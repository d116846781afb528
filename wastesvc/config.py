"""Service settings, read from the environment and optionally a TOML file."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

__all__ = ["Settings", "load_settings"]

_ENV_PREFIX = "WASTESVC_"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything an operator may want to change without touching code."""

    db_url: str = "sqlite:///var/wastesvc.db"
    listen: str = "127.0.0.1:50051"
    solver_time_limit_s: float = 20.0
    solver_processes: int = 1
    timezone: str = "Europe/Paris"
    grace_s: float = 5.0
    # Base URL of an osrm-routed server for real road distances and times; empty = great-circle estimate.
    osrm_url: str = ""
    # The tenant a client (CLI, demo) acts for, `tenants/{tenant}`.
    tenant: str = "grand-soissons"
    # HMAC key that signs and checks tokens; created on first use. Whoever reads it can mint tokens.
    auth_key_file: str = "var/auth.key"
    # A client's bearer token (`wastesvc token` issues one); empty: the CLI mints one from auth_key_file.
    token: str = ""
    # Server TLS: certificate chain and key (PEM); both empty = plaintext (loopback only).
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # Mutual TLS: CA that signs client certificates; set = clients must present one.
    tls_client_ca_file: str = ""
    # Client side: CA to trust for the server's certificate (and this client's own cert/key for mTLS).
    tls_ca_file: str = ""


def _coerce(kind: Any, raw: Any) -> Any:
    # Field annotations are strings under `from __future__ import annotations`.
    if kind in ("float", float):
        return float(raw)
    if kind in ("int", int):
        return int(raw)
    return str(raw)


def load_settings(config_file: str | os.PathLike[str] | None = None) -> Settings:
    """Defaults, then a TOML file (`WASTESVC_CONFIG` or the argument), then `WASTESVC_*` variables."""
    settings = Settings()
    path = config_file or os.environ.get(f"{_ENV_PREFIX}CONFIG")
    known = {f.name: f.type for f in fields(Settings)}
    if path:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown settings in {path}: {', '.join(unknown)}")
        settings = replace(settings, **{k: _coerce(known[k], v) for k, v in data.items()})
    overrides = {
        name: _coerce(kind, os.environ[f"{_ENV_PREFIX}{name.upper()}"])
        for name, kind in known.items()
        if f"{_ENV_PREFIX}{name.upper()}" in os.environ
    }
    return replace(settings, **overrides)
