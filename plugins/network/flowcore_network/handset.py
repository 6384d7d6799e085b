"""``handset``: one characteristic of each subscriber's handset, such as its brand.

The handset is known by the TAC of the subscriber's events (rows with no TAC are skipped), looked
up in ``infrastructure.tacs``. ``value`` is the chosen column as text:

* ``last``: the characteristic of the TAC of the latest event. Events at the identical latest
  time with different TACs resolve to the smallest TAC.
* ``most-common``: the characteristic value seen on most events, each event counting with the
  characteristic of its own TAC. So two TACs of one brand add up, and the result need not be the
  characteristic of the most frequent TAC. Ties go to the smallest value, as PostgreSQL's
  ``mode()`` breaks them. Events whose TAC is not in the table, or has no value there, are
  left out of the count.

As in FlowKit 1.34, the TACs are joined to the table with a left join. So a subscriber whose
events only have TACs unknown to the table (or with no value) still has a row, with a null
``value``.
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
    characteristic = tacs.c[spec.characteristic]
    if spec.method == "most-common":
        # mode() skips the nulls of unknown TACs, but the group keeps the subscriber's row.
        return (
            select(
                events.c.subscriber,
                cast(func.mode().within_group(characteristic), Text).label("value"),
            )
            .select_from(events.outerjoin(tacs, tacs.c.id == events.c.tac))
            .where(events.c.tac.is_not(None))
            .group_by(events.c.subscriber)
        )
    latest = (
        select(events.c.subscriber, events.c.tac)
        .where(events.c.tac.is_not(None))
        .ext(distinct_on(events.c.subscriber))
        .order_by(events.c.subscriber, events.c.datetime.desc(), events.c.tac)
        .subquery("subscriber_handsets")
    )
    return select(latest.c.subscriber, cast(characteristic, Text).label("value")).select_from(
        latest.outerjoin(tacs, tacs.c.id == latest.c.tac)
    )


KIND = QueryKind(
    spec=Handset,
    build=build_handset,
    version="2",
    index_columns=METRIC_INDEX,
    example={
        "query_kind": "handset",
        "start_date": "2016-01-01",
        "end_date": "2016-01-02",
        "characteristic": "brand",
        "method": "last",
    },
)
