"""``location_introversion``: the share of events whose other party was in the same location.

Calls and SMS are stored as two rows, one per party, with the same event ``id`` and opposite
``outgoing``. Each row A is paired with the other party's row B; A's event is introverted when
B was located in the same location. The value of a location is the fraction of A rows there
that are introverted, between 0 and 1. ``direction`` filters the A rows only (``out``: the
location's subscriber started the event). The pairing needs both rows, so an event whose other
party is not a subscriber of the network, or is outside ``subscriber_subset`` or the hour
window, does not count. Events of tables without ``outgoing`` (mds, topups) never pair.

Release rule: a location is released only when more than the redaction threshold of distinct
subscribers contributed A rows there, stored in the private column ``_subscriber_count``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from sqlalchemy import Float, Integer, Select, and_, cast, distinct, func, select

from flowcore.kinds import UNIT_INDEX, QueryKind
from flowcore.model.base import Aggregate
from flowcore.model.fields import DateRangeFields, Direction, EventFilters, SpatialFields
from flowcore.sql.context import BuildContext
from flowcore_network.redaction import SUBSCRIBER_COUNT, redact_by_subscribers

__all__ = [
    "LocationIntroversion",
    "build_location_introversion",
    "KIND",
]


@attrs.frozen(kw_only=True)
class LocationIntroversion(Aggregate, DateRangeFields, SpatialFields, EventFilters):
    """Fraction of each location's events whose other party was in the same location."""

    query_kind: ClassVar[str] = "location_introversion"
    description: ClassVar[str] = (
        "Fraction of events at each location whose counterpart was in the same location."
    )

    direction: Direction = "both"


def build_location_introversion(spec: LocationIntroversion, context: BuildContext) -> Select[Any]:
    """Select unit columns, ``value`` (introverted fraction) and ``_subscriber_count``."""
    # The direction filters only one party's rows below, so it is checked here.
    context.check_direction(spec.direction, context.event_types(spec.event_types))
    events = context.events(
        start=spec.start_date,
        end=spec.end_date,
        event_types=spec.event_types,
        hours=spec.hours,
        subscriber_subset=spec.subscriber_subset,
        columns=("id", "outgoing"),
    )
    # A CTE, because both parties' rows come from the same located events.
    located = context.locate(events, spec).cte("introversion_events")
    party = located.alias("party")
    other = located.alias("other_party")
    unit = context.unit_columns(spec)

    pairs = select(
        *(party.c[name] for name in unit),
        party.c.subscriber,
        and_(*(party.c[name] == other.c[name] for name in unit)).label("introverted"),
    ).join_from(
        party,
        other,
        and_(party.c.id == other.c.id, party.c.outgoing != other.c.outgoing),
    )
    if spec.direction == "out":
        pairs = pairs.where(party.c.outgoing.is_(True))
    elif spec.direction == "in":
        pairs = pairs.where(party.c.outgoing.is_(False))
    paired = pairs.subquery("paired_events")

    grouped = [paired.c[name] for name in unit]
    introverted = func.sum(cast(paired.c.introverted, Integer))
    # Stored, and so returned, in FlowKit's order: by location, descending.
    return (
        select(
            *grouped,
            (cast(introverted, Float) / func.count()).label("value"),
            func.count(distinct(paired.c.subscriber)).label(SUBSCRIBER_COUNT),
        )
        .group_by(*grouped)
        .order_by(*(column.desc() for column in grouped))
    )


KIND = QueryKind(
    spec=LocationIntroversion,
    build=build_location_introversion,
    version="1",
    top_level=True,
    redactor=redact_by_subscribers,
    index_columns=((UNIT_INDEX,),),
    example={
        "query_kind": "location_introversion",
        "start_date": "2016-01-01",
        "end_date": "2016-01-08",
        "aggregation_unit": "admin3",
        "direction": "both",
    },
)
