"""``flowcore db``: start and stop the local cluster, migrate, and load data into FlowDB."""

from __future__ import annotations

import os
import sys
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click
import psycopg

from flowdb.cluster import ClusterError, LocalCluster
from flowdb.config import ConfigError, flowcore_home, resolve_dsn
from flowdb.migrate import MigrationError, migrate
from flowdb.schema import EVENT_TYPES
from flowdb.synth.cli import synth

if TYPE_CHECKING:
    from flowdb.load_report import LoadReport

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


def _applied_message(applied: list[str]) -> str:
    """Return the line that lists the migrations just applied."""
    noun = "migration" if len(applied) == 1 else "migrations"
    return f"Applied {len(applied)} {noun}: {', '.join(applied)}"


def _resolve_or_exit(explicit: str | None) -> str:
    """Return the DSN to use, or exit with the configuration error's message."""
    try:
        return resolve_dsn(explicit)
    except ConfigError as error:
        raise click.ClickException(str(error)) from error


@click.group()
def db() -> None:
    """Manage FlowDB: the local cluster, migrations and data loading."""


db.add_command(synth)


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
        click.echo(_applied_message(applied), err=True)
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
        click.echo(_applied_message(applied))
    else:
        click.echo("The database is up to date.")


@db.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--dsn", default=None, help=_DSN_OPTION_HELP)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Files loaded at once (default: the number of CPUs, at most 8).",
)
def load(folder: Path, dsn: str | None, jobs: int | None) -> None:
    """Load a dataset FOLDER in FlowKit's test-data layout; exit 1 if any file is rejected."""
    from flowdb.loader import LoadError, load_directory

    target = _resolve_or_exit(dsn)
    started = time.monotonic()
    try:
        report = load_directory(target, folder, progress=sys.stderr.isatty(), jobs=jobs)
    except LoadError as error:
        raise click.ClickException(str(error)) from error
    except psycopg.OperationalError as error:
        raise click.ClickException(f"cannot connect to the database: {error}") from error
    elapsed = time.monotonic() - started
    _print_load_report(report, elapsed)
    if not report.ok:
        sys.exit(1)


@db.command(name="count-events")
@click.option("--dsn", default=None, help=_DSN_OPTION_HELP)
@click.option(
    "--event-type",
    "event_types",
    multiple=True,
    type=click.Choice(sorted(EVENT_TYPES)),
    help="Count only this event type (repeatable; default: every type).",
)
@click.option("--recount", is_flag=True, help="Count every ingested day again, not only new ones.")
def count_events(dsn: str | None, event_types: tuple[str, ...], recount: bool) -> None:
    """Count events per subscriber, cell and day for ingested days that lack current counts.

    `flowcore db load` and `flowcore db synth` count the days they write. Run this after
    adding or changing days by other means (another ETL, or SQL), so location queries read the
    counts instead of the events again. A day is found changed when its newest ingestion record
    in etl.etl_records is newer than its counts. For rows changed in place without a new record,
    use --recount, then `flowcore cache clear` so no result of the old rows is served.
    """
    from flowdb.cell_counts import count_ingested_days

    target = _resolve_or_exit(dsn)
    try:
        counted = count_ingested_days(target, event_types=event_types, recount=recount)
    except psycopg.OperationalError as error:
        raise click.ClickException(f"cannot connect to the database: {error}") from error
    if not counted:
        click.echo("Every ingested day is counted.")
        return
    by_type: dict[str, list[date]] = {}
    for cdr_type, day in counted:
        by_type.setdefault(cdr_type, []).append(day)
    for cdr_type, days in sorted(by_type.items()):
        click.echo(f"Counted {cdr_type}: {_date_ranges(days)}")


def _print_load_report(report: LoadReport, elapsed: float) -> None:
    """Print rows per table and day range, then every rejected file's errors."""
    from rich.table import Table

    from flowcore.cli.output import table_console

    console = table_console()
    if not report.table_rows:
        click.echo(f"Nothing was loaded ({elapsed:.1f} s).")
    table = Table(title=f"Loaded in {elapsed:.1f} s")
    table.add_column("table")
    table.add_column("days", justify="right")
    table.add_column("first day")
    table.add_column("last day")
    table.add_column("rows", justify="right")
    for name, rows in sorted(report.table_rows.items()):
        days = report.day_rows.get(name.removeprefix("events."), {})
        first = min(days).isoformat() if days else ""
        last = max(days).isoformat() if days else ""
        table.add_row(name, str(len(days)) if days else "", first, last, f"{rows:,}")
    if report.table_rows:
        console.print(table)
    if report.rejected:
        # Plain lines, never wrapped, so each error stays on one line for grep.
        click.echo(f"{len(report.rejected)} files rejected:", err=True)
        for rejected in report.rejected:
            for message in rejected.messages():
                click.echo(message, err=True)


@db.command()
@click.option("--dsn", default=None, help=_DSN_OPTION_HELP)
def summary(dsn: str | None) -> None:
    """Print the rows of each FlowDB table and the available dates of each event type."""
    from rich.table import Table

    from flowcore.cli.output import table_console
    from flowdb.summary import summarise_database

    target = _resolve_or_exit(dsn)
    try:
        contents = summarise_database(target)
    except psycopg.OperationalError as error:
        raise click.ClickException(f"cannot connect to the database: {error}") from error
    console = table_console()
    rows_table = Table(title="Rows per table")
    rows_table.add_column("table")
    rows_table.add_column("rows", justify="right")
    for name, rows in contents.table_rows.items():
        rows_table.add_row(name, f"{rows:,}")
    console.print(rows_table)
    dates_table = Table(title="Available dates")
    dates_table.add_column("event type")
    dates_table.add_column("days", justify="right")
    dates_table.add_column("dates")
    for event_type, dates in sorted(contents.available_dates.items()):
        dates_table.add_row(event_type, str(len(dates)), _date_ranges(dates))
    console.print(dates_table)


def _date_ranges(dates: list[date]) -> str:
    """Return sorted dates as comma-separated ranges, e.g. ``2016-01-01..2016-01-07``."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(dates):
        if ranges and (day - ranges[-1][1]).days == 1:
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ", ".join(
        start.isoformat() if start == end else f"{start.isoformat()}..{end.isoformat()}"
        for start, end in ranges
    )
