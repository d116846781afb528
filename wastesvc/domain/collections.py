"""Collections (emptyings): the listing's parent and filter, and proto conversion."""

from __future__ import annotations

from wastesvc.domain._common import filter_time, parse_filter, resource_name, to_timestamp
from wastesvc.domain.alerts import enum_filter_value
from wastesvc.storage import CollectionFilter, CollectionRow
from wastesvc.v1 import containers_pb2

__all__ = ["collection_filter", "collection_proto"]

_SOURCES = {
    "crew": containers_pb2.COLLECTION_SOURCE_CREW,
    "sensor": containers_pb2.COLLECTION_SOURCE_SENSOR,
}
_FILTERABLE = {f: f for f in ("source", "collected_after", "collected_before")}


def collection_filter(text: str) -> CollectionFilter:
    """ListCollections' filter: `source = SENSOR AND collected_after = "…" AND collected_before = "…"`."""
    where = parse_filter(text, _FILTERABLE)
    source = where.get("source")
    if source is not None:
        source = enum_filter_value(source, _SOURCES, "collection_source_", "source")
    after, before = where.get("collected_after"), where.get("collected_before")
    return CollectionFilter(
        source=source,
        collected_after=None if after is None else filter_time(after, "collected_after"),
        collected_before=None if before is None else filter_time(before, "collected_before"),
    )


def collection_proto(row: CollectionRow) -> containers_pb2.Collection:
    container = resource_name(row.tenant, "containers", row.container_id)
    result = containers_pb2.Collection(
        name=f"{container}/collections/{row.id}",
        collect_time=to_timestamp(row.collect_time),
        source=_SOURCES.get(row.source, containers_pb2.COLLECTION_SOURCE_UNSPECIFIED),
        route_plan=row.route_plan,
        visit_id=row.visit_id,
        create_time=to_timestamp(row.create_time),
    )
    if row.weighed_kg is not None:
        result.weighed_kg = row.weighed_kg
    if row.observed_fill is not None:
        result.observed_fill = row.observed_fill
    return result
