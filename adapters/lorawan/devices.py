"""Which decoder reads which device: by DevEUI first, else by the network server's device profile."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapters.lorawan.decoders import DECODERS
from adapters.lorawan.messages import Uplink

__all__ = ["ConfigError", "DeviceModels"]

_DEV_EUI = re.compile(r"^[0-9A-Fa-f]{16}$")


class ConfigError(ValueError):
    """The adapter's configuration is invalid; the message names the setting."""


@dataclass(frozen=True, slots=True)
class DeviceModels:
    """The decoder model of each known device.

    Attributes
    ----------
    by_dev_eui
        DevEUI (upper-case hex) → decoder model.
    by_profile
        Device-profile hint (``brand_id/model_id`` on The Things Stack, the profile name on
        ChirpStack) → decoder model, for devices not listed by DevEUI.
    """

    by_dev_eui: Mapping[str, str]
    by_profile: Mapping[str, str]

    @classmethod
    def from_config(cls, devices: Mapping[str, Any], profiles: Mapping[str, Any]) -> DeviceModels:
        """Build from the ``[devices]`` and ``[profiles]`` tables of the configuration.

        Raises
        ------
        ConfigError
            On a malformed DevEUI or a model no decoder implements.
        """
        for name, table in (("devices", devices), ("profiles", profiles)):
            for key, model in table.items():
                if model not in DECODERS:
                    known = ", ".join(sorted(DECODERS))
                    raise ConfigError(f"[{name}] {key!r}: unknown model {model!r} (known: {known})")
        for dev_eui in devices:
            if not _DEV_EUI.match(dev_eui):
                raise ConfigError(f"[devices] {dev_eui!r} is not a DevEUI (16 hex digits)")
        return cls(
            by_dev_eui={dev_eui.upper(): model for dev_eui, model in devices.items()},
            by_profile=dict(profiles),
        )

    def model_for(self, uplink: Uplink) -> str | None:
        """The decoder model for ``uplink``'s device, or ``None`` when the device is unknown."""
        model = self.by_dev_eui.get(uplink.dev_eui)
        if model is None and uplink.device_profile is not None:
            model = self.by_profile.get(uplink.device_profile)
        return model
