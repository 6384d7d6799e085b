"""The OpenAPI 3.0.1 document of the API, as FlowKit's clients and token generators read it.

``components.schemas`` holds one schema per installed query kind (generated from its spec class
by ``flowcore.model.jsonschema``) and the union ``FlowmachineQuerySchema`` of the kinds the API
runs. ``components.securitySchemes.token`` advertises every grantable scope
(``x-security-scopes``) and the audience tokens must carry (``x-audience``): FlowKit's token
generator builds a token with every scope from exactly these two keys.
"""

from __future__ import annotations

from typing import Any

from flowcore.model.jsonschema import TOP_LEVEL_SCHEMA, query_schemas, schema_ref
from flowcore.model.scopes import grantable_scopes
from flowcore.registry import Registry
from flowcore_server.geojson import geography_units
from flowcore_server.routes.queries import API_PREFIX

__all__ = ["build_openapi", "OPENAPI_VERSION", "TITLE"]

OPENAPI_VERSION = "3.0.1"
TITLE = "FlowAPI"

_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "status": {"type": "string"},
        "msg": {"type": "string"},
        "payload": {"type": "object"},
    },
    "required": ["msg"],
}
_PROGRESS_SCHEMA = {
    "type": "object",
    "properties": {
        "eligible": {"type": "integer"},
        "queued": {"type": "integer"},
        "running": {"type": "integer"},
    },
    "required": ["eligible", "queued", "running"],
}
_FEATURE_COLLECTION = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "features": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["type", "features"],
}
_QA_CHECK_PATH = [
    {"name": "cdr_type", "in": "path", "required": True, "schema": {"type": "string"}},
    {"name": "check_type", "in": "path", "required": True, "schema": {"type": "string"}},
]


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema_ref("Error")}},
    }


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_AUTH_ERRORS = {
    "401": _error("The token is missing or expired."),
    "403": _error("The token's roles do not grant this request."),
    "422": _error(
        "The token is malformed, not signed by this server's key, or for another server."
    ),
}


def _query_id_parameter(description: str) -> dict[str, Any]:
    return {
        "name": "query_id",
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


def _query_paths() -> dict[str, Any]:
    poll_location = {"Location": {"schema": {"type": "string"}}}
    query_id = _query_id_parameter("Id of a query, as returned by run.")
    get_operation = {
        "operationId": "get_result",
        "summary": "Stream a completed query's result.",
        "security": [{"token": []}],
        "responses": {
            "200": {
                "description": "The result, streamed.",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "query_id": {"type": "string"},
                                "query_result": {"type": "array", "items": {"type": "object"}},
                            },
                        }
                    },
                    "text/csv": {"schema": {"type": "string"}},
                    "application/geo+json": {"schema": _FEATURE_COLLECTION},
                },
            },
            "202": _json("The query is still queued or running.", {"type": "object"}),
            "400": _error("The file format is not json, csv or geojson."),
            **_AUTH_ERRORS,
            "404": _error("No query has this id, or its result was removed."),
            "500": _error("The query was cancelled or is being reset."),
        },
    }
    get_with_format = {
        **get_operation,
        "operationId": "get_result_in_format",
        "parameters": [
            query_id,
            {
                "name": "format",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "enum": ["json", "csv", "geojson"]},
            },
        ],
    }
    return {
        f"{API_PREFIX}/run": {
            "post": {
                "operationId": "run_query",
                "summary": "Validate a query spec, check the caller's grants and queue the query.",
                "security": [{"token": []}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": schema_ref(TOP_LEVEL_SCHEMA)}},
                },
                "responses": {
                    "202": {
                        "description": "Accepted; poll the Location header's path.",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "query_id": {"type": "string"},
                                        "progress": _PROGRESS_SCHEMA,
                                    },
                                    "required": ["query_id", "progress"],
                                }
                            }
                        },
                    },
                    "400": _error("The spec is invalid or cannot be computed on this data."),
                    **_AUTH_ERRORS,
                },
            }
        },
        f"{API_PREFIX}/poll/{{query_id}}": {
            "get": {
                "operationId": "poll_query",
                "summary": "Return a query's state.",
                "security": [{"token": []}],
                "parameters": [query_id],
                "responses": {
                    "202": _json(
                        "Queued or executing.",
                        {
                            "type": "object",
                            "properties": {
                                "status": {"type": "string"},
                                "msg": {"type": "string"},
                                "progress": _PROGRESS_SCHEMA,
                            },
                        },
                    ),
                    "303": {
                        "description": "Completed; the result is at the Location header's path.",
                        "headers": poll_location,
                    },
                    **_AUTH_ERRORS,
                    "404": _error("Unknown, or known but not run."),
                    "500": _error("The query errored or was cancelled."),
                },
            }
        },
        f"{API_PREFIX}/get/{{query_id}}": {"get": {**get_operation, "parameters": [query_id]}},
        f"{API_PREFIX}/get/{{query_id}}.{{format}}": {"get": get_with_format},
    }


def _data_paths(units: list[str]) -> dict[str, Any]:
    qa_list = {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "cdr_date": {"type": "string", "format": "date"},
                "type_of_query_or_check": {"type": "string"},
                "outcome": {"type": "string"},
            },
        },
    }
    date_parameter = {
        "required": True,
        "in": "query",
        "schema": {"type": "string", "format": "date"},
    }
    return {
        f"{API_PREFIX}/geography/{{aggregation_unit}}": {
            "get": {
                "operationId": "get_geography",
                "summary": "Stream an aggregation unit's regions or points as GeoJSON.",
                "security": [{"token": []}],
                "parameters": [
                    {
                        "name": "aggregation_unit",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": units},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "A FeatureCollection, streamed.",
                        "content": {"application/geo+json": {"schema": _FEATURE_COLLECTION}},
                    },
                    "400": _error("The aggregation unit is not one of the API's units."),
                    **_AUTH_ERRORS,
                },
            }
        },
        f"{API_PREFIX}/available_dates": {
            "get": {
                "operationId": "get_available_dates",
                "summary": "Return, per event type, the sorted dates with ingested data.",
                "security": [{"token": []}],
                "responses": {
                    "200": _json(
                        "Dates per event type.",
                        {
                            "type": "object",
                            "properties": {
                                "available_dates": {
                                    "type": "object",
                                    "additionalProperties": {
                                        "type": "array",
                                        "items": {"type": "string", "format": "date"},
                                    },
                                }
                            },
                        },
                    ),
                    **_AUTH_ERRORS,
                },
            }
        },
        f"{API_PREFIX}/qa": {
            "get": {
                "operationId": "list_qa_checks",
                "summary": "List the quality checks that have outcomes, per event type.",
                "security": [{"token": []}],
                "responses": {
                    "200": _json(
                        "Checks per event type.",
                        {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "cdr_type": {"type": "string"},
                                    "type_of_query_or_check": {"type": "string"},
                                },
                            },
                        },
                    ),
                    **_AUTH_ERRORS,
                },
            }
        },
        f"{API_PREFIX}/qa/{{cdr_type}}/{{check_type}}": {
            "get": {
                "operationId": "get_qa_outcomes",
                "summary": "Return a check's outcomes on each date of an inclusive range.",
                "security": [{"token": []}],
                "parameters": [
                    *_QA_CHECK_PATH,
                    {"name": "start_date", **date_parameter},
                    {"name": "end_date", **date_parameter},
                ],
                "responses": {
                    "200": _json("Outcomes by date.", qa_list),
                    "400": _error("A date is missing or not YYYY-MM-DD."),
                    **_AUTH_ERRORS,
                    "404": _error("The check has no outcome in the range."),
                },
            }
        },
        f"{API_PREFIX}/qa/{{cdr_type}}/{{check_type}}/{{check_date}}": {
            "get": {
                "operationId": "get_qa_outcome",
                "summary": "Return a check's outcome on one date, as plain text.",
                "security": [{"token": []}],
                "parameters": [
                    *_QA_CHECK_PATH,
                    {"name": "check_date", **{**date_parameter, "in": "path"}},
                ],
                "responses": {
                    "200": {
                        "description": "The outcome.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "400": _error("The date is not YYYY-MM-DD."),
                    **_AUTH_ERRORS,
                    "404": _error("The check has no outcome on that date."),
                },
            }
        },
    }


def _spec_paths() -> dict[str, Any]:
    def document(operation_id: str, media_type: str, summary: str) -> dict[str, Any]:
        return {
            "get": {
                "operationId": operation_id,
                "summary": summary,
                "responses": {
                    "200": {
                        "description": summary,
                        "content": {media_type: {"schema": {"type": "object"}}},
                    }
                },
            }
        }

    return {
        f"{API_PREFIX}/spec/openapi.json": document(
            "get_openapi_json", "application/json", "This OpenAPI document as JSON."
        ),
        f"{API_PREFIX}/spec/openapi.yaml": document(
            "get_openapi_yaml", "application/x-yaml", "This OpenAPI document as YAML."
        ),
        f"{API_PREFIX}/spec/redoc": {
            "get": {
                "operationId": "get_redoc",
                "summary": "A page that renders this document with ReDoc.",
                "responses": {
                    "200": {
                        "description": "HTML page.",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }


def build_openapi(registry: Registry, *, audience: str, version: str) -> dict[str, Any]:
    """Return the OpenAPI document for the installed query kinds and this server's audience."""
    schemas = query_schemas(registry)
    schemas["Error"] = _ERROR_SCHEMA
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": TITLE, "version": version, "description": "FlowKit Analytical API"},
        "paths": {**_query_paths(), **_data_paths(geography_units(registry)), **_spec_paths()},
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "token": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "x-security-scopes": grantable_scopes(registry),
                    "x-audience": audience,
                }
            },
        },
    }
