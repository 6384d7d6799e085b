"""``meaningful_clusters``: each subscriber's scored clusters of sites, before labelling.

The shared first stage of the meaningful-locations kinds (steps 1 to 3 of
``flowcore_meaningful.pipeline``): the site visits of a date range, their Hartigan leader
clusters and each cluster's mean hour and day-of-week scores. Labels and regions are not part
of it, so every meaningful-locations query with the same dates, scores, radius, threshold and
events reads one stored result: for example the aggregates of two labels and the matrix between
them. One row per subscriber and cluster: ``subscriber``, ``cluster``, ``lon``, ``lat``,
``score_hour`` and ``score_dow``.

The kind is per subscriber and is not accepted by the HTTP API. The Python API runs it like any
other kind.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import attrs
from sqlalchemy import Select

from flowcore.kinds import QueryKind
from flowcore.model.base import QuerySpec
from flowcore.model.fields import DateRangeFields
from flowcore.sql.context import BuildContext
from flowcore_meaningful.examples import EXAMPLE_SCORES
from flowcore_meaningful.fields import ScoringFields
from flowcore_meaningful.pipeline import PLANNER_SETTINGS, scored_clusters

__all__ = ["MeaningfulClusters", "clusters_of", "build_meaningful_clusters", "KIND"]


@attrs.frozen(kw_only=True)
class MeaningfulClusters(QuerySpec, DateRangeFields, ScoringFields):
    """Each subscriber's clusters of visited sites with their centres and mean scores."""

    query_kind: ClassVar[str] = "meaningful_clusters"
    description: ClassVar[str] = (
        "Each subscriber's clusters of visited sites, with centre and mean hour and "
        "day-of-week scores, before labelling."
    )


def clusters_of(spec: ScoringFields, start: dt.datetime, end: dt.datetime) -> MeaningfulClusters:
    """Return the clusters stage that a meaningful-locations spec reads for ``[start, end)``."""
    # Every scoring field is copied, so a field added to ScoringFields reaches the stage too.
    scoring = {field.name: getattr(spec, field.name) for field in attrs.fields(ScoringFields)}
    return MeaningfulClusters(start_date=start, end_date=end, **scoring)


def build_meaningful_clusters(spec: MeaningfulClusters, context: BuildContext) -> Select[Any]:
    """Select each subscriber's clusters: centre (``lon``, ``lat``) and mean scores."""
    return scored_clusters(spec, context, spec.start_date, spec.end_date)


KIND = QueryKind(
    spec=MeaningfulClusters,
    build=build_meaningful_clusters,
    version="1",
    planner_settings=PLANNER_SETTINGS,
    example={
        "query_kind": "meaningful_clusters",
        "start_date": "2016-01-01",
        "end_date": "2016-01-08",
        **{key: value for key, value in EXAMPLE_SCORES.items() if key != "labels"},
    },
)
