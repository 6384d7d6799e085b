"""The application factory: the Litestar app with its session, routes and error handlers.

Nothing happens at import. ``create_app`` builds the app; the flowcore session (which loads the
plugins once and starts the executor) opens on application start-up and closes on shutdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from litestar import Litestar
from litestar.concurrency import sync_to_thread
from litestar.datastructures import State
from litestar.di import Provide

import flowcore
from flowcore_server.auth import authenticate
from flowcore_server.bodies import ResultBodies
from flowcore_server.errors import exception_handlers
from flowcore_server.logs import AccessLog, QueryLog, configure_logging
from flowcore_server.openapi import build_openapi
from flowcore_server.routes import api_router, root
from flowcore_server.service import QueryService
from flowcore_server.settings import ServerSettings

__all__ = ["create_app", "server_version"]


def server_version() -> str:
    """Return the installed version of flowcore-server."""
    try:
        return version("flowcore-server")
    except PackageNotFoundError:
        return "0.0.0"


def _provide_service(state: State) -> QueryService:
    service: QueryService = state.service
    return service


def _provide_query_log(state: State) -> QueryLog:
    query_log: QueryLog = state.query_log
    return query_log


def create_app(
    settings: ServerSettings | None = None, *, plugins: Sequence[object] = ()
) -> Litestar:
    """Build the API application.

    Without ``settings`` they are read from the environment and the log is configured as JSON
    lines on stderr (how ``flowcore serve`` and its worker processes start). ``plugins`` are
    extra flowcore plugin objects registered on the session's plugin manager, for example a
    query kind used only in tests.
    """
    if settings is None:
        settings = ServerSettings.from_env()
        configure_logging(settings.logging_level)
    query_log = QueryLog()

    async def open_session(app: Litestar) -> None:
        session = await sync_to_thread(
            flowcore.connect, settings.dsn, settings=settings.core, plugins=[query_log, *plugins]
        )
        app.state.session = session
        app.state.service = QueryService(session, ResultBodies(settings.body_cache_bytes))
        app.state.openapi = build_openapi(
            session.registry, audience=settings.audience, version=server_version()
        )

    async def close_session(app: Litestar) -> None:
        session = app.state.get("session")
        if session is not None:
            await sync_to_thread(session.close)

    app = Litestar(
        route_handlers=[api_router(), root],
        on_startup=[open_session],
        on_shutdown=[close_session],
        exception_handlers=exception_handlers(),
        dependencies={
            "identity": Provide(authenticate, sync_to_thread=False),
            "service": Provide(_provide_service, sync_to_thread=False),
            "query_log_plugin": Provide(_provide_query_log, sync_to_thread=False),
        },
        state=State({"settings": settings, "query_log": query_log}),
        # The API's own OpenAPI document is served under /api/0/spec; Litestar's is off.
        openapi_config=None,
        logging_config=None,
    )
    # Wrapping the whole ASGI handler (not a route middleware) logs unknown routes too.
    app.asgi_handler = AccessLog(app.asgi_handler)
    return app
