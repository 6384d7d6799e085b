"""The Python lines the demo prints connect flowclient with the token file it writes."""

from __future__ import annotations

import warnings
from pathlib import Path

import flowclient.connection
from flowcore_auth import generate_key_pair, issue_token
from flowcore_server.demo import python_snippet, save_token


def test_printed_snippet_connects_flowclient(tmp_path: Path) -> None:
    private_pem, _ = generate_key_pair(2048)
    token = issue_token(private_pem, "demo", "flowcore-demo", {"demo": ["run"]})
    token_path = tmp_path / "token"
    save_token(token_path, token)
    namespace: dict[str, object] = {}

    with warnings.catch_warnings():
        # flowclient warns about plain HTTP; the demo serves on loopback only.
        warnings.simplefilter("ignore", UserWarning)
        exec("\n".join(python_snippet("http://127.0.0.1:9090", token_path)), namespace)

    connection = namespace["conn"]
    assert isinstance(connection, flowclient.connection.Connection)
    assert connection.user == "demo"
    assert connection.token == token
    assert token_path.read_text().endswith("\n")
    assert token_path.stat().st_mode & 0o777 == 0o600
