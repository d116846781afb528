"""Out: the planned stop times of a day, as short no-parking windows for the parking service to announce.

No open schema describes a temporary parking restriction, so each window is a small JSON object in the
vocabulary of the French parking schema where it has a word (``insee``, ``adresse``, ``Xlong``,
``Ylat``) plus its span (``debut``, ``fin``, RFC 3339 UTC) and its ``motif``; the list of a plan is
POSTed as one JSON array to the parking service's endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from wastesvc.v1 import containers_pb2, planning_pb2

__all__ = ["PublishError", "no_parking_windows", "publish"]

MOTIF = "collecte des déchets"


class PublishError(Exception):
    """The parking service could not be reached or refused the windows."""


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def no_parking_windows(
    plan: planning_pb2.RoutePlan,
    containers: Mapping[str, containers_pb2.Container],
    *,
    before_s: int = 600,
    after_s: int = 300,
) -> list[dict[str, Any]]:
    """One window per container stop of ``plan``: from ``before_s`` before its planned start to
    ``after_s`` after its planned end."""
    windows = []
    for route in plan.routes:
        for visit in route.visits:
            if visit.kind != planning_pb2.VISIT_KIND_CONTAINER or not visit.containers:
                continue
            first = containers.get(visit.containers[0], containers_pb2.Container())
            start = visit.start_time.ToDatetime(tzinfo=UTC) - timedelta(seconds=before_s)
            end = visit.end_time.ToDatetime(tzinfo=UTC) + timedelta(seconds=after_s)
            windows.append(
                {
                    "id": f"{plan.name}/{visit.containers[0].rsplit('/', 1)[-1]}",
                    "insee": first.commune_code,
                    "adresse": ", ".join(p for p in (first.street_address, first.locality) if p),
                    "Xlong": visit.location.longitude,
                    "Ylat": visit.location.latitude,
                    "debut": _stamp(start),
                    "fin": _stamp(end),
                    "motif": MOTIF,
                    "vehicule": route.vehicle,
                }
            )
    return sorted(windows, key=lambda w: (w["debut"], w["id"]))


async def publish(http: httpx.AsyncClient, url: str, windows: list[dict[str, Any]]) -> int:
    """POST ``windows`` to ``url``; the status of the answer (2xx).

    Raises
    ------
    PublishError
        On a transport error or a status of 300 or more.
    """
    try:
        response = await http.post(url, json=windows)
    except httpx.HTTPError as error:
        raise PublishError(f"POST {url}: {error}") from None
    if response.status_code >= 300:
        raise PublishError(f"POST {url}: {response.status_code} {response.text[:300]}")
    return response.status_code
