"""``meaningful_locations_aggregate``: how many subscribers have a labelled place in each region.

Each subscriber with at least one cluster labelled ``label`` counts 1 in total, split evenly
over those clusters: each adds ``1 / n_clusters`` to the region containing its centre. The
values are fractional; rows of ``value`` at or below the redaction threshold are not released.
See ``flowcore_meaningful.pipeline`` for the clustering, scoring and labelling steps.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

import attrs
from sqlalchemy import Numeric, Select, func, literal, select

from flowcore.kinds import UNIT_INDEX, QueryKind, redact_column
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

__all__ = ["MeaningfulLocationsAggregate", "build_meaningful_locations_aggregate", "KIND"]


@attrs.frozen(kw_only=True)
class MeaningfulLocationsAggregate(Aggregate, DateRangeFields, ClusterFields):
    """Number of subscribers per region whose clusters carry one label."""

    query_kind: ClassVar[str] = "meaningful_locations_aggregate"
    description: ClassVar[str] = (
        "Number of subscribers per region with a meaningful location (e.g. home) of one label."
    )

    label: str

    def __attrs_post_init__(self) -> None:
        check_date_range(self.start_date, self.end_date, "start_date", "end_date")
        check_label(self.labels, self.label, "label")


def build_meaningful_locations_aggregate(
    spec: MeaningfulLocationsAggregate, context: BuildContext
) -> Select[Any]:
    """Select ``label``, the unit columns and ``value``, the fractional subscriber count."""
    clusters = context.result_of(clusters_of(spec, spec.start_date, spec.end_date))
    locations = materialized(meaningful_locations(spec.labels, spec.label, clusters), "locations")
    placed = in_regions(spec, context, locations, "locations")
    unit = [placed.c[name] for name in region_columns(spec, context)]
    # An exact decimal, as FlowKit's sum of 1. / n_clusters.
    share = literal(Decimal(1), Numeric) / placed.c.n_clusters
    return select(placed.c.label, *unit, func.sum(share).label("value")).group_by(
        placed.c.label, *unit
    )


KIND = QueryKind(
    spec=MeaningfulLocationsAggregate,
    build=build_meaningful_locations_aggregate,
    version="5",
    stages=lambda spec: (clusters_of(spec, spec.start_date, spec.end_date),),
    top_level=True,
    redactor=redact_column("value"),
    planner_settings=PLANNER_SETTINGS,
    index_columns=((UNIT_INDEX,),),
    example={
        "query_kind": "meaningful_locations_aggregate",
        "start_date": "2016-01-01",
        "end_date": "2016-01-08",
        "aggregation_unit": "admin1",
        "label": "home",
        **EXAMPLE_SCORES,
    },
)
