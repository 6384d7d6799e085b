"""``labelled_flows``: subscribers moving between two location queries, counted per label.

The two sides are joined on ``subscriber`` with ``join_type`` as in ``flows``, and each joined
subscriber is counted under their label from ``labels``, a label query such as
``mobility_classification``. Subscribers the labels have no row for are counted under a null
label. With an outer join, a subscriber present on one side only keeps the label of that
subscriber. Release rule: a pair of locations is released only when every one of its labels
counts more than the redaction threshold (15). Otherwise all its rows are withheld. Rows with
a null location on either side, which outer joins give, are never released.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from sqlalchemy import Select, func, select

from flowcore.kinds import LABEL_COLUMN, UNIT_INDEX, QueryKind, redact_labelled
from flowcore.model.base import SubscriberLabels
from flowcore.sql.context import BuildContext
from flowcore_flows.flows import FROM_SUFFIX, TO_SUFFIX, Flows, join_sides, unit_columns_of

__all__ = ["LabelledFlows", "build_labelled_flows", "LABELLED_FLOWS"]


@attrs.frozen(kw_only=True)
class LabelledFlows(Flows):
    """Subscriber counts per pair of locations and label.

    The sides come first, so the result takes their unit, whatever the labels' own unit.
    """

    query_kind: ClassVar[str] = "labelled_flows"
    description: ClassVar[str] = (
        "The number of subscribers per pair of locations in two location queries, per label."
    )

    labels: SubscriberLabels


def build_labelled_flows(spec: LabelledFlows, context: BuildContext) -> Select[Any]:
    """Select ``<col>_from``, ``<col>_to`` for each unit column, ``value_label`` and ``value``."""
    unit = unit_columns_of(spec, context)
    origin, destination, joined = join_sides(
        context, spec.from_location, spec.to_location, spec.join_type
    )
    # The subscriber of a joined row is the one of the side that always has one.
    subscriber: Any = origin.c.subscriber
    if spec.join_type in ("right", "right outer"):
        subscriber = destination.c.subscriber
    elif spec.join_type == "full outer":
        subscriber = func.coalesce(origin.c.subscriber, destination.c.subscriber)
    labels = context.result_of(spec.labels).alias("labels")
    labelled = joined.outerjoin(labels, labels.c.subscriber == subscriber)

    columns = [origin.c[name].label(name + FROM_SUFFIX) for name in unit]
    columns += [destination.c[name].label(name + TO_SUFFIX) for name in unit]
    columns.append(labels.c.value.label(LABEL_COLUMN))
    return (
        select(*columns, func.count().label("value"))
        .select_from(labelled)
        .group_by(*(c.element for c in columns))
    )


LABELLED_FLOWS = QueryKind(
    spec=LabelledFlows,
    build=build_labelled_flows,
    version="1",
    top_level=True,
    redactor=redact_labelled,
    index_columns=((UNIT_INDEX + FROM_SUFFIX,), (UNIT_INDEX + TO_SUFFIX,)),
    example={
        "query_kind": "labelled_flows",
        "from_location": {
            "query_kind": "daily_location",
            "date": "2016-01-01",
            "method": "last",
            "aggregation_unit": "admin3",
        },
        "to_location": {
            "query_kind": "daily_location",
            "date": "2016-01-02",
            "method": "last",
            "aggregation_unit": "admin3",
        },
        "labels": {
            "query_kind": "mobility_classification",
            "locations": [
                {
                    "query_kind": "daily_location",
                    "date": f"2016-01-0{day}",
                    "method": "last",
                    "aggregation_unit": "admin3",
                }
                for day in (1, 2)
            ],
            "stay_length_threshold": 2,
        },
        "join_type": "inner",
    },
)
