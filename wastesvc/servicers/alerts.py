"""AlertService: alerts raised from readings, their life cycle, and a live stream for dispatch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from wastesvc.auth import authorize_read, authorize_write
from wastesvc.domain._common import decode_page_token, encode_page_token, page_size, parse_name, parse_tenant
from wastesvc.domain.alerts import alert_filter, alert_proto
from wastesvc.errors import FailedPrecondition, NotFound
from wastesvc.monitor import AlertHub, Monitor
from wastesvc.servicers._base import in_thread, now, unary, unary_stream_errors
from wastesvc.storage import AlertRow, Storage
from wastesvc.v1 import alerts_pb2, alerts_pb2_grpc

__all__ = ["AlertServicer"]

Context = grpc.aio.ServicerContext[Any, Any]


class AlertServicer(alerts_pb2_grpc.AlertServiceServicer):
    def __init__(self, storage: Storage, hub: AlertHub, monitor: Monitor | None = None) -> None:
        self.storage = storage
        self.hub = hub
        self.monitor = monitor

    async def _row(self, name: str, *, write: bool = False) -> AlertRow:
        tenant, alert_id = parse_name(name, "alerts")
        (authorize_write if write else authorize_read)(tenant)
        row = await in_thread(self.storage.get_alert, tenant, int(alert_id)) if alert_id.isdigit() else None
        if row is None:
            raise NotFound(name, field="name")
        return row

    @unary
    async def GetAlert(self, request: alerts_pb2.GetAlertRequest, context: Context) -> alerts_pb2.Alert:
        return alert_proto(await self._row(request.name))

    @unary
    async def ListAlerts(
        self, request: alerts_pb2.ListAlertsRequest, context: Context
    ) -> alerts_pb2.ListAlertsResponse:
        tenant = parse_tenant(request.parent)
        authorize_read(tenant)
        where = alert_filter(request.filter, tenant)
        if self.monitor is not None:  # alerts of every reading acknowledged before the call are listed
            container = where.get("container_id")
            await self.monitor.settled(tenant, [container] if container else None)
        limit = page_size(request.page_size, 100, 1000)
        query = {"parent": request.parent, **where}
        before = decode_page_token(request.page_token, query)
        rows = await in_thread(
            self.storage.list_alerts, tenant, before_id=before, limit=limit + 1, where=where
        )
        token = encode_page_token(rows[limit - 1].id, query) if len(rows) > limit else ""
        return alerts_pb2.ListAlertsResponse(
            alerts=[alert_proto(r) for r in rows[:limit]], next_page_token=token
        )

    @unary
    async def AcknowledgeAlert(
        self, request: alerts_pb2.AcknowledgeAlertRequest, context: Context
    ) -> alerts_pb2.Alert:
        row = await self._row(request.name, write=True)
        if row.state == "resolved":
            raise FailedPrecondition(
                f"{request.name} is resolved; only an open alert can be acknowledged",
                reason="ALERT_RESOLVED",
                metadata={"resource": request.name},
            )
        if row.state == "open":
            stamp = now()
            row.state, row.actor, row.acknowledge_time, row.update_time = (
                "acknowledged",
                authorize_write(row.tenant).subject,
                stamp,
                stamp,
            )
            row = await in_thread(self.storage.save_alert, row)
            self.hub.publish([row])
        return alert_proto(row)

    @unary
    async def ResolveAlert(
        self, request: alerts_pb2.ResolveAlertRequest, context: Context
    ) -> alerts_pb2.Alert:
        row = await self._row(request.name, write=True)
        if row.state != "resolved":
            stamp = now()
            row.state, row.open_key, row.actor = "resolved", None, authorize_write(row.tenant).subject
            row.resolve_time = row.update_time = stamp
            row = await in_thread(self.storage.save_alert, row)
            self.hub.publish([row])
        return alert_proto(row)

    @unary_stream_errors
    async def WatchAlerts(
        self, request: alerts_pb2.WatchAlertsRequest, context: Context
    ) -> AsyncIterator[alerts_pb2.WatchAlertsResponse]:
        tenant = parse_tenant(request.parent)
        authorize_read(tenant)
        with self.hub.watch(tenant) as queue:
            # The caller knows from the initial metadata that nothing raised from now on will be missed.
            await context.send_initial_metadata(())
            while True:
                alert = await queue.get()
                if alert is None:
                    await context.abort(
                        grpc.StatusCode.RESOURCE_EXHAUSTED,
                        "the watcher fell behind and was cut off; list the alerts and watch again",
                    )
                yield alerts_pb2.WatchAlertsResponse(alert=alert_proto(alert))
