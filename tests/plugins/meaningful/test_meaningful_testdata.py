"""Meaningful locations on the test dataset, checked against a Python reimplementation.

The reimplementation reads raw rows (events, cell and site versions, region polygons) and
redoes every step in Python: versioned-site lookup, call days, event scores, leader clustering
with geodesic distances (Vincenty's formula on WGS 84), labelling and fractional counting.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import random
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import attrs
import psycopg
import pytest
import shapely
import shapely.geometry
from flowcore_meaningful.examples import EXAMPLE_SCORES
from flowcore_meaningful.pipeline import ScoreTable

START, END = dt.datetime(2016, 1, 1, tzinfo=dt.UTC), dt.datetime(2016, 1, 8, tzinfo=dt.UTC)
# Edges at uneven values, so that no cluster's score lies on an edge, where rounding in the
# last bit could decide the label.
LABELS = {
    "home": {
        "type": "Polygon",
        "coordinates": [[[-1.1, -1.1], [-0.2137, -1.1], [-0.2137, 1.1], [-1.1, 1.1], [-1.1, -1.1]]],
    },
    "work": {
        "type": "MultiPolygon",
        "coordinates": [
            [[[0.2371, 0.0113], [1.1, 0.0113], [1.1, 1.1], [0.2371, 1.1], [0.2371, 0.0113]]],
            [[[0.2371, -1.1], [1.1, -1.1], [1.1, -0.6187], [0.2371, -0.6187], [0.2371, -1.1]]],
        ],
    },
}
DAY_INDEX = {
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
}


def vincenty_metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Return the WGS 84 ellipsoidal distance in metres (Vincenty's inverse formula)."""
    a, f = 6378137.0, 1 / 298.257223563
    b = a * (1 - f)
    if lon1 == lon2 and lat1 == lat2:
        return 0.0

    u1 = math.atan((1 - f) * math.tan(math.radians(lat1)))
    u2 = math.atan((1 - f) * math.tan(math.radians(lat2)))
    big_l = math.radians(lon2 - lon1)
    lam = big_l
    for _ in range(200):
        sin_lam, cos_lam = math.sin(lam), math.cos(lam)
        sin_sigma = math.hypot(
            math.cos(u2) * sin_lam,
            math.cos(u1) * math.sin(u2) - math.sin(u1) * math.cos(u2) * cos_lam,
        )
        cos_sigma = math.sin(u1) * math.sin(u2) + math.cos(u1) * math.cos(u2) * cos_lam
        sigma = math.atan2(sin_sigma, cos_sigma)
        sin_alpha = math.cos(u1) * math.cos(u2) * sin_lam / sin_sigma
        cos2_alpha = 1 - sin_alpha**2
        cos_2sm = cos_sigma - 2 * math.sin(u1) * math.sin(u2) / cos2_alpha if cos2_alpha else 0
        c = f / 16 * cos2_alpha * (4 + f * (4 - 3 * cos2_alpha))
        previous = lam
        lam = big_l + (1 - c) * f * sin_alpha * (
            sigma + c * sin_sigma * (cos_2sm + c * cos_sigma * (-1 + 2 * cos_2sm**2))
        )
        if abs(lam - previous) < 1e-12:
            break

    u_sq = cos2_alpha * (a**2 - b**2) / b**2
    big_a = 1 + u_sq / 16384 * (4096 + u_sq * (-768 + u_sq * (320 - 175 * u_sq)))
    big_b = u_sq / 1024 * (256 + u_sq * (-128 + u_sq * (74 - 47 * u_sq)))
    delta_sigma = (
        big_b
        * sin_sigma
        * (
            cos_2sm
            + big_b
            / 4
            * (
                cos_sigma * (-1 + 2 * cos_2sm**2)
                - big_b / 6 * cos_2sm * (-3 + 4 * sin_sigma**2) * (-3 + 4 * cos_2sm**2)
            )
        )
    )
    return b * big_a * (sigma - delta_sigma)


def valid_on(first: dt.date | None, last: dt.date | None, day: dt.date) -> bool:
    """Return whether a version with service dates ``[first, last]`` is in service on ``day``."""
    return (first is None or first <= day) and (last is None or day <= last)


@attrs.define
class Site:
    """One subscriber's use of one versioned site."""

    lon: float
    lat: float
    days: set[dt.date] = attrs.Factory(set)
    hour_total: float = 0.0
    day_total: float = 0.0
    events: int = 0


@attrs.define
class Cluster:
    """A cluster of one subscriber's sites as the leader algorithm grows it."""

    lon: float
    lat: float
    call_days: int
    sites: list[Site] = attrs.Factory(list)


def fetch(dsn: str) -> dict[str, Any]:
    """Read events in [START, END), cell and site versions and admin3 polygons."""
    with psycopg.connect(dsn) as connection:
        connection.execute("SET timezone = 'UTC'")
        events = connection.execute(
            """
            SELECT msisdn, datetime, location_id FROM events.calls
            WHERE datetime >= %(start)s AND datetime < %(end)s
            UNION ALL
            SELECT msisdn, datetime, location_id FROM events.sms
            WHERE datetime >= %(start)s AND datetime < %(end)s
            """,
            {"start": START, "end": END},
        ).fetchall()
        cells = connection.execute("SELECT id, site_id FROM infrastructure.cells").fetchall()
        sites = connection.execute(
            "SELECT id, version, ST_X(geom_point), ST_Y(geom_point), date_of_first_service, "
            "date_of_last_service FROM infrastructure.sites"
        ).fetchall()
        regions = connection.execute(
            "SELECT admin3pcod, ST_AsBinary(geom) FROM geography.admin3"
        ).fetchall()
    return {"events": events, "cells": cells, "sites": sites, "regions": regions}


def site_uses(data: dict[str, Any], scores: dict[str, Any]) -> dict[str, dict[Any, Site]]:
    """Return each subscriber's versioned sites with call days and score totals.

    Every version of an event's cell leads to the site version in service that day, whatever
    the cell version's own service dates, so an event counts once per version of its cell.
    """
    cells_by_id: dict[str, list[str]] = defaultdict(list)
    for cell_id, site_id in data["cells"]:
        cells_by_id[cell_id].append(site_id)
    sites_by_id: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for site_id, version, lon, lat, first, last in data["sites"]:
        sites_by_id[site_id].append((version, lon, lat, first, last))
    hour_scores = scores["tower_hour_of_day_scores"]
    day_scores = [0.0] * 7
    for name, score in scores["tower_day_of_week_scores"].items():
        day_scores[DAY_INDEX[name]] = score

    uses: dict[str, dict[Any, Site]] = defaultdict(dict)
    for subscriber, moment, location_id in data["events"]:
        day = moment.date()
        for site_id in cells_by_id.get(location_id, []):
            for version, lon, lat, first, last in sites_by_id.get(site_id, []):
                if not valid_on(first, last, day):
                    continue
                site = uses[subscriber].setdefault((site_id, version), Site(lon, lat))
                site.days.add(day)
                site.hour_total += hour_scores[moment.hour]
                site.day_total += day_scores[moment.weekday()]
                site.events += 1
    return uses


def leader_clusters(sites: dict[Any, Site], radius_km: float) -> list[Cluster]:
    """Cluster one subscriber's sites in descending call days, ties by site id and version."""
    clusters: list[Cluster] = []
    for key in sorted(sites, key=lambda k: (-len(sites[k].days), k[0], k[1])):
        site = sites[key]
        weight = len(site.days)
        for cluster in clusters:
            if vincenty_metres(cluster.lon, cluster.lat, site.lon, site.lat) < radius_km * 1000:
                total = cluster.call_days + weight
                cluster.lon = (cluster.lon * cluster.call_days + site.lon * weight) / total
                cluster.lat = (cluster.lat * cluster.call_days + site.lat * weight) / total
                cluster.call_days = total
                cluster.sites.append(site)
                break
        else:
            clusters.append(Cluster(site.lon, site.lat, weight, [site]))
    return clusters


def label_of(cluster: Cluster, shapes: dict[str, Any]) -> str:
    """Return the label whose shape strictly contains the cluster's score point."""
    hour = sum(s.hour_total / s.events for s in cluster.sites) / len(cluster.sites)
    day = sum(s.day_total / s.events for s in cluster.sites) / len(cluster.sites)
    point = shapely.geometry.Point(hour, day)
    for name, shape in shapes.items():
        if shape.contains(point):
            return name
    return "unknown"


def labelled_places(data: dict[str, Any], scores: dict[str, Any]) -> dict[str, dict[str, list]]:
    """Return, per subscriber and label, the centres (lon, lat) of the labelled clusters."""
    shapes = {name: shapely.geometry.shape(geojson) for name, geojson in LABELS.items()}
    places: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for subscriber, sites in site_uses(data, scores).items():
        for cluster in leader_clusters(sites, scores["tower_cluster_radius"]):
            if cluster.call_days >= scores["tower_cluster_call_threshold"]:
                places[subscriber][label_of(cluster, shapes)].append((cluster.lon, cluster.lat))
    return places


def region_finder(data: dict[str, Any]) -> Any:
    """Return a function giving the pcod of the polygon strictly containing a point, or None."""
    regions = [(pcod, shapely.from_wkb(bytes(wkb))) for pcod, wkb in data["regions"]]
    for _, geometry in regions:
        shapely.prepare(geometry)

    def find(lon: float, lat: float) -> str | None:
        point = shapely.geometry.Point(lon, lat)
        return next((pcod for pcod, geometry in regions if geometry.contains(point)), None)

    return find


def add_shares(
    totals: dict[tuple[Any, ...], float], pairs: Iterable[tuple[tuple[Any, ...], float]]
) -> None:
    """Add each (key, share) to ``totals``."""
    for key, share in pairs:
        totals[key] += share


@pytest.fixture(scope="module")
def scores() -> dict[str, Any]:
    """The example scores with labels whose edges no score lands on."""
    return {**copy.deepcopy(EXAMPLE_SCORES), "labels": LABELS}


@pytest.fixture(scope="module")
def expected(testdata_dsn: str, scores: dict[str, Any]) -> dict[str, Any]:
    """The Python reimplementation's labelled places and regions on the test dataset."""
    data = fetch(testdata_dsn)
    return {"places": labelled_places(data, scores), "region": region_finder(data)}


def spec(kind: str, scores: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """Return a meaningful locations spec over the whole test week at admin3."""
    return {
        "query_kind": kind,
        "start_date": START.date().isoformat(),
        "end_date": END.date().isoformat(),
        "aggregation_unit": "admin3",
        **scores,
        **fields,
    }


def home_shares(expected: dict[str, Any]) -> dict[tuple[Any, ...], float]:
    """Return the expected aggregate: each region's fractional count of home clusters."""
    region = expected["region"]
    totals: dict[tuple[Any, ...], float] = defaultdict(float)
    for places in expected["places"].values():
        homes = places.get("home", [])
        add_shares(totals, ((("home", region(*p)), 1 / len(homes)) for p in homes))
    return {key: value for key, value in totals.items() if key[1] is not None}


def test_home_aggregate_matches_python(
    run_on: Any, testdata_dsn: str, scores: dict[str, Any], expected: dict[str, Any]
) -> None:
    expected_shares = home_shares(expected)

    rows = run_on(testdata_dsn)(spec("meaningful_locations_aggregate", scores, label="home"))
    got = {(row["label"], row["pcod"]): float(row["value"]) for row in rows}
    assert len(expected_shares) > 10
    assert got == pytest.approx(expected_shares)
    # Exact decimals, as FlowKit sums 1. / n_clusters.
    assert all(isinstance(row["value"], Decimal) for row in rows)


def test_clusters_stage_matches_python(
    run_on: Any, testdata_dsn: str, scores: dict[str, Any]
) -> None:
    data = fetch(testdata_dsn)
    expected_clusters: dict[str, list[tuple[float, float, float, float]]] = defaultdict(list)
    for subscriber, sites in site_uses(data, scores).items():
        for cluster in leader_clusters(sites, scores["tower_cluster_radius"]):
            if cluster.call_days < scores["tower_cluster_call_threshold"]:
                continue
            members = cluster.sites
            hour = sum(site.hour_total / site.events for site in members) / len(members)
            day = sum(site.day_total / site.events for site in members) / len(members)
            expected_clusters[subscriber].append((cluster.lon, cluster.lat, hour, day))
    stage = {
        "query_kind": "meaningful_clusters",
        "start_date": START.date().isoformat(),
        "end_date": END.date().isoformat(),
        **{key: value for key, value in scores.items() if key != "labels"},
    }

    got: dict[str, list[tuple[float, float, float, float]]] = defaultdict(list)
    for row in sorted(run_on(testdata_dsn)(stage), key=lambda row: row["cluster"]):
        got[row["subscriber"]].append((row["lon"], row["lat"], row["score_hour"], row["score_dow"]))

    assert len(expected_clusters) > 100
    assert sorted(got) == sorted(expected_clusters)
    for subscriber, clusters in expected_clusters.items():
        assert len(got[subscriber]) == len(clusters), subscriber
        for found, expected_cluster in zip(got[subscriber], clusters, strict=True):
            assert found == pytest.approx(expected_cluster, abs=1e-9), subscriber


def test_unscalable_scores_match_python(
    run_on: Any, testdata_dsn: str, scores: dict[str, Any]
) -> None:
    # Scores moved by 1e-13 (inward from 1) have 13 decimal places, so they are summed as
    # numeric instead of scaled bigints.
    hours = []
    for score in scores["tower_hour_of_day_scores"]:
        if score > 0:
            hours.append(score - 1e-13)
        else:
            hours.append(score + 1e-13)
    long_scores = {**scores, "tower_hour_of_day_scores": hours}
    assert ScoreTable.of(hours).places is None
    data = fetch(testdata_dsn)
    expected_shares = home_shares(
        {"places": labelled_places(data, long_scores), "region": region_finder(data)}
    )

    rows = run_on(testdata_dsn)(spec("meaningful_locations_aggregate", long_scores, label="home"))
    got = {(row["label"], row["pcod"]): float(row["value"]) for row in rows}
    assert len(expected_shares) > 10
    assert got == pytest.approx(expected_shares)


def test_home_aggregate_sums_to_subscribers(
    run_on: Any, testdata_dsn: str, scores: dict[str, Any], expected: dict[str, Any]
) -> None:
    region = expected["region"]
    with_home = [places["home"] for places in expected["places"].values() if places.get("home")]
    # Every home cluster of the test week lies inside Nepal's admin3 polygons.
    assert all(region(*place) is not None for homes in with_home for place in homes)

    rows = run_on(testdata_dsn)(spec("meaningful_locations_aggregate", scores, label="home"))
    assert sum(row["value"] for row in rows) == pytest.approx(len(with_home))
    assert len(with_home) > 100


def test_label_od_matrix_matches_python(
    run_on: Any, testdata_dsn: str, scores: dict[str, Any], expected: dict[str, Any]
) -> None:
    region = expected["region"]
    totals: dict[tuple[Any, ...], float] = defaultdict(float)
    for places in expected["places"].values():
        homes, works = places.get("home", []), places.get("work", [])
        for home in homes:
            for work in works:
                key = ("home", "work", region(*home), region(*work))
                totals[key] += 1 / (len(homes) * len(works))
    wanted = {key: value for key, value in totals.items() if None not in key}

    od = spec(
        "meaningful_locations_between_label_od_matrix", scores, label_a="home", label_b="work"
    )
    rows = run_on(testdata_dsn)(od)
    got = {
        (row["label_from"], row["label_to"], row["pcod_from"], row["pcod_to"]): float(row["value"])
        for row in rows
    }
    assert len(wanted) > 10
    assert got == pytest.approx(wanted)
    assert all(isinstance(row["value"], Decimal) for row in rows)

    released = run_on(testdata_dsn)(od, redact=15)
    assert {(r["pcod_from"], r["pcod_to"]) for r in released} == {
        key[2:] for key, value in wanted.items() if value > 15
    }


@pytest.mark.parametrize(
    ("layout", "radius_km"),
    [("scattered", 1.0), ("scattered", 5.0), ("scattered", 15.0), ("line", 1.0)],
)
def test_many_sites_cluster_as_python(testdata_dsn: str, layout: str, radius_km: float) -> None:
    # Hundreds of sites, so that the clustering function looks centres up by latitude too. On
    # the line, every site has the same latitude and lies 0.39 km east of the one before.
    generator = random.Random(7)
    count = 400
    if layout == "line":
        lons = [85 + 0.004 * n for n in range(count)]
        lats = [27.65] * count
    else:
        lons = [85 + generator.random() * 0.5 for _ in range(count)]
        lats = [27.5 + generator.random() * 0.5 for _ in range(count)]
    call_days = sorted((generator.randint(1, 7) for _ in range(count)), reverse=True)
    centres: list[list[float]] = []
    expected_clusters: list[int] = []
    for lon, lat, weight in zip(lons, lats, call_days, strict=True):
        for number, centre in enumerate(centres, start=1):
            if vincenty_metres(centre[0], centre[1], lon, lat) < radius_km * 1000:
                total = centre[2] + weight
                centre[:] = [
                    (centre[0] * centre[2] + lon * weight) / total,
                    (centre[1] * centre[2] + lat * weight) / total,
                    total,
                ]
                expected_clusters.append(number)
                break
        else:
            centres.append([lon, lat, weight])
            expected_clusters.append(len(centres))

    with psycopg.connect(testdata_dsn) as connection:
        rows = connection.execute(
            "SELECT cluster, cluster_lon, cluster_lat, cluster_call_days "
            "FROM public.hartigan_leader_clusters("
            "%s::text[], %s::int[], %s::float8[], %s::float8[], %s::bigint[], %s::float8)",
            ([f"S{n}" for n in range(count)], [0] * count, lons, lats, call_days, radius_km),
        ).fetchall()

    assert 1 < len(centres) < count
    assert [row[0] for row in rows] == expected_clusters
    assert [row[3] for row in rows] == [centres[number - 1][2] for number in expected_clusters]
    assert [row[1] for row in rows] == pytest.approx([centres[n - 1][0] for n in expected_clusters])
    assert [row[2] for row in rows] == pytest.approx([centres[n - 1][1] for n in expected_clusters])
