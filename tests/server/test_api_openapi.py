"""The OpenAPI document: the contract flowclient, ReDoc and token generators read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from api_helpers import AUDIENCE, RunningServer

from flowcore.model.scopes import grantable_scopes
from flowcore.session import Session


@pytest.fixture(scope="module")
def document(api_server: RunningServer) -> dict[str, Any]:
    """The server's OpenAPI document."""
    response = httpx.get(f"{api_server.url}/api/0/spec/openapi.json", timeout=30)
    assert response.status_code == 200
    return dict(response.json())


def test_document_header(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.0.1"
    assert document["info"]["title"] == "FlowAPI"
    assert document["info"]["description"] == "FlowKit Analytical API"


def test_security_scheme(document: dict[str, Any], python_session: Session) -> None:
    scheme = document["components"]["securitySchemes"]["token"]

    assert scheme["type"] == "http"
    assert scheme["scheme"] == "bearer"
    assert scheme["bearerFormat"] == "JWT"
    assert scheme["x-audience"] == AUDIENCE
    assert scheme["x-security-scopes"] == grantable_scopes(python_session.registry)
    assert {"run", "get_result", "get_available_dates"} <= set(scheme["x-security-scopes"])
    assert "admin3:spatial_aggregate:modal_location" in scheme["x-security-scopes"]
    assert "admin3:geography:geography" in scheme["x-security-scopes"]


def test_top_level_union(document: dict[str, Any], python_session: Session) -> None:
    union = document["components"]["schemas"]["FlowmachineQuerySchema"]
    top_level = sorted(kind.name for kind in python_session.registry.top_level_kinds())

    assert union["discriminator"]["propertyName"] == "query_kind"
    assert sorted(union["discriminator"]["mapping"]) == top_level
    assert [ref["$ref"] for ref in union["oneOf"]] == [
        f"#/components/schemas/{name}" for name in top_level
    ]


def test_schema_per_kind(document: dict[str, Any], python_session: Session) -> None:
    schemas = document["components"]["schemas"]

    for name, kind in python_session.registry.kinds.items():
        schema = schemas[name]
        assert schema["properties"]["query_kind"] == {"type": "string", "enum": [name]}
        assert "query_kind" in schema["required"]
        assert schema["additionalProperties"] is False
        if kind.example is not None:
            assert schema["example"] == kind.example


def test_examples_run(
    document: dict[str, Any], api_server: RunningServer, universal_token: str
) -> None:
    schemas = document["components"]["schemas"]
    names = [ref["$ref"].rsplit("/", 1)[1] for ref in schemas["FlowmachineQuerySchema"]["oneOf"]]
    with api_server.client(universal_token) as client:
        for name in names:
            response = client.post("/api/0/run", json=schemas[name]["example"])
            assert response.status_code == 202, f"{name}: {response.text}"


def test_every_route_documented(document: dict[str, Any]) -> None:
    paths = document["paths"]
    expected = {
        "/api/0/run": "post",
        "/api/0/poll/{query_id}": "get",
        "/api/0/get/{query_id}": "get",
        "/api/0/get/{query_id}.{format}": "get",
        "/api/0/geography/{aggregation_unit}": "get",
        "/api/0/available_dates": "get",
        "/api/0/qa": "get",
        "/api/0/qa/{cdr_type}/{check_type}": "get",
        "/api/0/qa/{cdr_type}/{check_type}/{check_date}": "get",
        "/api/0/spec/openapi.json": "get",
        "/api/0/spec/openapi.yaml": "get",
        "/api/0/spec/redoc": "get",
    }

    for path, method in expected.items():
        assert method in paths[path], path
        assert paths[path][method]["responses"], path
    assert set(paths["/api/0/poll/{query_id}"]["get"]["responses"]) >= {
        "202",
        "303",
        "401",
        "403",
        "404",
        "500",
    }


def test_yaml_and_redoc(api_server: RunningServer, document: dict[str, Any]) -> None:
    as_yaml = httpx.get(f"{api_server.url}/api/0/spec/openapi.yaml", timeout=30)
    redoc = httpx.get(f"{api_server.url}/api/0/spec/redoc", timeout=30)

    assert as_yaml.headers["content-type"].startswith("application/x-yaml")
    assert yaml.safe_load(as_yaml.text) == document
    assert redoc.status_code == 200
    assert redoc.headers["content-type"].startswith("text/html")
    assert 'spec-url="openapi.json"' in redoc.text


def test_root_answers_empty(api_server: RunningServer) -> None:
    response = httpx.get(f"{api_server.url}/", timeout=30)

    assert response.status_code == 200
    assert response.content == b""


def test_token_generator_reads_the_document(
    api_server: RunningServer, signing_keys: tuple[str, str], tmp_path: Path
) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_text(signing_keys[0])
    issued = subprocess.run(
        [
            str(Path(sys.executable).with_name("flowcore")),
            "token",
            "issue",
            "--private-key",
            str(key_file),
            "--sub",
            "generated",
            "--all-scopes",
            "--from-spec",
            f"{api_server.url}/api/0/spec/openapi.json",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    token = issued.stdout.strip()
    response = httpx.get(
        f"{api_server.url}/api/0/available_dates",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )

    assert response.status_code == 200
    assert response.json()["available_dates"]["calls"][0] == "2016-01-01"
