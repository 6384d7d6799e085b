"""The release rule of kinds whose rows are released by distinct subscribers, not by value."""

from __future__ import annotations

from typing import Any

from sqlalchemy import FromClause, Select, select

__all__ = ["SUBSCRIBER_COUNT", "redact_by_subscribers"]

#: Private column holding the number of distinct subscribers behind each row.
SUBSCRIBER_COUNT = "_subscriber_count"


def redact_by_subscribers(result: FromClause, threshold: int) -> Select[Any]:
    """Select the public columns of rows seen by more than ``threshold`` distinct subscribers."""
    released = [c for c in result.c if not c.name.startswith("_")]
    return select(*released).where(result.c[SUBSCRIBER_COUNT] > threshold)
