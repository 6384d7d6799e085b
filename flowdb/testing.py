"""Scratch databases for test suites and benchmarks: templates, copies and their clean-up.

A test session works against one PostgreSQL server: the one at ``FLOWCORE_TEST_DSN`` (an admin
DSN of a server where databases and roles may be created), else a disposable local cluster in
``$FLOWCORE_HOME/test``. Migrated template databases are built once per migration content and
kept between sessions, so each test's database is a cheap ``CREATE DATABASE ... TEMPLATE`` copy.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from flowdb.cluster import LocalCluster
from flowdb.config import flowcore_home
from flowdb.migrate import migrate, migration_files
from flowdb.roles import RoleSettings

__all__ = [
    "ScratchServer",
    "database_of",
    "dataset_fingerprint",
    "dsn_with",
]

logger = logging.getLogger(__name__)

_PREFIX = "flowcore_"
_SCRATCH_PREFIX = "flowcore_t_"
_TEMPLATE_LOCK_KEY = 7_301_220_160_102
_PACKAGE_DIR = Path(__file__).resolve().parent


def database_of(dsn: str) -> str:
    """Return the database name of a DSN (URL or ``key=value`` form)."""
    return str(conninfo_to_dict(dsn).get("dbname", ""))


def dsn_with(
    dsn: str, *, database: str | None = None, user: str | None = None, password: str | None = None
) -> str:
    """Return ``dsn`` with its database or credentials replaced.

    A ``postgresql://`` URL stays a URL, and a ``key=value`` string stays one.
    """
    if "://" not in dsn:
        changes = {"dbname": database, "user": user, "password": password}
        return make_conninfo(dsn, **{key: value for key, value in changes.items() if value})
    parts = urlsplit(dsn)
    host_part = parts.netloc.rpartition("@")[2]
    old_credentials = parts.netloc.rpartition("@")[0]
    if user is not None:
        credentials = quote(user, safe="")
        if password is not None:
            credentials += ":" + quote(password, safe="")
        netloc = f"{credentials}@{host_part}"
    else:
        netloc = f"{old_credentials}@{host_part}" if old_credentials else host_part
    path = "/" + quote(database, safe="") if database is not None else parts.path
    return urlunsplit((parts.scheme, netloc, path, parts.query, parts.fragment))


def _hash_files(paths: list[Path], digest: hashlib._Hash) -> None:
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())


def schema_fingerprint() -> str:
    """Return a short hash of the migrations, the part of a template that changes its schema."""
    digest = hashlib.sha256()
    _hash_files(migration_files(), digest)
    return digest.hexdigest()[:12]


def dataset_fingerprint(dataset: Path) -> str:
    """Return a short hash of a dataset's files (names, sizes, times) and of flowdb's code."""
    digest = hashlib.sha256(schema_fingerprint().encode())
    _hash_files(sorted(_PACKAGE_DIR.glob("*.py")), digest)
    for path in sorted(dataset.rglob("*")):
        if path.is_file():
            stat = path.stat()
            digest.update(f"{path.relative_to(dataset)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:12]


class ScratchServer:
    """A PostgreSQL server on which test databases are created from templates and dropped."""

    def __init__(self, admin_dsn: str, *, cluster: LocalCluster | None = None) -> None:
        self.admin_dsn = admin_dsn
        self.cluster = cluster
        self._counter = itertools.count(1)
        self.roles = self._role_settings()

    def reset_role_passwords(self) -> None:
        """Set the test roles' passwords, for roles that templates built earlier created."""
        with self._admin() as conn:
            for user, password in (
                (self.roles.engine_user, self.roles.engine_password),
                (self.roles.api_user, self.roles.api_password),
            ):
                exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,))
                if exists.fetchone():
                    conn.execute(
                        sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                            sql.Identifier(str(user)), sql.Literal(password)
                        )
                    )

    # -- set-up ----------------------------------------------------------------------------

    @classmethod
    @contextlib.contextmanager
    def for_session(cls) -> Iterator[ScratchServer]:
        """Yield the session's server, starting the local test cluster when needed.

        Several sessions may share the local test cluster; the last one to finish stops it
        unless ``FLOWCORE_KEEP_TEST_CLUSTER`` is set.
        """
        external = os.environ.get("FLOWCORE_TEST_DSN")
        if external:
            server = cls(external)
            server.reset_role_passwords()
            yield server
            return
        home = flowcore_home() / "test"
        home.mkdir(parents=True, exist_ok=True)
        with _session_lock(home / "sessions.lock") as handle:
            cluster = LocalCluster(home, disposable=True)
            # Roles are created in the template databases, not in the cluster's own database.
            cluster.up(roles=RoleSettings())
            admin_dsn = cluster.dsn("postgres")
            assert admin_dsn is not None
            server = cls(admin_dsn, cluster=cluster)
            server.reset_role_passwords()
            server.drop_leftovers()
            try:
                yield server
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
                server._stop_if_last(home / "sessions.lock")

    def _stop_if_last(self, lock_path: Path) -> None:
        """Stop the local test cluster when no other session holds the sessions lock."""
        if self.cluster is None or os.environ.get("FLOWCORE_KEEP_TEST_CLUSTER"):
            return
        with lock_path.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            try:
                self.cluster.down()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _role_settings(self) -> RoleSettings:
        """Return the engine and API roles of test databases.

        The passwords derive from the admin DSN's credentials and host (not its port, which may
        change between starts), so every session on a server agrees on them without storing
        them anywhere.
        """
        params = conninfo_to_dict(self.admin_dsn)
        stable = f"{params.get('user')}:{params.get('password')}@{params.get('host')}"
        seed = hashlib.sha256(stable.encode()).hexdigest()
        return RoleSettings(
            engine_user="flowcore_test_engine",
            engine_password="e" + seed[:31],
            api_user="flowcore_test_api",
            api_password="a" + seed[32:63],
        )

    # -- databases -------------------------------------------------------------------------

    def dsn(self, database: str) -> str:
        """Return the admin DSN of ``database`` on this server."""
        return dsn_with(self.admin_dsn, database=database)

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(self.admin_dsn, autocommit=True)

    def exists(self, database: str) -> bool:
        """Return whether ``database`` exists on the server."""
        with self._admin() as conn:
            row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            return row.fetchone() is not None

    def create_database(self, template: str | None = None, *, name: str | None = None) -> str:
        """Create a scratch database, copied from ``template`` when given; return its DSN."""
        database = name or f"{_SCRATCH_PREFIX}{os.getpid()}_{next(self._counter)}"
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database))
        if template:
            statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(database), sql.Identifier(template)
            )
        with self._admin() as conn:
            conn.execute(statement)
        return self.dsn(database)

    def drop_database(self, database: str) -> None:
        """Drop ``database``, closing its open connections first."""
        with self._admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )

    def drop_leftovers(self) -> None:
        """Drop scratch databases of test sessions whose process is gone (local cluster only)."""
        if self.cluster is None:
            return
        with self._admin() as conn:
            rows = conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s",
                (_SCRATCH_PREFIX.replace("_", r"\_") + "%",),
            ).fetchall()
        for (database,) in rows:
            pid_text = str(database)[len(_SCRATCH_PREFIX) :].split("_", 1)[0]
            if pid_text.isdigit() and not _pid_alive(int(pid_text)):
                logger.info("dropping scratch database %s left by process %s", database, pid_text)
                self.drop_database(str(database))

    def template(self, name: str, build: Callable[[str], None] | None = None) -> str:
        """Return the template database ``name``, creating it first when it does not exist.

        A new template is migrated, then ``build`` (if given) receives its DSN to add data. It is
        built under another name and renamed when complete, so a failed build leaves no
        half-filled template behind.
        """
        with self._admin() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (_TEMPLATE_LOCK_KEY,))
            try:
                row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if row.fetchone():
                    return name
                building = f"{name}_building"
                self.drop_database(building)
                dsn = self.create_database(name=building)
                try:
                    migrate(dsn, roles=self.roles)
                    if build is not None:
                        build(dsn)
                except BaseException:
                    self.drop_database(building)
                    raise
                conn.execute(
                    sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                        sql.Identifier(building), sql.Identifier(name)
                    )
                )
                self._drop_stale_templates(conn, keep=name)
                return name
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_TEMPLATE_LOCK_KEY,))

    def _drop_stale_templates(self, conn: psycopg.Connection, keep: str) -> None:
        """Drop older templates of the same kind as ``keep`` (same name before the hash)."""
        kind = keep.rsplit("_", 1)[0] + "_"
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s AND datname <> %s",
            (kind.replace("_", r"\_") + "%", keep),
        ).fetchall()
        for (database,) in rows:
            if str(database).endswith("_building"):
                continue
            try:
                conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(str(database))))
            except psycopg.errors.ObjectInUse:
                # Another session is copying from it; a later session drops it.
                logger.info("stale template %s is in use; leaving it", database)

    def empty_template(self) -> str:
        """Return the migrated, empty template database for the current migrations."""
        return self.template(f"{_PREFIX}template_{schema_fingerprint()}")

    def testdata_template(self, dataset: Path) -> str:
        """Return a template database holding ``dataset`` loaded with flowdb's loader."""
        from flowdb.loader import load_directory

        def load(dsn: str) -> None:
            report = load_directory(dsn, dataset)
            if report.rejected:
                raise RuntimeError(f"the test dataset in {dataset} did not load: {report.rejected}")

        return self.template(f"{_PREFIX}testdata_{dataset_fingerprint(dataset)}", load)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _session_lock(path: Path) -> Iterator[IO[str]]:
    """Hold a shared lock on ``path`` for a session's lifetime; yield the open file."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)
        yield handle
