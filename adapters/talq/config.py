"""Settings of ``wastesvc-adapter talq`` from a TOML file (see ``talq.example.toml``)."""

from __future__ import annotations

import os
import tomllib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from adapters.talq.lighting import CommuneLighting, LightingSettings

__all__ = ["ConfigError", "TalqSettings", "load_settings"]

T = TypeVar("T")


class ConfigError(ValueError):
    """Settings that cannot work; the message is one line for the operator."""


@dataclass(frozen=True, slots=True)
class TalqSettings:
    """Where the gateway and the service are, and what to do with them.

    Attributes
    ----------
    gateway
        The TALQ gateway API root URL; empty when only receiving log reports.
    client_address
        This CMS's TALQ address (UUID).
    source
        The observations' ``source``.
    loggers
        Addresses of the data loggers whose reports are read when polling.
    listen
        ``host:port`` of the ``POST /log-reports`` receiver; empty for none.
    containers
        TALQ device address -> container id, for sensors fitted to a container.
    lighting
        The lighting of night rounds.
    service, tenant, token
        The wastesvc gRPC target, tenant and bearer token.
    """

    client_address: str
    gateway: str = ""
    source: str = "talq"
    loggers: tuple[str, ...] = ()
    listen: str = ""
    containers: Mapping[str, str] = field(default_factory=dict)
    lighting: LightingSettings = field(default_factory=LightingSettings)
    service: str = "127.0.0.1:50051"
    tenant: str = "grand-soissons"
    token: str = ""


def _get(table: Mapping[str, Any], key: str, kind: type[T], default: T, where: str) -> T:
    value = table.get(key, default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"[{where}] {key} must be a {kind.__name__}, got {value!r}")
    return value


def _table(config: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = config.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{where}] {key} must be a table")
    return value


def _clock(table: Mapping[str, Any], key: str, default: str) -> time:
    text = _get(table, key, str, default, "lighting")
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"[lighting] {key} must be HH:MM, got {text!r}") from None


def _lighting(table: Mapping[str, Any]) -> LightingSettings:
    zone = _get(table, "timezone", str, "Europe/Paris", "lighting")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"[lighting] timezone {zone!r} is not a known time zone") from None
    level = _get(table, "level", int, 100, "lighting")
    if not 0 <= level <= 100:
        raise ConfigError(f"[lighting] level must be 0..100 (a TALQ DimLevel), got {level}")
    default = CommuneLighting(
        enabled=_get(table, "enabled", bool, True, "lighting"),
        dry_run=_get(table, "dry_run", bool, True, "lighting"),
    )
    communes = {}
    for code, choice in _table(table, "communes", "lighting").items():
        if not isinstance(choice, dict):
            raise ConfigError(f"[lighting.communes] {code} must be a table")
        where = f"lighting.communes.{code}"
        communes[code] = CommuneLighting(
            enabled=_get(choice, "enabled", bool, default.enabled, where),
            dry_run=_get(choice, "dry_run", bool, default.dry_run, where),
        )
    return LightingSettings(
        level=level,
        radius_m=_get(table, "radius_m", float, 60.0, "lighting"),
        lead_s=_get(table, "lead_s", int, 300, "lighting"),
        trail_s=_get(table, "trail_s", int, 300, "lighting"),
        night_start=_clock(table, "night_start", "21:00"),
        night_end=_clock(table, "night_end", "07:00"),
        timezone=zone,
        default=default,
        communes=communes,
    )


def load_settings(path: Path) -> TalqSettings:
    """Read ``path``.

    Raises
    ------
    ConfigError
        On an unreadable file or a value that cannot work.
    """
    try:
        config = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from None
    talq = _table(config, "talq", "")
    client_address = _get(talq, "client_address", str, "", "talq")
    try:
        uuid.UUID(client_address)
    except ValueError:
        raise ConfigError(
            f"[talq] client_address must be this CMS's TALQ address (a UUID), got {client_address!r}"
        ) from None
    loggers = _get(talq, "loggers", list, [], "talq")
    containers = _table(talq, "containers", "talq")
    if not all(isinstance(v, str) for v in [*loggers, *containers.values()]):
        raise ConfigError("[talq] loggers and containers must hold strings")
    service = _table(config, "service", "")
    token_env = _get(service, "token_env", str, "WASTESVC_TOKEN", "service")
    return TalqSettings(
        client_address=client_address,
        gateway=_get(talq, "gateway", str, "", "talq"),
        source=_get(talq, "source", str, "talq", "talq"),
        loggers=tuple(loggers),
        listen=_get(talq, "listen", str, "", "talq"),
        containers=dict(containers),
        lighting=_lighting(_table(config, "lighting", "")),
        service=_get(service, "target", str, "127.0.0.1:50051", "service"),
        tenant=_get(service, "tenant", str, "grand-soissons", "service"),
        token=os.environ.get(token_env, ""),
    )
