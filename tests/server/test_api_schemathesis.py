"""Property-based requests from the API's own OpenAPI document: no input may cause a 5xx.

schemathesis generates requests for every operation of ``/api/0/spec/openapi.json``, valid
and invalid, with a token that holds every scope, against the loopback test server. The number
of examples per operation is bounded so the whole run stays small.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from api_helpers import RunningServer
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

#: Generated requests per operation.
EXAMPLES_PER_OPERATION = 25


@pytest.fixture(scope="module")
def api_schema(api_server: RunningServer, universal_token: str) -> Any:
    """The server's OpenAPI document, loaded by schemathesis and pointed at the server."""
    schema = schemathesis.openapi.from_url(f"{api_server.url}/api/0/spec/openapi.json")
    schema.config.update(
        base_url=api_server.url,
        headers={"Authorization": f"Bearer {universal_token}"},
        request_timeout=60,
    )
    return schema


def test_no_server_errors(api_schema: Any) -> None:
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]

    for operation in operations:

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            response = case.call()
            case.validate_response(response, checks=[not_a_server_error, status_code_conformance])

        try:
            check()
        except Exception as error:  # collect every operation's failure, then report all
            failures.append(f"{operation.method.upper()} {operation.path}: {error}")

    assert len(operations) >= 10
    assert not failures, "\n\n".join(failures)
