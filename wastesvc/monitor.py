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
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from wastesvc.domain.alerts import (
    ALL_SELF_CLEARING,
    SILENT,
    Condition,
    assess,
    impossible_conditions,
    reconcile,
    to_fill_reading,
)
from wastesvc.domain.forecasts import fit_container
from wastesvc.domain.priors import prior_for
from wastesvc.fill import Emptying, Reading, Series, detect_emptyings
from wastesvc.storage import (
    AlertRow,
    CollectionRow,
    ContainerRow,
    ForecastRow,
    ReadingInsert,
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
    """Alerts and emptyings from ingested readings, and the periodic silent-sensor check.

    Ingest calls that finish while an assessment runs are assessed together in the next round: a container
    touched by several of them is assessed once, with all their readings, and each caller still gets its
    answer only once its readings were assessed.
    """

    def __init__(self, storage: Storage, hub: AlertHub, *, check_interval_s: float = 300.0) -> None:
        self.storage = storage
        self.hub = hub
        self.check_interval_s = check_interval_s
        self._waiting: list[tuple[Sequence[ReadingInsert], asyncio.Future[None]]] = []
        self._rounds: asyncio.Task[None] | None = None

    async def after_ingest(self, stored: Sequence[ReadingInsert]) -> None:
        """Assesses the containers of the newly stored readings; a failure is logged, never raised, so an
        acknowledged ingest is never turned into an error."""
        if not stored:
            return
        loop = asyncio.get_running_loop()
        assessed: asyncio.Future[None] = loop.create_future()
        # A caller that goes away still has its readings assessed: they are stored.
        self._waiting.append((stored, assessed))
        if self._rounds is None or self._rounds.done():
            self._rounds = loop.create_task(self._run_rounds())
        await assessed

    async def _run_rounds(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            stored = [reading for readings, _ in group for reading in readings]
            try:
                self.hub.publish(await asyncio.to_thread(self.assess_batch, stored, _now()))
            except Exception:
                log.exception("assessing %d new reading(s) failed", len(stored))
            finally:
                for _, assessed in group:
                    if not assessed.done():  # a caller may have gone (deadline, cancel)
                        assessed.set_result(None)

    def assess_batch(self, stored: Sequence[ReadingInsert], now: datetime) -> list[AlertRow]:
        """Alerts created or changed by the readings just stored; their emptyings and the containers'
        forecasts are stored too."""
        impossible = impossible_conditions(stored)
        touched: dict[str, set[str]] = {}
        for r in stored:
            touched.setdefault(r.tenant, set()).add(r.container_id)
        changed: list[AlertRow] = []
        for tenant, container_ids in sorted(touched.items()):
            changed += self._assess_tenant(tenant, sorted(container_ids), impossible, now)
        return changed

    def _assess_tenant(
        self,
        tenant: str,
        container_ids: Sequence[str],
        impossible: Mapping[tuple[str, str], Condition],
        now: datetime,
    ) -> list[AlertRow]:
        """One tenant's part of `assess_batch`, with a few queries for all its containers."""
        containers = self.storage.get_many(ContainerRow, tenant, container_ids)  # deleted ones are absent
        recent = self._recent(tenant, list(containers))
        conditions: dict[str, list[Condition]] = {}
        for container_id, container in containers.items():
            rate = prior_for(container.stream).rate_per_h
            conditions[container_id] = assess(recent.get(container_id, []), now, expected_rate_per_h=rate)
            if (tenant, container_id) in impossible:
                conditions[container_id].append(impossible[(tenant, container_id)])
        changed = reconcile(self.storage, tenant, conditions, checked=ALL_SELF_CLEARING, now=now)
        series = {c: Series.from_readings(recent.get(c, []), now) for c in containers}
        self._store_emptyings(tenant, series, now)
        self.storage.save_forecasts(self._forecasts(tenant, containers, series, now))
        return changed

    def check_silent(self, now: datetime) -> list[AlertRow]:
        """Raises (or resolves) the silent-sensor alerts of every container with a sensor."""
        by_tenant: dict[str, list[str]] = {}
        for tenant, container_id in self.storage.containers_with_sensors():
            by_tenant.setdefault(tenant, []).append(container_id)
        changed: list[AlertRow] = []
        for tenant, container_ids in sorted(by_tenant.items()):
            recent = self._recent(tenant, container_ids)
            silent = {
                container_id: [
                    c
                    for c in assess(recent.get(container_id, []), now, expected_rate_per_h=None)
                    if c.kind == SILENT
                ]
                for container_id in container_ids
            }
            changed += reconcile(self.storage, tenant, silent, checked=(SILENT,), now=now)
            # Refitted at `now`, the forecast of a silent sensor says it runs on the model alone.
            quiet = [container_id for container_id, held in silent.items() if held]
            containers = self.storage.get_many(ContainerRow, tenant, quiet)
            series = {c: Series.from_readings(recent.get(c, []), now) for c in containers}
            self.storage.save_forecasts(self._forecasts(tenant, containers, series, now))
        return changed

    def _forecasts(
        self,
        tenant: str,
        containers: Mapping[str, ContainerRow],
        series: Mapping[str, Series],
        now: datetime,
    ) -> list[ForecastRow]:
        crew: dict[str, list[CollectionRow]] = {}
        for c in self.storage.list_collections(tenant, list(containers), since=now - _FORECAST_HISTORY):
            crew.setdefault(c.container_id, []).append(c)
        return [
            fit_container(container, series[container_id], crew.get(container_id, []), now)
            for container_id, container in containers.items()
        ]

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

    def _recent(self, tenant: str, container_ids: Sequence[str]) -> dict[str, list[Reading]]:
        """Per container, its latest possible readings, oldest first, in the fill library's form."""
        if not container_ids:
            return {}
        found = self.storage.recent_readings(tenant, container_ids, _RECENT)
        return {c: [to_fill_reading(r) for r in rows if not r.outlier] for c, rows in found.items()}

    def _store_emptyings(self, tenant: str, series: Mapping[str, Series], now: datetime) -> None:
        found: dict[str, list[Emptying]] = {}
        for container_id, one in series.items():
            sure = [e for e in detect_emptyings(one) if e.confidence >= _MIN_CONFIDENCE]
            if sure:
                found[container_id] = sure
        if not found:
            return
        since = min(e.earliest for detected in found.values() for e in detected) - _SAME_EMPTYING
        known: dict[str, list[datetime]] = {}
        for c in self.storage.list_collections(tenant, list(found), since=since):
            if c.source == "sensor":
                known.setdefault(c.container_id, []).append(c.collect_time)
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
                for container_id, detected in found.items()
                for e in detected
                if not any(
                    e.earliest - _SAME_EMPTYING <= t <= e.latest + _SAME_EMPTYING
                    for t in known.get(container_id, ())
                )
            ]
        )
