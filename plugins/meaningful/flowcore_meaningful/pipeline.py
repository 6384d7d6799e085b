"""The meaningful locations pipeline in SQL, from events to labelled clusters in regions.

Every step works at the versioned-site level, for all subscribers at once. Steps 1 to 3 are
the statement of the ``meaningful_clusters`` kind, stored as a stage that the kinds of this
plugin share; steps 4 to 6 are in each kind's own statement, over that stored result:

1. Site visits: for each subscriber and versioned site, the number of call days (distinct UTC
   calendar days with an event there) and the mean hour-of-day and day-of-week scores of the
   events there. An event's cell is mapped to its site as FlowKit 1.34 does: every version of
   the cell joins the site version in service on the event's date, whatever the cell version's
   own service dates. So an event at a cell with two versions counts twice in the mean score of
   its site, and an event at a cell out of service still counts at its site.
2. Clusters: Hartigan leader clustering of each subscriber's sites by the database function
   ``hartigan_leader_cluster_scores`` (migrations ``0200_meaningful.sql`` to
   ``0203_meaningful_cluster_scores.sql``). Sites are taken in descending call days. Sites with
   equal call days are taken in ascending ``site_id``, then ``version``, so the clusters are
   the same on every run. Clusters with fewer call days in total than
   ``tower_cluster_call_threshold`` are dropped.
3. Cluster scores: the mean of the member sites' scores, computed by the same function. Call
   days and scores come from the same events, so every member site has a score.
4. Labels: a cluster has a label when the label's shape strictly contains the point (hour score,
   day-of-week score). It is ``unknown`` when no shape contains it.
5. Meaningful locations: the clusters with the requested label, with ``n_clusters``, the number
   of such clusters of the subscriber, for fractional counting.
6. Regions: a cluster's region is the polygon of the aggregation unit that contains its centre.
   As in FlowKit 1.34, a cluster outside every polygon counts in a row whose region is null.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import attrs
from sqlalchemy import (
    BigInteger,
    Date,
    Float,
    FromClause,
    Integer,
    Numeric,
    Select,
    Text,
    and_,
    cast,
    column,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import ColumnElement

from flowcore.errors import InvalidSpecError
from flowcore.sql.context import BuildContext
from flowcore.sql.tables import cells, sites
from flowcore_meaningful.fields import UNKNOWN_LABEL, ClusterFields, LabelShape, ScoringFields

__all__ = [
    "PLANNER_SETTINGS",
    "site_visits",
    "cluster_members",
    "scored_clusters",
    "meaningful_locations",
    "materialized",
    "regions_of",
    "in_regions",
    "region_columns",
]


#: Planner settings of the meaningful-locations kinds. Row estimates after the clustering
#: function are one row where there are hundreds of thousands. PostgreSQL then joins labelled
#: locations in nested loops that compare every row with every other. With nested loops off,
#: it hashes the equality joins and keeps nested loops only where nothing else works: the
#: clustering function and the point-in-polygon index probes. Partitionwise aggregation lets
#: the site visits sum each day table of the hour counts on its own, in a smaller hash table.
PLANNER_SETTINGS = (("enable_nestloop", "off"), ("enable_partitionwise_aggregate", "on"))


#: Maximum number of decimal places of a score summed as a whole number. A scaled score times
#: an event count then stays within bigint for any count below 9 million.
MAX_SCALED_PLACES = 12

#: Largest scaled score multiplied as an integer rather than a bigint. PostgreSQL sums integers
#: into a plain bigint, and bigints into a larger state it allocates per group, which took
#: about a fifth of the medium week's site visits.
MAX_INTEGER_SCORE = 1000

#: Maximum number of dates in a range whose call days are counted as bits. Each row copies
#: the whole bit string, so longer ranges count distinct dates instead.
MAX_DAY_BITS = 1000


@attrs.frozen
class ScoreTable:
    """Scores of the hours or the days of the week, as ``site_visits`` sums them in SQL.

    Scores are summed exactly, so that the sum of n events' scores equals n times the score,
    as the hour counts compute it. Summed in float8, ten events scoring 0.1 give
    0.9999999999999999 and one hour row of ten gives 1.0, so a mean score on a label's edge
    would fall on different sides of it. Scores with at most ``MAX_SCALED_PLACES`` decimal
    places are multiplied by 10 to that number into whole numbers, which PostgreSQL multiplies
    and sums in about half the time of numeric ones. Other scores are summed as numeric.
    """

    scores: tuple[Decimal, ...]
    #: Decimal places scaled away, or None when the scores are summed as numeric.
    places: int | None

    @classmethod
    def of(cls, scores: list[float]) -> ScoreTable:
        """Return the table of ``scores``, scaled to whole numbers when they allow it."""
        exact = tuple(Decimal(repr(float(score))) for score in scores)
        places = max(max(-int(value.as_tuple().exponent), 0) for value in exact)
        if places > MAX_SCALED_PLACES:
            return cls(exact, None)
        return cls(exact, places)

    @property
    def scale(self) -> int:
        """Return the factor between a summed score and the score."""
        return 1 if self.places is None else 10**self.places

    @property
    def sums_as_integers(self) -> bool:
        """Return whether the scaled scores are small enough to multiply as integers."""
        return self.places is not None and all(
            abs(score * self.scale) <= MAX_INTEGER_SCORE for score in self.scores
        )

    def lookup(self, index: ColumnElement[Any]) -> ColumnElement[Any]:
        """Return the summed form of the score at ``index`` (counted from 0) in SQL."""
        if self.places is None:
            items = [literal(score, Numeric) for score in self.scores]
        else:
            kind = Integer if self.sums_as_integers else BigInteger
            items = [literal(int(score * self.scale), kind) for score in self.scores]
        return postgresql.array(items)[index + 1]

    def weighted(self, index: ColumnElement[Any], count: ColumnElement[Any]) -> ColumnElement[Any]:
        """Return the summed form of the score at ``index`` times an event ``count`` in SQL."""
        # NOTE: as integers, a row of more than (2**31 - 1) / MAX_INTEGER_SCORE events (about
        # 2.1 million) overflows and fails the query. A row is one subscriber at one cell in
        # one hour or day.
        return self.lookup(index) * (cast(count, Integer) if self.sums_as_integers else count)


def _at_sites(cell_days: FromClause) -> Select[Any]:
    """Join rows per cell and ``day`` to the site versions of their cell in service that day.

    Each site version is named by its row's primary key, ``site_row``.

    Unlike the core's ``versioned-site`` unit, the cell versions' own service dates are not
    checked, as in FlowKit 1.34, so a row yields one row per version of its cell.
    """
    in_service = and_(
        or_(
            sites.c.date_of_first_service.is_(None),
            sites.c.date_of_first_service <= cell_days.c.day,
        ),
        or_(
            sites.c.date_of_last_service.is_(None),
            cell_days.c.day <= sites.c.date_of_last_service,
        ),
    )
    return (
        select(
            *(c for c in cell_days.c if c.name != "location_id"),
            sites.c.site_id.label("site_row"),
        )
        .join_from(cell_days, cells, cells.c.id == cell_days.c.location_id)
        .join(sites, and_(sites.c.id == cells.c.site_id, in_service))
    )


def _date_span(start: dt.datetime, end: dt.datetime) -> tuple[dt.date, int]:
    """Return the first date of ``[start, end)`` and the number of dates it touches."""
    first = start.date()
    last = (end - dt.timedelta(microseconds=1)).date()
    return first, (last - first).days + 1


def _call_days(day: ColumnElement[Any], start: dt.datetime, end: dt.datetime) -> Any:
    """Return the aggregate that counts the distinct dates ``day`` of a group's rows.

    Up to ``MAX_DAY_BITS`` dates, each row sets its date's bit in a string of one bit per
    date of the range, and the group's bits are combined and counted. Unlike
    ``count(DISTINCT day)``, that lets PostgreSQL hash the grouping instead of sorting it.
    """
    first_day, day_total = _date_span(start, end)
    if day_total > MAX_DAY_BITS:
        return func.count(day.distinct())
    no_days = cast(literal("0" * day_total), postgresql.BIT(day_total))
    # The dates are UTC dates, as in FlowDB's sessions, which run in UTC.
    one_day = func.set_bit(no_days, day - literal(first_day, Date), 1)
    return func.bit_count(func.bit_or(one_day), type_=BigInteger)


def site_visits(
    spec: ScoringFields, context: BuildContext, start: dt.datetime, end: dt.datetime
) -> Select[Any]:
    """Select call days and mean event scores per subscriber and versioned site.

    Events are first summed per subscriber, cell and day (the event count and the sum of
    hour scores), so only those far fewer rows are joined to sites. FlowDB's hour counts give
    those sums without reading the events, when the spec allows. A mean over a site is then
    the sum of these sums over the sum of the counts. One grouping per subscriber and versioned
    site computes the sums and the call days together (see ``_call_days``).
    """
    hour_scores = ScoreTable.of(list(spec.tower_hour_of_day_scores))
    hour_counts = context.cell_counts(spec, start=start, end=end, hourly=True, partition_keys=True)
    if hour_counts is not None:
        # FlowDB's hour counts: every event of a row has the same hour, so the same score.
        # Grouping by the count tables' keys sums each day table on its own, in a small hash table.
        events = hour_counts.subquery("events")
        event_count: ColumnElement[Any] = events.c.event_count
        day: ColumnElement[Any] = events.c.day
        keys: list[ColumnElement[Any]] = [events.c.event_type, day]
    else:
        events = context.events(
            start=start,
            end=end,
            event_types=spec.event_types,
            subscriber_subset=spec.subscriber_subset,
        ).subquery("events")
        event_count = literal(1, Integer)
        day = cast(events.c.datetime, Date)
        keys = [day]
    # date_part returns a float8, faster to compute than the numeric that EXTRACT returns.
    hour = cast(func.date_part("hour", events.c.datetime), Integer)
    cell_days = (
        select(
            events.c.subscriber,
            events.c.location_id,
            day.label("day"),
            # Integers sum into a plain bigint (see MAX_INTEGER_SCORE).
            func.sum(cast(event_count, Integer)).label("event_count"),
            func.sum(hour_scores.weighted(hour, event_count)).label("hour_score_sum"),
        )
        .group_by(*keys, events.c.subscriber, events.c.location_id)
        .subquery("cell_days")
    )
    located = _at_sites(cell_days).subquery("site_days")
    day_of_week = cast(func.date_part("dow", located.c.day), Integer)
    day_scores = ScoreTable.of(spec.tower_day_of_week_scores.in_dow_order())
    site = [located.c.subscriber, located.c.site_row]
    summed = (
        select(
            *site,
            _call_days(located.c.day, start, end).label("call_days"),
            func.sum(located.c.event_count).label("event_count"),
            func.sum(located.c.hour_score_sum).label("hour_score_sum"),
            func.sum(day_scores.weighted(day_of_week, located.c.event_count)).label(
                "day_score_sum"
            ),
        )
        .group_by(*site)
        .subquery("site_sums")
    )
    events_at_site = cast(summed.c.event_count, Float)

    def mean(score_sum: ColumnElement[Any], scores: ScoreTable) -> ColumnElement[Any]:
        return cast(score_sum, Float) / (events_at_site * float(scores.scale))

    return select(
        summed.c.subscriber,
        sites.c.id.label("site_id"),
        sites.c.version,
        func.ST_X(sites.c.geom_point).label("lon"),
        func.ST_Y(sites.c.geom_point).label("lat"),
        summed.c.call_days,
        mean(summed.c.hour_score_sum, hour_scores).label("score_hour"),
        mean(summed.c.day_score_sum, day_scores).label("score_dow"),
    ).join_from(summed, sites, sites.c.site_id == summed.c.site_row)


def _site_arrays(sites: FromClause, name: str) -> FromClause:
    """Return one row per subscriber with the sites' columns as arrays, in clustering order."""
    # One sort of all site rows orders every array. With an ORDER BY in each array_agg,
    # PostgreSQL 15 sorts each subscriber's rows seven times, up to a tenth of the stage.
    # NOTE: the arrays keep the subquery's order because PostgreSQL 15 never flattens a
    # subquery with ORDER BY and cannot split array_agg over parallel workers. PostgreSQL 16
    # can split it, so there an ORDER BY in each array_agg is the safe form.
    ordered = (
        select(sites)
        .order_by(sites.c.subscriber, sites.c.call_days.desc(), sites.c.site_id, sites.c.version)
        .subquery(f"{name}_ordered_sites")
    )
    return (
        select(
            ordered.c.subscriber,
            func.array_agg(ordered.c.site_id).label("site_ids"),
            func.array_agg(ordered.c.version).label("versions"),
            func.array_agg(ordered.c.lon).label("lons"),
            func.array_agg(ordered.c.lat).label("lats"),
            func.array_agg(ordered.c.call_days).label("call_days"),
            func.array_agg(ordered.c.score_hour).label("score_hours"),
            func.array_agg(ordered.c.score_dow).label("score_dows"),
        )
        .group_by(ordered.c.subscriber)
        .subquery(f"{name}_subscriber_sites")
    )


def _clustered(arrays: FromClause, radius_km: float, name: str) -> FromClause:
    """Return the clustering of one row of ``arrays``: one row per site, ``site`` its position."""
    return (
        func.public.hartigan_leader_clusters(
            arrays.c.site_ids,
            arrays.c.versions,
            arrays.c.lons,
            arrays.c.lats,
            arrays.c.call_days,
            literal(radius_km, Float),
        )
        .table_valued(
            column("site_id", Text),
            column("version", Integer),
            column("cluster", Integer),
            column("cluster_lon", Float),
            column("cluster_lat", Float),
            column("cluster_call_days", BigInteger),
            with_ordinality="site",
        )
        .render_derived(name=f"{name}_clustered", with_types=False)
    )


def cluster_members(sites: FromClause, radius_km: float, name: str) -> Select[Any]:
    """Select each subscriber's sites with their cluster: number, centre and total call days."""
    arrays = _site_arrays(sites, name)
    clustered = _clustered(arrays, radius_km, name).lateral(f"{name}_clustered")
    members = [member for member in clustered.c if member.key != "site"]
    return select(arrays.c.subscriber, *members).join_from(arrays, clustered, true())


def scored_clusters(
    spec: ScoringFields,
    context: BuildContext,
    start: dt.datetime,
    end: dt.datetime,
) -> Select[Any]:
    """Select each subscriber's clusters kept by the call threshold, with centre and scores.

    Columns: ``subscriber``, ``cluster``, ``lon``, ``lat``, ``score_hour``, ``score_dow``.
    """
    name = "meaningful"
    sites = site_visits(spec, context, start, end).subquery(f"{name}_site_visits")
    arrays = _site_arrays(sites, name)
    # The function averages the scores per cluster in its own loop over the sites. Grouping
    # per-site rows by cluster in a lateral subquery instead took twice as long (8.8 s
    # against 4.0 s for the medium week's 20,000 subscribers).
    scored = (
        func.public.hartigan_leader_cluster_scores(
            arrays.c.lons,
            arrays.c.lats,
            arrays.c.call_days,
            arrays.c.score_hours,
            arrays.c.score_dows,
            literal(spec.tower_cluster_radius, Float),
        )
        .table_valued(
            column("cluster", Integer),
            column("cluster_lon", Float),
            column("cluster_lat", Float),
            column("cluster_call_days", BigInteger),
            column("score_hour", Float),
            column("score_dow", Float),
        )
        .render_derived(name=f"{name}_scored", with_types=False)
        .lateral(f"{name}_scored")
    )
    return (
        select(
            arrays.c.subscriber,
            scored.c.cluster,
            scored.c.cluster_lon.label("lon"),
            scored.c.cluster_lat.label("lat"),
            scored.c.score_hour,
            scored.c.score_dow,
        )
        .join_from(arrays, scored, true())
        .where(scored.c.cluster_call_days >= spec.tower_cluster_call_threshold)
    )


def _inside(shape: LabelShape, point: ColumnElement[Any]) -> ColumnElement[bool]:
    """Return whether the label shape strictly contains ``point`` (both without an SRID)."""
    return func.ST_Contains(func.ST_GeomFromText(literal(shape.geometry().wkt, Text)), point)


def _has_label(
    labels: dict[str, LabelShape], label: str, clusters: FromClause
) -> ColumnElement[bool]:
    """Return the condition that a cluster's score point has ``label``."""
    point = func.ST_MakePoint(clusters.c.score_hour, clusters.c.score_dow)
    if label != UNKNOWN_LABEL:
        return _inside(labels[label], point)
    if not labels:
        return true()
    in_any = or_(*(_inside(shape, point) for shape in labels.values()))
    return not_(func.coalesce(in_any, false()))


def meaningful_locations(
    labels: dict[str, LabelShape], label: str, clusters: FromClause
) -> Select[Any]:
    """Select the clusters labelled ``label``: subscriber, label, cluster, centre, n_clusters."""
    return select(
        clusters.c.subscriber,
        literal(label, Text).label("label"),
        clusters.c.cluster,
        clusters.c.lon,
        clusters.c.lat,
        func.count().over(partition_by=clusters.c.subscriber).label("n_clusters"),
    ).where(_has_label(labels, label, clusters))


def materialized(query: Select[Any], name: str) -> FromClause:
    """Return ``query`` as a CTE that PostgreSQL computes once.

    Labelled locations are joined to each other and to regions. Row estimates after the
    clustering function are poor, so an inlined query could be re-run once per outer row and
    test every label shape again each time.
    """
    return query.cte(name).prefix_with("MATERIALIZED")


def regions_of(spec: ClusterFields, context: BuildContext, name: str) -> FromClause:
    """Return the polygons of the spec's aggregation unit (its columns and ``geom``).

    Raises InvalidSpecError when the unit has no polygons (lon-lat, for example).
    """
    unit = context.unit(spec.aggregation_unit)
    if not unit.polygons or unit.geometry is None:
        raise InvalidSpecError(
            [
                f"{context.path}.aggregation_unit: {spec.aggregation_unit!r} has no region "
                "polygons to place clusters in; use admin0, admin1, admin2 or admin3"
            ]
        )
    return unit.geometry().subquery(name)


def region_columns(spec: ClusterFields, context: BuildContext) -> tuple[str, ...]:
    """Return the output columns of the spec's aggregation unit, e.g. ``("pcod",)``."""
    return context.unit_columns(spec.aggregation_unit)


def in_regions(
    spec: ClusterFields, context: BuildContext, locations: FromClause, name: str
) -> FromClause:
    """Return ``locations`` with the unit columns of the region that contains each centre.

    The unit columns are null for a centre outside every polygon (or without coordinates).

    Each distinct centre is tested once: a point-in-polygon test against detailed boundaries
    costs far more than the join back, and many clusters share a centre (every cluster of one
    site lies on that site).
    """
    regions = regions_of(spec, context, f"{name}_regions")
    names = region_columns(spec, context)
    centres = select(locations.c.lon, locations.c.lat).distinct().subquery(f"{name}_centres")
    placed = materialized(
        select(centres.c.lon, centres.c.lat, *(regions.c[column] for column in names)).join_from(
            centres, regions, contains_centre(regions, centres)
        ),
        f"{name}_placed",
    )
    same_centre = and_(placed.c.lon == locations.c.lon, placed.c.lat == locations.c.lat)
    # An outer join, as in FlowKit: a cluster outside every polygon keeps null unit columns.
    return (
        select(*locations.c, *(placed.c[column] for column in names))
        .join_from(locations, placed, same_centre, isouter=True)
        .subquery(f"{name}_in_regions")
    )


def contains_centre(regions: FromClause, locations: FromClause) -> ColumnElement[bool]:
    """Return the condition that a region's polygon contains a location's cluster centre."""
    centre = func.ST_SetSRID(func.ST_MakePoint(locations.c.lon, locations.c.lat), 4326)
    return func.ST_Within(centre, regions.c.geom)
