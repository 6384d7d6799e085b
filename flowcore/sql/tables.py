"""FlowDB tables as SQLAlchemy Core objects: the only identifiers builders may use."""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
)

__all__ = [
    "metadata",
    "EVENT_TABLES",
    "cells",
    "sites",
    "tacs",
    "admin_tables",
    "available_tables",
    "available_dates",
    "counted_dates",
    "subscriber_cell_days",
    "subscriber_cell_hours",
]

metadata = MetaData()


def _event_table(name: str, *extra: Column) -> Table:
    return Table(
        name,
        metadata,
        Column("id", Text),
        Column("datetime", DateTime(timezone=True), nullable=False),
        Column("msisdn", Text, nullable=False),
        Column("location_id", Text),
        Column("imsi", Text),
        Column("imei", Text),
        Column("tac", Numeric),
        Column("operator_code", Numeric),
        Column("country_code", Numeric),
        *extra,
        schema="events",
    )


EVENT_TABLES: dict[str, Table] = {
    "calls": _event_table(
        "calls",
        Column("outgoing", Boolean),
        Column("duration", Numeric),
        Column("network", Text),
        Column("msisdn_counterpart", Text),
    ),
    "sms": _event_table(
        "sms",
        Column("outgoing", Boolean),
        Column("network", Text),
        Column("msisdn_counterpart", Text),
    ),
    "mds": _event_table(
        "mds",
        Column("duration", Numeric),
        Column("volume_total", Numeric),
        Column("volume_upload", Numeric),
        Column("volume_download", Numeric),
    ),
    "topups": _event_table(
        "topups",
        Column("type", Text),
        Column("recharge_amount", Numeric),
        Column("airtime_fee", Numeric),
        Column("tax_and_fee", Numeric),
        Column("pre_event_balance", Numeric),
        Column("post_event_balance", Numeric),
    ),
}


cells = Table(
    "cells",
    metadata,
    Column("cell_id", Integer, primary_key=True),
    Column("id", Text),
    Column("version", Integer),
    Column("site_id", Text),
    Column("date_of_first_service", Date),
    Column("date_of_last_service", Date),
    Column("geom_point", Geometry("POINT", srid=4326)),
    schema="infrastructure",
)

sites = Table(
    "sites",
    metadata,
    Column("site_id", Integer, primary_key=True),
    Column("id", Text),
    Column("version", Integer),
    Column("date_of_first_service", Date),
    Column("date_of_last_service", Date),
    Column("geom_point", Geometry("POINT", srid=4326)),
    schema="infrastructure",
)

tacs = Table(
    "tacs",
    metadata,
    Column("id", Numeric, primary_key=True),
    Column("brand", Text),
    Column("model", Text),
    Column("hnd_type", Text),
    Column("software_os_name", Text),
    Column("software_os_vendor", Text),
    schema="infrastructure",
)


def _admin_table(level: int) -> Table:
    parents = []
    for parent in range(level):
        parents += [Column(f"admin{parent}pcod", Text), Column(f"admin{parent}name", Text)]
    return Table(
        f"admin{level}",
        metadata,
        Column("gid", Integer, primary_key=True),
        *parents,
        Column(f"admin{level}pcod", Text),
        Column(f"admin{level}name", Text),
        Column("geom", Geometry("MULTIPOLYGON", srid=4326)),
        schema="geography",
    )


admin_tables: dict[int, Table] = {level: _admin_table(level) for level in range(4)}

available_tables = Table(
    "available_tables",
    metadata,
    Column("table_name", Text, primary_key=True),
    Column("has_locations", Boolean),
    Column("has_subscribers", Boolean),
    Column("has_counterparts", Boolean),
    schema="public",
)

available_dates = Table(
    "available_dates",
    metadata,
    Column("cdr_type", Text),
    Column("cdr_date", Date),
    schema="etl",
)

subscriber_cell_hours = Table(
    "subscriber_cell_hours",
    metadata,
    Column("cdr_type", Text),
    Column("cdr_date", Date),
    Column("hour_start", DateTime(timezone=True)),
    Column("msisdn", Text),
    Column("location_id", Text),
    Column("event_count", BigInteger),
    Column("last_event", DateTime(timezone=True)),
    schema="events",
)
"""Events per subscriber, cell and UTC hour of each event type, with the latest event's time."""

subscriber_cell_days = Table(
    "subscriber_cell_days",
    metadata,
    Column("cdr_type", Text),
    Column("cdr_date", Date),
    Column("msisdn", Text),
    Column("location_id", Text),
    Column("event_count", BigInteger),
    Column("last_event", DateTime(timezone=True)),
    schema="events",
)
"""Events per subscriber, cell and day of each event type, with the latest event's time."""

ingest_state = Table(
    "ingest_state",
    metadata,
    Column("cdr_type", Text),
    Column("cdr_date", Date),
    Column("state", Text),
    schema="etl",
)
"""The latest ingestion state of each event type's day (``ingested``, ``quarantine``...)."""

counted_dates = Table(
    "counted_dates",
    metadata,
    Column("cdr_type", Text),
    Column("cdr_date", Date),
    schema="etl",
)
"""Days whose ``subscriber_cell_hours`` and ``subscriber_cell_days`` rows are current."""
