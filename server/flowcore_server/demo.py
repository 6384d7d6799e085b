"""The demo behind ``make demo`` and ``make demo-stop``: a local API queried with flowclient.

``python -m flowcore_server.demo up`` starts the local FlowDB cluster (``flowcore db up``),
loads data into an empty database (the dataset at ``$FLOWCORE_TESTDATA``, else a small
synthetic week from ``flowcore db synth``), creates a key pair and a token under
``$FLOWCORE_HOME/demo`` (``./.flowcore/demo`` by default), starts ``flowcore serve`` on
127.0.0.1 in the background, and runs two queries through flowclient: a spatial aggregate of
daily locations and a flows query. Running it again reuses what is already there.

``python -m flowcore_server.demo down`` stops the server by its pid file and stops the cluster.

Set ``FLOWAPI_PORT`` to serve on another port than 9090. With ``FLOWDB_DSN`` (or FlowKit's
``FLOWDB_HOST``) set, the demo uses that database and neither starts nor stops a cluster.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import psycopg

from flowdb.config import flowcore_home, resolve_dsn

__all__ = ["main", "python_snippet", "save_token", "start_demo", "stop_demo"]

#: Audience of the demo server's tokens.
DEMO_AUDIENCE = "flowcore-demo"
#: Seconds the server may take to start.
STARTUP_SECONDS = 60
#: Synthetic data of the demo when no dataset is given: small enough to generate in seconds.
SYNTH_OPTIONS = (
    *("--days", "7", "--subscribers", "2000", "--cells", "300", "--sites", "200"),
    *("--calls", "20000", "--sms", "20000", "--mds", "5000"),
)

FLOWCORE = str(Path(sys.executable).with_name("flowcore"))


class DemoError(RuntimeError):
    """A demo step failed; the message names the step and what to do next."""


def _step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def _flowcore(*arguments: str, env: dict[str, str] | None = None) -> str:
    """Run a ``flowcore`` command, echoing its error output; return its standard output."""
    result = subprocess.run(
        [FLOWCORE, *arguments], capture_output=True, text=True, env=env or dict(os.environ)
    )
    if result.stderr.strip():
        print(result.stderr.rstrip(), file=sys.stderr)
    if result.returncode != 0:
        raise DemoError(
            f"`flowcore {' '.join(arguments)}` failed with exit status {result.returncode}"
        )
    return result.stdout


def _external_database() -> str | None:
    for variable in ("FLOWDB_DSN", "FLOWDB_HOST"):
        if os.environ.get(variable):
            return variable
    return None


def _has_events(dsn: str) -> bool:
    with psycopg.connect(dsn) as connection:
        row = connection.execute("SELECT count(*) FROM etl.available_dates").fetchone()
    return bool(row and row[0])


def _load_data(dsn: str) -> None:
    if _has_events(dsn):
        print("The database already holds events; nothing to load.")
        return
    dataset = os.environ.get("FLOWCORE_TESTDATA")
    if dataset:
        print(f"Loading the dataset in {dataset} ...")
        print(_flowcore("db", "load", dataset))
        return
    print("FLOWCORE_TESTDATA is unset, so the demo generates a synthetic week of data ...")
    print(_flowcore("db", "synth", *SYNTH_OPTIONS))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _pid_alive(pid) else None


def _wait_until_serving(url: str, process: subprocess.Popen[bytes], log_file: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DemoError(f"the server stopped during start-up; see its log in {log_file}")
        try:
            if httpx.get(url + "/", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise DemoError(f"the server did not respond within {STARTUP_SECONDS} s; see {log_file}")


def _start_server(demo_dir: Path, port: int, dsn: str) -> str:
    url = f"http://127.0.0.1:{port}"
    pid_file = demo_dir / "server.pid"
    running = _read_pid(pid_file)
    if running is not None:
        print(f"The demo server is already running (pid {running}) at {url}.")
        return url
    log_file = demo_dir / "server.log"
    env = {
        **os.environ,
        "PUBLIC_JWT_SIGNING_KEY": (demo_dir / "jwt-signing-key.pub.pem").read_text(),
        "FLOWAPI_IDENTIFIER": DEMO_AUDIENCE,
        "FLOWDB_DSN": dsn,
        "FLOWAPI_LOG_LEVEL": os.environ.get("FLOWAPI_LOG_LEVEL", "info"),
    }
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            [FLOWCORE, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=log,
            # Its own session, so the server outlives the make process that started it.
            start_new_session=True,
        )
    pid_file.write_text(f"{process.pid}\n")
    _wait_until_serving(url, process, log_file)
    print(f"Started the server (pid {process.pid}) at {url}; its log is {log_file}.")
    return url


def _issue_token(demo_dir: Path, url: str) -> str:
    token = _flowcore(
        "token",
        "issue",
        "--private-key",
        str(demo_dir / "jwt-signing-key.pem"),
        "--sub",
        "demo",
        "--lifetime",
        "1d",
        "--all-scopes",
        "--from-spec",
        f"{url}/api/0/spec/openapi.json",
    ).strip()
    save_token(demo_dir / "token", token)
    return token


def save_token(path: Path, token: str) -> None:
    """Write a token to a file only its owner can read, as one line."""
    path.write_text(token + "\n")
    path.chmod(0o600)


def python_snippet(url: str, token_path: Path) -> list[str]:
    """Return the lines of Python that connect flowclient to the demo server."""
    return [
        "import flowclient",
        f"conn = flowclient.connect(url='{url}', token=open('{token_path}').read().strip())",
    ]


def _run_queries(url: str, token: str) -> None:
    try:
        import flowclient
        import flowclient.aggregates as aggregates
    except ImportError:
        raise DemoError("the demo queries need flowclient: pip install -e 'server[test]'") from None
    with warnings.catch_warnings():
        # The demo server listens on loopback only, so plain HTTP is expected.
        warnings.simplefilter("ignore")
        connection = flowclient.connect(url=url, token=token)
    days = flowclient.get_available_dates(connection=connection)["calls"]
    if len(days) < 2:
        raise DemoError("the demo needs at least two days of calls in the database")
    first, second = days[0], days[1]

    def daily(day: str) -> dict[str, Any]:
        return flowclient.daily_location_spec(date=day, aggregation_unit="admin2", method="last")

    _step(f"Subscribers per district (admin2) by their last location on {first}")
    counts = flowclient.get_result(
        connection=connection,
        query_spec=aggregates.spatial_aggregate_spec(locations=daily(first)),
        disable_progress=True,
    )
    print(counts.sort_values("value", ascending=False).head(15).to_string(index=False))
    printed_rows = min(15, len(counts))
    print(
        f"(the {printed_rows} largest of {len(counts)} districts; counts of 15 or fewer "
        "subscribers are withheld)"
    )

    _step(f"Subscribers moving between provinces (admin1) from {first} to {second}")
    flows = flowclient.get_result(
        connection=connection,
        query_spec=aggregates.flows_spec(
            from_location=flowclient.daily_location_spec(
                date=first, aggregation_unit="admin1", method="last"
            ),
            to_location=flowclient.daily_location_spec(
                date=second, aggregation_unit="admin1", method="last"
            ),
        ),
        disable_progress=True,
    )
    print(flows.sort_values("value", ascending=False).head(15).to_string(index=False))
    print("(pairs of regions with 15 or fewer subscribers moving between them are withheld)")


def start_demo() -> None:
    """Start the database and the API, load data, and run the demo queries."""
    home = flowcore_home()
    demo_dir = home / "demo"
    demo_dir.mkdir(parents=True, exist_ok=True)
    port = int(os.environ.get("FLOWAPI_PORT") or 9090)

    _step("Starting the local FlowDB")
    external = _external_database()
    if external:
        print(f"{external} is set, so the demo uses that database.")
    else:
        print(_flowcore("db", "up").strip())
    dsn = resolve_dsn()

    _step("Loading data")
    _load_data(dsn)

    _step("Creating a signing key pair")
    if (demo_dir / "jwt-signing-key.pem").exists():
        print(f"Reusing the key pair in {demo_dir}.")
    else:
        print(_flowcore("token", "keygen", "--out-dir", str(demo_dir)).splitlines()[0])

    _step("Starting the API server")
    url = _start_server(demo_dir, port, dsn)

    _step("Issuing a token with every scope the server grants")
    token = _issue_token(demo_dir, url)
    print(f"Token (valid for one day) saved in {demo_dir / 'token'}.")

    _run_queries(url, token)

    _step("Done")
    print(f"API documentation: {url}/api/0/spec/redoc")
    print(f"OpenAPI document:  {url}/api/0/spec/openapi.json")
    print("From Python:")
    for line in python_snippet(url, demo_dir / "token"):
        print(f"    {line}")
    print("Stop the server and the database with: make demo-stop")


def stop_demo() -> None:
    """Stop the demo server by its pid file, then the local cluster."""
    demo_dir = flowcore_home() / "demo"
    pid_file = demo_dir / "server.pid"
    pid = _read_pid(pid_file)
    if pid is None:
        print("The demo server is not running.")
    else:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        print(f"Stopped the demo server (pid {pid}).")
    pid_file.unlink(missing_ok=True)
    external = _external_database()
    if external:
        print(f"{external} is set, so the demo leaves that database running.")
        return
    print(_flowcore("db", "down").strip())


def main(arguments: Sequence[str] | None = None) -> int:
    """Run ``up`` or ``down``; return the exit status."""
    command = (list(arguments) if arguments is not None else sys.argv[1:]) or ["up"]
    actions = {"up": start_demo, "down": stop_demo}
    if len(command) != 1 or command[0] not in actions:
        print("usage: python -m flowcore_server.demo [up|down]", file=sys.stderr)
        return 2
    try:
        actions[command[0]]()
    except DemoError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
