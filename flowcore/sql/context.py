"""The build context: what query builders compose their SELECTs from.

The context gives a builder events of chosen types in a half-open date range, with the hour
window, direction and subscriber subset applied. It locates those events at an aggregation unit
and returns the results of nested queries. Every value is a bound parameter, and identifiers
come only from the declared tables in ``flowcore.sql.tables``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import (
    Date,
    FromClause,
    Select,
    and_,
    cast,
    column,
    extract,
    false,
    literal,
    null,
    or_,
    select,
    table,
    union_all,
)
from sqlalchemy.sql import ColumnElement

from flowcore.errors import InvalidSpecError, MissingDataError
from flowcore.execution.plan import EventRead
from flowcore.geography.units import AggregationUnit
from flowcore.model.base import QuerySpec
from flowcore.model.fields import Hours, SpatialFields
from flowcore.registry import Registry
from flowcore.sql.availability import Availability
from flowcore.sql.tables import EVENT_TABLES, subscriber_cell_days, subscriber_cell_hours

__all__ = ["BuildContext", "EVENT_COLUMNS"]

#: Columns every located or plain event select has, whatever the event type.
EVENT_COLUMNS = ("subscriber", "datetime", "location_id")


def hours_filter(datetime_column: Any, hours: Hours | None) -> ColumnElement[bool] | None:
    """Return the hour-of-day predicate of ``hours`` (half-open, wrapping midnight), or None."""
    if hours is None:
        return None
    hour = extract("hour", datetime_column)
    start, end = hours.start_hour, hours.end_hour
    if start == end:
        return false()
    if start < end:
        return and_(hour >= start, hour < end)
    return or_(hour < end, hour >= start)


class BuildContext:
    """Per-query helper handed to builders; records which event data the query reads.

    ``resolve`` turns a nested spec into a FROM clause: the nested query's cache table when the
    query runs, or its inline SQL when the query is only being validated or shown.
    """

    def __init__(
        self,
        *,
        registry: Registry,
        availability: Availability,
        resolve: Callable[[QuerySpec], FromClause],
        path: str = "$",
    ) -> None:
        self.registry = registry
        self.availability = availability
        self._resolve = resolve
        self.path = path
        self.reads: list[EventRead] = []
        #: Ids of the stored queries this query reads as subscriber subsets.
        self.subsets: list[str] = []

    # -- nested queries ------------------------------------------------------------------

    def result_of(self, spec: QuerySpec) -> FromClause:
        """Return the rows of a nested query (its cache table once it is stored)."""
        return self._resolve(spec)

    # -- events --------------------------------------------------------------------------

    def event_types(self, requested: Sequence[str] | None) -> tuple[str, ...]:
        """Return the event types a spec reads: its own list, or the FlowDB default."""
        return tuple(requested) if requested else self.availability.default_event_types

    def events(
        self,
        *,
        start: dt.datetime,
        end: dt.datetime,
        event_types: Sequence[str] | None = None,
        hours: Hours | None = None,
        direction: str = "both",
        subscriber_subset: str | None = None,
        columns: Iterable[str] = (),
        field: str = "",
    ) -> Select[Any]:
        """Return event rows in ``[start, end)`` as ``subscriber, datetime, location_id, ...``.

        ``columns`` adds event columns by their FlowDB names (``outgoing``, ``id``,
        ``msisdn_counterpart``, ``tac``, ``duration``...); a table without one gives NULL.
        Event types with no ingested day in the range are skipped; if none remains, the spec
        cannot be computed and MissingDataError names the range. ``field`` prefixes the JSON
        path used in error messages.
        """
        extra = [c for c in columns if c not in EVENT_COLUMNS]
        types = self.event_types(event_types)
        self.check_direction(direction, types, field)
        selects = []
        for event_type in types:
            days = self.availability.days_with_data(event_type, start, end)
            if not days:
                continue
            self.reads.append(EventRead(event_type, start.date(), _ceil_date(end)))
            selects.append(
                self._event_select(
                    event_type, start, end, hours, direction, subscriber_subset, extra
                )
            )
        if not selects:
            raise MissingDataError(
                [
                    f"{self.path}{field}: no {', '.join(types) or 'event'} data between "
                    f"{start.isoformat()} and {end.isoformat()}; see the available dates"
                ],
                available_dates=self.availability.describe(types),
            )
        if len(selects) == 1:
            return selects[0]
        return select(union_all(*selects).subquery("events"))

    def check_direction(self, direction: str, event_types: Iterable[str], field: str = "") -> None:
        """Raise InvalidSpecError if ``direction`` filters event types without ``outgoing``.

        Those are mds and topups: FlowKit fails on them with ``in`` or ``out`` too.
        """
        if direction == "both":
            return
        missing = [t for t in event_types if "outgoing" not in EVENT_TABLES[t].c]
        if missing:
            raise InvalidSpecError(
                [
                    f"{self.path}{field}.direction: {direction!r} needs event types with an "
                    f"outgoing column (calls, sms); {', '.join(missing)} have none"
                ]
            )

    def _event_select(
        self,
        event_type: str,
        start: dt.datetime,
        end: dt.datetime,
        hours: Hours | None,
        direction: str,
        subscriber_subset: str | None,
        extra: Sequence[str],
    ) -> Select[Any]:
        events = EVENT_TABLES[event_type]
        # Bounds are compared as UTC timestamps so PostgreSQL prunes the day partitions.
        conditions: list[ColumnElement[bool]] = [
            events.c.datetime >= literal(start.replace(tzinfo=dt.UTC)),
            events.c.datetime < literal(end.replace(tzinfo=dt.UTC)),
        ]
        window = hours_filter(events.c.datetime, hours)
        if window is not None:
            conditions.append(window)
        if direction == "out":
            conditions.append(events.c.outgoing.is_(True))
        elif direction == "in":
            conditions.append(events.c.outgoing.is_(False))
        output = [
            events.c.msisdn.label("subscriber"),
            events.c.datetime.label("datetime"),
            events.c.location_id.label("location_id"),
        ]
        for name in extra:
            if name in events.c:
                output.append(events.c[name].label(name))
            else:
                # Typed, so a union of tables that all lack the column still has its type.
                output.append(cast(null(), _column_type(name)).label(name))
        selected = select(*output).where(*conditions)
        if subscriber_subset is None:
            return selected
        subset = self.registry_subset(subscriber_subset)
        return selected.select_from(events.join(subset, events.c.msisdn == subset.c.subscriber))

    def cell_counts(
        self,
        spec: Any,
        *,
        start: dt.datetime,
        end: dt.datetime,
        hourly: bool = False,
        partition_keys: bool = False,
    ) -> Select[Any] | None:
        """Return a spec's events counted per subscriber and cell, or None if not counted.

        Rows are ``subscriber, location_id, event_count, datetime, last_event``, one per event
        type, subscriber, cell and day, or per UTC hour when ``hourly`` is set or the spec has
        an hour window. ``datetime`` is the hour's start for hour rows and the latest event for
        day rows, so it always has the date of the events counted. ``last_event`` is the time
        of the latest event. With ``partition_keys`` set, the rows also have ``event_type`` and
        ``day`` (the UTC date counted), the keys of FlowDB's count tables. With
        ``enable_partitionwise_aggregate`` on, a grouping that includes both lets PostgreSQL
        aggregate each day table on its own, in a smaller hash table.

        FlowDB counts whole days of every event in both directions. So the counts serve only
        specs over whole days without a direction, and only when every day with data in the
        range is counted and none is withdrawn. Otherwise this returns None, and the caller
        reads :meth:`spec_events`.
        """
        midnight = dt.time()
        if start.time() != midnight or end.time() != midnight:
            return None
        hours = getattr(spec, "hours", None)
        hourly = hourly or hours is not None
        if (getattr(spec, "direction", None) or "both") != "both":
            return None
        counted_days: dict[str, list[dt.date]] = {}
        for event_type in self.event_types(getattr(spec, "event_types", None)):
            days = self.availability.days_with_data(event_type, start, end)
            if not days:
                continue
            if not self.availability.all_counted(event_type, days):
                return None
            # spec_events reads the stored events of a withdrawn day, which has no counts.
            # NOTE: a day stored without any etl_records row is neither available nor
            # withdrawn, so its events are read by spec_events but skipped here.
            if self.availability.withdrawn_days(event_type, start, end):
                return None
            counted_days[event_type] = days
        if not counted_days:
            # spec_events raises the missing-data error that names the range.
            return None
        counts = subscriber_cell_hours if hourly else subscriber_cell_days
        # The days are listed one by one, so rows of a day that is not (or no longer) available
        # and counted are never read.
        per_type = []
        for event_type, days in counted_days.items():
            self.reads.append(EventRead(event_type, start.date(), end.date()))
            per_type.append(and_(counts.c.cdr_type == event_type, counts.c.cdr_date.in_(days)))
        conditions: list[ColumnElement[bool]] = [or_(*per_type)]
        if hourly:
            window = hours_filter(counts.c.hour_start, hours)
            if window is not None:
                conditions.append(window)
        moment = counts.c.hour_start if hourly else counts.c.last_event
        keys = [counts.c.cdr_type.label("event_type"), counts.c.cdr_date.label("day")]
        selected = select(
            counts.c.msisdn.label("subscriber"),
            counts.c.location_id,
            counts.c.event_count,
            moment.label("datetime"),
            counts.c.last_event,
            *(keys if partition_keys else ()),
        ).where(*conditions)
        subset_id = getattr(spec, "subscriber_subset", None)
        if subset_id is None:
            return selected
        subset = self.registry_subset(subset_id)
        return selected.select_from(counts.join(subset, counts.c.msisdn == subset.c.subscriber))

    def registry_subset(self, query_id: str) -> FromClause:
        """Return the stored result used as a subscriber subset.

        Events are inner-joined to it, as in FlowKit: a subscriber with several rows in the
        subset has each of their events counted once per row.
        """
        if query_id not in self.subsets:
            self.subsets.append(query_id)
        return table(f"x{query_id}", column("subscriber"), schema="cache")

    # -- locating events -----------------------------------------------------------------

    def unit(self, spatial: SpatialFields | str) -> AggregationUnit:
        """Return the aggregation unit named by a spec's spatial fields (or by name)."""
        name = spatial if isinstance(spatial, str) else spatial.aggregation_unit
        return self.registry.unit(name)

    def unit_columns(self, spatial: SpatialFields | str) -> tuple[str, ...]:
        """Return the output column names of a spec's aggregation unit, e.g. ``("pcod",)``."""
        return self.unit(spatial).columns

    def locate(self, events: Select[Any], spatial: SpatialFields | str) -> Select[Any]:
        """Join events to the spatial unit of their cell version on the event's date.

        The join is inner: events at unknown cells, at cells not in service that day, or at
        points outside every polygon are dropped and never form a null-region row.
        """
        unit = self.unit(spatial)
        source = events.subquery("located_events")
        spatial_fields = None if isinstance(spatial, str) else spatial
        kept = [c for c in source.c if c.name not in unit.columns]
        if unit.mapping is None:
            return select(
                *kept, *(source.c[name] for name in unit.columns if name in source.c)
            ).where(source.c.location_id.is_not(None), source.c.location_id != "")
        mapping = unit.mapping(spatial_fields).subquery(f"cell_to_{unit.name.replace('-', '_')}")
        return select(*kept, *(mapping.c[name] for name in unit.columns)).join_from(
            source, mapping, _in_service(source, mapping)
        )

    def locate_by_key(
        self, events: Select[Any], spatial: SpatialFields, *, ordered: bool = False
    ) -> tuple[Select[Any], FromClause] | None:
        """Join events to an integer ``_region_key`` of their region, as ``locate`` joins them.

        Returns the located events and a table of each key with the unit's columns. Returns
        None when the unit or its mapping table gives regions no key, and ``locate`` applies.
        With ``ordered``, keys follow the order of the unit's values, for tie rules.
        """
        unit = self.unit(spatial)
        keyed = None
        if unit.keyed_mapping is not None and ordered:
            keyed = unit.keyed_mapping(spatial, ordered=True)
        elif unit.keyed_mapping is not None:
            # Without ``ordered``, so a keyed mapping written for the spatial fields alone works.
            keyed = unit.keyed_mapping(spatial)
        if keyed is None:
            return None
        keyed_mapping, keys = keyed
        source = events.subquery("located_events")
        mapping = keyed_mapping.subquery(f"cell_to_{unit.name.replace('-', '_')}_key")
        located = select(*source.c, mapping.c._region_key).join_from(
            source, mapping, _in_service(source, mapping)
        )
        return located, keys.subquery("region_keys")

    def located_events(
        self,
        spec: Any,
        *,
        start: dt.datetime,
        end: dt.datetime,
        columns: Iterable[str] = (),
        direction: str | None = None,
        hours: Hours | None | bool = True,
    ) -> Select[Any]:
        """Return a spec's events in ``[start, end)`` located at its aggregation unit.

        Reads ``event_types``, ``subscriber_subset``, ``hours`` and ``direction`` from the spec
        when it has them; pass ``hours=None`` to ignore the spec's hour window.
        """
        events = self.spec_events(
            spec, start=start, end=end, columns=columns, direction=direction, hours=hours
        )
        return self.locate(events, spec)

    def spec_events(
        self,
        spec: Any,
        *,
        start: dt.datetime,
        end: dt.datetime,
        columns: Iterable[str] = (),
        direction: str | None = None,
        hours: Hours | None | bool = True,
    ) -> Select[Any]:
        """Return a spec's events in ``[start, end)``, filtered as ``located_events`` does.

        For builders that aggregate events per cell before locating the (far fewer) rows.
        """
        window = getattr(spec, "hours", None) if hours is True else hours
        return self.events(
            start=start,
            end=end,
            event_types=getattr(spec, "event_types", None),
            hours=window if isinstance(window, Hours) else None,
            direction=direction or getattr(spec, "direction", "both") or "both",
            subscriber_subset=getattr(spec, "subscriber_subset", None),
            columns=columns,
        )


def _ceil_date(moment: dt.datetime) -> dt.date:
    """Return the first calendar day not touched by ``[.., moment)``."""
    day = moment.date()
    return day if moment == dt.datetime.combine(day, dt.time()) else day + dt.timedelta(days=1)


def _column_type(name: str) -> Any:
    """Return the SQL type of event column ``name`` in the first event table that has it."""
    for events in EVENT_TABLES.values():
        if name in events.c:
            return events.c[name].type
    raise KeyError(f"no event table has a column named {name!r}")


def _in_service(events: FromClause, mapping: FromClause) -> ColumnElement[bool]:
    """Return the join of events to the mapping row of their cell version on the event's date."""
    event_day = cast(events.c.datetime, Date)
    return and_(
        mapping.c._cell_id == events.c.location_id,
        or_(mapping.c._valid_from.is_(None), mapping.c._valid_from <= event_day),
        or_(mapping.c._valid_to.is_(None), event_day <= mapping.c._valid_to),
    )
