"""Event times of the sql generator stay inside their day for every value of ``synth.draw``.

``synth.draw`` returns a multiple of 2**-53 in [0, 1 - 2**-53]. These tests replace it in a
scratch database with a function that returns one chosen value, then evaluate the generator's
time expression for the last events of a day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import psycopg
import pytest

from flowdb.partitions import day_bounds
from flowdb.synth.sql import _moment

#: The largest value ``synth.draw`` can return.
MAX_DRAW = (2**53 - 1) / 2**53

DAY = date(2016, 1, 1)


def moments(dsn: str, draw: float, count: int) -> list[datetime]:
    """Return the times of events ``count - 1`` and ``count`` of a day of ``count`` events."""
    with psycopg.connect(dsn) as conn:
        conn.execute("SET timezone TO 'UTC'")
        conn.execute("CREATE SCHEMA IF NOT EXISTS synth")
        conn.execute(
            "CREATE OR REPLACE FUNCTION synth.draw(key bigint, stream bigint) RETURNS float8 "
            f"LANGUAGE sql IMMUTABLE AS $$ SELECT {draw!r}::float8 $$"
        )
        query = (
            "SELECT " + _moment("n") + " FROM generate_series(%(first)s::bigint, %(count)s::bigint)"
            " AS n ORDER BY n"
        )
        values = {
            "day_start": day_bounds(DAY)[0],
            "count": count,
            "time_stream": 1,
            "first": max(1, count - 1),
        }
        return [moment for (moment,) in conn.execute(query, values).fetchall()]


def test_max_draw_single_event(fresh_dsn: str) -> None:
    assert moments(fresh_dsn, MAX_DRAW, 1) == [datetime(2016, 1, 1, 23, 59, 59, tzinfo=UTC)]


@pytest.mark.parametrize("count", [2, 3, 1_000, 2_000_000])
def test_max_draw_last_event(fresh_dsn: str, count: int) -> None:
    start, end = day_bounds(DAY)
    times = moments(fresh_dsn, MAX_DRAW, count)
    assert times == sorted(times)
    # The last event's slice ends at 24:00, the start of the next day, which stays out.
    assert all(start <= moment < end for moment in times), times
