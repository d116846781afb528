"""A sink appending readings to a JSON-lines file, for trials before the adapter is pointed at the service."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adapters.lorawan.sink import ItemResult, ItemStatus, NormalizedUplink

__all__ = ["JsonLinesSink", "reading_record"]


def reading_record(uplink: NormalizedUplink) -> dict[str, Any]:
    """One uplink as a JSON object: its keys, the normalized values and the vendor fields."""
    reading = uplink.reading
    return {
        "network": uplink.network,
        "dev_eui": uplink.dev_eui,
        "f_cnt": uplink.f_cnt,
        "f_port": uplink.f_port,
        "measure_time": uplink.measure_time.isoformat(),
        "model": reading.model,
        "distance_mm": reading.distance_mm,
        "battery_percent": reading.battery_percent,
        "battery_volts": reading.battery_volts,
        "temperature_celsius": reading.temperature_celsius,
        "tilted": reading.tilted,
        "alarms": list(reading.alarms),
        "fields": dict(reading.fields),
    }


class JsonLinesSink:
    """Appends each new reading as one line and syncs the file before answering.

    A reading whose (DevEUI, measure time) is already in the file is a duplicate: the frame counter
    alone is not a key, it restarts at 0 when a device rejoins.

    Parameters
    ----------
    path
        The file; created when missing, read at start to know what it already holds.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._seen: set[tuple[str, str]] = set()
        if path.exists():
            text = path.read_text()
            if not text.endswith("\n"):
                # A process killed while writing leaves half a line; that batch was never
                # acknowledged, so it comes again: drop the fragment.
                text = text[: text.rfind("\n") + 1]
                path.write_text(text)
            for line in text.splitlines():
                record = json.loads(line)
                self._seen.add((record["dev_eui"], record["measure_time"]))

    async def store(self, readings: Sequence[NormalizedUplink]) -> Sequence[ItemResult]:
        """Append the readings not yet in the file; one result per reading."""
        results = []
        lines = []
        for uplink in readings:
            key = (uplink.dev_eui, uplink.measure_time.isoformat())
            if key in self._seen:
                results.append(ItemResult(ItemStatus.DUPLICATE))
                continue
            self._seen.add(key)
            lines.append(json.dumps(reading_record(uplink)) + "\n")
            results.append(ItemResult(ItemStatus.STORED))
        if lines:
            with self._path.open("a") as file:
                file.writelines(lines)
                file.flush()
                os.fsync(file.fileno())
        return results
