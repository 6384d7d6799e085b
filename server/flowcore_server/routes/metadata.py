"""Routes about the loaded data rather than queries: available dates and quality checks.

Both read FlowDB's ingestion bookkeeping: ``etl.available_dates`` (dates whose latest state is
``ingested``) and ``etl.deduped_post_etl_queries`` (the latest outcome of each quality check
per ingested date and event type).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flowcore_auth import Identity
from litestar import Response, get
from sqlalchemy import Column, Date, MetaData, Table, Text, select

from flowcore.sql.tables import available_dates
from flowcore_server.auth import GET_AVAILABLE_DATES, require_action
from flowcore_server.errors import ApiError
from flowcore_server.service import QueryService

__all__ = ["get_available_dates", "list_qa_checks", "get_qa_outcomes", "get_qa_outcome"]

quality_checks = Table(
    "deduped_post_etl_queries",
    MetaData(),
    Column("cdr_date", Date),
    Column("cdr_type", Text),
    Column("type_of_query_or_check", Text),
    Column("outcome", Text),
    schema="etl",
)

# NOTE: FlowKit 1.34 documents no scope for the quality-check routes. They describe the loaded
# data, as the available dates do, so they need the same scope.
QA_ACTIONS = frozenset({GET_AVAILABLE_DATES})


@get("/available_dates", operation_id="get_available_dates", sync_to_thread=True)
def get_available_dates(identity: Identity, service: QueryService) -> dict[str, Any]:
    """Return, per event type, the sorted dates with ingested data."""
    require_action(identity, {GET_AVAILABLE_DATES})
    rows = service.fetch_all(
        select(available_dates.c.cdr_type, available_dates.c.cdr_date).order_by(
            available_dates.c.cdr_type, available_dates.c.cdr_date
        )
    )
    by_type: dict[str, list[str]] = {}
    for row in rows:
        by_type.setdefault(row["cdr_type"], []).append(row["cdr_date"].isoformat())
    return {"available_dates": by_type}


@get("/qa", operation_id="list_qa_checks", sync_to_thread=True)
def list_qa_checks(identity: Identity, service: QueryService) -> list[dict[str, Any]]:
    """List the quality checks that have outcomes, per event type."""
    require_action(identity, QA_ACTIONS)
    statement = (
        select(quality_checks.c.cdr_type, quality_checks.c.type_of_query_or_check)
        .distinct()
        .order_by(quality_checks.c.cdr_type, quality_checks.c.type_of_query_or_check)
    )
    return [dict(row) for row in service.fetch_all(statement)]


#: A date as YYYY-MM-DD exactly. strptime alone also accepts 2016-1-1.
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def _parse_date(name: str, value: str | None) -> dt.date:
    """Return the date of a YYYY-MM-DD parameter, or raise a 400 naming the parameter."""
    if value is None:
        raise ApiError(400, {"status": "bad request", "msg": f"{name} is required, as YYYY-MM-DD"})
    invalid = ApiError(
        400,
        {
            "status": "bad request",
            "msg": f"{name} {value!r} is not a valid date; expected YYYY-MM-DD",
        },
    )
    if not ISO_DATE.fullmatch(value):
        raise invalid
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise invalid from None


def _not_found_message(
    service: QueryService, cdr_type: str, check_type: str, start: dt.date, end: dt.date
) -> str:
    """Return why a check has no outcomes: unknown event type, unknown check, or no dates."""
    listed = service.fetch_all(
        select(quality_checks.c.cdr_type, quality_checks.c.type_of_query_or_check).distinct()
    )
    event_types = sorted({row["cdr_type"] for row in listed})
    checks = sorted(
        {row["type_of_query_or_check"] for row in listed if row["cdr_type"] == cdr_type}
    )
    if cdr_type not in event_types:
        known = ", ".join(event_types) or "none"
        return f"No quality checks on event type {cdr_type!r}; event types with checks: {known}"
    if check_type not in checks:
        return f"No quality check {check_type!r} on {cdr_type}; its checks are: {', '.join(checks)}"
    return (
        f"No outcomes of the check {check_type!r} on {cdr_type} "
        f"between {start.isoformat()} and {end.isoformat()}"
    )


def _outcomes(
    service: QueryService, cdr_type: str, check_type: str, start: dt.date, end: dt.date
) -> list[dict[str, Any]]:
    statement = (
        select(
            quality_checks.c.cdr_date,
            quality_checks.c.type_of_query_or_check,
            quality_checks.c.outcome,
        )
        .where(
            quality_checks.c.cdr_type == cdr_type,
            quality_checks.c.type_of_query_or_check == check_type,
            quality_checks.c.cdr_date.between(start, end),
        )
        .order_by(quality_checks.c.cdr_date)
    )
    # PostgreSQL text cannot hold NUL, and no event type or check name contains one.
    has_nul = "\x00" in cdr_type or "\x00" in check_type
    rows = [] if has_nul else service.fetch_all(statement)
    if not rows:
        message = _not_found_message(service, cdr_type, check_type, start, end)
        raise ApiError(404, {"status": "not found", "msg": message})
    return [{**row, "cdr_date": row["cdr_date"].isoformat()} for row in rows]


@get("/qa/{cdr_type:str}/{check_type:str}", operation_id="get_qa_outcomes", sync_to_thread=True)
def get_qa_outcomes(
    cdr_type: str,
    check_type: str,
    identity: Identity,
    service: QueryService,
    start_date: str | None = None,
    end_date: str | None = None,
) -> list[dict[str, Any]]:
    """Return a check's outcomes on each date of an inclusive date range."""
    require_action(identity, QA_ACTIONS)
    start = _parse_date("start_date", start_date)
    end = _parse_date("end_date", end_date)
    if start > end:
        raise ApiError(
            400,
            {
                "status": "bad request",
                "msg": f"start_date {start_date} is after end_date {end_date}",
            },
        )
    return _outcomes(service, cdr_type, check_type, start, end)


@get(
    "/qa/{cdr_type:str}/{check_type:str}/{check_date:str}",
    operation_id="get_qa_outcome",
    sync_to_thread=True,
)
def get_qa_outcome(
    cdr_type: str, check_type: str, check_date: str, identity: Identity, service: QueryService
) -> Response[str]:
    """Return a check's outcome on one date, as plain text."""
    require_action(identity, QA_ACTIONS)
    day = _parse_date("check_date", check_date)
    outcome = _outcomes(service, cdr_type, check_type, day, day)[0]["outcome"]
    return Response(content=outcome or "", media_type="text/plain")
