"""TALQ attribute values (from ``/devices`` or a log report) as wastesvc observations.

Only the functions a waste service cares about are read: ``FillingLevelSensorFunction``
(``fillingPercentage``, ``containerFull``), ``TemperatureSensorFunction`` (``temperature``,
``fireDetected``) and ``PresenceSensorFunction`` (``presenceStatus``). A device bound to a container
(``[talq.containers]``) reports as that ``WasteContainer``, so its fill level is also stored as a
reading; any other device reports as a ``Device`` under its TALQ address.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf import timestamp_pb2

from wastesvc.v1 import observations_pb2

__all__ = ["AttributeValue", "from_devices", "from_log_report", "to_observation"]


@dataclass(frozen=True, slots=True)
class _Property:
    name: str
    unit: str
    scale: float = 1.0


# TALQ attribute name -> the observed property (Smart Data Models vocabulary) and its UN/CEFACT unit.
_PROPERTIES: dict[str, _Property] = {
    "fillingPercentage": _Property("fillingLevel", "C62", 0.01),  # TALQ gives percent, wastesvc a fraction
    "containerFull": _Property("containerFull", ""),
    "temperature": _Property("temperature", "CEL"),
    "fireDetected": _Property("fireDetected", ""),
    "presenceStatus": _Property("presence", ""),
}


@dataclass(frozen=True, slots=True)
class AttributeValue:
    """One TALQ attribute value: the device address, the attribute name, the value and its time."""

    device: str
    attribute: str
    value: float | bool
    time: datetime


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else None


def _value(attribute: Mapping[str, Any], device: str, name: str) -> AttributeValue | None:
    value = attribute.get("value")
    moment = _time(attribute.get("timestamp"))
    if isinstance(value, bool | int | float) and moment is not None:
        return AttributeValue(device, name, value, moment)
    return None


def from_devices(devices: Iterable[Mapping[str, Any]]) -> Iterator[AttributeValue]:
    """The wanted attribute values (with a timestamp) of every function of ``devices`` (``GET /devices``)."""
    for device in devices:
        for function in device.get("functions") or []:
            for name, attribute in function.items():
                if name in _PROPERTIES and isinstance(attribute, dict):
                    found = _value(attribute, str(device["address"]), name)
                    if found is not None:
                        yield found


def from_log_report(report: Mapping[str, Any]) -> Iterator[AttributeValue]:
    """The wanted attribute values of a log report's ``AttributeLogData`` entries.

    ``srcAddress`` is ``{deviceAddress}`` or ``{deviceAddress}/{functionId}``; an attribute value
    without a timestamp takes the entry's.
    """
    for entry in report.get("entries") or []:
        data = entry.get("data") or {}
        if data.get("type") != "AttributeLogData" or data.get("attributeName") not in _PROPERTIES:
            continue
        attribute = dict(data.get("attributeValue") or {})
        attribute.setdefault("timestamp", data.get("timestamp"))
        device = str(data["srcAddress"]).strip("/").removeprefix("devices/").split("/")[0]
        found = _value(attribute, device, data["attributeName"])
        if found is not None:
            yield found


def to_observation(
    value: AttributeValue, source: str, containers: Mapping[str, str]
) -> observations_pb2.Observation:
    """The observation of ``value``; ``containers`` maps TALQ device addresses to container ids."""
    prop = _PROPERTIES[value.attribute]
    observed = timestamp_pb2.Timestamp()
    observed.FromDatetime(value.time)
    container = containers.get(value.device)
    observation = observations_pb2.Observation(
        source=source,
        entity_id=container or value.device,
        entity_type="WasteContainer" if container else "Device",
        property=prop.name,
        unit=prop.unit,
        observe_time=observed,
    )
    if isinstance(value.value, bool):
        observation.bool_value = value.value
    else:
        observation.number_value = value.value * prop.scale
    return observation
