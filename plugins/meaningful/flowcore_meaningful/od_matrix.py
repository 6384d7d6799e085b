"""Origin-destination matrices between meaningful locations.

``meaningful_locations_between_label_od_matrix`` pairs each subscriber's clusters labelled
``label_a`` with their clusters labelled ``label_b`` over one date range (for example home to
work). ``meaningful_locations_between_dates_od_matrix`` pairs a subscriber's clusters labelled
``label`` in period A with those in period B (for example home before and after an event).

A subscriber with n_a clusters on the origin side and n_b on the destination side counts 1 in
total, split evenly: each pair adds ``1 / (n_a * n_b)`` to (origin region, destination region).
A cluster outside every region polygon counts with null region columns on its side, as in
FlowKit 1.34.

Release rule, as in FlowKit 1.34: the between-labels matrix releases only rows whose ``value`` is
above the redaction threshold, and the between-dates matrix releases every row.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, ClassVar

import attrs
from sqlalchemy import FromClause, Numeric, Select, func, literal, select

from flowcore.kinds import QueryKind, redact_column
from flowcore.model.base import Aggregate
from flowcore.model.fields import DateRangeFields, check_date_range
from flowcore.sql.context import BuildContext
from flowcore_meaningful.clusters import clusters_of
from flowcore_meaningful.examples import EXAMPLE_SCORES
from flowcore_meaningful.fields import ClusterFields, check_label
from flowcore_meaningful.pipeline import (
    PLANNER_SETTINGS,
    in_regions,
    materialized,
    meaningful_locations,
    region_columns,
)

__all__ = [
    "MeaningfulLocationsBetweenLabelODMatrix",
    "MeaningfulLocationsBetweenDatesODMatrix",
    "build_between_labels",
    "build_between_dates",
    "BETWEEN_LABELS_KIND",
    "BETWEEN_DATES_KIND",
]


@attrs.frozen(kw_only=True)
class MeaningfulLocationsBetweenLabelODMatrix(Aggregate, DateRangeFields, ClusterFields):
    """Subscribers moving between their places of two labels, per pair of regions."""

    query_kind: ClassVar[str] = "meaningful_locations_between_label_od_matrix"
    description: ClassVar[str] = (
        "Origin-destination matrix between subscribers' meaningful locations of two labels."
    )

    label_a: str
    label_b: str

    def __attrs_post_init__(self) -> None:
        check_date_range(self.start_date, self.end_date, "start_date", "end_date")
        check_label(self.labels, self.label_a, "label_a")
        check_label(self.labels, self.label_b, "label_b")


@attrs.frozen(kw_only=True)
class MeaningfulLocationsBetweenDatesODMatrix(Aggregate, ClusterFields):
    """Subscribers whose place of one label moved between two periods, per pair of regions."""

    query_kind: ClassVar[str] = "meaningful_locations_between_dates_od_matrix"
    description: ClassVar[str] = (
        "Origin-destination matrix between subscribers' meaningful locations in two periods."
    )

    start_date_a: dt.datetime
    end_date_a: dt.datetime
    start_date_b: dt.datetime
    end_date_b: dt.datetime
    label: str

    def __attrs_post_init__(self) -> None:
        check_date_range(self.start_date_a, self.end_date_a, "start_date_a", "end_date_a")
        check_date_range(self.start_date_b, self.end_date_b, "start_date_b", "end_date_b")
        check_label(self.labels, self.label, "label")


def _per_region(placed: FromClause, names: tuple[str, ...], side: str) -> FromClause:
    """Return each subscriber's clusters of one side counted per region, with ``n_clusters``."""
    keys = [placed.c.subscriber, placed.c.label, placed.c.n_clusters]
    keys.extend(placed.c[name] for name in names)
    return (
        select(*keys, func.count().label("clusters")).group_by(*keys).subquery(f"{side}_per_region")
    )


def _od_matrix(
    spec: ClusterFields,
    context: BuildContext,
    origins: FromClause,
    destinations: FromClause,
) -> Select[Any]:
    """Select label and region columns ``_from``/``_to`` and the fractional ``value``.

    Each pair of clusters adds ``1 / (n_a * n_b)``. The clusters are counted per subscriber and
    region on each side first, so a pair of regions adds ``c_a * c_b / (n_a * n_b)`` at once:
    the medium week had 12.6 million pairs of clusters but far fewer pairs of regions.
    """
    names = region_columns(spec, context)
    origin = _per_region(in_regions(spec, context, origins, "origins"), names, "origins")
    destination = _per_region(
        in_regions(spec, context, destinations, "destinations"), names, "destinations"
    )
    # Exact decimals as in FlowKit, whose sum of 1. / (n_a * n_b) is a numeric: c_a * c_b times
    # the same rounded quotient equals that many quotients summed.
    pair_share = literal(Decimal(1), Numeric) / (origin.c.n_clusters * destination.c.n_clusters)
    share = (origin.c.clusters * destination.c.clusters) * pair_share
    grouped = [
        origin.c.label.label("label_from"),
        destination.c.label.label("label_to"),
        *(origin.c[name].label(f"{name}_from") for name in names),
        *(destination.c[name].label(f"{name}_to") for name in names),
    ]
    return (
        select(*grouped, func.sum(share).label("value"))
        .join_from(origin, destination, origin.c.subscriber == destination.c.subscriber)
        .group_by(*grouped)
    )


def build_between_labels(
    spec: MeaningfulLocationsBetweenLabelODMatrix, context: BuildContext
) -> Select[Any]:
    """Select the OD matrix between the clusters labelled ``label_a`` and ``label_b``."""
    clusters = context.result_of(clusters_of(spec, spec.start_date, spec.end_date))
    origins = materialized(meaningful_locations(spec.labels, spec.label_a, clusters), "origins")
    destinations = materialized(
        meaningful_locations(spec.labels, spec.label_b, clusters), "destinations"
    )
    return _od_matrix(spec, context, origins, destinations)


def build_between_dates(
    spec: MeaningfulLocationsBetweenDatesODMatrix, context: BuildContext
) -> Select[Any]:
    """Select the OD matrix between the ``label`` clusters of period A and of period B."""
    clusters_a = context.result_of(clusters_of(spec, spec.start_date_a, spec.end_date_a))
    clusters_b = context.result_of(clusters_of(spec, spec.start_date_b, spec.end_date_b))
    origins = materialized(meaningful_locations(spec.labels, spec.label, clusters_a), "origins")
    destinations = materialized(
        meaningful_locations(spec.labels, spec.label, clusters_b), "destinations"
    )
    return _od_matrix(spec, context, origins, destinations)


BETWEEN_LABELS_KIND = QueryKind(
    spec=MeaningfulLocationsBetweenLabelODMatrix,
    build=build_between_labels,
    version="5",
    stages=lambda spec: (clusters_of(spec, spec.start_date, spec.end_date),),
    top_level=True,
    redactor=redact_column("value"),
    planner_settings=PLANNER_SETTINGS,
    index_columns=(),
    example={
        "query_kind": "meaningful_locations_between_label_od_matrix",
        "start_date": "2016-01-01",
        "end_date": "2016-01-08",
        "aggregation_unit": "admin1",
        "label_a": "home",
        "label_b": "work",
        **EXAMPLE_SCORES,
    },
)

BETWEEN_DATES_KIND = QueryKind(
    spec=MeaningfulLocationsBetweenDatesODMatrix,
    build=build_between_dates,
    version="5",
    stages=lambda spec: (
        clusters_of(spec, spec.start_date_a, spec.end_date_a),
        clusters_of(spec, spec.start_date_b, spec.end_date_b),
    ),
    top_level=True,
    # NOTE: unredacted, as FlowKit 1.34 releases it, although its values count subscribers as
    # the between-labels matrix does. Small counts are released.
    redactor=None,
    planner_settings=PLANNER_SETTINGS,
    index_columns=(),
    example={
        "query_kind": "meaningful_locations_between_dates_od_matrix",
        "start_date_a": "2016-01-01",
        "end_date_a": "2016-01-04",
        "start_date_b": "2016-01-04",
        "end_date_b": "2016-01-08",
        "aggregation_unit": "admin1",
        "label": "home",
        **EXAMPLE_SCORES,
    },
)
