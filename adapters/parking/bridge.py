"""The parking adapter's two jobs: street occupancy in, no-parking windows out."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from datetime import date

import httpx

from adapters.ngsi.broker import Broker
from adapters.ngsi.sdm import SdmError
from adapters.parking.no_parking import no_parking_windows, publish
from adapters.parking.occupancy import OccupancyError, occupancy_observation
from adapters.parking.sites import Site
from adapters.service_client import Wastesvc

__all__ = ["poll_occupancy", "publish_windows"]

_log = logging.getLogger("adapters.parking")


async def poll_occupancy(
    broker: Broker, service: Wastesvc, sites: Mapping[str, Site], source: str
) -> Counter[str]:
    """Read every ``OnStreetParking`` of the broker once and store its occupancy; counts by outcome."""
    observations = []
    counts: Counter[str] = Counter()
    for entity in await broker.entities("OnStreetParking"):
        try:
            observations.append(occupancy_observation(entity, sites, source))
        except (OccupancyError, SdmError) as error:
            _log.warning("no occupancy: %s", error)
            counts["unreadable"] += 1
    for outcome in await service.store_observations(observations) if observations else []:
        counts[outcome.outcome] += 1
        if outcome.reason:
            _log.warning("occupancy refused: %s", outcome.reason)
    return counts


async def publish_windows(service: Wastesvc, http: httpx.AsyncClient, url: str, day: date) -> int:
    """Publish the no-parking windows of the newest plan of ``day``; how many were sent."""
    plans = await service.plans_of(day)
    if not plans:
        _log.info("no published plan for %s: nothing to announce", day)
        return 0
    windows = no_parking_windows(plans[0], await service.containers())
    if windows:
        await publish(http, url, windows)
    _log.info("%s: %d no-parking window(s) sent to %s", plans[0].name, len(windows), url)
    return len(windows)
