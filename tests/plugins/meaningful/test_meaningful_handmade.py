"""Meaningful locations on hand-built subscribers: clusters, labels, shares and validation.

Three sites on one east-west line at latitude 27.65: S2 is 0.49 km east of S1 and S3 is 2.96 km
east of S1. Region WEST contains S1 and S2, region EAST contains S3. With the example scores,
nights score -1 and working hours +1 on the hour axis; weekdays score 1, Saturday 0 and Sunday
-1 on the day axis.

Subscribers (2016-01-04 is a Monday):
- alice: nights at S1 (3 call days) and S2 (2 call days), working hours at S3 (1 call day);
  in the second period, one Sunday night at S3.
- bob: Saturday nights at S3.
- carol: one event at 08:00 (hour score 0) at S1: labelled unknown.
- dave: one night at S1 and one at S3, one call day each.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from flowcore_meaningful.examples import EXAMPLE_SCORES
from flowcore_meaningful.pipeline import ScoreTable, cluster_members, site_visits
from sqlalchemy import Connection, select

from flowcore.errors import InvalidSpecError
from flowcore.session import create_flowdb_engine
from flowcore.sql.availability import Availability
from flowcore.sql.context import BuildContext
from flowcore.testing import insert_cells, insert_events, insert_region, insert_sites, square

SITES = [
    {"id": "S1", "lon": 85.000, "lat": 27.65},
    {"id": "S2", "lon": 85.005, "lat": 27.65},
    {"id": "S3", "lon": 85.030, "lat": 27.65},
]
CELLS = [
    {"id": "c1", "site_id": "S1", "lon": 85.000, "lat": 27.65},
    {"id": "c2", "site_id": "S2", "lon": 85.005, "lat": 27.65},
    {"id": "c3", "site_id": "S3", "lon": 85.030, "lat": 27.65},
]
EVENTS = {
    "alice": [
        ("c1", "2016-01-04 22:00"),
        ("c1", "2016-01-05 23:00"),
        ("c1", "2016-01-06 21:00"),
        ("c2", "2016-01-04 02:00"),
        ("c2", "2016-01-05 03:00"),
        ("c3", "2016-01-04 10:00"),
        ("c3", "2016-01-04 14:00"),
        ("c3", "2016-01-10 23:00"),
    ],
    "bob": [("c3", "2016-01-09 22:00"), ("c3", "2016-01-09 23:00")],
    "carol": [("c1", "2016-01-04 08:00")],
    "dave": [("c1", "2016-01-04 01:00"), ("c3", "2016-01-05 02:00")],
}


@pytest.fixture
def places_dsn(fresh_dsn: str) -> str:
    """A database with the three sites, two regions and the four subscribers' calls."""
    insert_region(fresh_dsn, 3, "WEST", square(84.9, 27.6, 0.115))
    insert_region(fresh_dsn, 3, "EAST", square(85.015, 27.6, 0.115))
    insert_sites(fresh_dsn, SITES)
    insert_cells(fresh_dsn, CELLS)
    rows = [
        {"msisdn": subscriber, "datetime": moment, "location_id": cell, "outgoing": True}
        for subscriber, events in EVENTS.items()
        for cell, moment in events
    ]
    insert_events(fresh_dsn, "calls", rows)
    return fresh_dsn


def meaningful_spec(**overrides: Any) -> dict[str, Any]:
    """Return a meaningful_locations_aggregate spec over Monday to Saturday at admin3."""
    spec: dict[str, Any] = {
        "query_kind": "meaningful_locations_aggregate",
        "start_date": "2016-01-04",
        "end_date": "2016-01-10",
        "aggregation_unit": "admin3",
        "label": "home",
        **copy.deepcopy(EXAMPLE_SCORES),
    }
    spec.update(overrides)
    return spec


def values_by(rows: list[dict[str, Any]], *keys: str) -> dict[tuple[Any, ...], float]:
    """Map the ``keys`` columns of each row to its value, rounded to 9 decimals."""
    return {tuple(row[key] for key in keys): round(row["value"], 9) for row in rows}


@contextmanager
def built_on(dsn: str, registry: Any) -> Iterator[tuple[Connection, BuildContext]]:
    """Yield a connection to ``dsn`` and a build context over its data."""
    engine = create_flowdb_engine(dsn)
    try:
        with engine.connect() as connection:
            context = BuildContext(
                registry=registry,
                availability=Availability.load(connection),
                resolve=lambda nested: None,
            )
            yield connection, context
    finally:
        engine.dispose()


def members_of(
    dsn: str, registry: Any, converter: Any, radius_km: float
) -> dict[str, list[tuple[Any, ...]]]:
    """Return each subscriber's (site, cluster, centre lon, centre lat, call days), by site."""
    spec = converter.structure(meaningful_spec())
    with built_on(dsn, registry) as (connection, context):
        sites = site_visits(spec, context, spec.start_date, spec.end_date).cte("sites")
        members = cluster_members(sites, radius_km, "test").subquery("members")
        rows = connection.execute(
            select(members).order_by(members.c.subscriber, members.c.site_id)
        ).mappings()
        found: dict[str, list[tuple[Any, ...]]] = {}
        for row in rows:
            found.setdefault(row["subscriber"], []).append(
                (
                    row["site_id"],
                    row["cluster"],
                    round(row["cluster_lon"], 9),
                    round(row["cluster_lat"], 9),
                    row["cluster_call_days"],
                )
            )
        return found


def test_clusters_at_one_km(places_dsn: str, registry: Any, converter: Any) -> None:
    members = members_of(places_dsn, registry, converter, 1.0)
    # S2 (0.49 km away) joins S1's cluster, whose centre moves to the call-day-weighted mean.
    assert members["alice"] == [
        ("S1", 1, 85.002, 27.65, 5),
        ("S2", 1, 85.002, 27.65, 5),
        ("S3", 2, 85.03, 27.65, 1),
    ]
    # dave's sites tie on call days: S1 comes first by site id.
    assert members["dave"] == [("S1", 1, 85.0, 27.65, 1), ("S3", 2, 85.03, 27.65, 1)]


def test_clusters_at_small_radius(places_dsn: str, registry: Any, converter: Any) -> None:
    members = members_of(places_dsn, registry, converter, 0.4)
    assert [(site, cluster) for site, cluster, *_ in members["alice"]] == [
        ("S1", 1),
        ("S2", 2),
        ("S3", 3),
    ]


def test_clusters_at_large_radius(places_dsn: str, registry: Any, converter: Any) -> None:
    members = members_of(places_dsn, registry, converter, 3.5)
    # S3 is 2.76 km from the centre of S1 and S2, so all three form one cluster.
    assert members["alice"] == [
        ("S1", 1, 85.006666667, 27.65, 6),
        ("S2", 1, 85.006666667, 27.65, 6),
        ("S3", 1, 85.006666667, 27.65, 6),
    ]


def test_score_table_scales_decimals() -> None:
    table = ScoreTable.of([0.25, -1.0, 0.1])
    assert table.places == 2
    assert table.scale == 100
    assert ScoreTable.of([0.1, 1e-13]).places is None


@pytest.mark.parametrize(
    ("scores", "integer"),
    [
        ([1.0, -1.0, 0.5], True),  # scaled by 10: at most 10
        ([0.001, -1.0], True),  # scaled by 1,000: at most 1,000
        ([1000.0, -0.5], False),  # scaled by 10: 10,000
        ([0.0001, 1.0], False),  # scaled by 10,000: 10,000
        ([1e-13], False),  # summed as numeric
    ],
)
def test_score_table_integer_scores(scores: list[float], integer: bool) -> None:
    assert ScoreTable.of(scores).sums_as_integers is integer


def test_leader_joins_first_cluster(fresh_dsn: str) -> None:
    # C is 0.79 km from both A and B; it joins A's cluster, created first.
    with psycopg.connect(fresh_dsn) as connection:
        rows = connection.execute(
            """
            SELECT site_id, cluster, round(cluster_lon::numeric, 9)::float, cluster_call_days
            FROM public.hartigan_leader_clusters(
                ARRAY['A', 'B', 'C'], ARRAY[0, 0, 0],
                ARRAY[85.0, 85.016, 85.008]::float8[], ARRAY[27.65, 27.65, 27.65]::float8[],
                ARRAY[5, 4, 1]::bigint[], 1.0)
            """
        ).fetchall()
    assert rows == [("A", 1, 85.001333333, 6), ("B", 2, 85.016, 4), ("C", 1, 85.001333333, 6)]


def test_site_without_latitude_joins_nothing(fresh_dsn: str) -> None:
    # Ten sites 0.1 degrees apart, a site without coordinates, then one 0.1 km from the first.
    lons = [85.0 + 0.1 * n for n in range(10)] + [None, 85.001]
    lats = [27.65] * 10 + [None, 27.65]
    with psycopg.connect(fresh_dsn) as connection:
        rows = connection.execute(
            "SELECT cluster, cluster_call_days FROM public.hartigan_leader_clusters("
            "%s::text[], %s::int[], %s::float8[], %s::float8[], %s::bigint[], 1.0)",
            ([f"S{n}" for n in range(12)], [0] * 12, lons, lats, [1] * 12),
        ).fetchall()
    assert [row[0] for row in rows] == [*range(1, 12), 1]
    assert rows[0][1] == 2
    assert rows[10][1] == 1


def test_cluster_scores_average_members(fresh_dsn: str) -> None:
    # A and C form cluster 1, B cluster 2. C has no hour score, which the mean leaves out.
    with psycopg.connect(fresh_dsn) as connection:
        rows = connection.execute(
            """
            SELECT cluster, round(cluster_lon::numeric, 9)::float, cluster_call_days,
                   score_hour, score_dow
            FROM public.hartigan_leader_cluster_scores(
                ARRAY[85.0, 85.016, 85.008]::float8[], ARRAY[27.65, 27.65, 27.65]::float8[],
                ARRAY[5, 4, 1]::bigint[], ARRAY[0.5, -1.0, NULL]::float8[],
                ARRAY[0.1, 0.2, 0.4]::float8[], 1.0)
            """
        ).fetchall()
    assert len(rows) == 2
    assert rows[0] == (1, 85.001333333, 6, 0.5, 0.25)
    assert rows[1] == (2, 85.016, 4, -1.0, 0.2)


def test_home_aggregate_shares(run_on: Any, places_dsn: str) -> None:
    rows = run_on(places_dsn)(meaningful_spec())
    assert list(rows[0]) == ["label", "pcod", "value"]
    # alice's home is WEST, bob's EAST, dave's split over both.
    assert values_by(rows, "label", "pcod") == {("home", "WEST"): 1.5, ("home", "EAST"): 1.5}


@pytest.mark.parametrize(
    "factor",
    [
        pytest.param(0.9999, id="bigint scores"),  # scaled by 10,000
        pytest.param(0.9999999999999, id="numeric scores"),  # 13 decimal places
    ],
)
def test_home_shares_with_finer_scores(run_on: Any, places_dsn: str, factor: float) -> None:
    # Scores a little below 1 in size move no cluster across the home shape's edges.
    spec = meaningful_spec(
        tower_hour_of_day_scores=[
            score * factor for score in EXAMPLE_SCORES["tower_hour_of_day_scores"]
        ],
        tower_day_of_week_scores={
            day: score * factor for day, score in EXAMPLE_SCORES["tower_day_of_week_scores"].items()
        },
    )
    assert not ScoreTable.of(spec["tower_hour_of_day_scores"]).sums_as_integers
    rows = run_on(places_dsn)(spec)
    assert values_by(rows, "label", "pcod") == {("home", "WEST"): 1.5, ("home", "EAST"): 1.5}


@pytest.mark.parametrize(
    ("start", "end"),
    [
        pytest.param("2015-09-01", "2016-01-10", id="131 days"),
        pytest.param("2013-01-01", "2016-01-10", id="1104 days, counted distinct"),
        pytest.param("2016-01-04T12:00:00", "2016-01-10", id="from noon"),
    ],
)
def test_call_days_over_other_ranges(
    places_dsn: str, registry: Any, converter: Any, start: str, end: str
) -> None:
    spec = converter.structure(meaningful_spec(start_date=start, end_date=end))
    with built_on(places_dsn, registry) as (connection, context):
        visits = site_visits(spec, context, spec.start_date, spec.end_date).subquery()
        rows = connection.execute(
            select(visits.c.subscriber, visits.c.site_id, visits.c.call_days)
        ).all()

    call_days = {(subscriber, site): days for subscriber, site, days in rows}
    # From noon on Monday, alice's Monday night at S1 still counts. Her Monday morning at S2
    # and carol's Monday morning do not.
    from_noon = start.endswith("12:00:00")
    assert call_days[("alice", "S1")] == 3
    assert call_days[("alice", "S2")] == (1 if from_noon else 2)
    assert call_days[("bob", "S3")] == 1
    assert (("carol", "S1") in call_days) is not from_noon


def test_aggregate_sums_to_labelled_subscribers(run_on: Any, places_dsn: str) -> None:
    rows = run_on(places_dsn)(meaningful_spec())
    # alice, bob and dave have home clusters.
    assert sum(row["value"] for row in rows) == pytest.approx(3)


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("work", {("work", "EAST"): 1.0}),
        ("unknown", {("unknown", "WEST"): 1.0}),
    ],
)
def test_other_labels(
    run_on: Any, places_dsn: str, label: str, expected: dict[tuple[str, str], float]
) -> None:
    rows = run_on(places_dsn)(meaningful_spec(label=label))
    assert values_by(rows, "label", "pcod") == expected


def test_call_threshold_drops_clusters(run_on: Any, places_dsn: str) -> None:
    rows = run_on(places_dsn)(meaningful_spec(tower_cluster_call_threshold=2))
    # Only alice's S1+S2 cluster has two or more call days.
    assert values_by(rows, "label", "pcod") == {("home", "WEST"): 1.0}


def test_clusters_outside_regions_null_row(run_on: Any, places_dsn: str) -> None:
    # No admin2 polygon exists, so every home cluster lies outside them all.
    rows = run_on(places_dsn)(meaningful_spec(aggregation_unit="admin2"))
    assert values_by(rows, "label", "pcod") == {("home", None): 3.0}


def test_sites_found_by_site_validity(run_on: Any, fresh_dsn: str) -> None:
    insert_region(fresh_dsn, 3, "WEST", square(84.9, 27.6, 0.115))
    insert_sites(fresh_dsn, [{"id": "SX", "lon": 85.0, "lat": 27.65}])
    site_cell = {"site_id": "SX", "lon": 85.0, "lat": 27.65}
    insert_cells(
        fresh_dsn,
        [
            # cm has two versions, cs one, cr was in service in 2015 only: all at site SX.
            {"id": "cm", "version": 0, "date_of_last_service": dt.date(2016, 1, 5), **site_cell},
            {"id": "cm", "version": 1, "date_of_first_service": dt.date(2016, 1, 6), **site_cell},
            {"id": "cs", **site_cell},
            {"id": "cr", "date_of_last_service": dt.date(2015, 12, 31), **site_cell},
        ],
    )
    calls = [
        ("erin", "2016-01-04 22:00", "cm"),
        ("erin", "2016-01-04 10:00", "cs"),
        ("fred", "2016-01-05 22:00", "cr"),
    ]
    rows = [
        {"msisdn": subscriber, "datetime": moment, "location_id": cell, "outgoing": True}
        for subscriber, moment, cell in calls
    ]
    insert_events(fresh_dsn, "calls", rows)

    released = run_on(fresh_dsn)(meaningful_spec())

    # erin's night event at cm counts once per version of cm, so her hour score is
    # (-1 - 1 + 1) / 3, inside the home shape. fred's event is placed at SX although cr was
    # out of service, because only the site's service dates are checked.
    assert values_by(released, "label", "pcod") == {("home", "WEST"): 2.0}


def test_redaction_threshold(run_on: Any, places_dsn: str) -> None:
    released = run_on(places_dsn)(meaningful_spec(), redact=1)
    assert values_by(released, "label", "pcod") == {("home", "WEST"): 1.5, ("home", "EAST"): 1.5}
    assert run_on(places_dsn)(meaningful_spec(), redact=15) == []


def od_spec(**overrides: Any) -> dict[str, Any]:
    """Return a between-labels OD spec from home to work."""
    spec = meaningful_spec(query_kind="meaningful_locations_between_label_od_matrix")
    del spec["label"]
    spec.update(label_a="home", label_b="work")
    spec.update(overrides)
    return spec


def test_between_labels_home_to_work(run_on: Any, places_dsn: str) -> None:
    rows = run_on(places_dsn)(od_spec())
    assert list(rows[0]) == ["label_from", "label_to", "pcod_from", "pcod_to", "value"]
    assert values_by(rows, "label_from", "label_to", "pcod_from", "pcod_to") == {
        ("home", "work", "WEST", "EAST"): 1.0
    }


def test_between_labels_origin_outside_regions(run_on: Any, places_dsn: str) -> None:
    # erin's nights are at S4, east of both regions, and her working hours at S3 (EAST).
    insert_sites(places_dsn, [{"id": "S4", "lon": 86.0, "lat": 27.65}])
    insert_cells(places_dsn, [{"id": "c4", "site_id": "S4", "lon": 86.0, "lat": 27.65}])
    erin = [("c4", "2016-01-04 22:00"), ("c4", "2016-01-05 23:00"), ("c3", "2016-01-05 10:00")]
    insert_events(
        places_dsn,
        "calls",
        [
            {"msisdn": "erin", "datetime": moment, "location_id": cell, "outgoing": True}
            for cell, moment in erin
        ],
    )
    rows = run_on(places_dsn)(od_spec())
    assert values_by(rows, "label_from", "label_to", "pcod_from", "pcod_to") == {
        ("home", "work", "WEST", "EAST"): 1.0,
        ("home", "work", None, "EAST"): 1.0,
    }


def test_between_labels_home_to_home(run_on: Any, places_dsn: str) -> None:
    rows = run_on(places_dsn)(od_spec(label_b="home"))
    # dave's two home clusters make four pairs of a quarter each.
    assert values_by(rows, "label_from", "label_to", "pcod_from", "pcod_to") == {
        ("home", "home", "WEST", "WEST"): 1.25,
        ("home", "home", "EAST", "EAST"): 1.25,
        ("home", "home", "WEST", "EAST"): 0.25,
        ("home", "home", "EAST", "WEST"): 0.25,
    }


def test_between_dates(run_on: Any, places_dsn: str) -> None:
    spec = meaningful_spec(query_kind="meaningful_locations_between_dates_od_matrix")
    del spec["start_date"], spec["end_date"]
    spec.update(
        start_date_a="2016-01-04",
        end_date_a="2016-01-07",
        start_date_b="2016-01-07",
        end_date_b="2016-01-11",
    )
    rows = run_on(places_dsn)(spec)
    # Only alice has a home in both periods: WEST first, then EAST.
    assert values_by(rows, "label_from", "label_to", "pcod_from", "pcod_to") == {
        ("home", "home", "WEST", "EAST"): 1.0
    }
    # Released unredacted, as FlowKit 1.34 releases it.
    assert run_on(places_dsn)(spec, redact=15) == rows


def test_lon_lat_rejected(run_on: Any, places_dsn: str) -> None:
    with pytest.raises(InvalidSpecError) as raised:
        run_on(places_dsn)(meaningful_spec(aggregation_unit="lon-lat"))
    assert raised.value.messages == [
        "$.aggregation_unit: 'lon-lat' is not one of admin0, admin1, admin2, admin3, the units "
        "of region polygons"
    ]


HOME = EXAMPLE_SCORES["labels"]["home"]
CROSSED = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"label": "lunch"}, "$: label is 'lunch', which is not one of the labels"),
        ({"labels": {"unknown": HOME}}, "$.labels: 'unknown' is reserved"),
        ({"labels": {"a": HOME, "b": HOME}}, "$.labels: the shapes of 'a' and 'b' overlap"),
        (
            {"labels": {"a": {"type": "Polygon", "coordinates": [[1, 2]]}}},
            "$.labels[a]: the coordinates are not a valid GeoJSON Polygon",
        ),
        ({"labels": {"a": CROSSED}}, "$.labels[a]: the Polygon is not a valid shape"),
        (
            {"labels": {"a": {"type": "Point", "coordinates": [0, 0]}}},
            "$.labels[a].type: 'Point' is not one of Polygon, MultiPolygon",
        ),
        ({"labels": {"a": 3}}, "$.labels[a]: 3 is not an object"),
        ({"tower_hour_of_day_scores": [0] * 23}, "$: tower_hour_of_day_scores has 23 values"),
        (
            {"tower_hour_of_day_scores": [0] * 23 + [1.5]},
            "$: tower_hour_of_day_scores[23] is 1.5; scores must be between -1 and 1",
        ),
        (
            {"tower_day_of_week_scores": {"monday": 1}},
            "$.tower_day_of_week_scores.friday: missing required field",
        ),
        (
            {
                "tower_day_of_week_scores": {
                    **EXAMPLE_SCORES["tower_day_of_week_scores"],
                    "sunday": -2,
                }
            },
            "$.tower_day_of_week_scores: sunday is -2.0; scores must be between -1 and 1",
        ),
        ({"tower_cluster_radius": -1}, "$: tower_cluster_radius is -1.0"),
        ({"hours": {"start_hour": 0, "end_hour": 5}}, "$.hours: unknown field"),
    ],
)
def test_invalid_specs_rejected(converter: Any, change: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpecError) as raised:
        converter.structure(meaningful_spec(**change))
    assert any(line.startswith(message) for line in raised.value.messages), raised.value.messages


def test_unknown_label_accepted(converter: Any) -> None:
    assert converter.structure(meaningful_spec(label="unknown")).label == "unknown"


def test_od_labels_checked(converter: Any) -> None:
    with pytest.raises(InvalidSpecError) as raised:
        converter.structure(od_spec(label_b="office"))
    assert raised.value.messages[0].startswith("$: label_b is 'office'")
