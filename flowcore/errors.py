"""Domain errors of the core; the server maps each to one HTTP status in one place."""

from __future__ import annotations

__all__ = [
    "FieldValueError",
    "FlowcoreError",
    "InvalidSpecError",
    "UnknownQueryKindError",
    "QueryNotFoundError",
    "QueryFailedError",
    "QueryCancelledError",
    "PermissionDeniedError",
    "PluginError",
    "MissingDataError",
]


class FlowcoreError(Exception):
    """Base class of every error the core raises on purpose."""


class FieldValueError(ValueError):
    """A field validator's rejection of one field's value, reported at that field's JSON path.

    Raise it from an attrs validator as ``FieldValueError(attribute.name, "must be 1 or more,
    got 0")``; the spec's errors then read ``$.<path>.<field>: must be 1 or more, got 0``. A plain
    ValueError from a validator is reported at the path of the whole object.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class InvalidSpecError(FlowcoreError):
    """A query spec failed validation; ``messages`` holds one ``$.path: reason`` line per fault."""

    def __init__(self, messages: list[str], params: object = None) -> None:
        self.messages = list(messages)
        self.params = params
        super().__init__("; ".join(self.messages) or "invalid query spec")


class UnknownQueryKindError(InvalidSpecError):
    """The spec names a query kind that no installed plugin provides."""


class MissingDataError(InvalidSpecError):
    """None of the dates a query reads have data in any of its event tables.

    ``available_dates`` describes the dates there are, per event type. It is kept out of the
    message, because HTTP callers may lack the scope that lists the available dates.
    """

    def __init__(
        self, messages: list[str], params: object = None, *, available_dates: str = ""
    ) -> None:
        super().__init__(messages, params)
        self.available_dates = available_dates


class QueryNotFoundError(FlowcoreError):
    """No query with this id is known to the cache."""

    def __init__(self, query_id: str) -> None:
        self.query_id = query_id
        super().__init__(f"Unknown query id: '{query_id}'")


class QueryFailedError(FlowcoreError):
    """A query ended in the errored state."""

    def __init__(self, query_id: str, reason: str) -> None:
        self.query_id = query_id
        self.reason = reason
        super().__init__(f"Query with id '{query_id}' finished with an error: {reason}")


class QueryCancelledError(FlowcoreError):
    """A query ended in the cancelled state."""

    def __init__(self, query_id: str) -> None:
        self.query_id = query_id
        super().__init__(f"Query with id '{query_id}' was cancelled.")


class PermissionDeniedError(FlowcoreError):
    """The caller's grants do not cover the scopes a request needs."""


class PluginError(FlowcoreError):
    """A plugin failed to load or contributed something invalid (duplicate kind, bad spec)."""
