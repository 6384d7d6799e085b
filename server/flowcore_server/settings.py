"""Settings of the HTTP API, read from FlowKit's environment variable names where they exist.

``PUBLIC_JWT_SIGNING_KEY`` (required)
    RSA public key that verifies tokens, as PEM text or base64-encoded PEM.
``FLOWAPI_IDENTIFIER`` (required)
    This server's name; tokens carry it as their ``aud`` claim.
``FLOWAPI_PORT`` (default 9090)
    Port ``flowcore serve`` listens on.
``FLOWAPI_LOG_LEVEL`` (default ``error``)
    Level of the server's own log lines; access and query records are always written.
``FLOWDB_DSN`` or FlowKit's ``FLOWDB_*`` variables (default: the local cluster)
    The database, resolved by ``flowdb.config.resolve_dsn``.
``FLOWCORE_RESULT_BODY_CACHE_MB`` (default 64, in MiB)
    Memory each server process gives to encoded bodies of small results, so a repeated
    download is not read and encoded again; 0 turns this off.

The core's own settings (``FLOWCORE_REDACTION_THRESHOLD`` and the others) come from
``flowcore.settings.Settings``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import attrs
from flowcore_auth import TokenVerifier
from flowcore_auth.errors import KeyLoadError

from flowcore.settings import Settings
from flowcore_server.bodies import DEFAULT_BODY_CACHE_BYTES
from flowdb.config import ConfigError, resolve_dsn

__all__ = ["ServerSettings", "SettingsError", "DEFAULT_PORT", "DEFAULT_HOST"]

#: Port of FlowKit's API server.
DEFAULT_PORT = 9090
#: Default listen address: loopback only, so the API is not exposed by accident.
DEFAULT_HOST = "127.0.0.1"

_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


class SettingsError(RuntimeError):
    """A required setting is missing or invalid; the message names the variable."""


@attrs.frozen(kw_only=True)
class ServerSettings:
    """Everything the server needs to start: token checks, database and core settings."""

    #: Checks bearer tokens against the public key and the audience (FLOWAPI_IDENTIFIER).
    verifier: TokenVerifier = attrs.field(repr=False)
    #: DSN of FlowDB.
    dsn: str = attrs.field(repr=False)
    port: int = DEFAULT_PORT
    #: Level of the server's own log lines; access and query logs are always written.
    log_level: str = "error"
    #: Total size of the encoded result bodies kept in memory (FLOWCORE_RESULT_BODY_CACHE_MB).
    body_cache_bytes: int = DEFAULT_BODY_CACHE_BYTES
    core: Settings = attrs.field(factory=Settings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerSettings:
        """Read the settings from environment variables; raise SettingsError naming a bad one."""
        env = os.environ if env is None else env
        try:
            verifier = TokenVerifier.from_environment(env)
        except KeyLoadError as error:
            raise SettingsError(str(error)) from None
        try:
            dsn = _resolve_dsn(env)
        except ConfigError as error:
            raise SettingsError(str(error)) from None
        try:
            core = Settings.from_env(env)
        except ValueError as error:
            raise SettingsError(str(error)) from None
        return cls(
            verifier=verifier,
            dsn=dsn,
            port=_port(env),
            log_level=_log_level(env),
            body_cache_bytes=_body_cache_bytes(env),
            core=core,
        )

    @property
    def audience(self) -> str:
        """The ``aud`` claim every accepted token carries."""
        return self.verifier.audience

    @property
    def logging_level(self) -> int:
        """The ``logging`` module's number for ``log_level``."""
        return logging.getLevelNamesMapping()[self.log_level.upper()]


def _resolve_dsn(env: Mapping[str, str]) -> str:
    # resolve_dsn reads os.environ; an explicit FLOWDB_DSN in ``env`` takes precedence.
    return resolve_dsn(env.get("FLOWDB_DSN") or None)


def _port(env: Mapping[str, str]) -> int:
    raw = env.get("FLOWAPI_PORT")
    if not raw:
        return DEFAULT_PORT
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) < 65536:
        raise SettingsError(f"FLOWAPI_PORT must be a port number from 1 to 65535, got {raw!r}")
    return int(raw)


def _log_level(env: Mapping[str, str]) -> str:
    raw = (env.get("FLOWAPI_LOG_LEVEL") or "error").lower()
    if raw not in _LOG_LEVELS:
        raise SettingsError(
            f"FLOWAPI_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, got {raw!r}"
        )
    return raw


#: Largest body cache accepted, in MiB (64 GiB), so that a value with extra digits is reported
#: instead of being taken as no limit.
MAX_BODY_CACHE_MB = 65_536


def _body_cache_bytes(env: Mapping[str, str]) -> int:
    raw = env.get("FLOWCORE_RESULT_BODY_CACHE_MB")
    if not raw:
        return DEFAULT_BODY_CACHE_BYTES
    too_long = len(raw) > len(str(MAX_BODY_CACHE_MB))
    if not (raw.isascii() and raw.isdigit()) or too_long or int(raw) > MAX_BODY_CACHE_MB:
        raise SettingsError(
            "FLOWCORE_RESULT_BODY_CACHE_MB must be a whole number of MiB from 0 to "
            f"{MAX_BODY_CACHE_MB}, got {raw!r}"
        )
    return int(raw) * 1024 * 1024
