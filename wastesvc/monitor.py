"""What the service does with readings once they are stored: alerts, emptyings, and live alert watchers.

After ingest has answered, the `Monitor` assesses the containers that got readings (in a worker thread,
off the event loop, in rounds): it reconciles their alerts with the fill library's health findings,
raises an IMPOSSIBLE_READING alert for a stored outlier, stores the emptyings their series show as sensor
collections and refits their forecasts. A periodic check finds the sensors that went silent. Every alert
created or changed is published to the `AlertHub`, which feeds the WatchAlerts streams of its tenant.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from wastesvc.auth import authorize_read
from wastesvc.domain._common import parse_tenant
from wastesvc.domain.alerts import (
    ALL_SELF_CLEARING,
    SILENT,
    Condition,
    assess,
    assess_since,
    ended_alerts,
    impossible_condition,
    reconcile,
    to_fill_reading,
)
from wastesvc.domain.forecasts import fit_container
from wastesvc.domain.priors import prior_for
from wastesvc.errors import ServiceError
from wastesvc.fill import Emptying, Reading, Series, detect_emptyings
from wastesvc.storage import (
    AlertRow,
    CollectionRow,
    ContainerRow,
    ForecastRow,
    PendingAssessmentRow,
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
# A container's latest alerts searched for an ended condition recorded before (a round run again).
_KNOWN_ALERTS = 200
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
    """Alerts, emptyings and forecasts from stored readings, in the background, and the periodic check.

    Ingest answers once its readings are stored; the transaction that stores them also marks their
    containers as waiting (`Storage.claim_assessments`). A round takes up to `round_max` waiting
    containers (oldest first, whichever replica stored the readings, before or after a restart) and
    assesses each once with all its new readings, so the work follows the number of containers touched,
    not of readings. `settled` lets a read wait for the assessment of what was stored before it.
    """

    def __init__(
        self,
        storage: Storage,
        hub: AlertHub,
        *,
        check_interval_s: float = 300.0,
        poll_s: float = 1.0,
        round_interval_s: float = 1.0,
        lease_s: float = 120.0,
        round_max: int = 500,
        settle_s: float = 10.0,
    ) -> None:
        self.storage = storage
        self.hub = hub
        self.check_interval_s = check_interval_s
        self.poll_s = poll_s
        self.round_interval_s = round_interval_s
        self.lease_s = lease_s
        self.round_max = round_max
        self.settle_s = settle_s
        self._wake = asyncio.Event()
        self._read_waits = asyncio.Event()  # a read waits: no pause before the next round
        self._round_end = asyncio.Event()
        # (tenant, container) -> monotonic time of the latest claim this replica assessed it from.
        self._assessed: dict[tuple[str, str], float] = {}

    def readings_stored(self) -> None:
        """Starts a round now rather than at the next poll (the readings' containers are marked)."""
        self._wake.set()

    async def settled(self, tenant: str, container_ids: Sequence[str] | None = None) -> bool:
        """Returns once the containers (or all the tenant's) have been assessed with every reading stored
        before the call, or after `settle_s` (then what was assessed so far is read); False when none of
        them was waiting."""
        started = time.monotonic()
        waited = False
        while True:
            pending = await asyncio.to_thread(self.storage.pending_containers, tenant, container_ids)
            if all(self._assessed.get((tenant, c), -math.inf) >= started for c in pending):
                return waited
            waited = True
            left = started + self.settle_s - time.monotonic()
            if left <= 0:
                log.warning("read of tenants/%s before %d container(s) were assessed", tenant, len(pending))
                return waited
            round_end = self._round_end
            self._wake.set()
            self._read_waits.set()
            # Polled too: a round of another replica ends without telling this one.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(round_end.wait(), min(left, self.poll_s))

    async def settled_tenant_of(self, name: str) -> None:
        """`settled` for the tenant of `name` (`tenants/{tenant}/…`) when the caller may read it; nothing
        otherwise (the call then refuses the name or the caller itself)."""
        parts = name.split("/")
        try:
            tenant = parse_tenant("/".join(parts[:2]))
            authorize_read(tenant)
        except ServiceError:
            return
        await self.settled(tenant)

    async def run(self) -> None:
        """The assessment rounds and the periodic check, until cancelled."""
        await asyncio.gather(self._assess_forever(), self._check_forever())

    async def _assess_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
            self._wake.clear()
            while await self._round():
                # Readings stored during the pause wait for the next round, together.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._read_waits.wait(), self.round_interval_s)
                self._read_waits.clear()

    async def _round(self) -> bool:
        """One round; True when it found containers waiting (there may be more)."""
        claimed_at = time.monotonic()
        try:
            assessed, changed = await asyncio.to_thread(self.assess_pending, _now())
        except Exception:
            # The claimed rows stay held until their lease ends, then a round tries them again.
            log.exception("an assessment round failed")
            return False
        self.hub.publish(changed)
        for row in assessed:
            self._assessed[(row.tenant, row.container_id)] = claimed_at
        self._round_end.set()
        self._round_end = asyncio.Event()
        return bool(assessed)

    def assess_pending(self, now: datetime) -> tuple[list[PendingAssessmentRow], list[AlertRow]]:
        """Claims waiting containers, assesses them, and clears them: the rows claimed and the alerts
        created or changed."""
        claimed = self.storage.claim_assessments(self.round_max, now, now + timedelta(seconds=self.lease_s))
        by_tenant: dict[str, dict[str, datetime]] = {}
        for row in claimed:
            by_tenant.setdefault(row.tenant, {})[row.container_id] = row.first_measure_time
        changed: list[AlertRow] = []
        for tenant, first_new in sorted(by_tenant.items()):
            changed += self.assess_containers(tenant, first_new, now)
        self.storage.finish_assessments(claimed)
        return claimed, changed

    def assess_containers(
        self, tenant: str, first_new: Mapping[str, datetime], now: datetime
    ) -> list[AlertRow]:
        """Alerts created or changed by the containers' readings, new from the time in `first_new` on (an
        impossible one, a condition that came and went); their emptyings and forecasts are stored too. A
        few queries for all the containers."""
        containers = self.storage.get_many(ContainerRow, tenant, sorted(first_new))  # deleted: absent
        stored = self.storage.recent_readings(tenant, list(containers), _RECENT) if containers else {}
        recent = {c: [to_fill_reading(r) for r in rows if not r.outlier] for c, rows in stored.items()}
        conditions: dict[str, list[Condition]] = {}
        ended: dict[str, list[Condition]] = {}
        for container_id, container in containers.items():
            rate = prior_for(container.stream).rate_per_h
            since = first_new[container_id]
            conditions[container_id], ended[container_id] = assess_since(
                recent.get(container_id, []), now, since, expected_rate_per_h=rate
            )
            impossible = impossible_condition(stored.get(container_id, []), since)
            if impossible is not None:
                conditions[container_id].append(impossible)
        changed = reconcile(self.storage, tenant, conditions, checked=ALL_SELF_CLEARING, now=now)
        changed += self._record_ended(tenant, ended, now)
        series = {c: Series.from_readings(recent.get(c, []), now) for c in containers}
        self._store_emptyings(tenant, series, now)
        self.storage.save_forecasts(self._forecasts(tenant, containers, series, now))
        return changed

    def _record_ended(
        self, tenant: str, ended: Mapping[str, Sequence[Condition]], now: datetime
    ) -> list[AlertRow]:
        """Resolved alerts for conditions that came and went between two rounds (rare: a query each)."""
        rows: list[AlertRow] = []
        for container_id, conditions in ended.items():
            if conditions:
                known = self.storage.list_alerts(
                    tenant, before_id=None, limit=_KNOWN_ALERTS, where={"container_id": container_id}
                )
                rows += ended_alerts(tenant, container_id, conditions, known, now)
        return self.storage.raise_alerts(rows)

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

    async def _check_forever(self) -> None:
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
