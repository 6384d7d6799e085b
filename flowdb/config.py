"""Database configuration: the DSN resolution order and the local cluster's folder."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from psycopg.conninfo import conninfo_to_dict

__all__ = [
    "ConfigError",
    "DSN_FILE_NAME",
    "flowcore_home",
    "resolve_dsn",
    "sqlalchemy_url",
    "stored_dsn",
]

DSN_FILE_NAME = "dsn"
"""File in ``$FLOWCORE_HOME`` that contains the DSN of the local cluster started by ``db up``."""


class ConfigError(RuntimeError):
    """No database is configured, or its configuration is invalid."""


def flowcore_home() -> Path:
    """Return the folder of the local cluster: ``$FLOWCORE_HOME``, else ``./.flowcore``."""
    configured = os.environ.get("FLOWCORE_HOME")
    return Path(configured or ".flowcore").expanduser().resolve()


def stored_dsn(home: Path | None = None) -> str | None:
    """Return the DSN stored by ``flowcore db up`` in ``home``, or None when there is none."""
    path = (home or flowcore_home()) / DSN_FILE_NAME
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return text or None


def _dsn_from_flowkit_variables() -> str | None:
    """Build a DSN from FlowKit's variables when ``FLOWDB_HOST`` is set."""
    host = os.environ.get("FLOWDB_HOST")
    if not host:
        return None
    port = os.environ.get("FLOWDB_PORT", "5432")
    if not port.isdigit():
        raise ConfigError(f"FLOWDB_PORT {port!r} is invalid: expected a port number")
    user = os.environ.get("FLOWMACHINE_FLOWDB_USER")
    if not user:
        raise ConfigError(
            "FLOWDB_HOST is set but FLOWMACHINE_FLOWDB_USER is not: "
            "set the user flowcore connects as, or set FLOWDB_DSN instead"
        )
    password = os.environ.get("FLOWMACHINE_FLOWDB_PASSWORD", "")
    credentials = quote(user, safe="")
    if password:
        credentials += ":" + quote(password, safe="")
    # Bracket IPv6 literals so the port separator stays unambiguous.
    netloc_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"postgresql://{credentials}@{netloc_host}:{port}/flowdb"


def resolve_dsn(explicit: str | None = None) -> str:
    """Return the database DSN flowcore should use.

    The order is: ``explicit``, then ``FLOWDB_DSN``, then FlowKit's variables (``FLOWDB_HOST``,
    ``FLOWDB_PORT``, ``FLOWMACHINE_FLOWDB_USER``, ``FLOWMACHINE_FLOWDB_PASSWORD``, database
    ``flowdb``), then the DSN stored by ``flowcore db up`` in ``$FLOWCORE_HOME``.

    Raises:
        ConfigError: when none of these is set.
    """
    if explicit:
        return explicit
    from_environment = os.environ.get("FLOWDB_DSN")
    if from_environment:
        return from_environment
    from_flowkit = _dsn_from_flowkit_variables()
    if from_flowkit:
        return from_flowkit
    from_cluster = stored_dsn()
    if from_cluster:
        return from_cluster
    raise ConfigError(
        f"no database is configured: run `flowcore db up` to start a local one in "
        f"{flowcore_home()} (set FLOWCORE_HOME to choose another folder), "
        f"or set FLOWDB_DSN to the DSN of an existing FlowDB"
    )


def sqlalchemy_url(dsn: str) -> str:
    """Return ``dsn`` as a SQLAlchemy URL that uses the psycopg 3 driver.

    Accepts ``postgresql://`` and ``postgres://`` URLs and libpq ``key=value`` strings.
    """
    stripped = dsn.strip()
    if "://" not in stripped:
        return _url_from_keywords(stripped)
    parts = urlsplit(stripped)
    scheme = parts.scheme.lower()
    if scheme.split("+", 1)[0] not in {"postgresql", "postgres"}:
        raise ConfigError(
            f"DSN scheme {parts.scheme!r} is invalid: expected postgresql:// or postgres://"
        )
    return urlunsplit(parts._replace(scheme="postgresql+psycopg"))


def _url_from_keywords(conninfo: str) -> str:
    """Convert a libpq ``key=value`` string into a ``postgresql+psycopg://`` URL."""
    try:
        params = conninfo_to_dict(conninfo)
    except Exception as error:  # psycopg raises ProgrammingError for a malformed string
        raise ConfigError(f"DSN {conninfo!r} is invalid: {error}") from error
    user = params.pop("user", None)
    password = params.pop("password", None)
    host = params.pop("host", None)
    port = params.pop("port", None)
    dbname = params.pop("dbname", None)
    netloc = ""
    if user:
        netloc = quote(str(user), safe="")
        if password:
            netloc += ":" + quote(str(password), safe="")
        netloc += "@"
    if host and not str(host).startswith("/"):
        netloc += str(host)
    elif host:
        # A socket directory cannot go in the URL's host part; libpq accepts it as a parameter.
        params["host"] = host
    if port:
        netloc += f":{port}"
    query = "&".join(f"{key}={quote(str(value), safe='')}" for key, value in params.items())
    path = "/" + quote(str(dbname), safe="") if dbname else "/"
    # Built by hand because urlunsplit drops the "//" when the host part is empty.
    return f"postgresql+psycopg://{netloc}{path}" + (f"?{query}" if query else "")
