"""The two login roles besides the owner: the query engine's and the API's.

The query engine role reads events, infrastructure, geography and etl, and owns what it creates
in the cache schema. The API role reads cache and geography only, including cache tables the
engine creates later. Names and passwords come from FlowKit's environment variables, so no
password is ever written into a migration file.
"""

from __future__ import annotations

import logging
import os

import attrs
import psycopg
from psycopg import sql

from flowdb.config import ConfigError

__all__ = ["RoleSettings", "apply_roles"]

logger = logging.getLogger(__name__)

_ENGINE_READ_SCHEMAS = ("events", "infrastructure", "etl")
_ENGINE_WRITE_SCHEMAS = ("cache", "geography")
_API_READ_SCHEMAS = ("cache", "geography")


@attrs.frozen
class RoleSettings:
    """Names and passwords of the query engine role and the API role; None skips a role."""

    engine_user: str | None = None
    engine_password: str | None = attrs.field(default=None, repr=False)
    api_user: str | None = None
    api_password: str | None = attrs.field(default=None, repr=False)

    @classmethod
    def from_environment(cls) -> RoleSettings:
        """Read ``FLOWMACHINE_FLOWDB_USER``/``_PASSWORD`` and ``FLOWAPI_FLOWDB_USER``/``_PASSWORD``.

        Raises:
            ConfigError: when a user is set without its password.
        """
        engine_user, engine_password = _read_pair("FLOWMACHINE_FLOWDB")
        api_user, api_password = _read_pair("FLOWAPI_FLOWDB")
        return cls(engine_user, engine_password, api_user, api_password)


def _read_pair(prefix: str) -> tuple[str | None, str | None]:
    """Return the (user, password) pair of ``<prefix>_USER`` and ``<prefix>_PASSWORD``."""
    user = os.environ.get(f"{prefix}_USER") or None
    password = os.environ.get(f"{prefix}_PASSWORD") or None
    if user and not password:
        raise ConfigError(
            f"{prefix}_USER is set to {user!r} but {prefix}_PASSWORD is empty: "
            f"set a password for the role, or unset {prefix}_USER to skip creating it"
        )
    return user, password


def apply_roles(conn: psycopg.Connection, settings: RoleSettings) -> list[str]:
    """Create or update the roles in ``settings`` and grant their rights; return their names.

    Runs in its own transaction on ``conn``. A role whose user is unset is skipped with a log
    line. Granting is idempotent, so this runs after every migration.
    """
    applied: list[str] = []
    with conn.transaction():
        if settings.engine_user and settings.engine_password:
            _ensure_login_role(conn, settings.engine_user, settings.engine_password)
            _grant_engine_rights(conn, settings.engine_user)
            applied.append(settings.engine_user)
        else:
            logger.info("FLOWMACHINE_FLOWDB_USER is unset: skipping the query engine role")
        if settings.api_user and settings.api_password:
            _ensure_login_role(conn, settings.api_user, settings.api_password)
            _grant_api_rights(conn, settings.api_user, settings.engine_user)
            applied.append(settings.api_user)
        else:
            logger.info("FLOWAPI_FLOWDB_USER is unset: skipping the API role")
    return applied


def _ensure_login_role(conn: psycopg.Connection, name: str, password: str) -> None:
    """Create a login role, or reset the password of an existing one."""
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
    verb = "ALTER" if exists else "CREATE"
    # Utility statements take no bound parameters, so the password goes in as a quoted literal.
    conn.execute(
        sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(name), sql.Literal(password)
        )
    )
    logger.info("%s role %s", "updated" if exists else "created", name)


def _run_all(conn: psycopg.Connection, statements: list[sql.Composed]) -> None:
    """Execute each composed statement in turn."""
    for statement in statements:
        conn.execute(statement)


def _grant_engine_rights(conn: psycopg.Connection, role: str) -> None:
    """Grant the query engine role read access to the data and full access to cache/geography."""
    grantee = sql.Identifier(role)
    statements: list[sql.Composed] = [
        sql.SQL("GRANT CONNECT, CREATE, TEMPORARY ON DATABASE {} TO {}").format(
            sql.Identifier(_current_database(conn)), grantee
        ),
        sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(grantee),
        sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(grantee),
    ]
    for schema_name in _ENGINE_READ_SCHEMAS:
        schema = sql.Identifier(schema_name)
        statements += [
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, grantee),
            sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(schema, grantee),
            sql.SQL("GRANT SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(schema, grantee),
            # Default privileges cover tables the owner creates later, such as day partitions.
            sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(
                schema, grantee
            ),
            sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON SEQUENCES TO {}").format(
                schema, grantee
            ),
        ]
    for schema_name in _ENGINE_WRITE_SCHEMAS:
        schema = sql.Identifier(schema_name)
        statements += [
            sql.SQL("GRANT ALL ON SCHEMA {} TO {}").format(schema, grantee),
            sql.SQL("GRANT ALL ON ALL TABLES IN SCHEMA {} TO {}").format(schema, grantee),
            sql.SQL("GRANT ALL ON ALL SEQUENCES IN SCHEMA {} TO {}").format(schema, grantee),
            sql.SQL("GRANT ALL ON ALL FUNCTIONS IN SCHEMA {} TO {}").format(schema, grantee),
            sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT ALL ON TABLES TO {}").format(
                schema, grantee
            ),
            sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT ALL ON SEQUENCES TO {}").format(
                schema, grantee
            ),
        ]
    _run_all(conn, statements)
    _install_cache_owner_trigger(conn, role)


def _grant_api_rights(conn: psycopg.Connection, role: str, engine_role: str | None) -> None:
    """Grant the API role read access to cache and geography, now and for future tables."""
    grantee = sql.Identifier(role)
    statements: list[sql.Composed] = [
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
            sql.Identifier(_current_database(conn)), grantee
        ),
    ]
    for schema_name in _API_READ_SCHEMAS:
        schema = sql.Identifier(schema_name)
        statements += [
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, grantee),
            sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(schema, grantee),
            sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(
                schema, grantee
            ),
        ]
        if engine_role:
            # Tables the query engine creates are owned by it, so they need their own default.
            statements.append(
                sql.SQL(
                    "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT SELECT ON TABLES TO {}"
                ).format(sql.Identifier(engine_role), schema, grantee)
            )
    _run_all(conn, statements)


def _install_cache_owner_trigger(conn: psycopg.Connection, engine_role: str) -> None:
    """Make every table created in the cache schema owned by the query engine role.

    The engine evicts cached results by dropping their tables, which needs ownership, also for
    tables created through the owner's connection. Event triggers need a superuser, so on other
    servers this step is skipped with a log line.
    """
    is_superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    row = is_superuser.fetchone()
    if not row or not row[0]:
        logger.info("not a superuser: cache tables keep the owner of the role that creates them")
        return
    function_body = sql.SQL(
        """
        CREATE OR REPLACE FUNCTION cache.hand_new_tables_to_engine()
        RETURNS event_trigger
        LANGUAGE plpgsql
        AS $body$
        DECLARE
            created record;
        BEGIN
            FOR created IN
                SELECT c.objid::regclass AS relation
                FROM pg_event_trigger_ddl_commands() AS c
                JOIN pg_class AS k ON k.oid = c.objid
                WHERE c.schema_name = 'cache'
                  AND c.object_type = 'table'
                  AND pg_get_userbyid(k.relowner) <> {engine_name}
            LOOP
                EXECUTE format('ALTER TABLE %s OWNER TO %I', created.relation, {engine_name});
            END LOOP;
        END
        $body$
        """
    ).format(engine_name=sql.Literal(engine_role))
    conn.execute(function_body)
    conn.execute("DROP EVENT TRIGGER IF EXISTS cache_tables_owned_by_engine")
    conn.execute(
        """
        CREATE EVENT TRIGGER cache_tables_owned_by_engine
        ON ddl_command_end
        WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO')
        EXECUTE FUNCTION cache.hand_new_tables_to_engine()
        """
    )


def _current_database(conn: psycopg.Connection) -> str:
    """Return the name of the database ``conn`` is connected to."""
    row = conn.execute("SELECT current_database()").fetchone()
    assert row is not None
    return str(row[0])
