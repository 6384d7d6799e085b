"""``flowcore db``: start and stop the local cluster, migrate, and load data into FlowDB."""

from __future__ import annotations

import os
import sys

import click
import psycopg

from flowdb.cluster import ClusterError, LocalCluster
from flowdb.config import ConfigError, flowcore_home, resolve_dsn
from flowdb.migrate import MigrationError, migrate

__all__ = ["db"]

_DSN_OPTION_HELP = (
    "PostgreSQL DSN of the database (default: FLOWDB_DSN, FlowKit's FLOWDB_* variables, "
    "then the cluster started by `flowcore db up`)."
)


def _configured_elsewhere() -> str | None:
    """Return the environment variable that points flowcore at another database, if any."""
    for variable in ("FLOWDB_DSN", "FLOWDB_HOST"):
        if os.environ.get(variable):
            return variable
    return None


def _resolve_or_exit(explicit: str | None) -> str:
    """Return the DSN to use, or exit with the configuration error's message."""
    try:
        return resolve_dsn(explicit)
    except ConfigError as error:
        raise click.ClickException(str(error)) from error


@click.group()
def db() -> None:
    """Manage FlowDB: the local cluster, migrations and data loading."""


@db.command()
def up() -> None:
    """Create (first time) and start the local cluster in $FLOWCORE_HOME, then migrate it."""
    variable = _configured_elsewhere()
    if variable:
        raise click.ClickException(
            f"{variable} is set, so flowcore uses that database and not a local cluster: "
            f"run `flowcore db migrate` to prepare it, or unset {variable} to start a local one"
        )
    cluster = LocalCluster(flowcore_home())
    try:
        dsn, applied, already_running = cluster.up()
    except (ClusterError, MigrationError, ConfigError) as error:
        raise click.ClickException(str(error)) from error
    if already_running:
        click.echo(f"The local cluster in {cluster.home} is already running.", err=True)
    else:
        click.echo(f"Started the local cluster in {cluster.home}.", err=True)
    if applied:
        click.echo(f"Applied {len(applied)} migrations: {', '.join(applied)}", err=True)
    click.echo(f"DSN (stored in {cluster.dsn_file}):", err=True)
    click.echo(dsn)


@db.command()
def down() -> None:
    """Stop the local cluster in $FLOWCORE_HOME; its data stays for the next `up`."""
    cluster = LocalCluster(flowcore_home())
    try:
        stopped = cluster.down()
    except ClusterError as error:
        raise click.ClickException(str(error)) from error
    if stopped:
        click.echo(f"Stopped the local cluster in {cluster.home}.")
    else:
        click.echo(f"The local cluster in {cluster.home} is not running.")


@db.command()
@click.option("--dsn", "dsn_only", is_flag=True, help="Print only the DSN, for scripts.")
def status(dsn_only: bool) -> None:
    """Report whether the local cluster runs; exit with status 1 when it does not."""
    cluster = LocalCluster(flowcore_home())
    state = cluster.status()
    if dsn_only:
        if not state.running or not state.dsn:
            sys.exit(1)
        click.echo(state.dsn)
        return
    if state.running:
        click.echo(f"running: pid {state.pid}, port {state.port}, folder {state.home}")
    elif state.initialised:
        click.echo(f"stopped: folder {state.home} (start it with `flowcore db up`)")
    else:
        click.echo(f"not created: no cluster in {state.home} (create it with `flowcore db up`)")
    variable = _configured_elsewhere()
    if variable:
        click.echo(f"note: {variable} is set, so commands use that database instead")
    if not state.running:
        sys.exit(1)


@db.command(name="migrate")
@click.option("--dsn", default=None, help=_DSN_OPTION_HELP)
def migrate_command(dsn: str | None) -> None:
    """Apply the FlowDB migrations not yet applied and update the login roles."""
    target = _resolve_or_exit(dsn)
    try:
        applied = migrate(target)
    except (MigrationError, ConfigError) as error:
        raise click.ClickException(str(error)) from error
    except psycopg.OperationalError as error:
        raise click.ClickException(f"cannot connect to the database: {error}") from error
    if applied:
        click.echo(f"Applied {len(applied)} migrations: {', '.join(applied)}")
    else:
        click.echo("The database is up to date.")
