"""The adapter's settings: a TOML file, with command-line options taking precedence.

Secrets are never written in the file: it names the environment variables that hold them
(``password_env``, ``secret_env``). See ``adapters/lorawan/README.md`` for every key.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from adapters.lorawan.devices import ConfigError, DeviceModels
from adapters.lorawan.mqtt import MqttSettings
from adapters.lorawan.webhook import WebhookSettings

__all__ = ["LorawanSettings", "Overrides", "load_settings"]

_DEFAULT_CLIENT_ID = "wastesvc-lorawan"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Overrides:
    """Command-line values that replace the file's (``None`` or empty: keep the file's)."""

    broker: str | None = None
    topics: Sequence[str] = ()
    client_id: str | None = None
    webhook: str | None = None
    quarantine: Path | None = None
    service: str | None = None
    sink_file: Path | None = None


@dataclass(frozen=True, slots=True)
class LorawanSettings:
    """Everything the LoRaWAN adapter needs to run.

    Attributes
    ----------
    models
        Which decoder reads which device.
    quarantine_path
        The quarantine's SQLite file.
    mqtt
        Broker and subscriptions; ``None`` when the adapter does not subscribe.
    webhook
        The TTS webhook receiver; ``None`` when it does not listen.
    service
        gRPC target of wastesvc (``host:port``).
    tenant
        The wastesvc tenant the devices belong to (``grand-soissons``): readings go to
        ``tenants/{tenant}/containers/-``, the container found by the device's sensor id.
    token
        The gateway token for the service (``wastesvc token --role gateway``), read from the environment
        variable the ``[service]`` table names in ``token_env``; empty when none is set.
    sink_file
        JSON-lines file to write readings to instead of the service.
    """

    models: DeviceModels
    quarantine_path: Path
    mqtt: MqttSettings | None
    webhook: WebhookSettings | None
    service: str | None
    tenant: str
    token: str
    sink_file: Path | None


def _table(config: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = config.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{key}] must be a table")
    return value


def _get(table: Mapping[str, Any], key: str, kind: type[T], default: T, where: str) -> T:
    value = table.get(key, default)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"[{where}] {key} must be a {kind.__name__}, got {value!r}")
    return value


def _secret(table: Mapping[str, Any], key: str, where: str) -> str | None:
    variable = table.get(key)
    if variable is None:
        return None
    if not isinstance(variable, str) or variable not in os.environ:
        raise ConfigError(f"[{where}] {key}: environment variable {variable!r} is not set")
    return os.environ[variable]


def _service_token(table: Mapping[str, Any]) -> str:
    """The token from the variable ``token_env`` names (default ``WASTESVC_TOKEN``), if it is set."""
    variable = _get(table, "token_env", str, "WASTESVC_TOKEN", "service")
    return os.environ.get(variable, "")


def _address(text: str, default_port: int, what: str) -> tuple[str, int, bool]:
    """Host, port and TLS flag from ``mqtt://host:port``, ``mqtts://host``, ``host:port`` or ``host``."""
    parts = urlsplit(text if "://" in text else f"//{text}")
    if parts.scheme not in ("", "mqtt", "mqtts", "http") or not parts.hostname:
        raise ConfigError(f"{what} {text!r}: expected mqtt://host:port, mqtts://host:port or host:port")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"{what} {text!r}: the port is not a number in 0..65535") from None
    if port is None:
        port = 8883 if parts.scheme == "mqtts" else default_port
    return parts.hostname, port, parts.scheme == "mqtts"


def _mqtt(table: Mapping[str, Any], overrides: Overrides) -> MqttSettings | None:
    broker = overrides.broker or table.get("broker")
    if broker is None:
        return None
    if not isinstance(broker, str):
        raise ConfigError(f"[mqtt] broker must be a string, got {broker!r}")
    host, port, tls = _address(broker, 1883, "broker")
    topics = tuple(overrides.topics) or tuple(_get(table, "topics", list, [], "mqtt"))
    if not topics or not all(isinstance(topic, str) and topic for topic in topics):
        raise ConfigError("[mqtt] topics: give at least one topic filter (or --topic)")
    protocol = _get(table, "protocol", str, "5", "mqtt")
    if protocol not in ("5", "3.1.1"):
        raise ConfigError(f'[mqtt] protocol must be "5" or "3.1.1", got {protocol!r}')
    username = table.get("username")
    return MqttSettings(
        topics=topics,
        client_id=overrides.client_id or _get(table, "client_id", str, _DEFAULT_CLIENT_ID, "mqtt"),
        host=host,
        port=port,
        protocol="5" if protocol == "5" else "3.1.1",
        session_expiry_s=_get(table, "session_expiry_s", int, 7 * 24 * 3600, "mqtt"),
        keepalive_s=_get(table, "keepalive_s", int, 60, "mqtt"),
        reconnect_min_s=_get(table, "reconnect_min_s", int, 1, "mqtt"),
        reconnect_max_s=_get(table, "reconnect_max_s", int, 120, "mqtt"),
        username=username if isinstance(username, str) else None,
        password=_secret(table, "password_env", "mqtt"),
        tls=tls,
        batch_max=_get(table, "batch_max", int, 500, "mqtt"),
    )


def _webhook(table: Mapping[str, Any], overrides: Overrides) -> WebhookSettings | None:
    listen = overrides.webhook or table.get("listen")
    if listen is None:
        return None
    if not isinstance(listen, str):
        raise ConfigError(f"[webhook] listen must be a string, got {listen!r}")
    host, port, _ = _address(listen, 8090, "webhook address")
    secret = _secret(table, "secret_env", "webhook")
    if not secret:
        raise ConfigError("[webhook] secret_env must name a set, non-empty environment variable")
    return WebhookSettings(
        secret=secret,
        host=host,
        port=port,
        path=_get(table, "path", str, "/tts/uplink", "webhook"),
        secret_header=_get(table, "secret_header", str, "X-Webhook-Secret", "webhook"),
    )


def load_settings(config_path: Path | None, overrides: Overrides) -> LorawanSettings:
    """Read ``config_path`` (when given) and apply ``overrides``.

    Raises
    ------
    ConfigError
        On an unreadable file, a wrong key type, a missing secret or an unknown model.
    """
    config: Mapping[str, Any] = {}
    if config_path is not None:
        try:
            config = tomllib.loads(config_path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"cannot read {config_path}: {error}") from None
    return LorawanSettings(
        models=DeviceModels.from_config(_table(config, "devices"), _table(config, "profiles")),
        quarantine_path=overrides.quarantine
        or Path(_get(_table(config, "quarantine"), "path", str, "lorawan-quarantine.sqlite3", "quarantine")),
        mqtt=_mqtt(_table(config, "mqtt"), overrides),
        webhook=_webhook(_table(config, "webhook"), overrides),
        service=overrides.service or _get(_table(config, "service"), "target", str, "", "service") or None,
        tenant=_get(_table(config, "service"), "tenant", str, "grand-soissons", "service"),
        token=_service_token(_table(config, "service")),
        sink_file=overrides.sink_file,
    )
