"""Road paths from a real osrm-routed's route service on the Liechtenstein extract (`OsrmRoutes`)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import pytest

from routing import Location, OsrmMatrix, OsrmRoutes, OsrmUnavailable, ProblemError
from tests.routing.test_osrm import NOWHERE, TOWNS, Counting

pytest_plugins = ["tests.routing.osrm_server"]

LonLat = tuple[float, float]


@pytest.fixture
def counting() -> Iterator[Counting]:
    """A fresh request-counting client."""
    spy = Counting()
    yield spy
    spy.client.close()


def _metres(a: LonLat, b: LonLat) -> float:
    """Great-circle distance (haversine) between two (longitude, latitude) points."""
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


def _length_m(line: list[LonLat]) -> float:
    return sum(_metres(a, b) for a, b in itertools.pairwise(line))


def test_legs_follow_the_roads_from_place_to_place(osrm_url: str) -> None:
    """One leg per pair of towns: it starts and ends at the towns, bends along the roads (many points, none
    far from its neighbours) and is as long as OSRM's road distance between them."""
    with OsrmRoutes(osrm_url) as roads:
        legs = roads.legs(TOWNS)
    with OsrmMatrix(osrm_url) as matrix:
        distances = matrix.matrix(TOWNS).distances_m
    assert len(legs) == len(TOWNS) - 1
    for i, leg in enumerate(legs):
        a, b = TOWNS[i], TOWNS[i + 1]
        assert leg[0] == (a.lng, a.lat)
        assert leg[-1] == (b.lng, b.lat)
        assert len(leg) > 20
        assert _metres(leg[0], leg[1]) < 500  # onto the road nearby, not off across the valley
        road = float(distances[i, i + 1])
        crow = _metres(leg[0], leg[-1])
        assert _length_m(leg) > crow * 1.05
        # The leg adds the short stretches from each town to where OSRM put it on the road.
        assert road - 50 <= _length_m(leg) <= road * 1.02 + 1000


@pytest.mark.parametrize("max_waypoints", [2, 3, 4])
def test_chunked_requests_give_the_same_legs(osrm_url: str, counting: Counting, max_waypoints: int) -> None:
    """Requests of at most max_waypoints places, sharing their end place, give exactly the whole path."""
    with OsrmRoutes(osrm_url) as roads:
        whole = roads.legs(TOWNS)
    chunked = OsrmRoutes(osrm_url, max_waypoints=max_waypoints, client=counting.client).legs(TOWNS)
    assert chunked == whole
    assert len(counting.urls) == math.ceil((len(TOWNS) - 1) / (max_waypoints - 1))
    for url in counting.urls:
        places = url.split("/route/v1/driving/")[1].split("?")[0].split(";")
        assert 2 <= len(places) <= max_waypoints


def test_a_long_round_is_asked_in_requests_of_a_hundred(osrm_url: str, counting: Counting) -> None:
    """150 places on the valley's roads: two requests under osrm-routed's limits, 149 legs end to end."""
    with OsrmRoutes(osrm_url) as roads:
        valley = [point for leg in roads.legs(TOWNS[:5]) for point in leg[1:-1]]
    assert len(valley) >= 150
    places = [Location(lat, lng) for lng, lat in valley[:: len(valley) // 150][:150]]
    legs = OsrmRoutes(osrm_url, client=counting.client).legs(places)
    assert len(counting.urls) == 2
    assert len(legs) == 149
    for before, after in itertools.pairwise(legs):
        assert before[-1] == after[0]


def test_the_same_place_twice_is_a_short_leg(osrm_url: str) -> None:
    """Two visits at one place (an isle) give a leg from the place back to it, a few points long."""
    with OsrmRoutes(osrm_url) as roads:
        legs = roads.legs([TOWNS[0], TOWNS[1], TOWNS[1], TOWNS[2]])
    assert len(legs) == 3
    assert legs[1][0] == legs[1][-1] == (TOWNS[1].lng, TOWNS[1].lat)
    assert _length_m(legs[1]) < 200


def test_place_off_the_map_is_named_in_the_callers_order(osrm_url: str) -> None:
    """A place far from any road is named by its index in the whole sequence, whichever request met it."""
    places = [*TOWNS[:3], NOWHERE, *TOWNS[3:]]
    with (
        OsrmRoutes(osrm_url, max_waypoints=2) as roads,
        pytest.raises(ProblemError, match=r"locations\[3\].*off the map") as caught,
    ):
        roads.legs(places)
    assert [v.field for v in caught.value.violations] == ["locations[3]"]


def test_bad_coordinates_are_rejected_before_asking(counting: Counting) -> None:
    """A latitude out of range is a ProblemError, and nothing is sent."""
    roads = OsrmRoutes("http://127.0.0.1:9", client=counting.client)
    with pytest.raises(ProblemError, match=r"locations\[1\]\.lat"):
        roads.legs([TOWNS[0], Location(91.0, 9.5)])
    assert counting.urls == []


def test_fewer_than_two_places_need_no_server() -> None:
    """No leg to draw: no request."""
    roads = OsrmRoutes("http://127.0.0.1:9")
    assert roads.legs([]) == []
    assert roads.legs([TOWNS[0]]) == []


def test_dead_server_raises_osrm_unavailable(dead_url: str) -> None:
    """Nobody listening: OsrmUnavailable naming the URL."""
    with (
        OsrmRoutes(dead_url, timeout_s=2.0) as roads,
        pytest.raises(OsrmUnavailable, match=dead_url) as caught,
    ):
        roads.legs(TOWNS)
    assert caught.value.url == dead_url


def test_not_osrm_raises_osrm_unavailable(osrm_url: str) -> None:
    """An HTTP answer that is not an OSRM route (wrong path) raises OsrmUnavailable."""
    with OsrmRoutes(f"{osrm_url}/nonsense") as roads, pytest.raises(OsrmUnavailable, match="nonsense"):
        roads.legs(TOWNS[:2])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"max_waypoints": 1}, "max_waypoints"),
        ({"timeout_s": 0.0}, "timeout_s"),
        ({"max_snap_m": -1.0}, "max_snap_m"),
    ],
)
def test_out_of_range_settings_are_refused(arguments: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OsrmRoutes("http://127.0.0.1:9", **arguments)  # type: ignore[arg-type]
