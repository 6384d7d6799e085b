"""Query states and their transitions, stored in ``cache.query_states``.

Every transition is one compare-and-set UPDATE: it changes the row only when the current state is
one the event allows, so among processes racing for the same transition exactly one wins. Any
other trigger is ignored and reported as no change.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
from sqlalchemy import Connection, text

from flowcore.execution.plan import PlannedQuery

__all__ = [
    "QueryState",
    "AWOL",
    "Event",
    "TRANSITIONS",
    "SETTLED_STATES",
    "DESCRIPTIONS",
    "StateChange",
    "register_plan",
    "read_state",
    "read_states",
    "apply_event",
    "reset",
    "state_row",
]


class QueryState(enum.StrEnum):
    """The state of one query."""

    KNOWN = "known"
    QUEUED = "queued"
    EXECUTING = "executing"
    COMPLETED = "completed"
    ERRORED = "errored"
    CANCELLED = "cancelled"
    RESETTING = "resetting"


#: Pseudo-state reported for a query id that no one has submitted.
AWOL = "awol"


class Event(enum.StrEnum):
    """A trigger that moves a query from one state to another."""

    QUEUE = "queue"
    EXECUTE = "execute"
    FINISH = "finish"
    ERROR = "error"
    CANCEL = "cancel"
    RESET = "reset"
    FINISH_RESETTING = "finish_resetting"


#: For each event, the states it may start from and the state it leads to.
TRANSITIONS: Mapping[Event, tuple[frozenset[QueryState], QueryState]] = {
    Event.QUEUE: (frozenset({QueryState.KNOWN}), QueryState.QUEUED),
    Event.EXECUTE: (frozenset({QueryState.QUEUED}), QueryState.EXECUTING),
    Event.FINISH: (frozenset({QueryState.EXECUTING}), QueryState.COMPLETED),
    Event.ERROR: (frozenset({QueryState.EXECUTING}), QueryState.ERRORED),
    Event.CANCEL: (frozenset({QueryState.QUEUED, QueryState.EXECUTING}), QueryState.CANCELLED),
    Event.RESET: (
        frozenset({QueryState.COMPLETED, QueryState.ERRORED, QueryState.CANCELLED}),
        QueryState.RESETTING,
    ),
    Event.FINISH_RESETTING: (frozenset({QueryState.RESETTING}), QueryState.KNOWN),
}

#: States in which waiting for a query ends.
SETTLED_STATES = frozenset(
    {QueryState.COMPLETED, QueryState.ERRORED, QueryState.CANCELLED, QueryState.KNOWN}
)

#: Description of each state in messages, as in "Query with id '...' <description>".
DESCRIPTIONS: Mapping[str, str] = {
    QueryState.KNOWN: "is known, but has not yet been run",
    QueryState.QUEUED: "is queued",
    QueryState.EXECUTING: "is currently running",
    QueryState.COMPLETED: "is ready",
    QueryState.ERRORED: "finished with an error",
    QueryState.CANCELLED: "was cancelled",
    QueryState.RESETTING: "is being reset",
    AWOL: "is not known",
}

# Columns each event sets besides the state. The strings are fixed here, never built from input.
_EVENT_COLUMNS: Mapping[Event, str] = {
    Event.QUEUE: (
        "owner = :owner, error = NULL, backend_pid = NULL, started = NULL, finished = NULL"
    ),
    Event.EXECUTE: "owner = :owner, backend_pid = :backend_pid, started = now()",
    Event.FINISH: "backend_pid = NULL, finished = now()",
    Event.ERROR: "backend_pid = NULL, error = :error, finished = now()",
    Event.CANCEL: "backend_pid = NULL, finished = now()",
    Event.RESET: "backend_pid = NULL",
    Event.FINISH_RESETTING: (
        "owner = NULL, backend_pid = NULL, error = NULL, started = NULL, finished = NULL"
    ),
}


@attrs.frozen
class StateChange:
    """One transition that a compare-and-set UPDATE made."""

    query_id: str
    query_kind: str
    old_state: QueryState
    new_state: QueryState
    #: Backend that ran the query's SQL before the change, if it was executing.
    backend_pid: int | None = None


def register_plan(connection: Connection, plan: PlannedQuery) -> None:
    """Record each query of a planned tree as ``known`` unless already recorded, and its edges."""
    # Rows go in id order, so that two transactions inserting overlapping trees cannot each
    # wait for a row the other inserted first (a deadlock).
    nodes = sorted(plan.walk(), key=lambda node: node.query_id)
    connection.execute(
        text(
            "INSERT INTO cache.query_states (query_id, query_kind, spec) "
            "VALUES (:query_id, :query_kind, CAST(:spec AS jsonb)) "
            "ON CONFLICT (query_id) DO NOTHING"
        ),
        [
            {
                "query_id": node.query_id,
                "query_kind": node.query_kind,
                "spec": _spec_json(node),
            }
            for node in nodes
        ],
    )
    edges = sorted(
        {(node.query_id, dependency.query_id) for node in nodes for dependency in node.dependencies}
    )
    if edges:
        connection.execute(
            text(
                "INSERT INTO cache.query_tree (query_id, depends_on) "
                "VALUES (:query_id, :depends_on) ON CONFLICT DO NOTHING"
            ),
            [{"query_id": query_id, "depends_on": depends_on} for query_id, depends_on in edges],
        )


def _spec_json(node: PlannedQuery) -> str:
    """Serialise a query's spec for the jsonb column, naming the query when that fails."""
    try:
        return json.dumps(dict(node.spec))
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"spec of query {node.query_id} ({node.query_kind}) is not JSON-serialisable: {error}"
        ) from error


def read_state(connection: Connection, query_id: str) -> str:
    """Return a query's state, or ``awol``; a stored result without a state row is ``completed``."""
    return read_states(connection, [query_id]).get(query_id, AWOL)


def read_states(connection: Connection, query_ids: Iterable[str]) -> dict[str, str]:
    """Return the state of each listed query that is known or stored."""
    rows = connection.execute(
        text(
            "SELECT ids.query_id, coalesce(s.state, 'completed') "
            "FROM unnest(CAST(:ids AS text[])) AS ids (query_id) "
            "LEFT JOIN cache.query_states AS s ON s.query_id = ids.query_id::character(32) "
            "LEFT JOIN cache.cached AS c ON c.query_id = ids.query_id::character(32) "
            "WHERE s.query_id IS NOT NULL OR c.query_id IS NOT NULL"
        ),
        {"ids": list(query_ids)},
    )
    return {query_id: state for query_id, state in rows}


def apply_event(
    connection: Connection,
    query_id: str,
    event: Event,
    *,
    owner: str | None = None,
    backend_pid: int | None = None,
    error: str | None = None,
    expected_pid: int | None = None,
) -> StateChange | None:
    """Apply ``event`` to a query if its current state allows it; return the change or None.

    The row is locked and its state re-checked, so concurrent callers cannot both win. The
    change is part of the caller's transaction and becomes visible when it commits. With
    ``expected_pid``, the event applies only to the run executing on that backend, so a worker
    settling a run that was cancelled and resubmitted cannot touch the new run.
    """
    sources, target = TRANSITIONS[event]
    row = connection.execute(
        text(
            "WITH current AS ("
            "  SELECT query_id, state, backend_pid FROM cache.query_states"
            "  WHERE query_id = :query_id AND state = ANY(CAST(:sources AS text[]))"
            "  AND (CAST(:expected_pid AS integer) IS NULL OR backend_pid = :expected_pid)"
            "  FOR UPDATE"
            ") "
            f"UPDATE cache.query_states AS s SET state = :target, updated = now(), "
            f"{_EVENT_COLUMNS[event]} "
            "FROM current WHERE s.query_id = current.query_id "
            "RETURNING current.state, current.backend_pid, s.query_kind"
        ),
        {
            "query_id": query_id,
            "sources": sorted(sources),
            "target": str(target),
            "owner": owner,
            "backend_pid": backend_pid,
            "error": error,
            "expected_pid": expected_pid,
        },
    ).one_or_none()
    if row is None:
        return None
    old_state, old_pid, query_kind = row
    return StateChange(
        query_id=query_id,
        query_kind=query_kind,
        old_state=QueryState(old_state),
        new_state=target,
        backend_pid=old_pid,
    )


def reset(
    connection: Connection, query_id: str, *, include_unfinished: bool = False
) -> list[StateChange]:
    """Move a finished query back to ``known`` through ``resetting``; return the changes made.

    With ``include_unfinished`` a queued or executing query is cancelled first: that is how work
    left behind by a dead process is recovered, so the caller must hold the query's lock.
    Returns no changes when the query is already known or resetting.
    """
    changes: list[StateChange] = []
    if include_unfinished:
        cancelled = apply_event(connection, query_id, Event.CANCEL)
        if cancelled is not None:
            changes.append(cancelled)
    resetting = apply_event(connection, query_id, Event.RESET)
    if resetting is None:
        return changes
    changes.append(resetting)
    finished = apply_event(connection, query_id, Event.FINISH_RESETTING)
    if finished is not None:
        changes.append(finished)
    return changes


def state_row(connection: Connection, query_id: str) -> Mapping[str, Any] | None:
    """Return the stored state row of a query as a mapping, or None."""
    row = connection.execute(
        text(
            "SELECT query_id, query_kind, spec, state, owner, backend_pid, error, created, "
            "updated, started, finished FROM cache.query_states WHERE query_id = :query_id"
        ),
        {"query_id": query_id},
    ).one_or_none()
    return None if row is None else dict(row._mapping)
