"""The local PostgreSQL+PostGIS cluster ("embedded default") kept in a project folder.

``LocalCluster(home).up()`` creates the cluster on first use (initdb), starts it on a free
loopback port, creates the ``flowdb`` database, applies the migrations and stores the DSN in
``home/dsn`` where :func:`flowdb.config.resolve_dsn` finds it. The server listens on 127.0.0.1
only, has no Unix socket, and accepts only password (SCRAM) logins; the generated superuser
password is stored with mode 0600.

PostgreSQL refuses to run as root, so when invoked as root the cluster runs as the system user
``flowcore`` (created when missing), and every server command goes through ``runuser``.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import attrs
import psycopg
from psycopg import sql

from flowdb.config import DSN_FILE_NAME
from flowdb.migrate import migrate
from flowdb.roles import RoleSettings

__all__ = [
    "ClusterError",
    "ClusterStatus",
    "LocalCluster",
    "SYSTEM_USER",
    "find_postgres_bindir",
]

logger = logging.getLogger(__name__)

SYSTEM_USER = "flowcore"
"""System user that runs the cluster when flowcore is invoked as root."""

SUPERUSER = "flowdb"
"""Database superuser of the local cluster (FlowKit's default superuser name)."""

DATABASE = "flowdb"

#: The migration that creates the cache tables: applied only to a new database.
CACHE_MIGRATION = "0100_cache.sql"
_MIB = 1024 * 1024
_GIB = 1024 * _MIB
_MIN_CACHE_SIZE = _GIB
_START_ATTEMPTS = 3


class ClusterError(RuntimeError):
    """The local cluster could not be created, started or stopped."""


@attrs.frozen
class ClusterStatus:
    """State of a local cluster as read from its folder and its ``postmaster.pid``."""

    home: Path
    initialised: bool
    running: bool
    pid: int | None = None
    port: int | None = None
    dsn: str | None = attrs.field(default=None, repr=False)


def find_postgres_bindir() -> Path:
    """Return the folder of PostgreSQL's server programs (initdb, pg_ctl, postgres).

    Tries ``pg_config --bindir``, then the newest ``/usr/lib/postgresql/<version>/bin``.
    """
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if result.returncode == 0 and result.stdout.strip():
            candidates.append(Path(result.stdout.strip()))
    versioned = Path("/usr/lib/postgresql")
    if versioned.is_dir():
        by_version = sorted(
            (path for path in versioned.iterdir() if path.name.isdigit()),
            key=lambda path: int(path.name),
            reverse=True,
        )
        candidates += [path / "bin" for path in by_version]
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    raise ClusterError(
        "PostgreSQL's server programs (initdb, pg_ctl) were not found via pg_config or in "
        "/usr/lib/postgresql/<version>/bin: install postgresql-15 and postgresql-15-postgis-3 "
        "(`make deps` does it on Debian), or set FLOWDB_DSN to use an existing server"
    )


def _free_loopback_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on at the moment."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _physical_memory() -> int:
    """Return the machine's physical memory in bytes."""
    # NOTE: this ignores container (cgroup) memory limits.
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _clamp(value: int, lowest: int, highest: int) -> int:
    return max(lowest, min(highest, value))


def server_settings(port: int, *, disposable: bool) -> dict[str, str]:
    """Return the postgresql.conf settings of a local cluster listening on ``port``.

    Memory settings scale with the machine. A disposable (test) cluster trades crash safety
    for speed, and uses little shared memory because several may run at once.
    """
    memory = _physical_memory()
    cpus = os.cpu_count() or 1
    settings = {
        "listen_addresses": "'127.0.0.1'",
        "port": str(port),
        # TCP only: a socket directory would need write access for the system user and a short
        # path, and nothing here needs one.
        "unix_socket_directories": "''",
        "password_encryption": "'scram-sha-256'",
        "timezone": "'UTC'",
        "log_timezone": "'UTC'",
        "max_connections": "200",
        "shared_buffers": f"{_clamp(memory // 8, 128 * _MIB, 4 * _GIB) // _MIB}MB",
        "effective_cache_size": f"{_clamp(memory // 2, 512 * _MIB, 64 * _GIB) // _MIB}MB",
        "work_mem": "64MB",
        "maintenance_work_mem": f"{_clamp(memory // 16, 64 * _MIB, 2 * _GIB) // _MIB}MB",
        "max_worker_processes": str(max(8, cpus)),
        "max_parallel_workers": str(cpus),
        "max_parallel_workers_per_gather": str(_clamp(cpus // 2, 1, 4)),
        "max_parallel_maintenance_workers": str(_clamp(cpus // 2, 1, 4)),
        "random_page_cost": "1.1",
        # JIT compilation costs more than it saves on the short aggregate queries flowcore runs.
        "jit": "off",
        # Minimal WAL lets COPY into a table created in the same transaction skip WAL, which is
        # how the loader builds day partitions. There are no replicas to feed.
        "wal_level": "minimal",
        "max_wal_senders": "0",
        "max_wal_size": "4GB",
        "checkpoint_timeout": "15min",
    }
    if disposable:
        settings.update(
            {
                "shared_buffers": "128MB",
                "fsync": "off",
                "synchronous_commit": "off",
                "full_page_writes": "off",
            }
        )
    return settings


class LocalCluster:
    """A private PostgreSQL cluster in ``home``: its data folder, password, log and DSN file."""

    def __init__(self, home: Path, *, disposable: bool = False) -> None:
        self.home = Path(home).resolve()
        self.disposable = disposable
        self.data_dir = self.home / "pgdata"
        self.log_dir = self.home / "log"
        self.log_file = self.log_dir / "postgresql.log"
        self.password_file = self.home / "superuser.password"
        self.dsn_file = self.home / DSN_FILE_NAME
        self.lock_file = self.home / "cluster.lock"
        self._bindir: Path | None = None

    # -- paths and state -------------------------------------------------------------------

    @property
    def bindir(self) -> Path:
        """Folder of the PostgreSQL programs, found on first use."""
        if self._bindir is None:
            self._bindir = find_postgres_bindir()
        return self._bindir

    def is_initialised(self) -> bool:
        """Return whether initdb has completed in the data folder."""
        return (self.data_dir / "PG_VERSION").exists()

    def running_pid(self) -> int | None:
        """Return the postmaster's process id when the cluster is running, else None."""
        fields = self._postmaster_fields()
        if not fields:
            return None
        try:
            pid = int(fields[0])
        except ValueError:
            return None
        if not _process_is_postgres(pid):
            return None
        return pid

    def configured_port(self) -> int | None:
        """Return the port in the cluster's flowcore.conf, or None before the first start."""
        conf = self.data_dir / "flowcore.conf"
        if not conf.exists():
            return None
        for line in conf.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "port" and value.strip().isdigit():
                return int(value.strip())
        return None

    def status(self) -> ClusterStatus:
        """Return the cluster's current state."""
        pid = self.running_pid()
        return ClusterStatus(
            home=self.home,
            initialised=self.is_initialised(),
            running=pid is not None,
            pid=pid,
            port=self.configured_port() if pid is not None else None,
            dsn=self.dsn() if pid is not None else None,
        )

    def dsn(self, database: str = DATABASE) -> str | None:
        """Return the superuser DSN of ``database``, or None before the first ``up``."""
        port = self.configured_port()
        if port is None or not self.password_file.exists():
            return None
        password = self.password_file.read_text(encoding="utf-8").strip()
        credentials = f"{SUPERUSER}:{quote(password, safe='')}"
        return f"postgresql://{credentials}@127.0.0.1:{port}/{quote(database, safe='')}"

    # -- lifecycle -------------------------------------------------------------------------

    def up(self, *, roles: RoleSettings | None = None) -> tuple[str, list[str], bool]:
        """Create (first time) and start the cluster, then migrate ``flowdb``.

        Returns the DSN, the migrations applied now, and whether the cluster was already
        running. Safe to call again: a running cluster is left as it is and only migrated.

        Raises:
            ClusterError: when PostgreSQL is missing or initdb or the server start fails.
        """
        with self._locked():
            already_running = self.running_pid() is not None
            if not already_running:
                if not self.is_initialised():
                    self._initialise()
                self._start()
            self._ensure_database()
            dsn = self.dsn()
            assert dsn is not None
            applied = migrate(dsn, roles=roles)
            if CACHE_MIGRATION in applied:
                self._size_cache(dsn)
            _write_private(self.dsn_file, dsn + "\n")
            return dsn, applied, already_running

    def down(self) -> bool:
        """Stop the cluster if it runs (fast shutdown); return whether it was running."""
        with self._locked():
            pid = self.running_pid()
            if pid is None:
                return False
            result = self._run_as_owner(
                [str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"]
            )
            if result.returncode != 0:
                raise ClusterError(
                    f"stopping the cluster (pid {pid}) failed: {result.stderr.strip()}"
                )
            # Commands then report that no database is configured, instead of failing to connect.
            self.dsn_file.unlink(missing_ok=True)
            logger.info("stopped the cluster in %s (pid %d)", self.home, pid)
            return True

    def remove(self) -> None:
        """Stop the cluster and delete its folder with all data."""
        self.down()
        shutil.rmtree(self.home, ignore_errors=True)

    # -- steps -----------------------------------------------------------------------------

    def _size_cache(self, dsn: str) -> None:
        """Limit the cache of a new database to a tenth of the free disk space, at least 1 GiB.

        A tenth of the free disk is FlowDB's default. Migrations run on any server and cannot
        see its disk, so they write a fixed 10 GiB.
        """
        # The floor keeps a nearly full disk from making every scheduled shrink evict everything.
        size = max(shutil.disk_usage(self.data_dir).free // 10, _MIN_CACHE_SIZE)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                "UPDATE cache.cache_config SET value = %s WHERE key = 'cache_size'", (str(size),)
            )
        logger.info(
            "cache size limit set to %d bytes (a tenth of the free disk, at least 1 GiB)", size
        )

    def _initialise(self) -> None:
        """Run initdb with a generated superuser password and flowcore's settings."""
        owner = self._owner_uid_gid()
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise ClusterError(
                f"{self.data_dir} exists but contains no complete cluster (PG_VERSION is "
                f"missing): remove the folder to let flowcore create a new one"
            )
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.log_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        if owner:
            os.chown(self.data_dir, *owner)
            os.chown(self.log_dir, *owner)
            self._check_owner_can_reach()
        password = secrets.token_urlsafe(24)
        _write_private(self.password_file, password + "\n")

        # initdb reads the password from a file that must be readable by the server's user.
        pwfile = self.home / ".initdb-password"
        _write_private(pwfile, password + "\n")
        if owner:
            os.chown(pwfile, *owner)
        try:
            result = self._run_as_owner(
                [
                    str(self.bindir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                    # A disposable cluster skips flushing its new files to disk.
                    *(["--no-sync"] if self.disposable else []),
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise ClusterError(f"initdb failed in {self.data_dir}: {result.stderr.strip()}")

        # Only TCP logins from this machine, always with a password.
        hba = "# Written by flowcore: password logins over loopback TCP only.\n"
        hba += "host all all 127.0.0.1/32 scram-sha-256\n"
        self._write_owned(self.data_dir / "pg_hba.conf", hba)
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# Settings managed by flowcore, rewritten on every start.\n")
            conf.write("include_if_exists = 'flowcore.conf'\n")
        logger.info("created a PostgreSQL cluster in %s", self.data_dir)

    def _start(self) -> None:
        """Start the server, choosing a new free port when the configured one is taken."""
        last_error = ""
        port = self.configured_port()
        for _ in range(_START_ATTEMPTS):
            if port is None or not _port_is_free(port):
                port = _free_loopback_port()
            self._write_settings(port)
            result = self._run_as_owner(
                [
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-w",
                    "-t",
                    "120",
                    "start",
                ],
                new_session=True,
            )
            if result.returncode == 0:
                logger.info("started the cluster in %s on port %d", self.home, port)
                return
            last_error = (result.stderr.strip() or result.stdout.strip()) + self._log_tail()
            # Another program may have taken the port between the check and the start.
            port = None
        raise ClusterError(f"starting the cluster in {self.home} failed: {last_error}")

    def _ensure_database(self) -> None:
        """Create the ``flowdb`` database when it is missing."""
        admin_dsn = self.dsn("postgres")
        assert admin_dsn is not None
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5)
                break
            except psycopg.OperationalError as error:
                # The server may still be finishing its start-up when pg_ctl reports it running.
                if time.monotonic() > deadline:
                    raise ClusterError(f"cannot connect to the local cluster: {error}") from error
                time.sleep(0.2)
        with conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
                logger.info("created database %s", DATABASE)

    def _write_settings(self, port: int) -> None:
        """Write flowcore.conf, included from postgresql.conf."""
        settings = server_settings(port, disposable=self.disposable)
        lines = [f"{key} = {value}" for key, value in settings.items()]
        self._write_owned(self.data_dir / "flowcore.conf", "\n".join(lines) + "\n")

    # -- running as the server's user ----------------------------------------------------

    def _owner_uid_gid(self) -> tuple[int, int] | None:
        """Return the system user's (uid, gid) when running as root, creating the user."""
        if os.geteuid() != 0:
            return None
        try:
            entry = pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            _create_system_user()
            entry = pwd.getpwnam(SYSTEM_USER)
        return entry.pw_uid, entry.pw_gid

    def _check_owner_can_reach(self) -> None:
        """Fail with advice when the system user cannot enter the cluster folder."""
        result = self._run_as_owner(["test", "-w", str(self.data_dir)])
        if result.returncode != 0:
            raise ClusterError(
                f"the system user {SYSTEM_USER!r} that runs PostgreSQL cannot reach "
                f"{self.data_dir}: give other users search (x) permission on every parent "
                f"folder, or set FLOWCORE_HOME to a folder such as /var/lib/flowcore"
            )

    def _run_as_owner(
        self, command: list[str], *, new_session: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run a command as the cluster's owner: the system user when root, else as is."""
        if os.geteuid() == 0:
            self._owner_uid_gid()
            command = ["runuser", "-u", SYSTEM_USER, "--", *command]
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LC_ALL": "C",
            "LANG": "C",
        }
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=environment,
            cwd="/",
            # A new session keeps the server out of the caller's process group, so a Ctrl-C
            # in the terminal that ran `db up` does not stop it.
            start_new_session=new_session,
            check=False,
        )

    def _write_owned(self, path: Path, text: str) -> None:
        """Write a file in the data folder and give it to the cluster's owner."""
        path.write_text(text, encoding="utf-8")
        path.chmod(0o600)
        owner = self._owner_uid_gid()
        if owner:
            os.chown(path, *owner)

    def _postmaster_fields(self) -> list[str]:
        """Return the lines of postmaster.pid, or an empty list when it is absent."""
        try:
            return (self.data_dir / "postmaster.pid").read_text(encoding="utf-8").splitlines()
        except (FileNotFoundError, PermissionError):
            return []

    def _log_tail(self, lines: int = 15) -> str:
        """Return the last lines of the server log, for error messages."""
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        tail = "\n".join(text.splitlines()[-lines:])
        return f"\nlast lines of {self.log_file}:\n{tail}" if tail else ""

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold an exclusive lock on the cluster folder, so concurrent `up`/`down` take turns."""
        self.home.mkdir(mode=0o755, parents=True, exist_ok=True)
        with self.lock_file.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _create_system_user() -> None:
    """Create the system user that runs PostgreSQL (root only)."""
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    result = subprocess.run(
        [
            useradd,
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            SYSTEM_USER,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    # Exit status 9 means the user appeared meanwhile (another process created it).
    if result.returncode not in (0, 9):
        raise ClusterError(
            f"creating the system user {SYSTEM_USER!r} failed: {result.stderr.strip()}"
        )
    logger.info("created system user %s to run PostgreSQL", SYSTEM_USER)


def _process_is_postgres(pid: int) -> bool:
    """Return whether ``pid`` is a live PostgreSQL server process."""
    if not Path("/proc").is_dir():
        # Without /proc, fall back to whether any process has that id.
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        comm = Path(f"/proc/{pid}/comm").read_text(encoding="utf-8").strip()
    except OSError:
        return False
    return comm in {"postgres", "postmaster"}


def _port_is_free(port: int) -> bool:
    """Return whether nothing listens on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only (mode 0600)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(0o600)
