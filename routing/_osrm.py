"""Road distance and duration matrices, and road paths, from an OSRM server (`osrm-routed`).

`OsrmMatrix` asks OSRM's table service for blocks of at most `max_table_size` sources by `max_table_size`
destinations (osrm-routed refuses larger tables with `TooBig`; its default `--max-table-size` is 100) and
assembles them. Every answered pair is cached in memory on coordinates rounded to 1e-6 degree (about
0.1 m), so re-planning the same containers asks OSRM only about the places it has not seen.

Location errors are `ProblemError`s naming `locations[i]`, the index in the sequence passed to `matrix`;
for a `Problem` that is `Problem.locations()` order (depots, then facilities, then stops).

`OsrmRoutes` asks OSRM's route service for the road path through places in order (a truck's visits), in
requests of at most `max_waypoints` places, and cuts the answer into one polyline per leg.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Sequence
from typing import Any, Self

import httpx
import numpy as np
import numpy.typing as npt

from routing._matrix import Location, Matrix
from routing._validate import FieldViolation, ProblemError

__all__ = ["OsrmMatrix", "OsrmRoutes", "OsrmUnavailable"]

_Key = tuple[int, int]
_UNKNOWN = -1
_MICRODEGREES = 1_000_000
_SEGMENT_RE = re.compile(r"coordinate (\d+)")
# The whole road geometry as GeoJSON, and per leg one distance per segment (what cuts it into legs). U-turns
# at the places keep each leg the fastest on its own, as the table service's pairs are: the path matches the
# plan's distances, however the places are split between requests.
_ROUTE_QUERY = "overview=full&geometries=geojson&annotations=distance&continue_straight=false"
LonLat = tuple[float, float]


class OsrmUnavailable(RuntimeError):
    """The OSRM server could not be reached or did not answer as OSRM does.

    Parameters
    ----------
    url : str
        The server asked; also the `url` attribute.
    reason : str
        What went wrong; also the `reason` attribute.
    """

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(url, reason)
        self.url = url
        self.reason = reason

    def __str__(self) -> str:
        return f"OSRM at {self.url} is unavailable: {self.reason}"


class _Server:
    """An OSRM server: its root, profile and limits, and one keep-alive HTTP client opened on first use.

    A caller-supplied `client` is used as is and left open; otherwise the object owns its client (`close`
    releases it, the next query opens a new one).
    """

    def __init__(
        self, base_url: str, *, profile: str, timeout_s: float, client: httpx.Client | None, max_snap_m: float
    ) -> None:
        if not (math.isfinite(timeout_s) and timeout_s > 0):
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        if not (math.isfinite(max_snap_m) and max_snap_m >= 0):
            raise ValueError(f"max_snap_m must be non-negative, got {max_snap_m}")
        self.base_url = base_url.rstrip("/")
        self.profile = profile
        self.timeout_s = timeout_s
        self.max_snap_m = max_snap_m
        self._client = client
        self._owns_client = client is None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r}, profile={self.profile!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP client if this object opened it; the next query opens a new one."""
        with self._lock:
            if self._owns_client and self._client is not None:
                self._client.close()
                self._client = None


class OsrmMatrix(_Server):
    """A `MatrixProvider` backed by an OSRM server's `/table` service.

    `base_url` is the server root (`http://127.0.0.1:5000`). A location whose nearest road is more than
    `max_snap_m` metres away, or that no route joins to another location, raises `ProblemError`; a server
    that cannot be reached or answers nonsense raises `OsrmUnavailable`. A caller-supplied `client` is used
    as is and left open; otherwise the provider owns one keep-alive client (`close` releases it). The
    provider pickles without its client (a new one is opened on first use) but with its cache, so a
    `Problem` carrying it can be solved in another process.

    Parameters
    ----------
    base_url : str
        The server root.
    profile : str, optional
        The OSRM profile in the request path.
    max_table_size : int, optional
        The largest block of sources or destinations asked at once; at most the server's own limit.
    timeout_s : float, optional
        The timeout of each HTTP request.
    cache : bool, optional
        Whether to keep every answered pair for later queries.
    client : httpx.Client, optional
        An HTTP client to use instead of the provider's own.
    max_snap_m : float, optional
        The farthest a location may lie from its nearest road.

    Raises
    ------
    ValueError
        When `max_table_size`, `timeout_s` or `max_snap_m` is out of range.
    """

    def __init__(
        self,
        base_url: str,
        *,
        profile: str = "driving",
        max_table_size: int = 100,
        timeout_s: float = 30.0,
        cache: bool = True,
        client: httpx.Client | None = None,
        max_snap_m: float = 500.0,
    ) -> None:
        if max_table_size < 1:
            raise ValueError(f"max_table_size must be at least 1, got {max_table_size}")
        super().__init__(base_url, profile=profile, timeout_s=timeout_s, client=client, max_snap_m=max_snap_m)
        self.max_table_size = max_table_size
        self.cache = cache
        self._store = _Store()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_client"] = None
        state["_owns_client"] = True
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def clear_cache(self) -> None:
        """Forget every cached pair."""
        with self._lock:
            self._store = _Store()

    def matrix(self, locations: Sequence[Location]) -> Matrix:
        """Road travel between every pair of `locations`, rows and columns in their order."""
        keys = _keys(locations)
        with self._lock:
            store = self._store if self.cache else _Store()
            ids = np.array([store.id_of(key) for key in keys], dtype=np.intp)
            unique = np.unique(ids)
            block = np.ix_(unique, unique)
            unknown = store.durations[block] == _UNKNOWN
            if unknown.any():
                fresh = unique[_to_ask(unknown)]
                old = np.setdiff1d(unique, fresh)
                failures = _Failures()
                self._fetch(store, fresh, unique, failures)
                self._fetch(store, old, fresh, failures)
                failures.raise_if_any(ids)
            sub = np.ix_(ids, ids)
            if (store.durations[sub] == _UNKNOWN).any():  # every gap should have raised above
                raise OsrmUnavailable(self.base_url, "some pairs were left unanswered")
            return Matrix(store.distances[sub].copy(), store.durations[sub].copy())

    def _fetch(
        self,
        store: _Store,
        sources: npt.NDArray[np.intp],
        destinations: npt.NDArray[np.intp],
        failures: _Failures,
    ) -> None:
        step = self.max_table_size
        for a in range(0, len(sources), step):
            for b in range(0, len(destinations), step):
                self._fetch_block(store, sources[a : a + step], destinations[b : b + step], failures)

    def _fetch_block(
        self,
        store: _Store,
        sources: npt.NDArray[np.intp],
        destinations: npt.NDArray[np.intp],
        failures: _Failures,
    ) -> None:
        coordinates = list(dict.fromkeys([*sources.tolist(), *destinations.tolist()]))
        if len(coordinates) == 1:  # OSRM wants two coordinates: ask from the place to itself
            coordinates *= 2
        first = {ident: k for k, ident in reversed(list(enumerate(coordinates)))}
        last = {ident: k for k, ident in enumerate(coordinates)}
        path = ";".join(
            f"{store.keys[i][1] / _MICRODEGREES:.6f},{store.keys[i][0] / _MICRODEGREES:.6f}"
            for i in coordinates
        )
        query = (
            f"sources={';'.join(str(first[i]) for i in sources.tolist())}"
            f"&destinations={';'.join(str(last[i]) for i in destinations.tolist())}"
            "&annotations=duration,distance"
        )
        url = f"{self.base_url}/table/v1/{self.profile}/{path}?{query}"
        body = self._get(url, coordinates, failures)
        if body is None:
            return
        shape = (len(sources), len(destinations))
        try:
            durations = np.array(body["durations"], dtype=np.float64)
            distances = np.array(body["distances"], dtype=np.float64)
            source_snaps = [float(w["distance"]) for w in body["sources"]]
            destination_snaps = [float(w["distance"]) for w in body["destinations"]]
        except (KeyError, TypeError, ValueError) as error:
            raise OsrmUnavailable(self.base_url, f"unexpected /table answer ({error!r})") from None
        if (
            durations.shape != shape
            or distances.shape != shape
            or len(source_snaps) != shape[0]
            or len(destination_snaps) != shape[1]
        ):
            raise OsrmUnavailable(self.base_url, f"/table answered a {durations.shape} table for {shape}")
        snapped = np.ones(shape, dtype=bool)
        for k, snap in enumerate(source_snaps):
            if snap > self.max_snap_m:
                failures.too_far[int(sources[k])] = snap
                snapped[k, :] = False
        for k, snap in enumerate(destination_snaps):
            if snap > self.max_snap_m:
                failures.too_far[int(destinations[k])] = snap
                snapped[:, k] = False
        unreachable = snapped & (np.isnan(durations) | np.isnan(distances))
        for r, c in zip(*np.nonzero(unreachable), strict=True):
            failures.unreachable.append((int(sources[r]), int(destinations[c])))
        good = snapped & ~unreachable
        rows, cols = np.nonzero(good)
        src, dst = sources[rows], destinations[cols]
        store.durations[src, dst] = np.where(src == dst, 0, np.rint(durations[rows, cols])).astype(np.int64)
        # OSRM answers a slightly negative distance between two points a metre apart on one road segment
        # (seen with 26.10 MLD): nothing is driven there, so it is 0.
        metres = np.maximum(np.rint(distances[rows, cols]), 0)
        store.distances[src, dst] = np.where(src == dst, 0, metres).astype(np.int64)

    def _get(self, url: str, coordinates: list[int], failures: _Failures) -> dict[str, Any] | None:
        """The decoded answer, or None after recording a location OSRM could not place on a road."""
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout_s)
        status, body = _answer(self._client, self.base_url, url, self.timeout_s)
        code, message = body["code"], str(body.get("message", ""))
        if code == "Ok":
            return body
        if code == "NoSegment":
            match = _SEGMENT_RE.search(message)
            if match and int(match.group(1)) < len(coordinates):
                failures.no_segment[coordinates[int(match.group(1))]] = message
            else:
                failures.no_segment.update((i, message) for i in coordinates)
            return None
        raise OsrmUnavailable(self.base_url, f"HTTP {status} {code}: {message}")


class OsrmRoutes(_Server):
    """Road paths through places in order, from an OSRM server's `/route` service.

    `legs` asks for the fastest road route through the places (`overview=full`, GeoJSON geometry, each leg
    the fastest on its own as in the table service, a U-turn allowed at each place), at most
    `max_waypoints` places a request (consecutive requests share their end place; osrm-routed refuses more
    than its `--max-viaroute-size`, 500 by default), and cuts OSRM's polyline at each place. A place whose
    nearest road is more than `max_snap_m` metres away, or that OSRM cannot put on a road or join to the
    next, raises `ProblemError`; a server that cannot be reached or answers nonsense raises
    `OsrmUnavailable`. A caller-supplied `client` is used as is and left open; otherwise the object owns
    one keep-alive client (`close` releases it). Safe to share between threads.

    Parameters
    ----------
    base_url : str
        The server root (`http://127.0.0.1:5000`).
    profile : str, optional
        The OSRM profile in the request path.
    max_waypoints : int, optional
        The most places asked about in one request, at least 2.
    timeout_s : float, optional
        The timeout of each HTTP request.
    client : httpx.Client, optional
        An HTTP client to use instead of the object's own.
    max_snap_m : float, optional
        The farthest a place may lie from its nearest road.

    Raises
    ------
    ValueError
        When `max_waypoints`, `timeout_s` or `max_snap_m` is out of range.
    """

    def __init__(
        self,
        base_url: str,
        *,
        profile: str = "driving",
        max_waypoints: int = 100,
        timeout_s: float = 30.0,
        client: httpx.Client | None = None,
        max_snap_m: float = 500.0,
    ) -> None:
        if max_waypoints < 2:
            raise ValueError(f"max_waypoints must be at least 2, got {max_waypoints}")
        super().__init__(base_url, profile=profile, timeout_s=timeout_s, client=client, max_snap_m=max_snap_m)
        self.max_waypoints = max_waypoints

    def legs(self, locations: Sequence[Location]) -> list[list[LonLat]]:
        """The road path from each of `locations` to the next, as (longitude, latitude) pairs.

        Parameters
        ----------
        locations : Sequence[Location]
            The places in the order they are visited; the same place may follow itself.

        Returns
        -------
        list[list[tuple[float, float]]]
            `len(locations) - 1` polylines (none for fewer than two places). Leg `i` starts at
            `locations[i]` and ends at `locations[i + 1]` exactly; between them are the points of the road,
            from where OSRM put the first place on it to where it put the second.

        Raises
        ------
        ProblemError
            Naming `locations[i]` when a place is not a coordinate, lies off the road network or cannot
            be joined to the next by road.
        OsrmUnavailable
            When the server cannot be reached or does not answer as OSRM does.
        """
        keys = _keys(locations)
        out: list[list[LonLat]] = []
        start = 0
        while start < len(keys) - 1:
            end = min(start + self.max_waypoints, len(keys))
            out += self._chunk(keys[start:end], start)
            start = end - 1
        return out

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(timeout=self.timeout_s)
            return self._client

    def _chunk(self, keys: list[_Key], offset: int) -> list[list[LonLat]]:
        """The legs through `keys`, the places `offset` onwards of the caller's sequence."""
        places = [(lng / _MICRODEGREES, lat / _MICRODEGREES) for lat, lng in keys]
        path = ";".join(f"{lng:.6f},{lat:.6f}" for lng, lat in places)
        url = f"{self.base_url}/route/v1/{self.profile}/{path}?{_ROUTE_QUERY}"
        status, body = _answer(self._http(), self.base_url, url, self.timeout_s)
        code, message = body["code"], str(body.get("message", ""))
        if code == "NoSegment":
            match = _SEGMENT_RE.search(message)
            where = f"locations[{offset + int(match.group(1))}]" if match else "locations"
            raise ProblemError([FieldViolation(where, f"OSRM finds no road segment near it ({message})")])
        if code == "NoRoute":
            last = offset + len(keys) - 1
            raise ProblemError(
                [FieldViolation(f"locations[{offset}:{last + 1}]", f"OSRM finds no road route ({message})")]
            )
        if code != "Ok":
            raise OsrmUnavailable(self.base_url, f"HTTP {status} {code}: {message}")
        try:
            coordinates = [(float(x), float(y)) for x, y in body["routes"][0]["geometry"]["coordinates"]]
            sizes = [len(leg["annotation"]["distance"]) for leg in body["routes"][0]["legs"]]
            snaps = [float(w["distance"]) for w in body["waypoints"]]
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise OsrmUnavailable(self.base_url, f"unexpected /route answer ({error!r})") from None
        # Consecutive legs share the place between them: each leg's annotation has one entry per segment.
        if len(sizes) != len(keys) - 1 or len(snaps) != len(keys) or sum(sizes) + 1 != len(coordinates):
            raise OsrmUnavailable(
                self.base_url,
                f"/route answered {len(sizes)} legs of {sum(sizes)} segments for {len(keys)} places",
            )
        far = [
            FieldViolation(
                f"locations[{offset + i}]",
                f"the nearest road is {snap:.0f} m away (more than max_snap_m): off the map?",
            )
            for i, snap in enumerate(snaps)
            if snap > self.max_snap_m
        ]
        if far:
            raise ProblemError(far)
        legs: list[list[LonLat]] = []
        first = 0
        for i, size in enumerate(sizes):
            legs.append(_joined(places[i], coordinates[first : first + size + 1], places[i + 1]))
            first += size
        return legs


def _joined(start: LonLat, road: list[LonLat], end: LonLat) -> list[LonLat]:
    """`road` from the place `start` to the place `end`, each added unless OSRM put it on the road there."""
    return [
        *([start] if _apart(start, road[0]) else []),
        *road,
        *([end] if _apart(road[-1], end) else []),
    ]


def _apart(a: LonLat, b: LonLat) -> bool:
    """More than a microdegree apart (about 0.1 m), the precision of the places asked about."""
    return abs(a[0] - b[0]) > 1e-6 or abs(a[1] - b[1]) > 1e-6


def _answer(client: httpx.Client, base_url: str, url: str, timeout_s: float) -> tuple[int, dict[str, Any]]:
    """The HTTP status and the decoded OSRM answer to `url`, whatever its `code`.

    Raises `OsrmUnavailable` when the server cannot be reached or answers something that is not OSRM's JSON.
    """
    try:
        response = client.get(url, timeout=timeout_s)
    except httpx.HTTPError as error:
        raise OsrmUnavailable(base_url, f"{type(error).__name__}: {error}") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("code"), str):
        raise OsrmUnavailable(
            base_url, f"HTTP {response.status_code} without an OSRM answer: {response.text[:200]!r}"
        )
    return response.status_code, body


class _Store:
    """Known places and the travel between them; -1 marks a pair not asked yet."""

    def __init__(self) -> None:
        self.ids: dict[_Key, int] = {}
        self.keys: list[_Key] = []
        self.distances = np.full((0, 0), _UNKNOWN, dtype=np.int64)
        self.durations = np.full((0, 0), _UNKNOWN, dtype=np.int64)

    def id_of(self, key: _Key) -> int:
        ident = self.ids.get(key)
        if ident is None:
            ident = self.ids[key] = len(self.keys)
            self.keys.append(key)
            if ident >= len(self.durations):
                self._grow(max(16, 2 * len(self.durations)))
        return ident

    def _grow(self, size: int) -> None:
        n = len(self.durations)
        for name in ("distances", "durations"):
            bigger = np.full((size, size), _UNKNOWN, dtype=np.int64)
            bigger[:n, :n] = getattr(self, name)
            setattr(self, name, bigger)


class _Failures:
    """Location problems met while filling a matrix, reported together at the end."""

    def __init__(self) -> None:
        self.too_far: dict[int, float] = {}
        self.no_segment: dict[int, str] = {}
        self.unreachable: list[tuple[int, int]] = []

    def raise_if_any(self, ids: npt.NDArray[np.intp]) -> None:
        first: dict[int, int] = {}
        for index, ident in enumerate(ids.tolist()):
            first.setdefault(ident, index)
        out: dict[int, str] = {}
        for ident, message in self.no_segment.items():
            out[first[ident]] = f"OSRM finds no road segment near it ({message})"
        for ident, snap in self.too_far.items():
            out.setdefault(
                first[ident], f"the nearest road is {snap:.0f} m away (more than max_snap_m): off the map?"
            )
        for ident, others in _culprits(self.unreachable).items():
            out.setdefault(
                first[ident],
                f"no road route to or from {len(others)} other location(s), e.g. "
                + ", ".join(f"locations[{first[o]}]" for o in sorted(others)[:3]),
            )
        if out:
            raise ProblemError([FieldViolation(f"locations[{i}]", out[i]) for i in sorted(out)])


def _to_ask(unknown: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Which places to ask about (their rows and columns) so that every unknown pair gets answered.

    Places never answered before (unknown diagonal) are always asked; remaining unknown pairs between
    known places (cached by different calls) are covered greedily, places in most such pairs first.
    """
    ask = np.diagonal(unknown).copy()
    rest = unknown & ~ask[:, None] & ~ask[None, :]
    if rest.any():
        either = rest | rest.T
        for place in np.argsort(-either.sum(axis=1), kind="stable").tolist():
            if (either[place] & ~ask).any():
                ask[place] = True
    return ask


def _culprits(pairs: list[tuple[int, int]]) -> dict[int, set[int]]:
    """Blame the fewest places for the unreachable `pairs`: repeatedly the one in most remaining pairs.

    A place on a road island is in a pair with every other place, so it is blamed alone; returns each
    blamed place with the places it was not joined to.
    """
    remaining = {(a, b) for a, b in pairs if a != b}
    blamed: dict[int, set[int]] = {}
    while remaining:
        counts: dict[int, int] = {}
        for a, b in remaining:
            counts[a] = counts.get(a, 0) + 1
            counts[b] = counts.get(b, 0) + 1
        worst = max(counts, key=lambda p: (counts[p], -p))
        blamed[worst] = {b if a == worst else a for a, b in remaining if worst in (a, b)}
        remaining = {(a, b) for a, b in remaining if worst not in (a, b)}
    return blamed


def _keys(locations: Sequence[Location]) -> list[_Key]:
    """Coordinates in integer microdegrees; raises `ProblemError` for ones that are not coordinates."""
    out: list[FieldViolation] = []
    keys: list[_Key] = []
    for i, loc in enumerate(locations):
        if not (math.isfinite(loc.lat) and -90.0 <= loc.lat <= 90.0):
            out.append(FieldViolation(f"locations[{i}].lat", f"latitude {loc.lat} is outside [-90, 90]"))
        if not (math.isfinite(loc.lng) and -180.0 <= loc.lng <= 180.0):
            out.append(FieldViolation(f"locations[{i}].lng", f"longitude {loc.lng} is outside [-180, 180]"))
        if not out:
            keys.append((round(loc.lat * _MICRODEGREES), round(loc.lng * _MICRODEGREES)))
    if out:
        raise ProblemError(out)
    return keys
