from __future__ import annotations

import pickle
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from routing import (
    Break,
    Depot,
    Facility,
    GreatCircleMatrix,
    Location,
    Problem,
    ProblemError,
    SolveOptions,
    Stop,
    TimeWindow,
    Vehicle,
    VisitKind,
    check,
    solve,
)
from routing._osrm import OsrmMatrix, OsrmUnavailable, _culprits

pytest_plugins = ["tests.routing.osrm_server"]

H = 3600
VADUZ = Location(47.1410, 9.5215)
SCHAAN = Location(47.1650, 9.5092)
TRIESEN = Location(47.1066, 9.5258)
BALZERS = Location(47.0667, 9.5020)
ESCHEN = Location(47.2108, 9.5230)
MALBUN = Location(47.1017, 9.6094)
TOWNS = (VADUZ, SCHAAN, TRIESEN, BALZERS, ESCHEN, MALBUN)
NOWHERE = Location(47.0, 9.0)  # 36 km west of the extract, in the Swiss Alps


class Counting:
    """A real keep-alive client that remembers the URL of every request it sends."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.client = httpx.Client(event_hooks={"request": [self._seen]})

    def _seen(self, request: httpx.Request) -> None:
        self.urls.append(str(request.url))


@pytest.fixture
def counting() -> Iterator[Counting]:
    """A fresh request-counting client."""
    spy = Counting()
    yield spy
    spy.client.close()


def test_liechtenstein_matrix_is_a_plausible_road_matrix(osrm_url: str) -> None:
    """Six towns: square, zero diagonal, longer than the crow flies, at believable speeds."""
    with OsrmMatrix(osrm_url) as provider:
        m = provider.matrix(TOWNS)
    n = len(TOWNS)
    assert m.distances_m.shape == m.durations_s.shape == (n, n)
    assert m.distances_m.dtype == m.durations_s.dtype == np.int64
    off = ~np.eye(n, dtype=bool)
    assert (np.diag(m.distances_m) == 0).all()
    assert (np.diag(m.durations_s) == 0).all()
    assert (m.distances_m[off] > 0).all()
    assert (m.durations_s[off] > 0).all()
    crow = GreatCircleMatrix(circuity=1.0).matrix(TOWNS).distances_m
    assert (m.distances_m[off] >= crow[off]).all()
    assert 5 * 60 <= m.durations_s[0, 3] <= 25 * 60  # Vaduz -> Balzers
    kmh = m.distances_m[off] / m.durations_s[off] * 3.6
    assert ((kmh > 15) & (kmh < 100)).all()
    assert m.durations_s[0, 5] > m.durations_s[0, 2]  # up to Malbun takes longer than next door to Triesen


@pytest.mark.parametrize("max_table_size", [1, 2, 4])
def test_chunked_tables_equal_one_table(osrm_url: str, counting: Counting, max_table_size: int) -> None:
    """Blocks of at most max_table_size x max_table_size assemble into exactly the one-request matrix."""
    with OsrmMatrix(osrm_url) as provider:
        whole = provider.matrix(TOWNS)
    chunks = -(-len(TOWNS) // max_table_size)
    chunked = OsrmMatrix(osrm_url, max_table_size=max_table_size, client=counting.client).matrix(TOWNS)
    np.testing.assert_array_equal(chunked.distances_m, whole.distances_m)
    np.testing.assert_array_equal(chunked.durations_s, whole.durations_s)
    assert len(counting.urls) == chunks * chunks
    for url in counting.urls:
        query = httpx.URL(url).params
        assert len(query["sources"].split(";")) <= max_table_size
        assert len(query["destinations"].split(";")) <= max_table_size


def test_second_call_is_served_from_the_cache(osrm_url: str, counting: Counting) -> None:
    """Asking again, for the same places or a reordered subset, sends no request at all."""
    provider = OsrmMatrix(osrm_url, client=counting.client)
    first = provider.matrix(TOWNS)
    sent = len(counting.urls)
    assert sent == 1
    again = provider.matrix(TOWNS)
    subset = provider.matrix([MALBUN, VADUZ, MALBUN])
    assert len(counting.urls) == sent
    np.testing.assert_array_equal(again.distances_m, first.distances_m)
    np.testing.assert_array_equal(again.durations_s, first.durations_s)
    np.testing.assert_array_equal(subset.durations_s, first.durations_s[np.ix_([5, 0, 5], [5, 0, 5])])
    assert subset.distances_m[0, 2] == 0


def test_a_new_place_is_asked_for_alone(osrm_url: str, counting: Counting) -> None:
    """After a cached day, one new place costs its row and its column, and the result is unchanged."""
    provider = OsrmMatrix(osrm_url, client=counting.client)
    provider.matrix(TOWNS[:5])
    counting.urls.clear()
    grown = provider.matrix(TOWNS)
    assert len(counting.urls) == 2  # new x all, then old x new
    with OsrmMatrix(osrm_url, cache=False) as fresh:
        expected = fresh.matrix(TOWNS)
    np.testing.assert_array_equal(grown.distances_m, expected.distances_m)
    np.testing.assert_array_equal(grown.durations_s, expected.durations_s)


def test_places_cached_apart_are_joined_cheaply(osrm_url: str, counting: Counting) -> None:
    """Two halves cached by separate calls cost one row block and one column block when combined."""
    provider = OsrmMatrix(osrm_url, client=counting.client)
    provider.matrix(TOWNS[:3])
    provider.matrix(TOWNS[3:])
    counting.urls.clear()
    joined = provider.matrix(TOWNS)
    assert len(counting.urls) == 2
    with OsrmMatrix(osrm_url, cache=False) as fresh:
        expected = fresh.matrix(TOWNS)
    np.testing.assert_array_equal(joined.distances_m, expected.distances_m)
    np.testing.assert_array_equal(joined.durations_s, expected.durations_s)


def test_without_cache_every_call_asks(osrm_url: str, counting: Counting) -> None:
    """cache=False sends the table request again."""
    provider = OsrmMatrix(osrm_url, cache=False, client=counting.client)
    provider.matrix(TOWNS)
    provider.matrix(TOWNS)
    assert len(counting.urls) == 2


def test_place_off_the_map_is_named(osrm_url: str) -> None:
    """A point far from every road of the extract raises ProblemError naming its index."""
    with OsrmMatrix(osrm_url, max_table_size=2) as provider, pytest.raises(ProblemError) as caught:
        provider.matrix([VADUZ, SCHAAN, NOWHERE, BALZERS])
    (violation,) = caught.value.violations
    assert violation.field == "locations[2]"
    assert "nearest road is 36" in violation.description  # km away, across the Rhine valley
    assert "max_snap_m" in violation.description


def test_off_the_map_is_not_cached(osrm_url: str) -> None:
    """The failing place raises again on the next call instead of coming back from the cache."""
    with OsrmMatrix(osrm_url) as provider:
        for _ in range(2):
            with pytest.raises(ProblemError, match=r"locations\[1\]"):
                provider.matrix([VADUZ, NOWHERE])
        assert provider.matrix([VADUZ, SCHAAN]).distances_m[0, 1] > 0


def test_snap_limit_is_configurable(osrm_url: str) -> None:
    """A tiny max_snap_m rejects points a few metres off the road, naming each of them."""
    with OsrmMatrix(osrm_url, max_snap_m=0.01) as provider, pytest.raises(ProblemError) as caught:
        provider.matrix([VADUZ, BALZERS])
    assert [v.field for v in caught.value.violations] == ["locations[0]", "locations[1]"]


def test_bad_coordinates_are_rejected_before_asking(counting: Counting) -> None:
    """Non-coordinates raise ProblemError with the field, without any request."""
    provider = OsrmMatrix("http://127.0.0.1:9", client=counting.client)
    with pytest.raises(ProblemError) as caught:
        provider.matrix([VADUZ, Location(91.0, 9.5), Location(47.0, float("nan"))])
    assert [v.field for v in caught.value.violations] == ["locations[1].lat", "locations[2].lng"]
    assert counting.urls == []


def test_no_location_needs_no_server() -> None:
    """No location gives an empty matrix without a server."""
    m = OsrmMatrix("http://127.0.0.1:9").matrix([])
    assert m.distances_m.shape == (0, 0)


def test_dead_server_raises_osrm_unavailable(dead_url: str) -> None:
    """Nobody listening: OsrmUnavailable naming the URL."""
    url = dead_url
    with OsrmMatrix(url, timeout_s=2.0) as provider, pytest.raises(OsrmUnavailable, match=url) as caught:
        provider.matrix(TOWNS)
    assert caught.value.url == url
    assert isinstance(caught.value, RuntimeError)


def test_not_osrm_raises_osrm_unavailable(osrm_url: str) -> None:
    """An HTTP answer that is not an OSRM table (wrong path) raises OsrmUnavailable, not garbage."""
    with OsrmMatrix(f"{osrm_url}/nonsense") as provider, pytest.raises(OsrmUnavailable, match="nonsense"):
        provider.matrix(TOWNS[:2])


def test_too_big_for_the_server_raises_osrm_unavailable(osrm_url: str) -> None:
    """A max_table_size above the server's --max-table-size (100) reports OSRM's TooBig refusal."""
    towns = [Location(47.14 + k * 1e-4, 9.5215) for k in range(101)]
    with (
        OsrmMatrix(osrm_url, max_table_size=200) as provider,
        pytest.raises(OsrmUnavailable, match="TooBig"),
    ):
        provider.matrix(towns)


def test_provider_pickles_with_its_cache(osrm_url: str) -> None:
    """A pickled provider (a Problem sent to a solver process) keeps its cache and opens its own client."""
    counting = Counting()
    provider = OsrmMatrix(osrm_url, client=counting.client)
    before = provider.matrix(TOWNS)
    copy = pickle.loads(pickle.dumps(provider))
    counting.client.close()
    np.testing.assert_array_equal(copy.matrix(TOWNS).durations_s, before.durations_s)
    assert copy.matrix([VADUZ, Location(47.1725, 9.5300)]).durations_s[0, 1] > 0
    copy.close()


def test_unreachable_pairs_blame_the_island() -> None:
    """A place unreachable from all others is blamed alone, not every place it fails to reach."""
    island = 3
    pairs = [(a, b) for a in range(5) for b in range(5) if a != b and island in (a, b)]
    assert _culprits(pairs) == {island: {0, 1, 2, 4}}
    assert _culprits([(0, 1)]) == {0: {1}}


def test_solve_on_real_roads(osrm_url: str) -> None:
    """A Liechtenstein day with a dump and a lunch break solves on OSRM roads and passes the checker."""
    places = {
        "vaduz": VADUZ,
        "triesen": TRIESEN,
        "balzers": BALZERS,
        "eschen": ESCHEN,
        "mauren": Location(47.2183, 9.5440),
        "ruggell": Location(47.2383, 9.5270),
        "triesenberg": Location(47.1180, 9.5420),
        "planken": Location(47.1850, 9.5450),
    }
    stops = tuple(
        Stop(name, loc, "residual", volume_l=3000.0, weight_kg=300.0, service_s=900)
        for name, loc in places.items()
    )
    truck = Vehicle(
        "t1",
        capacity_l=16_000.0,
        capacity_kg=8_000.0,
        streams=frozenset({"residual"}),
        start_depot="garage",
        end_depot="garage",
        shift=TimeWindow(6 * H, 14 * H),
        lunch=Break(8 * H, 9 * H, 1800),  # due mid-round: the day takes about 4 h
    )
    with OsrmMatrix(osrm_url) as provider:
        problem = Problem(
            stops=stops,
            vehicles=(truck,),
            depots=(Depot("garage", SCHAAN),),
            facilities=(
                Facility(
                    "ts", Location(47.1560, 9.5100), frozenset({"residual"}), TimeWindow(5 * H, 20 * H), 900
                ),
            ),
            matrix=provider,
        )
        solution = solve(problem, SolveOptions(time_limit_s=2.0))
        assert check(problem, solution) == []
    assert solution.skipped == ()
    (route,) = solution.routes
    kinds = [v.kind for v in route.visits]
    assert kinds.count(VisitKind.STOP) == 8
    assert VisitKind.BREAK in kinds
    assert VisitKind.FACILITY in kinds
    crow = GreatCircleMatrix(circuity=1.0).matrix(problem.locations()).distances_m
    assert route.distance_m > crow[0, 2:].max() * 2  # at least out to the farthest stop and back


def test_points_a_metre_apart_on_one_road_are_zero_metres_apart(osrm_url: str) -> None:
    """OSRM answers -0.6 m or so between such points; the matrix holds 0, never a negative distance."""
    close = [Location(47.082009, 9.510674), Location(47.082004, 9.510677)]
    with OsrmMatrix(osrm_url) as provider:
        matrix = provider.matrix(close)
    assert (matrix.distances_m >= 0).all()
    assert matrix.distances_m[0, 1] <= 5
