"""Travel distance and duration matrices, and the providers that build them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["ExplicitMatrix", "GreatCircleMatrix", "Location", "Matrix", "MatrixProvider"]

_EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True, slots=True)
class Location:
    """A place on Earth.

    Attributes
    ----------
    lat, lng : float
        WGS84 latitude and longitude in degrees.
    """

    lat: float
    lng: float


@dataclass(frozen=True, slots=True, eq=False)
class Matrix:
    """Travel between places, as two square int64 matrices.

    Attributes
    ----------
    distances_m, durations_s : numpy.ndarray of int64
        Entry `[i, j]` is the travel from location `i` to location `j`, in metres and seconds.

    Raises
    ------
    ValueError
        When the matrices are not square, not int64, negative somewhere or of different shapes.
    """

    distances_m: npt.NDArray[np.int64]
    durations_s: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        for name, values in (("distances_m", self.distances_m), ("durations_s", self.durations_s)):
            if values.ndim != 2 or values.shape[0] != values.shape[1]:
                raise ValueError(f"{name} must be square, got shape {values.shape}")
            if values.dtype != np.int64:
                raise ValueError(f"{name} must be int64, got {values.dtype}")
            if (values < 0).any():
                raise ValueError(f"{name} must not be negative")
        if self.distances_m.shape != self.durations_s.shape:
            raise ValueError("distances_m and durations_s must have the same shape")


class MatrixProvider(Protocol):
    """Anything that turns locations into a matrix in the same order."""

    def matrix(self, locations: Sequence[Location]) -> Matrix:
        """Travel between every pair of `locations`, rows and columns in their order."""
        ...


@dataclass(frozen=True, slots=True)
class GreatCircleMatrix:
    """Haversine distance times a circuity factor, driven at a constant speed.

    The embedded default when no road engine is available.

    Attributes
    ----------
    circuity : float, optional
        Road length per straight-line length; 1.3 is a usual urban circuity.
    speed_kmh : float, optional
        The average driving speed.
    """

    circuity: float = 1.3
    speed_kmh: float = 30.0

    def matrix(self, locations: Sequence[Location]) -> Matrix:
        """Great-circle matrix between `locations`."""
        lat = np.radians(np.array([loc.lat for loc in locations], dtype=np.float64))
        lng = np.radians(np.array([loc.lng for loc in locations], dtype=np.float64))
        dlat = lat[:, None] - lat[None, :]
        dlng = lng[:, None] - lng[None, :]
        h = np.sin(dlat / 2) ** 2 + np.cos(lat)[:, None] * np.cos(lat)[None, :] * np.sin(dlng / 2) ** 2
        metres = 2 * _EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))) * self.circuity
        seconds = metres / (self.speed_kmh / 3.6)
        return Matrix(np.rint(metres).astype(np.int64), np.rint(seconds).astype(np.int64))


@dataclass(frozen=True, slots=True, eq=False)
class ExplicitMatrix:
    """Precomputed travel between known locations (benchmarks, road-engine snapshots).

    Rows and columns follow `locations`. Queries are answered by looking each location up, so the order
    in which the solver asks does not matter; for a `Problem` the natural order is `Problem.locations()`
    (depots, then facilities, then stops, in problem order). A location listed twice (two streams
    collected at one place) is answered from its first row.

    Attributes
    ----------
    locations : tuple of Location
        The places the rows and columns stand for.
    distances_m, durations_s : numpy.ndarray of int64
        Travel between them, as in `Matrix`.

    Raises
    ------
    ValueError
        When the matrices are not a valid `Matrix` or do not have a row per location.
    """

    locations: tuple[Location, ...]
    distances_m: npt.NDArray[np.int64]
    durations_s: npt.NDArray[np.int64]
    _row: dict[Location, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        Matrix(self.distances_m, self.durations_s)
        if self.distances_m.shape[0] != len(self.locations):
            raise ValueError(f"{len(self.locations)} locations but a {self.distances_m.shape[0]}-row matrix")
        row: dict[Location, int] = {}
        for i, loc in enumerate(self.locations):
            row.setdefault(loc, i)
        object.__setattr__(self, "_row", row)

    def matrix(self, locations: Sequence[Location]) -> Matrix:
        """The sub-matrix for `locations`; raises `KeyError` for a location it does not know."""
        idx = np.array([self._row[loc] for loc in locations], dtype=np.intp)
        sub = np.ix_(idx, idx)
        return Matrix(self.distances_m[sub], self.durations_s[sub])
