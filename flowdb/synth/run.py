"""Running a generator end to end: geography, staging, day tables, then one publishing step."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time

import attrs
import psycopg

from flowdb.synth import sql as sql_generator
from flowdb.synth.daytables import (
    DayTable,
    SynthError,
    build_day_tables,
    check_empty,
    drop_unpublished,
    publish,
    refresh_statistics,
)
from flowdb.synth.geography import GeographyError, SynthGeography, ensure_geography
from flowdb.synth.params import SynthParams

__all__ = ["SynthReport", "generate"]

logger = logging.getLogger(__name__)


@attrs.frozen
class SynthReport:
    """What a generator run wrote, and how long each phase took in seconds."""

    params: SynthParams
    geography: SynthGeography
    rows: dict[str, int]
    days: list[dt.date]
    staging_seconds: float
    events_seconds: float
    publish_seconds: float

    @property
    def total_rows(self) -> int:
        """Return the number of event rows written, all types together."""
        return sum(self.rows.values())

    @property
    def seconds(self) -> float:
        """Return the run's total time in seconds."""
        return self.staging_seconds + self.events_seconds + self.publish_seconds


def _day_tables(params: SynthParams) -> list[DayTable]:
    if params.generator == "python":
        types: tuple[str, ...] = ("calls",)
    else:
        counts = {"calls": params.n_calls, "sms": params.n_sms, "mds": params.n_mds}
        types = tuple(t for t in sql_generator.EVENT_TYPES if counts[t] > 0)
    # Day-major order, so parallel connections work on different parents' tables.
    return [DayTable(event_type, day) for day in params.days for event_type in types]


def generate(dsn: str, params: SynthParams) -> SynthReport:
    """Generate synthetic data into the (migrated, event-free) database at ``dsn``.

    Boundaries are installed first when none are loaded (a step complete on its own); every
    other change becomes visible at once in the final transaction, or not at all.

    Raises:
        SynthError: when the database already holds cells or events of the generated days,
            the parameters do not fit the database, or a step fails.
    """
    tables = _day_tables(params)
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET timezone = 'UTC'")
        check_empty(conn, tables)
        try:
            geography = ensure_geography(conn, params.geography)
        except GeographyError as error:
            raise SynthError(str(error)) from error
        if params.generator == "python":
            # NumPy and shapely load only for the generator that needs them.
            from flowdb.synth import python as python_generator

            world = python_generator.stage_python_world(conn, params, geography)
            fill = functools.partial(python_generator.fill_python_day, params, world)
        else:
            sql_generator.stage_sql_world(conn, params, geography)
            fill = functools.partial(sql_generator.fill_sql_day, params)
    staged = time.perf_counter()

    counts = build_day_tables(dsn, tables, fill, jobs=params.jobs)
    built = time.perf_counter()

    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            publish(conn, tables)
    except psycopg.Error as error:
        drop_unpublished(dsn, tables)
        raise SynthError(f"publishing the generated days failed: {error}") from error
    refresh_statistics(dsn, tables, jobs=params.jobs)
    finished = time.perf_counter()

    rows: dict[str, int] = {}
    for table, count in counts.items():
        rows[table.event_type] = rows.get(table.event_type, 0) + count
    report = SynthReport(
        params=params,
        geography=geography,
        rows=rows,
        days=params.days,
        staging_seconds=staged - started,
        events_seconds=built - staged,
        publish_seconds=finished - built,
    )
    logger.info("generated %d event rows in %.1f s", report.total_rows, report.seconds)
    return report
