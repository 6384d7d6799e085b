"""What data FlowDB holds: default event tables and the dates ingested for each event type."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import attrs
from sqlalchemy import Connection, select

from flowcore.sql.tables import EVENT_TABLES, available_dates, available_tables

__all__ = ["Availability"]


@attrs.frozen
class Availability:
    """A snapshot of ``available_tables`` and ``etl.available_dates`` taken when planning."""

    #: Event types used when a spec leaves ``event_types`` null: tables with subscribers and
    #: counterparts (``calls`` and ``sms`` in a standard FlowDB).
    default_event_types: tuple[str, ...]
    dates: Mapping[str, frozenset[dt.date]]

    @classmethod
    def load(cls, connection: Connection) -> Availability:
        """Read the snapshot from the database."""
        defaults = connection.execute(
            select(available_tables.c.table_name)
            .where(available_tables.c.has_subscribers, available_tables.c.has_counterparts)
            .order_by(available_tables.c.table_name)
        ).scalars()
        default_types = tuple(name for name in defaults if name in EVENT_TABLES)
        by_type: dict[str, set[dt.date]] = {}
        for cdr_type, cdr_date in connection.execute(
            select(available_dates.c.cdr_type, available_dates.c.cdr_date)
        ):
            by_type.setdefault(cdr_type, set()).add(cdr_date)
        return cls(
            default_event_types=default_types,
            dates={k: frozenset(v) for k, v in by_type.items()},
        )

    def days_with_data(
        self, event_type: str, start: dt.datetime, end: dt.datetime
    ) -> list[dt.date]:
        """Return the ingested calendar days of ``event_type`` that overlap ``[start, end)``."""
        first = start.date()
        last = (end - dt.timedelta(microseconds=1)).date()
        return sorted(d for d in self.dates.get(event_type, ()) if first <= d <= last)
