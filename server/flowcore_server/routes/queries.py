"""Routes that run queries and return their state and results: run, poll and get.

Status codes, headers and bodies per query state follow FlowKit's API, which ``flowclient``
relies on (see docs/api.md for the table).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import orjson
from flowcore_auth import Identity
from litestar import Request, Response, get, post
from litestar.concurrency import sync_to_thread
from litestar.response import Stream
from sqlalchemy.exc import NoSuchTableError

from flowcore.cache.states import DESCRIPTIONS, QueryState
from flowcore.errors import InvalidSpecError, QueryNotFoundError
from flowcore_server.auth import (
    GET_RESULT,
    POLL_ACTIONS,
    RUN,
    geography_scope,
    request_paths,
    require,
    require_action,
)
from flowcore_server.errors import MISSING_QUERY_KIND, ApiError, validation_error_body
from flowcore_server.formats import (
    csv_chunks,
    feature_collection_chunks,
    guarded,
    json_result_chunks,
)
from flowcore_server.geojson import GeoJsonUnavailable, result_features
from flowcore_server.logs import QueryLog, request_context
from flowcore_server.service import Encoder, QueryService, StoredQuery

__all__ = ["run_query", "poll_query", "get_result", "API_PREFIX", "RESULT_FORMATS"]

#: Prefix of every API route; Location headers are paths under it.
API_PREFIX = "/api/0"
#: File formats of results: extension to media type.
RESULT_FORMATS = {
    "json": "application/json",
    "csv": "text/csv",
    "geojson": "application/geo+json",
}

#: Names of the result formats in log lines.
FORM_NAMES = {"json": "JSON", "csv": "CSV", "geojson": "GeoJSON"}

query_log = logging.getLogger("flowcore.query")

#: Progress of a query whose result is stored: nothing left to compute.
_STORED_PROGRESS = {"eligible": 0, "queued": 0, "running": 0}


async def _json_body(request: Request[Any, Any, Any]) -> Any:
    raw = await request.body()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ApiError(
            400,
            {"status": "Error", "msg": f"The request body is not valid JSON: {error}"},
        ) from None


@post("/run", operation_id="run_query", status_code=202)
async def run_query(
    request: Request[Any, Any, Any],
    identity: Identity,
    service: QueryService,
    query_log_plugin: QueryLog,
) -> Response[Any]:
    """Validate a query spec, check the caller's grants and queue the query."""
    data = await _json_body(request)
    if not isinstance(data, dict):
        raise ApiError(
            400,
            validation_error_body(data, [f"$: expected a JSON object, got {type(data).__name__}"]),
        )
    if "query_kind" not in data:
        raise ApiError(400, {"status": "Error", "msg": MISSING_QUERY_KIND, "payload": {}})
    context = request_context(request.scope)

    def submit() -> tuple[str, dict[str, int]]:
        spec = service.top_level_spec(data)
        require(identity, {RUN}, service.scopes(spec), paths=request_paths(data))
        query_id = service.session.query_id(spec)
        query_log_plugin.remember(query_id, context.get("request_id"), identity.subject)
        try:
            _, cached = service.submit(spec)
        except InvalidSpecError as error:
            # Planning finds faults that only the database shows (no data on those dates).
            if error.params is None:
                error.params = data
            raise
        progress = _STORED_PROGRESS if cached else service.progress(query_id)
        query_log.info(
            "query submitted",
            extra={
                "request_id": context.get("request_id"),
                "user": identity.subject,
                "query_id": query_id,
                "query_kind": spec.query_kind,
            },
        )
        return query_id, progress

    query_id, progress = await sync_to_thread(submit)
    return Response(
        content={"query_id": query_id, "progress": progress},
        status_code=202,
        headers={"Location": f"{API_PREFIX}/poll/{query_id}"},
    )


def _permitted_query(
    service: QueryService,
    identity: Identity,
    query_id: str,
    actions: frozenset[str],
    *,
    unknown_status: str,
) -> StoredQuery:
    """Return the query if it exists and the caller's grants cover it.

    Raises ApiError 404, with ``unknown_status`` as the body's status, for an unknown id, and
    PermissionDeniedError (403) for a query outside the caller's grants, as FlowAPI does.
    """
    query = service.lookup(query_id)
    if query is None:
        raise ApiError(404, {"status": unknown_status, "msg": f"Unknown query id: '{query_id}'"})
    require(identity, actions, service.scopes(query.spec), paths=request_paths(query.params))
    return query


def _described(query_id: str, state: str) -> str:
    description = DESCRIPTIONS.get(state, f"is in the state {state!r}")
    return f"Query with id '{query_id}' {description}."


@get("/poll/{query_id:str}", operation_id="poll_query", sync_to_thread=True)
def poll_query(query_id: str, identity: Identity, service: QueryService) -> Response[Any]:
    """Return a query's state: 303 to its result when completed, 202 with progress while running."""
    require_action(identity, POLL_ACTIONS)
    query = _permitted_query(service, identity, query_id, POLL_ACTIONS, unknown_status="awol")
    state = query.state
    if state == QueryState.COMPLETED:
        return Response(
            content={"status": "completed"},
            status_code=303,
            headers={"Location": f"{API_PREFIX}/get/{query_id}"},
        )
    if state in (QueryState.QUEUED, QueryState.EXECUTING):
        return Response(
            content={"status": state, "msg": "", "progress": service.progress(query_id)},
            status_code=202,
        )
    if state == QueryState.ERRORED:
        reason = service.error(query_id)
        message = _described(query_id, state)
        if reason:
            message = f"{message[:-1]}: {reason}"
        return Response(content={"status": state, "msg": message}, status_code=500)
    if state == QueryState.CANCELLED:
        return Response(
            content={"status": state, "msg": _described(query_id, state)}, status_code=500
        )
    return Response(content={"status": state, "msg": _described(query_id, state)}, status_code=404)


async def _one_chunk(body: bytes) -> AsyncIterator[bytes]:
    yield body


def _split_filename(filename: str) -> tuple[str, str]:
    """Split ``<query_id>[.<format>]`` into the id and the format (json by default)."""
    query_id, dot, extension = filename.partition(".")
    if not dot:
        return query_id, "json"
    if extension not in RESULT_FORMATS:
        raise ApiError(
            400,
            {
                "status": "error",
                "msg": f"Invalid file format {extension!r}; use one of {', '.join(RESULT_FORMATS)}",
            },
        )
    return query_id, extension


def _unready_answer(query: StoredQuery) -> Response[Any] | None:
    """Return the response for a query whose result cannot be read now, else None."""
    state = query.state
    if state == QueryState.COMPLETED:
        return None
    if state in (QueryState.QUEUED, QueryState.EXECUTING):
        return Response(content={}, status_code=202)
    if state == QueryState.ERRORED:
        body = {"status": "Error", "msg": _described(query.query_id, state)}
        return Response(content=body, status_code=403)
    if state == QueryState.KNOWN:
        body = {"status": "Error", "msg": _described(query.query_id, state)}
        return Response(content=body, status_code=404)
    body = {"status": "Error", "msg": f"Unexpected query state: {state}"}
    return Response(content=body, status_code=500)


@get("/get/{filename:str}", operation_id="get_result", sync_to_thread=True)
def get_result(filename: str, identity: Identity, service: QueryService) -> Response[Any]:
    """Stream a completed query's result as JSON (default), CSV or GeoJSON."""
    require_action(identity, {GET_RESULT})
    query_id, extension = _split_filename(filename)
    query = _permitted_query(
        service, identity, query_id, frozenset({GET_RESULT}), unknown_status="Error"
    )
    if extension == "geojson":
        unit = query.spec.spatial_unit()
        if unit is None:
            raise ApiError(
                400,
                {
                    "status": "Error",
                    "msg": f"Query with id '{query_id}' has no aggregation unit, "
                    "so it has no GeoJSON form",
                },
            )
        # FlowAPI of FlowKit 1.10 to 1.17 checked only the query's own path grant (above) for
        # a GeoJSON result, so the geography scope is asked of roles only.
        if identity.path_grants is None:
            require(identity, {GET_RESULT}, service.scopes(query.spec) | {geography_scope(unit)})
    unready = _unready_answer(query)
    if unready is not None:
        return unready

    removed_error = ApiError(
        404, {"status": "Error", "msg": _described(query_id, QueryState.KNOWN)}
    )
    try:
        release = service.release_select(query)
    except NoSuchTableError:
        # The result was evicted between the state check and now.
        raise removed_error from None
    headers = {"Content-Disposition": f"attachment;filename={query_id}.{extension}"}

    encode: Encoder
    if extension == "geojson":
        registry = service.session.registry
        try:
            features = result_features(release, registry.unit(query.spec.spatial_unit() or ""))
        except GeoJsonUnavailable as error:
            raise ApiError(
                400, {"status": "Error", "msg": f"Query with id '{query_id}': {error}"}
            ) from None
        statement = features.statement
        encode = partial(feature_collection_chunks, to_feature=features.feature)
    else:
        statement = release
        columns = [str(column.name) for column in release.selected_columns]
        if extension == "json":
            encode = partial(json_result_chunks, query_id, columns)
        else:
            encode = partial(csv_chunks, columns)

    try:
        # GeoJSON joins the unit's boundaries as they are now, which a reloaded layer changes.
        body = service.read_body(
            query_id, extension, statement, encode, keep=extension != "geojson"
        )
    except QueryNotFoundError:
        raise removed_error from None
    media_type = RESULT_FORMATS[extension]
    if isinstance(body, bytes):
        # Encoded whole, so an async iterator of one chunk spares the response a thread hop,
        # and the body stays chunked, as FlowAPI sends it.
        return Stream(content=_one_chunk(body), media_type=media_type, headers=headers)
    content = guarded(body, f"the {FORM_NAMES[extension]} result of {query_id}")
    return Stream(content=content, media_type=media_type, headers=headers)
