"""The ``flowcore token`` commands, run through click's CliRunner."""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
from click.testing import CliRunner
from flowcore_auth import TokenVerifier, decode_user_claims, load_public_key
from flowcore_auth.cli import ALL_SCOPES_ROLE, PRIVATE_KEY_FILENAME, PUBLIC_KEY_FILENAME, token

SPEC_SCOPES = [
    "admin3:geography:geography",
    "admin3:spatial_aggregate:daily_location",
    "admin3:spatial_aggregate:spatial_aggregate",
    "get_available_dates",
    "get_result",
    "run",
]
SPEC_DOCUMENT = {
    "openapi": "3.0.1",
    "info": {"title": "FlowAPI", "version": "0.1.0"},
    "components": {
        "securitySchemes": {
            "token": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "x-security-scopes": SPEC_SCOPES,
                "x-audience": "spec-server",
            }
        }
    },
}
SPEC_PATH = "/api/0/spec/openapi.json"


class _SpecHandler(BaseHTTPRequestHandler):
    """Serve SPEC_DOCUMENT at SPEC_PATH, a document without the token scheme at /bare.json."""

    def do_GET(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
        documents = {SPEC_PATH: SPEC_DOCUMENT, "/bare.json": {"openapi": "3.0.1"}}
        if self.path == "/not-json":
            self._send(200, b"<html></html>")
        elif self.path in documents:
            self._send(200, json.dumps(documents[self.path]).encode("utf-8"))
        else:
            self._send(404, b'{"msg": "not found"}')

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output free of access logs."""


@pytest.fixture
def spec_server() -> Iterator[str]:
    """Serve a fixed OpenAPI document on a free loopback port; yield the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SpecHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    """A folder holding a key pair written by ``flowcore token keygen``."""
    result = CliRunner().invoke(token, ["keygen", "--out-dir", str(tmp_path), "--key-size", "2048"])
    assert result.exit_code == 0, result.output
    return tmp_path


def issue(*arguments: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run ``token issue``; return the exit code, standard output and standard error."""
    result = CliRunner().invoke(token, ["issue", *arguments], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_keygen_writes_key_pair(key_dir: Path) -> None:
    private_path = key_dir / PRIVATE_KEY_FILENAME
    public_path = key_dir / PUBLIC_KEY_FILENAME

    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    assert private_path.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert public_path.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert sorted(path.name for path in key_dir.iterdir()) == sorted(
        [PRIVATE_KEY_FILENAME, PUBLIC_KEY_FILENAME]
    )


def test_keygen_prints_export_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(token, ["keygen", "--out-dir", str(tmp_path), "--key-size", "2048"])

    lines = result.stdout.splitlines()
    assert result.exit_code == 0
    assert str(tmp_path / PRIVATE_KEY_FILENAME) in lines[0]
    assert str(tmp_path / PUBLIC_KEY_FILENAME) in lines[1]
    assert lines[-1].startswith("export PUBLIC_JWT_SIGNING_KEY=")
    exported = lines[-1].removeprefix("export PUBLIC_JWT_SIGNING_KEY=")
    public_pem = (tmp_path / PUBLIC_KEY_FILENAME).read_text()
    assert (
        load_public_key(exported).public_numbers() == load_public_key(public_pem).public_numbers()
    )


def test_keygen_keeps_existing_keys(key_dir: Path) -> None:
    before = (key_dir / PRIVATE_KEY_FILENAME).read_text()

    result = CliRunner().invoke(token, ["keygen", "--out-dir", str(key_dir), "--key-size", "2048"])

    assert result.exit_code == 1
    assert "already exists; pass --force" in result.stderr
    assert (key_dir / PRIVATE_KEY_FILENAME).read_text() == before


def test_keygen_force_overwrites(key_dir: Path) -> None:
    before = (key_dir / PRIVATE_KEY_FILENAME).read_text()

    result = CliRunner().invoke(
        token, ["keygen", "--out-dir", str(key_dir), "--key-size", "2048", "--force"]
    )

    assert result.exit_code == 0
    assert (key_dir / PRIVATE_KEY_FILENAME).read_text() != before
    assert stat.S_IMODE((key_dir / PRIVATE_KEY_FILENAME).stat().st_mode) == 0o600


def test_keygen_rejects_small_key(tmp_path: Path) -> None:
    result = CliRunner().invoke(token, ["keygen", "--out-dir", str(tmp_path), "--key-size", "1024"])

    assert result.exit_code == 2
    assert "--key-size" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_keygen_failed_write_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fchmod = os.fchmod
    calls = []

    def fail_on_second_file(descriptor: int, mode: int) -> None:
        calls.append(mode)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_fchmod(descriptor, mode)

    monkeypatch.setattr("flowcore_auth.cli.os.fchmod", fail_on_second_file)

    result = CliRunner().invoke(token, ["keygen", "--out-dir", str(tmp_path), "--key-size", "2048"])

    assert result.exit_code == 1
    assert "cannot write the key files" in result.stderr
    assert "No space left on device" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_keygen_issue_verify_round_trip(key_dir: Path) -> None:
    code, output, _ = issue(
        "--private-key",
        str(key_dir / PRIVATE_KEY_FILENAME),
        "--sub",
        "alice",
        "--audience",
        "flowapi",
        "--lifetime",
        "30m",
        "--role",
        "viewer=get_result,admin3:geography:geography",
        "--role",
        "runner=run",
        "--role",
        "viewer=get_available_dates",
    )
    verifier = TokenVerifier((key_dir / PUBLIC_KEY_FILENAME).read_text(), "flowapi")

    identity = verifier.verify(f"Bearer {output.strip()}")

    assert code == 0
    assert identity.subject == "alice"
    assert dict(identity.roles) == {
        "viewer": frozenset({"get_result", "admin3:geography:geography", "get_available_dates"}),
        "runner": frozenset({"run"}),
    }
    claims = jwt.decode(output.strip(), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 1800


def test_issue_no_compress(key_dir: Path) -> None:
    code, output, _ = issue(
        "--private-key",
        str(key_dir / PRIVATE_KEY_FILENAME),
        "--sub",
        "alice",
        "--audience",
        "flowapi",
        "--role",
        "viewer=get_result",
        "--no-compress",
    )

    claims = jwt.decode(output.strip(), options={"verify_signature": False})
    assert code == 0
    assert claims["user_claims"] == {"viewer": ["get_result"]}


def test_issue_key_from_environment(key_dir: Path) -> None:
    private_pem = (key_dir / PRIVATE_KEY_FILENAME).read_text()

    code, output, _ = issue(
        "--sub", "alice", "--audience", "flowapi", env={"PRIVATE_JWT_SIGNING_KEY": private_pem}
    )

    verifier = TokenVerifier((key_dir / PUBLIC_KEY_FILENAME).read_text(), "flowapi")
    assert code == 0
    assert verifier.verify(f"Bearer {output.strip()}").subject == "alice"


def test_issue_warns_without_scopes(key_dir: Path) -> None:
    code, output, errors = issue(
        "--private-key", str(key_dir / PRIVATE_KEY_FILENAME), "--sub", "a", "--audience", "b"
    )

    assert code == 0
    assert output.count(".") == 2
    assert "Warning: the token grants no scopes" in errors


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        pytest.param(
            ["--lifetime", "1 week"],
            2,
            "invalid lifetime '1 week': expected a whole number followed by s, m, h or d",
            id="bad lifetime",
        ),
        pytest.param(
            ["--role", "viewer"],
            2,
            "'viewer' is not NAME=SCOPE,SCOPE (for example viewer=get_result,run)",
            id="role without scopes",
        ),
        pytest.param(
            ["--role", "=run"],
            2,
            "'=run' is not NAME=SCOPE,SCOPE",
            id="role without name",
        ),
        pytest.param(
            ["--role", "viewer=run,,get_result"],
            2,
            "'viewer=run,,get_result' has an empty scope",
            id="empty scope",
        ),
        pytest.param(
            ["--all-scopes"],
            2,
            "--all-scopes needs --from-spec URL",
            id="all scopes without spec",
        ),
    ],
)
def test_issue_invalid_options(
    key_dir: Path, arguments: list[str], code: int, message: str
) -> None:
    exit_code, output, errors = issue(
        "--private-key",
        str(key_dir / PRIVATE_KEY_FILENAME),
        "--sub",
        "alice",
        "--audience",
        "flowapi",
        *arguments,
    )

    assert exit_code == code
    assert output == ""
    assert message in " ".join(errors.split())


def test_issue_needs_audience(key_dir: Path) -> None:
    code, output, errors = issue("--private-key", str(key_dir / PRIVATE_KEY_FILENAME), "--sub", "a")

    assert code == 2
    assert output == ""
    assert "give --audience NAME, or --from-spec URL" in errors


def test_issue_needs_private_key() -> None:
    code, _, errors = issue("--sub", "a", "--audience", "b", env={"PRIVATE_JWT_SIGNING_KEY": ""})

    assert code == 2
    assert "give --private-key FILE or set PRIVATE_JWT_SIGNING_KEY" in errors


def test_issue_bad_private_key_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.pem"
    path.write_text("nonsense")

    code, output, errors = issue("--private-key", str(path), "--sub", "a", "--audience", "b")

    assert code == 1
    assert output == ""
    assert f"private key file {str(path)!r} does not contain a usable private key" in errors


def test_issue_all_scopes_from_spec(key_dir: Path, spec_server: str) -> None:
    code, output, errors = issue(
        "--private-key",
        str(key_dir / PRIVATE_KEY_FILENAME),
        "--sub",
        "alice",
        "--all-scopes",
        "--from-spec",
        spec_server + SPEC_PATH,
    )
    verifier = TokenVerifier((key_dir / PUBLIC_KEY_FILENAME).read_text(), "spec-server")

    identity = verifier.verify(f"Bearer {output.strip()}")

    assert code == 0
    assert errors == ""
    assert dict(identity.roles) == {ALL_SCOPES_ROLE: frozenset(SPEC_SCOPES)}


def test_issue_spec_with_extra_role(key_dir: Path, spec_server: str) -> None:
    code, output, _ = issue(
        "--private-key",
        str(key_dir / PRIVATE_KEY_FILENAME),
        "--sub",
        "alice",
        "--from-spec",
        spec_server + SPEC_PATH,
        "--role",
        "viewer=get_result",
    )

    claims = jwt.decode(output.strip(), options={"verify_signature": False})
    assert code == 0
    assert claims["aud"] == "spec-server"
    assert dict(decode_user_claims(claims["user_claims"])) == {"viewer": frozenset({"get_result"})}


def test_issue_spec_warns_of_unknown_scopes(key_dir: Path, spec_server: str) -> None:
    code, output, errors = issue(
        "--private-key",
        str(key_dir / PRIVATE_KEY_FILENAME),
        "--sub",
        "alice",
        "--from-spec",
        spec_server + SPEC_PATH,
        "--role",
        "runner=run,admin3:spatial_agregate:daily_location",
    )

    assert code == 0
    assert output.strip()
    assert "does not advertise these scopes" in errors
    assert errors.strip().endswith("(check the spelling): admin3:spatial_agregate:daily_location")


def test_issue_spec_known_scopes_no_warning(key_dir: Path, spec_server: str) -> None:
    code, _, errors = issue(
        "--private-key",
        str(key_dir / PRIVATE_KEY_FILENAME),
        "--sub",
        "alice",
        "--from-spec",
        spec_server + SPEC_PATH,
        "--role",
        "runner=run,admin3:spatial_aggregate:daily_location",
    )

    assert code == 0
    assert errors == ""


def test_issue_spec_audience_override(key_dir: Path, spec_server: str) -> None:
    code, output, errors = issue(
        "--private-key",
        str(key_dir / PRIVATE_KEY_FILENAME),
        "--sub",
        "alice",
        "--audience",
        "elsewhere",
        "--all-scopes",
        "--from-spec",
        spec_server + SPEC_PATH,
    )

    claims = jwt.decode(output.strip(), options={"verify_signature": False})
    assert code == 0
    assert claims["aud"] == "elsewhere"
    assert "expects the audience 'spec-server'" in errors


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/missing.json", "cannot fetch the OpenAPI document from {url}: HTTP 404"),
        ("/not-json", "the document at {url} is not valid JSON"),
        ("/bare.json", "{url} has no components.securitySchemes.token"),
    ],
)
def test_issue_spec_errors(key_dir: Path, spec_server: str, path: str, message: str) -> None:
    url = spec_server + path

    code, output, errors = issue(
        "--private-key",
        str(key_dir / PRIVATE_KEY_FILENAME),
        "--sub",
        "alice",
        "--all-scopes",
        "--from-spec",
        url,
    )

    assert code == 1
    assert output == ""
    assert message.format(url=url) in errors


def test_issue_spec_unreachable(key_dir: Path) -> None:
    # A port that was just free is very likely still closed.
    with ThreadingHTTPServer(("127.0.0.1", 0), _SpecHandler) as probe:
        closed_port = probe.server_address[1]
    url = f"http://127.0.0.1:{closed_port}{SPEC_PATH}"

    code, _, errors = issue(
        "--private-key",
        str(key_dir / PRIVATE_KEY_FILENAME),
        "--sub",
        "alice",
        "--all-scopes",
        "--from-spec",
        url,
    )

    assert code == 1
    assert f"cannot fetch the OpenAPI document from {url}" in errors


def test_flowcore_command_has_token() -> None:
    from flowcore.cli import main

    result = CliRunner().invoke(main, ["token", "--help"])

    assert result.exit_code == 0
    assert "keygen" in result.stdout
    assert "issue" in result.stdout
