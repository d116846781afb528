"""What the service does with readings once they are stored: alerts, emptyings, and live alert watchers.

After each ingest batch the `Monitor` assesses the containers the batch touched (in a worker thread, off
the event loop): it reconciles their alerts with the fill library's health findings, raises an
IMPOSSIBLE_READING alert for a stored outlier, and stores the emptyings their series show as sensor
collections. A periodic check finds the sensors that went silent. Every alert created or changed is
published to the `AlertHub`, which feeds the WatchAlerts streams of its tenant.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

from wastesvc.domain.alerts import (
    ALL_SELF_CLEARING,
    SILENT,
    assess,
    impossible_conditions,
    reconcile,
    to_fill_reading,
)
from wastesvc.domain.forecasts import fit_container
from wastesvc.domain.priors import prior_for
from wastesvc.fill import Series, detect_emptyings
from wastesvc.storage import (
    AlertRow,
    CollectionRow,
    ContainerRow,
    ForecastRow,
    ReadingInsert,
    ReadingRow,
    Storage,
)

__all__ = ["AlertHub", "Monitor"]

log = logging.getLogger(__name__)

# Enough readings for every health rule (a stuck run of 12, the 21 intervals of the silent rule), an
# emptying's 5 confirming readings either side, and the forecast's three weeks of hourly readings.
_RECENT = 600
# Crew-reported emptyings this old or newer split the forecast's fill cycles.
_FORECAST_HISTORY = timedelta(days=21)
# Detections this sure are stored (two readings after the drop, see the fill library's README).
_MIN_CONFIDENCE = 0.4
# A detection within this of a stored sensor emptying is the same one seen again (its time estimate
# moves as readings after the drop arrive).
_SAME_EMPTYING = timedelta(hours=3)
# A watcher this far behind is cut off rather than let the service's memory grow.
_WATCH_BACKLOG = 10_000


def _now() -> datetime:
    return datetime.now(UTC)


class AlertHub:
    """Fan-out of changed alerts to the live watchers of each tenant (in the event loop only)."""

    def __init__(self) -> None:
        self._watchers: dict[str, set[asyncio.Queue[AlertRow | None]]] = {}

    @contextlib.contextmanager
    def watch(self, tenant: str) -> Iterator[asyncio.Queue[AlertRow | None]]:
        """A queue receiving the tenant's changed alerts while the context lasts; None means it fell
        behind and was cut off."""
        queue: asyncio.Queue[AlertRow | None] = asyncio.Queue(maxsize=_WATCH_BACKLOG)
        self._watchers.setdefault(tenant, set()).add(queue)
        try:
            yield queue
        finally:
            self._watchers[tenant].discard(queue)

    def publish(self, alerts: Sequence[AlertRow]) -> None:
        for alert in alerts:
            for queue in list(self._watchers.get(alert.tenant, ())):
                try:
                    queue.put_nowait(alert)
                except asyncio.QueueFull:
                    self._watchers[alert.tenant].discard(queue)
                    queue.get_nowait()  # room for the cut-off mark
                    queue.put_nowait(None)


class Monitor:
    """Alerts and emptyings from ingested readings, and the periodic silent-sensor check."""

    def __init__(self, storage: Storage, hub: AlertHub, *, check_interval_s: float = 300.0) -> None:
        self.storage = storage
        self.hub = hub
        self.check_interval_s = check_interval_s

    async def after_ingest(self, stored: Sequence[ReadingInsert]) -> None:
        """Assesses the containers of the newly stored readings; a failure is logged, never raised, so an
        acknowledged ingest is never turned into an error."""
        if not stored:
            return
        try:
            changed = await asyncio.to_thread(self.assess_batch, stored, _now())
        except Exception:
            log.exception("assessing %d new reading(s) failed", len(stored))
            return
        self.hub.publish(changed)

    def assess_batch(self, stored: Sequence[ReadingInsert], now: datetime) -> list[AlertRow]:
        """Alerts created or changed by the readings just stored; their emptyings and the containers'
        forecasts are stored too."""
        impossible = impossible_conditions(stored)
        changed: list[AlertRow] = []
        forecasts: list[ForecastRow] = []
        for tenant, container_id in sorted({(r.tenant, r.container_id) for r in stored}):
            container = self.storage.get(ContainerRow, tenant, container_id)
            if container is None:  # deleted meanwhile
                continue
            rows = self._recent(tenant, container_id)
            conditions = assess(rows, now, expected_rate_per_h=prior_for(container.stream).rate_per_h)
            if (tenant, container_id) in impossible:
                conditions.append(impossible[(tenant, container_id)])
            changed += reconcile(
                self.storage, tenant, container_id, conditions, checked=ALL_SELF_CLEARING, now=now
            )
            self._store_emptyings(tenant, container_id, rows, now)
            forecasts.append(self._forecast(container, rows, now))
        self.storage.save_forecasts(forecasts)
        return changed

    def check_silent(self, now: datetime) -> list[AlertRow]:
        """Raises (or resolves) the silent-sensor alerts of every container with a sensor."""
        changed: list[AlertRow] = []
        for tenant, container_id in self.storage.containers_with_sensors():
            rows = self._recent(tenant, container_id)
            silent = [c for c in assess(rows, now, expected_rate_per_h=None) if c.kind == SILENT]
            changed += reconcile(self.storage, tenant, container_id, silent, checked=(SILENT,), now=now)
            container = self.storage.get(ContainerRow, tenant, container_id)
            if silent and container is not None:
                # Refitted at `now`, the forecast says it runs on the model alone (forecast_only).
                self.storage.save_forecasts([self._forecast(container, rows, now)])
        return changed

    def _forecast(self, container: ContainerRow, rows: Sequence[ReadingRow], now: datetime) -> ForecastRow:
        crew = self.storage.list_collections(container.tenant, [container.id], since=now - _FORECAST_HISTORY)
        return fit_container(container, rows, crew, now)

    async def run(self) -> None:
        """The periodic check, until cancelled."""
        while True:
            await asyncio.sleep(self.check_interval_s)
            try:
                changed = await asyncio.to_thread(self.check_silent, _now())
            except Exception:
                log.exception("the periodic sensor check failed")
                continue
            self.hub.publish(changed)

    def _recent(self, tenant: str, container_id: str) -> list[ReadingRow]:
        """The container's latest possible readings, oldest first."""
        rows = self.storage.list_readings(tenant, container_id, before=None, limit=_RECENT)
        return [r for r in reversed(rows) if not r.outlier]

    def _store_emptyings(
        self, tenant: str, container_id: str, rows: Sequence[ReadingRow], now: datetime
    ) -> None:
        series = Series.from_readings([to_fill_reading(r) for r in rows], now)
        found = [e for e in detect_emptyings(series) if e.confidence >= _MIN_CONFIDENCE]
        if not found:
            return
        since = min(e.earliest for e in found) - _SAME_EMPTYING
        known = [
            c.collect_time
            for c in self.storage.list_collections(tenant, [container_id], since=since)
            if c.source == "sensor"
        ]
        new = [
            e
            for e in found
            if not any(e.earliest - _SAME_EMPTYING <= t <= e.latest + _SAME_EMPTYING for t in known)
        ]
        self.storage.insert_collections(
            [
                CollectionRow(
                    tenant=tenant,
                    container_id=container_id,
                    collect_time=e.time.astimezone(UTC),
                    source="sensor",
                    observed_fill=e.fill_before,
                    create_time=now,
                )
                for e in new
            ]
        )
