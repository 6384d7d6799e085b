"""Apply FlowDB's versioned SQL migrations in name order, each in its own transaction.

Every ``*.sql`` file in ``flowdb/migrations`` is a migration; its file name is its id. Numbers
0001-0099 hold the FlowDB schema, 0100-0199 the cache tables, and 0200 and up the SQL functions
that query kinds call. Applied migrations are recorded in ``public.flowcore_migrations``, so
running ``migrate`` again applies only new files.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import psycopg
from psycopg import sql

import flowcore
from flowdb.roles import RoleSettings, apply_roles

__all__ = ["MIGRATIONS_DIR", "MigrationError", "migrate", "migration_files"]

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
"""Folder of the SQL migration files."""

# Any fixed 64-bit number; concurrent `migrate` runs on one database wait for each other on it.
_ADVISORY_LOCK_KEY = 7_301_220_160_101

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS public.flowcore_migrations (
    name text PRIMARY KEY,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    """A migration file failed to apply; its transaction was rolled back."""


def migration_files(folder: Path = MIGRATIONS_DIR) -> list[Path]:
    """Return the migration files of ``folder`` in the order they are applied."""
    return sorted(folder.glob("*.sql"), key=lambda path: path.name)


def _checksum(text: bytes) -> str:
    """Return the SHA-256 hex digest of a migration's content."""
    return hashlib.sha256(text).hexdigest()


def migrate(
    dsn: str,
    *,
    roles: RoleSettings | None = None,
    folder: Path = MIGRATIONS_DIR,
) -> list[str]:
    """Apply the migrations not yet applied to the database at ``dsn``; return their names.

    Then creates or updates the login roles (from ``roles``, else from the environment) and
    records flowcore's version in ``public.flowdb_version``.

    Raises:
        MigrationError: when a migration fails; earlier ones stay applied.
        flowdb.config.ConfigError: when a role's user is set without its password.
    """
    role_settings = roles if roles is not None else RoleSettings.from_environment()
    applied: list[str] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_ADVISORY_LOCK_KEY,))
        try:
            conn.execute(_CREATE_LEDGER)
            recorded: dict[str, str] = dict(
                conn.execute("SELECT name, checksum FROM public.flowcore_migrations").fetchall()
            )
            for path in migration_files(folder):
                content = path.read_bytes()
                checksum = _checksum(content)
                if path.name in recorded:
                    if recorded[path.name] != checksum:
                        logger.warning(
                            "migration %s changed after it was applied; the change is not "
                            "applied to this database",
                            path.name,
                        )
                    continue
                _apply_one(conn, path.name, content, checksum)
                applied.append(path.name)
            apply_roles(conn, role_settings)
            _record_version(conn)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_ADVISORY_LOCK_KEY,))
    return applied


def _apply_one(conn: psycopg.Connection, name: str, content: bytes, checksum: str) -> None:
    """Run one migration file and record it, in one transaction."""
    logger.info("applying migration %s", name)
    try:
        with conn.transaction():
            # Without parameters, psycopg sends the text as one simple query, so a file may hold
            # several statements.
            conn.execute(content)
            conn.execute(
                "INSERT INTO public.flowcore_migrations (name, checksum) VALUES (%s, %s)",
                (name, checksum),
            )
    except psycopg.Error as error:
        raise MigrationError(f"migration {name} failed and was rolled back: {error}") from error


def _record_version(conn: psycopg.Connection) -> None:
    """Insert flowcore's version into ``public.flowdb_version`` once."""
    # NOTE: this is flowcore's own version, not a FlowKit release number, so FlowKit's own
    # FlowMachine may reject the database when it checks the version.
    conn.execute(
        sql.SQL(
            "INSERT INTO public.flowdb_version (version, release_date, updated) "
            "VALUES ({}, NULL, false) ON CONFLICT (version) DO NOTHING"
        ).format(sql.Literal(flowcore.__version__))
    )
