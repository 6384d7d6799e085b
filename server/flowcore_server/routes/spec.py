"""Routes that need no token: the API's OpenAPI document (JSON, YAML, ReDoc page) and ``/``."""

from __future__ import annotations

import html
from typing import Any

import yaml
from litestar import Request, Response, get

__all__ = ["get_openapi_json", "get_openapi_yaml", "get_redoc", "root"]

# NOTE: the page loads ReDoc from the jsDelivr CDN, so it renders only where the browser can
# reach that CDN; the JSON and YAML routes work offline.
_REDOC_PAGE = """<!DOCTYPE html>
<html>
  <head>
    <title>{title}</title>
    <meta charset="utf-8"/>
    <meta name="viewport" content="width=device-width, initial-scale=1">
  </head>
  <body>
    <redoc spec-url="{spec_url}"></redoc>
    <script src="https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"></script>
  </body>
</html>
"""


def _document(request: Request[Any, Any, Any]) -> dict[str, Any]:
    document: dict[str, Any] = request.app.state.openapi
    return document


@get("/spec/openapi.json", operation_id="get_openapi_json")
async def get_openapi_json(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Return the OpenAPI document as JSON."""
    return _document(request)


@get("/spec/openapi.yaml", operation_id="get_openapi_yaml", media_type="application/x-yaml")
async def get_openapi_yaml(request: Request[Any, Any, Any]) -> str:
    """Return the OpenAPI document as YAML."""
    return yaml.safe_dump(_document(request), sort_keys=False, allow_unicode=True)


@get("/spec/redoc", operation_id="get_redoc", media_type="text/html")
async def get_redoc(request: Request[Any, Any, Any]) -> str:
    """Return a page that renders the OpenAPI document with ReDoc."""
    title = html.escape(_document(request)["info"]["title"])
    return _REDOC_PAGE.format(title=title, spec_url="openapi.json")


@get("/", operation_id="root", include_in_schema=False)
async def root() -> Response[bytes]:
    """Return an empty 200, so load balancers can check that the server is up."""
    return Response(content=b"", media_type="text/plain")
