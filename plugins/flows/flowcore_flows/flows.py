"""``flows``, ``inflows`` and ``outflows``: subscribers moving between two location queries.

``flows`` joins the subscribers of ``from_location`` and ``to_location`` with ``join_type`` and
counts rows per pair of locations. With an outer join, a subscriber missing on one side gets
null unit columns there, and all such subscribers form one group with that null location.
A location set (``unique_locations``) contributes one row per combination of its locations.

``inflows`` sums the flows by destination and ``outflows`` by origin. All three are released
with the standard rule: rows with ``value`` at or below the redaction threshold (15) are dropped,
for ``inflows`` and ``outflows`` after summing.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import attrs
from sqlalchemy import BigInteger, FromClause, Select, cast, func, select

from flowcore.kinds import UNIT_INDEX, QueryKind, redact_column
from flowcore.model.base import Aggregate, QuerySpec, SubscriberLocations, SubscriberLocationSet
from flowcore.sql.context import BuildContext

__all__ = [
    "JOIN_TYPES",
    "JoinType",
    "FROM_SUFFIX",
    "TO_SUFFIX",
    "Flows",
    "InFlows",
    "OutFlows",
    "build_flows",
    "build_inflows",
    "build_outflows",
    "check_sides_share_unit",
    "join_sides",
    "unit_columns_of",
    "FLOWS",
    "INFLOWS",
    "OUTFLOWS",
]

JoinType = Literal["inner", "full outer", "left", "right", "left outer", "right outer"]
JOIN_TYPES: tuple[str, ...] = JoinType.__args__  # type: ignore[attr-defined]

#: Suffixes of the unit columns of each side in a flows result, e.g. ``pcod_from``.
FROM_SUFFIX = "_from"
TO_SUFFIX = "_to"


@attrs.frozen(kw_only=True)
class Flows(Aggregate):
    """Subscriber counts per pair of locations: where they were in one query, then the other."""

    query_kind: ClassVar[str] = "flows"
    description: ClassVar[str] = (
        "The number of subscribers per pair of locations in two location queries."
    )

    from_location: SubscriberLocations | SubscriberLocationSet
    to_location: SubscriberLocations | SubscriberLocationSet
    join_type: JoinType = "inner"

    def __attrs_post_init__(self) -> None:
        check_sides_share_unit(self.from_location, self.to_location)


def check_sides_share_unit(from_location: QuerySpec, to_location: QuerySpec) -> None:
    """Raise ValueError naming both units unless the two sides of a flow share one."""
    from_unit = from_location.spatial_unit()
    to_unit = to_location.spatial_unit()
    if from_unit != to_unit:
        raise ValueError(
            "'from_location' and 'to_location' parameters must have the same aggregation "
            f"unit (found {from_unit} and {to_unit})"
        )


@attrs.frozen(kw_only=True)
class InFlows(Flows):
    """Subscriber counts per destination of a flow."""

    query_kind: ClassVar[str] = "inflows"
    description: ClassVar[str] = "The number of subscribers arriving at each location."


@attrs.frozen(kw_only=True)
class OutFlows(Flows):
    """Subscriber counts per origin of a flow."""

    query_kind: ClassVar[str] = "outflows"
    description: ClassVar[str] = "The number of subscribers leaving each location."


def unit_columns_of(spec: QuerySpec, context: BuildContext) -> tuple[str, ...]:
    """Return the unit columns of a flow-like query, which takes its unit from its sides."""
    unit = spec.spatial_unit()
    if unit is None:
        raise ValueError(f"{spec.query_kind} has no aggregation unit: its sides have none")
    return context.unit_columns(unit)


def join_sides(
    context: BuildContext, from_location: QuerySpec, to_location: QuerySpec, join_type: str
) -> tuple[FromClause, FromClause, Any]:
    """Return both sides and their join on ``subscriber`` with the SQL join ``join_type`` names."""
    origin = context.result_of(from_location).alias("from_location")
    destination = context.result_of(to_location).alias("to_location")
    left, right = origin, destination
    # SQL's RIGHT JOIN is a LEFT JOIN with the sides swapped.
    if join_type in ("right", "right outer"):
        left, right = destination, origin
    on = left.c.subscriber == right.c.subscriber
    outer = join_type != "inner"
    joined = left.join(right, on, isouter=outer, full=join_type == "full outer")
    return origin, destination, joined


def build_flows(spec: Flows, context: BuildContext) -> Select[Any]:
    """Select ``<col>_from``, ``<col>_to`` for each unit column, and ``value``."""
    unit = unit_columns_of(spec, context)
    origin, destination, joined = join_sides(
        context, spec.from_location, spec.to_location, spec.join_type
    )
    columns = [origin.c[name].label(name + FROM_SUFFIX) for name in unit]
    columns += [destination.c[name].label(name + TO_SUFFIX) for name in unit]
    return (
        select(*columns, func.count().label("value"))
        .select_from(joined)
        .group_by(*(c.element for c in columns))
    )


def _summed(spec: Flows, context: BuildContext, suffix: str) -> Select[Any]:
    unit = unit_columns_of(spec, context)
    flows = build_flows(spec, context).subquery("flows")
    side = [flows.c[name + suffix].label(name) for name in unit]
    # The sum of counts is a count: keep it an integer (PostgreSQL's sum of bigint is numeric).
    total = cast(func.sum(flows.c.value), BigInteger)
    return select(*side, total.label("value")).group_by(*(flows.c[name + suffix] for name in unit))


def build_inflows(spec: InFlows, context: BuildContext) -> Select[Any]:
    """Select the destination's unit columns and ``value``, the subscribers arriving there."""
    return _summed(spec, context, TO_SUFFIX)


def build_outflows(spec: OutFlows, context: BuildContext) -> Select[Any]:
    """Select the origin's unit columns and ``value``, the subscribers leaving from there."""
    return _summed(spec, context, FROM_SUFFIX)


def _example(query_kind: str) -> dict[str, Any]:
    return {
        "query_kind": query_kind,
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
        "join_type": "inner",
    }


FLOWS = QueryKind(
    spec=Flows,
    build=build_flows,
    version="1",
    top_level=True,
    redactor=redact_column("value"),
    index_columns=((UNIT_INDEX + FROM_SUFFIX,), (UNIT_INDEX + TO_SUFFIX,)),
    example=_example("flows"),
)
INFLOWS = QueryKind(
    spec=InFlows,
    build=build_inflows,
    version="1",
    top_level=True,
    redactor=redact_column("value"),
    index_columns=((UNIT_INDEX,),),
    example=_example("inflows"),
)
OUTFLOWS = QueryKind(
    spec=OutFlows,
    build=build_outflows,
    version="1",
    top_level=True,
    redactor=redact_column("value"),
    index_columns=((UNIT_INDEX,),),
    example=_example("outflows"),
)
