"""The city's data out and back: a tenant's whole store as CSV + GeoJSON + NGSI-LD with a manifest, and back.

`export_tenant` writes one CSV per table (containers, readings, collections, observations, depots,
facilities, vehicles, route plans), GeoJSON of everything with a place (containers, isles, depots,
facilities), the isles and sensors as their own CSVs, each plan as readable JSON, NGSI-LD entities
(``ngsi-ld/``: ``WasteContainer``, ``WasteContainerIsle``, ``Vehicle``, ``WasteObserved`` for the
collections; the `ngsild` mapping the city-platform adapter uses too) and ``manifest.json`` listing every
file with its row count and SHA-256. `import_tenant` checks the manifest and restores the
CSVs into an instance where the tenant is empty; exporting the result gives the very same files.

Export and import go through the storage layer (the database the servicers use), not the gRPC API, for
three reasons: the API has no write path for what the server sets itself (create and update times, the
last emptying time, stored route plans, collections), and a restore must bring those back exactly; reading
a year of readings back through paged List calls would take hours where one query takes seconds; and a
city must be able to take its data out of a stopped instance. The files are the open interface.
"""

from __future__ import annotations

from wastesvc.archive._export import export_tenant
from wastesvc.archive._import import ArchiveError, import_tenant
from wastesvc.archive._layout import SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "ArchiveError", "export_tenant", "import_tenant"]
