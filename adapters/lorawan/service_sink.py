"""The sink that stores readings into wastesvc through its generated gRPC stubs.

Each uplink becomes a reading of ``tenants/{tenant}/containers/-`` selected by its DevEUI (the
container's ``sensor_id``), sent with ``BatchCreateReadings``, whose per-item results map one to one
onto `ItemResult`: an unknown device or a reading the service refuses comes back REJECTED with the
service's machine reason (``SENSOR_UNKNOWN``, ``READING_CONFLICT``…) and goes to the quarantine, while
the others are stored. A transport failure raises, so nothing is acknowledged to the broker and the
adapter tries again.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2

from adapters.lorawan.sink import ItemResult, ItemStatus, NormalizedUplink, Sink
from wastesvc.v1 import common_pb2, readings_pb2, readings_pb2_grpc

__all__ = ["ServiceSink", "build_service_sink"]

# The service's largest batch.
_BATCH = 1000
# A stalled service fails the call instead of hanging the adapter; the caller retries (nothing is acked).
_CALL_DEADLINE_S = 60.0
_STATUS = {
    common_pb2.ITEM_OUTCOME_STORED: ItemStatus.STORED,
    common_pb2.ITEM_OUTCOME_DUPLICATE: ItemStatus.DUPLICATE,
}


class ServiceSink:
    """Stores uplinks as readings through ``ReadingService.BatchCreateReadings``."""

    def __init__(self, channel: grpc.aio.Channel, tenant: str, token: str) -> None:
        self._stub = readings_pb2_grpc.ReadingServiceStub(channel)
        self._parent = f"tenants/{tenant}/containers/-"
        self._metadata = (("authorization", f"Bearer {token}"),)

    async def store(self, readings: Sequence[NormalizedUplink]) -> Sequence[ItemResult]:
        results: list[ItemResult] = []
        for start in range(0, len(readings), _BATCH):
            request = readings_pb2.BatchCreateReadingsRequest(
                parent=self._parent, requests=[_request(u) for u in readings[start : start + _BATCH]]
            )
            response = await self._stub.BatchCreateReadings(
                request, metadata=self._metadata, timeout=_CALL_DEADLINE_S
            )
            results += [_result(item) for item in response.results]
        return results


def _request(uplink: NormalizedUplink) -> readings_pb2.CreateReadingRequest:
    measured = timestamp_pb2.Timestamp()
    measured.FromDatetime(uplink.measure_time)
    decoded = uplink.reading
    reading = readings_pb2.Reading(
        sensor_id=uplink.dev_eui, measure_time=measured, tilted=bool(decoded.tilted)
    )
    if decoded.distance_mm is not None:
        reading.distance_mm = decoded.distance_mm
    if decoded.battery_percent is not None:
        reading.battery_percent = decoded.battery_percent
    if decoded.temperature_celsius is not None:
        reading.temperature_celsius = decoded.temperature_celsius
    return readings_pb2.CreateReadingRequest(reading=reading)


def _result(item: common_pb2.ItemResult) -> ItemResult:
    status = _STATUS.get(item.outcome)
    if status is not None:
        return ItemResult(status)
    return ItemResult(ItemStatus.REJECTED, _reason(item))


def _reason(item: common_pb2.ItemResult) -> str:
    for detail in item.error.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return f"{info.reason}: {item.error.message}"
    return item.error.message or "refused by the service"


def build_service_sink(target: str, tenant: str, token: str) -> Sink:
    """The sink storing into the wastesvc server at ``target`` (``host:port``) for ``tenant``."""
    return ServiceSink(grpc.aio.insecure_channel(target), tenant, token)
