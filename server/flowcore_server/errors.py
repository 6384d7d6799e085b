"""Every error the API returns, mapped to HTTP in one place.

Each error body is a JSON object with at least ``msg``, the key ``flowclient`` prints. Bad input
gets a 4xx with a message naming the field, the value and what is allowed. An unexpected failure
gets a 500 whose message carries the request id, and the traceback goes to the server log only.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from flowcore_auth import AuthenticationError
from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.types import ExceptionHandlersMap

from flowcore.errors import (
    InvalidSpecError,
    MissingDataError,
    PermissionDeniedError,
    QueryNotFoundError,
)
from flowcore_server.logs import request_context

__all__ = [
    "ApiError",
    "CONSTRUCTION_FAILED",
    "VALIDATION_FAILED",
    "MISSING_QUERY_KIND",
    "construction_error_body",
    "exception_handlers",
    "nested_messages",
    "validation_error_body",
]

#: ``msg`` of every 400 response to an invalid query spec.
VALIDATION_FAILED = "Parameter validation failed."
#: ``msg`` of a 400 response to a valid spec that cannot be computed (no data on its dates).
CONSTRUCTION_FAILED = "Unable to create query object."
#: Key of the messages about a whole object in ``validation_error_messages``, as in marshmallow.
SCHEMA_KEY = "_schema"
#: A ``$.path: reason`` message. A path step is ``.name``, ``[index]`` or a key in JSON quotes,
#: ``["a.b"]``, which is how the converter writes keys with unusual characters.
_MESSAGE = re.compile(r'(\$(?:\.[^.\[\]": ]+|\[(?:"(?:[^"\\]|\\.)*"|[^\]"]*)\])*): (.*)', re.DOTALL)
#: One step of a message path.
_PATH_STEP = re.compile(r'\.([^.\[\]": ]+)|\[("(?:[^"\\]|\\.)*"|[^\]"]*)\]')
#: ``msg`` when a run request has no ``query_kind``.
MISSING_QUERY_KIND = "Query kind must be specified when running a query."

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """A non-success response that a route decided on: a status code and a JSON body."""

    def __init__(
        self, status_code: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        self.status_code = status_code
        self.body = dict(body)
        self.headers = dict(headers or {})
        super().__init__(f"{status_code}: {self.body.get('msg', '')}")


def validation_error_body(params: Any, messages: list[str]) -> dict:
    """Return the 400 body of an invalid spec, in the shape ``flowclient`` prints.

    ``msg`` repeats the messages after :data:`VALIDATION_FAILED`, because ``flowclient`` shows
    only ``msg`` for the failed GET requests (geography, for example).
    """
    return {
        "status": "Error",
        "msg": " ".join([VALIDATION_FAILED, *messages]),
        "payload": {"params": params, "validation_error_messages": nested_messages(messages)},
    }


def construction_error_body(error: InvalidSpecError) -> dict:
    """Return the 400 body of a valid spec that cannot be computed, such as one without data."""
    return {
        "status": "Error",
        "msg": CONSTRUCTION_FAILED,
        "payload": {"exception": "; ".join(error.messages)},
    }


def nested_messages(messages: list[str]) -> dict[str, Any]:
    """Return ``$.path: reason`` messages nested by field name, as marshmallow reports them.

    ``$.locations[0].date: ...`` becomes ``{"locations": {"0": {"date": [...]}}}``. Messages
    about a whole object (``$: ...``), or without a path, go under ``_schema``.
    """
    nested: dict[str, Any] = {}
    for message in messages:
        matched = _MESSAGE.fullmatch(message)
        if matched is None:
            keys, reason = [], message
        else:
            keys, reason = _path_keys(matched.group(1)), matched.group(2)
        node = nested
        for key in keys:
            node = node.setdefault(key, {})
        # Every field collects its messages under _schema first. A field without messages
        # about its parts then gets the plain list (_lists_at_leaves).
        node.setdefault(SCHEMA_KEY, []).append(reason)
    return _lists_at_leaves(nested)


def _path_keys(path: str) -> list[str]:
    """Return the field names, list indices and keys of a ``$.a[0]["b.c"]`` path."""
    keys: list[str] = []
    for step in _PATH_STEP.finditer(path, 1):
        if step.group(1) is not None:
            keys.append(step.group(1))
        elif step.group(2).startswith('"'):
            keys.append(str(json.loads(step.group(2))))
        else:
            keys.append(step.group(2))
    return keys


def _lists_at_leaves(node: dict[str, Any]) -> dict[str, Any]:
    """Return ``node`` with each object that holds only ``_schema`` replaced by its list."""
    result: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict):
            value = value[SCHEMA_KEY] if list(value) == [SCHEMA_KEY] else _lists_at_leaves(value)
        result[key] = value
    return result


def _api_error(_: Request[Any, Any, Any], error: ApiError) -> Response[Any]:
    return Response(content=error.body, status_code=error.status_code, headers=error.headers)


def _authentication_error(_: Request[Any, Any, Any], error: AuthenticationError) -> Response[Any]:
    return Response(content={"msg": error.message}, status_code=error.status_code)


def _permission_denied(_: Request[Any, Any, Any], error: PermissionDeniedError) -> Response[Any]:
    return Response(content={"msg": str(error)}, status_code=403)


def _invalid_spec(_: Request[Any, Any, Any], error: InvalidSpecError) -> Response[Any]:
    if isinstance(error, MissingDataError):
        return Response(content=construction_error_body(error), status_code=400)
    return Response(content=validation_error_body(error.params, error.messages), status_code=400)


def _query_not_found(_: Request[Any, Any, Any], error: QueryNotFoundError) -> Response[Any]:
    return Response(content={"status": "Error", "msg": str(error)}, status_code=404)


def _http_exception(request: Request[Any, Any, Any], error: HTTPException) -> Response[Any]:
    # Litestar's own errors: unknown route, method not allowed, unreadable parameters.
    if error.status_code >= 500:
        return _unexpected(request, error)
    return Response(
        content={"status": "Error", "msg": _http_message(error)},
        status_code=error.status_code,
        headers=error.headers,
    )


def _http_message(error: HTTPException) -> str:
    detail = str(error.detail)
    extra = error.extra
    if isinstance(extra, list) and extra:
        reasons = []
        for item in extra:
            if isinstance(item, dict):
                key = item.get("key")
                message = item.get("message", "")
                reasons.append(f"{key}: {message}" if key else str(message))
        if reasons:
            return f"{detail}: {'; '.join(reasons)}"
    return detail


def _unexpected(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    request_id = request_context(request.scope).get("request_id")
    logger.error(
        "unexpected error while serving %s %s",
        request.method,
        request.url.path,
        exc_info=error,
        extra={"request_id": request_id},
    )
    return Response(
        content={
            "status": "Error",
            "msg": f"Internal server error; the server log has the details "
            f"under request id {request_id}.",
        },
        status_code=500,
    )


def exception_handlers() -> ExceptionHandlersMap:
    """Return the map from exception class to handler that the app installs."""
    return {
        ApiError: _api_error,
        AuthenticationError: _authentication_error,
        PermissionDeniedError: _permission_denied,
        InvalidSpecError: _invalid_spec,
        QueryNotFoundError: _query_not_found,
        HTTPException: _http_exception,
        Exception: _unexpected,
    }
