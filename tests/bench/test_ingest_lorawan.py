"""A short run of the LoRaWAN ingest benchmark: own Mosquitto, service and adapter, both killed mid-run."""

from __future__ import annotations

import asyncio

from bench.ingest_lorawan import _run


def test_nothing_is_lost_or_stored_twice_across_a_kill_of_the_adapter_and_the_service() -> None:
    """3 000 uplinks with a SIGKILL of the adapter and of the service: 3 000 stored, none twice."""
    record = asyncio.run(_run(3_000, 600.0, 200, kills=True, batch_max=500))

    assert record["kills"] == 2
    assert (record["published"], record["stored"], record["duplicates"]) == (3_000, 3_000, 0)
    assert record["readings_per_s"] > 0
