"""``labelled_spatial_aggregate``: subscriber counts per location and label.

Each subscriber of the location query is counted at their location under their label from
``labels``, a label query such as ``mobility_classification``. Subscribers the labels have
no row for are counted under a null label. Release rule: a location is released only when
every one of its labels counts more than the redaction threshold (15). Otherwise all its rows
are withheld. Rows at a null location are never released.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from sqlalchemy import Select

from flowcore.kinds import UNIT_INDEX, QueryKind, count_by_label, redact_labelled
from flowcore.model.base import SubscriberLabels
from flowcore.sql.context import BuildContext
from flowcore_locations.inputs import unit_columns_of
from flowcore_locations.spatial_aggregate import SpatialAggregate

__all__ = ["LabelledSpatialAggregate", "build_labelled_spatial_aggregate", "KIND"]


@attrs.frozen(kw_only=True)
class LabelledSpatialAggregate(SpatialAggregate):
    """Subscriber counts per location and label, at the aggregation unit of the locations.

    The locations come first, so the result takes their unit, whatever the labels' own unit.
    """

    query_kind: ClassVar[str] = "labelled_spatial_aggregate"
    description: ClassVar[str] = (
        "The number of subscribers at each location of a location query, per label."
    )

    labels: SubscriberLabels


def build_labelled_spatial_aggregate(
    spec: LabelledSpatialAggregate, context: BuildContext
) -> Select[Any]:
    """Select the unit columns, ``value_label`` and ``value``, the subscribers with that label."""
    locations = context.result_of(spec.locations).alias("locations")
    labels = context.result_of(spec.labels).alias("labels")
    return count_by_label(locations, labels, unit_columns_of(context, spec))


def _coalesced(first_day: int) -> dict[str, Any]:
    """Return an example ``coalesced_location`` over three days from ``first_day``."""
    visits = {
        "query_kind": "location_visits",
        "locations": [
            {
                "query_kind": "daily_location",
                "date": f"2016-01-0{day}",
                "method": "last",
                "aggregation_unit": "admin3",
            }
            for day in range(first_day, first_day + 3)
        ],
    }
    majority = {"query_kind": "majority_location", "subscriber_location_weights": visits}
    return {
        "query_kind": "coalesced_location",
        "preferred_location": {**majority, "include_unlocatable": True},
        "fallback_location": majority,
        "subscriber_location_weights": visits,
        "weight_threshold": 2,
    }


KIND = QueryKind(
    spec=LabelledSpatialAggregate,
    build=build_labelled_spatial_aggregate,
    version="1",
    top_level=True,
    redactor=redact_labelled,
    index_columns=((UNIT_INDEX,),),
    example={
        "query_kind": "labelled_spatial_aggregate",
        "locations": _coalesced(4),
        "labels": {
            "query_kind": "mobility_classification",
            "locations": [_coalesced(1), _coalesced(4)],
            "stay_length_threshold": 2,
        },
    },
)
