"""``flowcore serve``: run the HTTP API with uvicorn."""

from __future__ import annotations

import socket

import click
import uvicorn

from flowcore_server.logs import configure_logging
from flowcore_server.settings import DEFAULT_HOST, ServerSettings, SettingsError

__all__ = ["serve"]

#: Import string of the app factory, used when uvicorn starts several worker processes.
APP_FACTORY = "flowcore_server.app:create_app"


@click.command()
@click.option(
    "--host",
    default=DEFAULT_HOST,
    show_default=True,
    help="Address to listen on; 0.0.0.0 exposes the API to the network.",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port to listen on. Default: FLOWAPI_PORT, else 9090.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Server processes; each runs its own query executor on the same database.",
)
def serve(host: str, port: int | None, workers: int) -> None:
    """Serve the FlowAPI-compatible HTTP API under /api/0.

    Needs PUBLIC_JWT_SIGNING_KEY (the RSA public key that verifies tokens) and
    FLOWAPI_IDENTIFIER (this server's name, the tokens' audience). The database is FLOWDB_DSN,
    FlowKit's FLOWDB_* variables, or the local cluster of `flowcore db up`.
    """
    try:
        settings = ServerSettings.from_env()
    except SettingsError as error:
        raise click.ClickException(str(error)) from None
    configure_logging(settings.logging_level)
    listen_port = port or settings.port
    _check_address_free(host, listen_port)
    # The log level defaults to "error", so print once where the API is. The notice goes to
    # standard output because standard error carries only JSON log lines.
    click.echo(
        f"Starting the API at http://{host}:{listen_port}/api/0 "
        f"(documentation: /api/0/spec/redoc); stop it with Ctrl+C."
    )
    if workers == 1:
        from flowcore_server.app import create_app

        uvicorn.run(
            create_app(settings),
            host=host,
            port=listen_port,
            log_config=None,
            access_log=False,
        )
        return
    # Each worker process builds its own app and session from the same environment.
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=listen_port,
        workers=workers,
        log_config=None,
        access_log=False,
    )


def _check_address_free(host: str, port: int) -> None:
    """Raise a ClickException when ``host:port`` cannot be bound, before anything starts."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise click.ClickException(f"Cannot listen on {host!r}: {error.strerror}") from None
    family, kind, protocol, _, address = addresses[0]
    with socket.socket(family, kind, protocol) as probe:
        # uvicorn binds with SO_REUSEADDR as well, so a port in TIME_WAIT counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise click.ClickException(
                f"Cannot listen on {host}:{port}: {error.strerror}; choose another port with "
                "--port or FLOWAPI_PORT"
            ) from None
