"""What data FlowDB holds: default event tables and the dates ingested for each event type."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import attrs
from sqlalchemy import Connection, literal, select, union_all

from flowcore.sql.tables import (
    EVENT_TABLES,
    available_dates,
    available_tables,
    counted_dates,
    ingest_state,
)

__all__ = ["Availability"]


@attrs.frozen
class Availability:
    """A snapshot of the event tables and of which days are available, counted or withdrawn.

    Read from ``available_tables``, ``etl.available_dates``, ``etl.counted_dates`` and
    ``etl.ingest_state``.
    """

    #: Event types used when a spec leaves ``event_types`` null: tables with subscribers and
    #: counterparts (``calls`` and ``sms`` in a standard FlowDB).
    default_event_types: tuple[str, ...]
    dates: Mapping[str, frozenset[dt.date]]
    #: Days whose events are also counted per subscriber and cell (``subscriber_cell_days``).
    counted: Mapping[str, frozenset[dt.date]] = attrs.field(factory=dict)
    #: Days whose latest ingestion state is not ``ingested`` (a quarantined day, say). Their
    #: events may still be stored, and queries over the events read them, but nothing counts them.
    withdrawn: Mapping[str, frozenset[dt.date]] = attrs.field(factory=dict)

    @classmethod
    def load(cls, connection: Connection) -> Availability:
        """Read the snapshot from the database."""
        defaults = connection.execute(
            select(available_tables.c.table_name)
            .where(available_tables.c.has_subscribers, available_tables.c.has_counterparts)
            .order_by(available_tables.c.table_name)
        ).scalars()
        default_types = tuple(name for name in defaults if name in EVENT_TABLES)
        dates = _dates_by_set(connection)
        return cls(
            default_event_types=default_types,
            dates=dates.get("available", {}),
            counted=dates.get("counted", {}),
            withdrawn=dates.get("withdrawn", {}),
        )

    def all_counted(self, event_type: str, days: Iterable[dt.date]) -> bool:
        """Return whether every one of ``days`` of ``event_type`` has per-cell counts."""
        return set(days) <= self.counted.get(event_type, frozenset())

    def days_with_data(
        self, event_type: str, start: dt.datetime, end: dt.datetime
    ) -> list[dt.date]:
        """Return the ingested calendar days of ``event_type`` that overlap ``[start, end)``."""
        return _days_in(self.dates.get(event_type, ()), start, end)

    def describe(self, event_types: Iterable[str]) -> str:
        """Return the available dates of each event type in words, for error messages.

        For example ``calls 2016-01-01 to 2016-01-07 (7 days), sms none``.
        """
        parts = []
        for event_type in event_types:
            days = sorted(self.dates.get(event_type, ()))
            if not days:
                parts.append(f"{event_type} none")
            elif len(days) == 1:
                parts.append(f"{event_type} {days[0].isoformat()} only")
            else:
                span = f"{days[0].isoformat()} to {days[-1].isoformat()}"
                parts.append(f"{event_type} {span} ({len(days)} days)")
        return ", ".join(parts)

    def withdrawn_days(
        self, event_type: str, start: dt.datetime, end: dt.datetime
    ) -> list[dt.date]:
        """Return the withdrawn calendar days of ``event_type`` that overlap ``[start, end)``."""
        return _days_in(self.withdrawn.get(event_type, ()), start, end)


def _days_in(days: Iterable[dt.date], start: dt.datetime, end: dt.datetime) -> list[dt.date]:
    """Return the sorted ``days`` that overlap ``[start, end)``."""
    first = start.date()
    last = (end - dt.timedelta(microseconds=1)).date()
    return sorted(d for d in days if first <= d <= last)


def _dates_by_set(connection: Connection) -> dict[str, dict[str, frozenset[dt.date]]]:
    """Read the available, counted and withdrawn days of each event type in one statement."""
    statement = union_all(
        select(literal("available"), available_dates.c.cdr_type, available_dates.c.cdr_date),
        select(literal("counted"), counted_dates.c.cdr_type, counted_dates.c.cdr_date),
        select(literal("withdrawn"), ingest_state.c.cdr_type, ingest_state.c.cdr_date).where(
            ingest_state.c.state != "ingested"
        ),
    )
    by_set: dict[str, dict[str, set[dt.date]]] = {}
    for name, cdr_type, cdr_date in connection.execute(statement):
        by_set.setdefault(name, {}).setdefault(cdr_type, set()).add(cdr_date)
    return {
        name: {event_type: frozenset(days) for event_type, days in by_type.items()}
        for name, by_type in by_set.items()
    }
