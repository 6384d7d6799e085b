"""FlowDB's event tables as Python data: event types, their columns and SQL types.

The migrations in ``flowdb/migrations`` create the same tables; a test checks that the two agree.
"""

from __future__ import annotations

from datetime import date

import attrs

__all__ = [
    "EVENT_TYPES",
    "EventType",
    "event_type",
    "partition_name",
]


@attrs.frozen
class EventType:
    """One kind of event record (calls, sms, mds, topups) and its table layout."""

    name: str
    """Table name in the ``events`` schema; also the ``cdr_type`` of ``etl.etl_records``."""

    columns: tuple[tuple[str, str], ...]
    """(column, SQL type) pairs in table order."""

    file_prefix: str
    """Prefix of the daily file names: ``<prefix>_YYYYMMDD.csv``."""

    file_aliases: dict[str, str] = attrs.field(factory=dict)
    """Column names used by data files for a table column, mapped to the table column."""

    indexed_columns: tuple[str, ...] = ()
    """Columns with a b-tree index on every day partition."""

    has_locations: bool = True
    has_subscribers: bool = True
    has_counterparts: bool = False

    @property
    def column_names(self) -> tuple[str, ...]:
        """Return the table's column names in table order."""
        return tuple(name for name, _ in self.columns)

    def column_type(self, column: str) -> str:
        """Return the SQL type of one column."""
        return dict(self.columns)[column]

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Return the columns declared NOT NULL."""
        return ("datetime", "msisdn")


# Columns shared by the end of every event table.
_DEVICE_COLUMNS = (
    ("location_id", "text"),
    ("imsi", "text"),
    ("imei", "text"),
    ("tac", "numeric(8)"),
    ("operator_code", "numeric"),
    ("country_code", "numeric"),
)

_CALLS = EventType(
    name="calls",
    columns=(
        ("id", "text"),
        ("outgoing", "boolean"),
        ("datetime", "timestamptz"),
        ("duration", "numeric"),
        ("network", "text"),
        ("msisdn", "text"),
        ("msisdn_counterpart", "text"),
        *_DEVICE_COLUMNS,
    ),
    file_prefix="calls",
    # FlowKit's daily calls and sms files name the time column start_time.
    file_aliases={"start_time": "datetime"},
    indexed_columns=("msisdn", "msisdn_counterpart", "tac", "location_id", "datetime"),
    has_counterparts=True,
)

_SMS = EventType(
    name="sms",
    columns=tuple(column for column in _CALLS.columns if column[0] != "duration"),
    file_prefix="sms",
    file_aliases={"start_time": "datetime"},
    indexed_columns=("msisdn", "msisdn_counterpart", "tac", "location_id", "datetime"),
    has_counterparts=True,
)

_MDS = EventType(
    name="mds",
    columns=(
        ("id", "text"),
        ("datetime", "timestamptz"),
        ("duration", "numeric"),
        ("volume_total", "numeric"),
        ("volume_upload", "numeric"),
        ("volume_download", "numeric"),
        ("msisdn", "text"),
        *_DEVICE_COLUMNS,
    ),
    file_prefix="mds",
    indexed_columns=("msisdn", "tac", "location_id", "datetime", "id"),
)

_TOPUPS = EventType(
    name="topups",
    columns=(
        ("id", "text"),
        ("datetime", "timestamptz"),
        ("type", "text"),
        ("recharge_amount", "numeric"),
        ("airtime_fee", "numeric"),
        ("tax_and_fee", "numeric"),
        ("pre_event_balance", "numeric"),
        ("post_event_balance", "numeric"),
        ("msisdn", "text"),
        *_DEVICE_COLUMNS,
    ),
    # FlowKit's daily files are topup_YYYYMMDD.csv (singular) in a folder named topups.
    file_prefix="topup",
    indexed_columns=("msisdn", "tac", "location_id", "datetime", "id"),
)

EVENT_TYPES: dict[str, EventType] = {event.name: event for event in (_CALLS, _SMS, _MDS, _TOPUPS)}
"""Every event type flowcore loads and queries, by table name."""


def event_type(name: str) -> EventType:
    """Return the event type called ``name``, or raise ValueError naming the allowed ones."""
    try:
        return EVENT_TYPES[name]
    except KeyError:
        allowed = ", ".join(EVENT_TYPES)
        raise ValueError(f"unknown event type {name!r}; allowed: {allowed}") from None


def partition_name(event_type_name: str, day: date) -> str:
    """Return the unqualified name of a day's partition, e.g. ``calls_20160101``."""
    return f"{event_type_name}_{day:%Y%m%d}"
