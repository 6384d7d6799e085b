"""FlowDB's per-cell event counts for the metrics and aggregates that need nothing more.

FlowDB counts each ingested day's events per subscriber and cell, per UTC hour and per day. A
kind that needs only who was where, how many events there were, or the UTC hour or day of
events can read those counts and skip the events. The counts serve only specs over whole UTC
days without a direction, so the builders fall back to the events when this returns None.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from sqlalchemy import Select

from flowcore.sql.context import BuildContext

__all__ = ["counted_cells"]


def counted_cells(
    context: BuildContext,
    spec: Any,
    *,
    start: dt.datetime,
    end: dt.datetime,
    hourly: bool = False,
) -> Select[Any] | None:
    """Return the spec's events counted per subscriber and cell, or None to read the events.

    Rows are ``subscriber, location_id, event_count, datetime``. They are counted per day,
    with the day's latest event in ``datetime``, unless the spec has an hour window or
    ``hourly`` is set. Then rows are counted per UTC hour, with the hour's start in
    ``datetime``. Either way ``datetime`` has the date of the events it counts, which is
    what chooses the cell version when the rows are located.
    """
    windowed = getattr(spec, "hours", None) is not None
    per: Literal["day", "hour"] = "hour" if hourly or windowed else "day"
    return context.cell_counts(spec, start=start, end=end, per=per)
