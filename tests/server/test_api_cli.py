"""``flowcore serve`` refuses to start without its required settings, naming what is missing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from flowcore_auth import generate_key_pair

FLOWCORE = str(Path(sys.executable).with_name("flowcore"))


@pytest.fixture(scope="module")
def public_pem() -> str:
    """A public key accepted as PUBLIC_JWT_SIGNING_KEY."""
    return generate_key_pair(2048)[1]


def _serve(env: dict[str, str], tmp_path: Path, port: int = 1) -> subprocess.CompletedProcess[str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FLOWDB_", "FLOWAPI_", "FLOWMACHINE_", "PUBLIC_JWT"))
    }
    # An empty cluster folder, so no stored DSN is found either.
    clean["FLOWCORE_HOME"] = str(tmp_path / "no-cluster")
    return subprocess.run(
        [FLOWCORE, "serve", "--port", str(port)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("variable", "settings"),
    [
        ("PUBLIC_JWT_SIGNING_KEY", {"FLOWAPI_IDENTIFIER": "api"}),
        ("FLOWAPI_IDENTIFIER", {"PUBLIC_JWT_SIGNING_KEY": "<public key>"}),
        (
            "FLOWDB_DSN",
            {"PUBLIC_JWT_SIGNING_KEY": "<public key>", "FLOWAPI_IDENTIFIER": "api"},
        ),
        (
            "FLOWAPI_PORT",
            {
                "PUBLIC_JWT_SIGNING_KEY": "<public key>",
                "FLOWAPI_IDENTIFIER": "api",
                "FLOWDB_DSN": "postgresql://127.0.0.1:1/flowdb",
                "FLOWAPI_PORT": "http",
            },
        ),
    ],
)
def test_missing_setting_stops_start(
    variable: str, settings: dict[str, str], public_pem: str, tmp_path: Path
) -> None:
    env = {k: public_pem if v == "<public key>" else v for k, v in settings.items()}
    result = _serve(env, tmp_path)

    assert result.returncode == 1
    assert variable in result.stderr
    assert "Traceback" not in result.stderr


def test_unusable_key_named(tmp_path: Path) -> None:
    result = _serve({"PUBLIC_JWT_SIGNING_KEY": "not a key", "FLOWAPI_IDENTIFIER": "api"}, tmp_path)

    assert result.returncode == 1
    assert "PUBLIC_JWT_SIGNING_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def _valid_settings(public_pem: str) -> dict[str, str]:
    return {
        "PUBLIC_JWT_SIGNING_KEY": public_pem,
        "FLOWAPI_IDENTIFIER": "api",
        "FLOWDB_DSN": "postgresql://127.0.0.1:1/flowdb",
    }


@pytest.mark.parametrize(("raw", "minimum"), [("0", 1), ("-2", 1)])
def test_workers_below_one_named(raw: str, minimum: int, public_pem: str, tmp_path: Path) -> None:
    result = _serve({**_valid_settings(public_pem), "FLOWCORE_MAX_WORKERS": raw}, tmp_path)

    assert result.returncode == 1
    assert f"FLOWCORE_MAX_WORKERS must be at least {minimum}, got {raw!r}" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Starting the API" not in result.stdout


def test_port_in_use_named(public_pem: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _serve(_valid_settings(public_pem), tmp_path, port=port)

    assert result.returncode == 1
    assert f"Cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "--port or FLOWAPI_PORT" in result.stderr
    assert "Starting the API" not in result.stdout
