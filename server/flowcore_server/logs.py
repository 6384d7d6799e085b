"""Structured logging: JSON lines on stderr, the access log and the query log.

Every log line is one JSON object with ``time``, ``level``, ``logger`` and ``message``, plus the
fields a call passes through ``extra``. Two loggers carry the records an operator audits:

* ``flowcore.access``: one record per HTTP request (request id, user, method, path, status,
  duration in ms), written by ``AccessLog``.
* ``flowcore.query``: query submissions and every state change of a query this process makes
  (request id, user, query id, query kind, old and new state), written by the routes and by
  ``QueryLog``.

Neither ever contains a token: the user is the token's verified ``sub`` claim.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import threading
import time
import uuid
from collections import OrderedDict
from typing import Any

import orjson
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from flowcore.hookspecs import hookimpl
from flowcore_server.formats import TruncatedBodyError

__all__ = [
    "ACCESS_LOGGER",
    "QUERY_LOGGER",
    "REQUEST_ID_HEADER",
    "AccessLog",
    "JsonFormatter",
    "QueryLog",
    "TruncatedBodyFilter",
    "configure_logging",
    "request_context",
    "set_request_user",
]

ACCESS_LOGGER = "flowcore.access"
QUERY_LOGGER = "flowcore.query"
#: Response header that carries the request id, so a caller can quote it in a report.
REQUEST_ID_HEADER = "x-request-id"

# Keys of the ASGI scope's "state" dictionary where a request's context is kept.
_STATE_KEY = "flowcore.request"

# Attributes every LogRecord has; anything else on a record came from ``extra``. Uvicorn adds
# a copy of its message with terminal colour codes, which a JSON log has no use for.
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "color_message"}
)

access_log = logging.getLogger(ACCESS_LOGGER)
query_log = logging.getLogger(QUERY_LOGGER)


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object on one line."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as JSON: standard fields, then the ``extra`` fields."""
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            # Tracebacks go to the operator's log only, never into a response.
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode("utf-8")


def _caused_by_truncated_body(error: BaseException | None, depth: int = 0) -> bool:
    """Return whether ``error`` comes from a TruncatedBodyError.

    Looks through the exceptions it was raised from and, because Litestar streams bodies in
    an anyio task group, through the members of exception groups.
    """
    if error is None or depth > 10:
        return False
    if isinstance(error, TruncatedBodyError):
        return True
    if isinstance(error, BaseExceptionGroup) and any(
        _caused_by_truncated_body(member, depth + 1) for member in error.exceptions
    ):
        return True
    return _caused_by_truncated_body(error.__cause__ or error.__context__, depth + 1)


class TruncatedBodyFilter(logging.Filter):
    """Drop the ASGI server's traceback of a truncated body, which ``guarded`` already logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Return False for a record whose exception comes from a TruncatedBodyError."""
        error = record.exc_info[1] if record.exc_info else None
        return not _caused_by_truncated_body(error)


def configure_logging(level: int) -> None:
    """Send every log record to stderr as JSON lines; access and query logs at info level.

    Replaces the root logger's handlers, so calling it again changes nothing but the level.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(TruncatedBodyFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in (ACCESS_LOGGER, QUERY_LOGGER):
        logging.getLogger(name).setLevel(logging.INFO)
    # The access log replaces uvicorn's; its error log propagates to the JSON handler.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def request_context(scope: Scope) -> dict[str, Any]:
    """Return the request id and user of a request (empty before ``AccessLog`` sees it)."""
    state = scope.get("state")
    if not isinstance(state, dict):
        return {}
    context = state.get(_STATE_KEY)
    return context if isinstance(context, dict) else {}


def set_request_user(scope: Scope, user: str) -> None:
    """Record the verified user of a request for the access log."""
    context = request_context(scope)
    if context:
        context["user"] = user


class AccessLog:
    """ASGI wrapper that gives each request an id and writes one access record per request.

    It wraps the whole application, so requests for unknown routes are logged too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request, adding the request id header and logging the outcome."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = uuid.uuid4().hex
        context: dict[str, Any] = {"request_id": request_id, "user": None}
        scope.setdefault("state", {})[_STATE_KEY] = context
        status: list[int] = []

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            access_log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "user": context.get("user"),
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status[0] if status else None,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                },
            )


class QueryLog:
    """Plugin that logs every state change of a query made by this process.

    The run route calls ``remember`` before submitting, so a state change can name the request
    and user that caused it. Only the latest ``capacity`` queries are remembered.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._requests: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, query_id: str, request_id: str | None, user: str | None) -> None:
        """Associate a query with the request that submitted it."""
        with self._lock:
            self._requests[query_id] = {"request_id": request_id, "user": user}
            self._requests.move_to_end(query_id)
            while len(self._requests) > self._capacity:
                self._requests.popitem(last=False)

    def _origin(self, query_id: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._requests.get(query_id, {"request_id": None, "user": None}))

    @hookimpl
    def flowcore_query_state_changed(
        self, query_id: str, query_kind: str, old_state: str, new_state: str
    ) -> None:
        """Log one state transition."""
        query_log.info(
            "state changed",
            extra={
                **self._origin(query_id),
                "query_id": query_id,
                "query_kind": query_kind,
                "old_state": str(old_state),
                "new_state": str(new_state),
            },
        )
