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
from typing import Any, ClassVar

import attrs
from sqlalchemy import Float, FromClause, Select, func, literal, select

from flowcore.kinds import QueryKind, redact_column
from flowcore.model.base import Aggregate
from flowcore.model.fields import DateRangeFields, check_date_range
from flowcore.sql.context import BuildContext
from flowcore_meaningful.examples import EXAMPLE_SCORES
from flowcore_meaningful.fields import ClusterFields, check_label
from flowcore_meaningful.pipeline import (
    PLANNER_SETTINGS,
    in_regions,
    materialized,
    meaningful_locations,
    region_columns,
    scored_clusters,
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


def _od_matrix(
    spec: ClusterFields,
    context: BuildContext,
    origins: FromClause,
    destinations: FromClause,
) -> Select[Any]:
    """Select label and region columns ``_from``/``_to`` and the fractional ``value``."""
    names = region_columns(spec, context)
    origins_placed = in_regions(spec, context, origins, "origins")
    destinations_placed = in_regions(spec, context, destinations, "destinations")
    share = literal(1.0, Float) / (origins_placed.c.n_clusters * destinations_placed.c.n_clusters)
    grouped = [
        origins_placed.c.label.label("label_from"),
        destinations_placed.c.label.label("label_to"),
        *(origins_placed.c[name].label(f"{name}_from") for name in names),
        *(destinations_placed.c[name].label(f"{name}_to") for name in names),
    ]
    return (
        select(*grouped, func.sum(share).label("value"))
        .join_from(
            origins_placed,
            destinations_placed,
            origins_placed.c.subscriber == destinations_placed.c.subscriber,
        )
        .group_by(*grouped)
    )


def build_between_labels(
    spec: MeaningfulLocationsBetweenLabelODMatrix, context: BuildContext
) -> Select[Any]:
    """Select the OD matrix between the clusters labelled ``label_a`` and ``label_b``."""
    clusters = scored_clusters(spec, context, spec.start_date, spec.end_date, "meaningful")
    origins = materialized(meaningful_locations(spec.labels, spec.label_a, clusters), "origins")
    destinations = materialized(
        meaningful_locations(spec.labels, spec.label_b, clusters), "destinations"
    )
    return _od_matrix(spec, context, origins, destinations)


def build_between_dates(
    spec: MeaningfulLocationsBetweenDatesODMatrix, context: BuildContext
) -> Select[Any]:
    """Select the OD matrix between the ``label`` clusters of period A and of period B."""
    clusters_a = scored_clusters(spec, context, spec.start_date_a, spec.end_date_a, "period_a")
    clusters_b = scored_clusters(spec, context, spec.start_date_b, spec.end_date_b, "period_b")
    origins = materialized(meaningful_locations(spec.labels, spec.label, clusters_a), "origins")
    destinations = materialized(
        meaningful_locations(spec.labels, spec.label, clusters_b), "destinations"
    )
    return _od_matrix(spec, context, origins, destinations)


BETWEEN_LABELS_KIND = QueryKind(
    spec=MeaningfulLocationsBetweenLabelODMatrix,
    build=build_between_labels,
    version="3",
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
    version="3",
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
