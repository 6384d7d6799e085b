"""``handset``: one characteristic of each subscriber's handset, such as its brand.

The handset is known by the TAC of the subscriber's events (rows with no TAC are skipped):

* ``last``: the TAC of the latest event; events at the identical latest time with different
  TACs resolve to the smallest TAC.
* ``most-common``: the TAC seen on most events; ties go to the TAC seen most recently, then to
  the smallest TAC.

The TAC is then looked up in ``infrastructure.tacs``, and ``value`` is the chosen column of that
row as text. Subscribers whose TAC is not in the table have no row.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import attrs
from sqlalchemy import Select, Text, cast, func, select
from sqlalchemy.dialects.postgresql import distinct_on

from flowcore.kinds import QueryKind
from flowcore.model.base import CategoricalSubscriberMetric
from flowcore.model.fields import EventFilters
from flowcore.sql.context import BuildContext
from flowcore.sql.tables import tacs
from flowcore_network.metric_fields import METRIC_INDEX, MetricFields

__all__ = ["Handset", "build_handset", "KIND"]

Characteristic = Literal["hnd_type", "brand", "model", "software_os_name", "software_os_vendor"]


@attrs.frozen(kw_only=True)
class Handset(CategoricalSubscriberMetric, MetricFields, EventFilters):
    """A characteristic of each subscriber's handset (a category, not a number)."""

    query_kind: ClassVar[str] = "handset"
    description: ClassVar[str] = "A characteristic of each subscriber's handset, such as brand."

    characteristic: Characteristic
    method: Literal["last", "most-common"]


def build_handset(spec: Handset, context: BuildContext) -> Select[Any]:
    """Select ``subscriber`` and ``value``, the handset characteristic as text."""
    events = context.events(
        start=spec.start_date,
        end=spec.end_date,
        event_types=spec.event_types,
        hours=spec.hours,
        subscriber_subset=spec.subscriber_subset,
        columns=("tac",),
    ).subquery("tac_events")
    seen = (
        select(
            events.c.subscriber,
            events.c.tac,
            func.count().label("event_count"),
            func.max(events.c.datetime).label("latest"),
        )
        .where(events.c.tac.is_not(None))
        .group_by(events.c.subscriber, events.c.tac)
        .subquery("subscriber_tacs")
    )
    order: list[Any] = [seen.c.latest.desc(), seen.c.tac]
    if spec.method == "most-common":
        order.insert(0, seen.c.event_count.desc())
    chosen = (
        select(seen.c.subscriber, seen.c.tac)
        .ext(distinct_on(seen.c.subscriber))
        .order_by(seen.c.subscriber, *order)
        .subquery("subscriber_handsets")
    )
    return select(
        chosen.c.subscriber, cast(tacs.c[spec.characteristic], Text).label("value")
    ).join_from(chosen, tacs, tacs.c.id == chosen.c.tac)


KIND = QueryKind(
    spec=Handset,
    build=build_handset,
    version="1",
    index_columns=METRIC_INDEX,
    example={
        "query_kind": "handset",
        "start_date": "2016-01-01",
        "end_date": "2016-01-02",
        "characteristic": "brand",
        "method": "last",
    },
)
