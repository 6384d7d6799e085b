"""``unique_locations``: every distinct location each subscriber was seen at in a date range."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from sqlalchemy import Select, select

from flowcore.kinds import UNIT_INDEX, QueryKind
from flowcore.model.base import SubscriberLocationSet
from flowcore.model.fields import DateRangeFields, EventFilters, Sampling, SpatialFields
from flowcore.sql.context import BuildContext

__all__ = ["UniqueLocations", "build_unique_locations", "KIND"]


@attrs.frozen(kw_only=True)
class UniqueLocations(SubscriberLocationSet, SpatialFields, EventFilters, DateRangeFields):
    """The set of locations each subscriber visited over a date range."""

    query_kind: ClassVar[str] = "unique_locations"
    description: ClassVar[str] = "The distinct locations each subscriber visited in a range."

    sampling: Sampling | None = None


def build_unique_locations(spec: UniqueLocations, context: BuildContext) -> Select[Any]:
    """Select the distinct ``subscriber`` and unit-column pairs seen in the range."""
    # FlowDB's per-cell counts have a row wherever a subscriber had an event at a cell on a
    # day (or, with an hour window, in an hour), which is all this kind needs.
    counts = context.cell_counts(spec, start=spec.start_date, end=spec.end_date)
    if counts is not None:
        events = context.locate(counts, spec).subquery("located_counts")
    else:
        events = context.located_events(spec, start=spec.start_date, end=spec.end_date).subquery()
    return select(
        events.c.subscriber, *(events.c[name] for name in context.unit_columns(spec))
    ).distinct()


KIND = QueryKind(
    spec=UniqueLocations,
    build=build_unique_locations,
    version="1",
    index_columns=(("subscriber",), (UNIT_INDEX,)),
    example={
        "query_kind": "unique_locations",
        "start_date": "2016-01-01",
        "end_date": "2016-01-02",
        "aggregation_unit": "admin3",
    },
)
