"""The API's routes, grouped under the ``/api/0`` prefix."""

from __future__ import annotations

from litestar import Router

from flowcore_server.routes.geography import get_geography
from flowcore_server.routes.metadata import (
    get_available_dates,
    get_qa_outcome,
    get_qa_outcomes,
    list_qa_checks,
)
from flowcore_server.routes.queries import API_PREFIX, get_result, poll_query, run_query
from flowcore_server.routes.spec import get_openapi_json, get_openapi_yaml, get_redoc, root

__all__ = ["api_router", "root"]


def api_router() -> Router:
    """Return a new router with every route under ``/api/0``."""
    return Router(
        path=API_PREFIX,
        route_handlers=[
            run_query,
            poll_query,
            get_result,
            get_geography,
            get_available_dates,
            list_qa_checks,
            get_qa_outcomes,
            get_qa_outcome,
            get_openapi_json,
            get_openapi_yaml,
            get_redoc,
        ],
    )
