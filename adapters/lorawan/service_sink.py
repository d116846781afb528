"""The sink that stores readings into wastesvc through its generated gRPC stubs — not wired yet.

The service's batch ingest is being changed to return one result per item (and resource names gain
a tenant parent); until that contract lands this function refuses to start rather than pretend to
store. Replace its body with a `Sink` that calls ``ReadingService.BatchCreateReadings`` and maps each
per-item result to an `ItemResult`.
"""

from __future__ import annotations

from adapters.lorawan.sink import Sink

__all__ = ["build_service_sink"]


def build_service_sink(target: str) -> Sink:
    """The sink storing into the wastesvc server at ``target`` (``host:port``).

    Raises
    ------
    NotImplementedError
        Always, for now: see the module notes.
    """
    raise NotImplementedError(
        f"storing into wastesvc at {target} is not wired yet (it waits for per-item batch results); "
        "use --sink-file PATH to write readings to a file meanwhile"
    )
