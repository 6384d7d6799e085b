"""``flowcore cache``: list stored results, evict the least valuable ones, or clear them all."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from rich.table import Table
from sqlalchemy import create_engine
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from flowcore.cache.backend import CacheBackend
from flowcore.cli.output import table_console
from flowcore.errors import FlowcoreError
from flowcore.settings import Settings
from flowdb.config import ConfigError, resolve_dsn, sqlalchemy_url

__all__ = ["cache"]

_DSN_OPTION_HELP = (
    "PostgreSQL DSN of the database (default: FLOWDB_DSN, FlowKit's FLOWDB_* variables, "
    "then the cluster started by `flowcore db up`)."
)


def format_bytes(size: int) -> str:
    """Return a byte count in binary units, e.g. ``80.0 KiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _reason(error: DBAPIError) -> str:
    """Return the database's own one-line message for a failed statement or connection."""
    diagnostic = getattr(error.orig, "diag", None)
    primary = getattr(diagnostic, "message_primary", None)
    return str(primary or error.orig).strip()


@contextmanager
def _open_backend(dsn: str | None) -> Iterator[CacheBackend]:
    """Yield the configured cache backend on the database, turning failures into messages."""
    from flowcore.plugins import build_plugin_manager, load_registry

    try:
        settings = Settings.from_env()
        url = sqlalchemy_url(resolve_dsn(dsn))
    except (ConfigError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    try:
        manager = build_plugin_manager(settings)
        registry = load_registry(manager)
    except FlowcoreError as error:
        raise click.ClickException(str(error)) from error
    factory = registry.cache_backends.get(settings.cache_backend)
    if factory is None:
        raise click.ClickException(
            f"cache backend {settings.cache_backend!r} (FLOWCORE_CACHE_BACKEND) is not "
            f"installed; available: {', '.join(sorted(registry.cache_backends))}"
        )
    engine = create_engine(url)
    try:
        yield factory(engine=engine, settings=settings, hook=manager.hook)
    except OperationalError as error:
        raise click.ClickException(f"could not reach the database: {_reason(error)}") from error
    except ProgrammingError as error:
        raise click.ClickException(
            f"the cache tables are missing or unreadable ({_reason(error)}): "
            "run `flowcore db migrate` first"
        ) from error
    except DBAPIError as error:
        raise click.ClickException(f"database error: {_reason(error)}") from error
    finally:
        engine.dispose()


_LS_COLUMNS = ("query id", "kind", "state", "size", "created", "accesses", "score")


@click.group()
def cache() -> None:
    """Inspect and trim the query cache (the result tables in schema "cache")."""


@cache.command(name="ls")
@click.option("--dsn", default=None, help=_DSN_OPTION_HELP)
def list_entries(dsn: str | None) -> None:
    """List stored results with their kind, state, size, creation time, reads and score."""
    with _open_backend(dsn) as backend:
        entries = backend.entries()
        limit = backend.max_size()
    rows = [
        (
            entry.query_id,
            entry.query_kind,
            entry.state,
            format_bytes(entry.size_bytes),
            entry.created.strftime("%Y-%m-%d %H:%M:%S %Z"),
            str(entry.access_count),
            f"{entry.score:.3g}",
        )
        for entry in entries
    ]
    console = table_console()
    if console.is_terminal:
        table = Table(title="flowcore cache")
        for column in _LS_COLUMNS:
            table.add_column(
                column,
                justify="right" if column in ("size", "accesses") else "left",
                no_wrap=column == "query id",
                min_width=32 if column == "query id" else None,
            )
        for row in rows:
            table.add_row(*row)
        console.print(table)
    else:
        # Tab-separated lines, so that scripts can read the list.
        click.echo("\t".join(_LS_COLUMNS))
        for row in rows:
            click.echo("\t".join(row))
    total = sum(entry.size_bytes for entry in entries)
    summary = f"{len(entries)} results, {format_bytes(total)}"
    summary += f" of the {format_bytes(limit)} limit"
    click.echo(summary, err=not console.is_terminal)


@cache.command()
@click.option("--dsn", default=None, help=_DSN_OPTION_HELP)
@click.option("--yes", is_flag=True, help="Clear without asking for confirmation.")
def clear(dsn: str | None, yes: bool) -> None:
    """Drop every stored result table and its metadata; queries recompute on their next run."""
    if not yes:
        click.confirm("Drop every stored query result?", abort=True)
    with _open_backend(dsn) as backend:
        removed = backend.clear()
    click.echo(f"Removed {removed} stored results.")


@cache.command()
@click.option("--dsn", default=None, help=_DSN_OPTION_HELP)
@click.option(
    "--size",
    "size",
    type=click.IntRange(min=0),
    default=None,
    help="Target cache size in bytes (default: cache_size in cache.cache_config).",
)
@click.option("--dry-run", is_flag=True, help="List what would be evicted; change nothing.")
def shrink(dsn: str | None, size: int | None, dry_run: bool) -> None:
    """Evict the lowest-scored results, outside the protected period, until the cache fits."""
    with _open_backend(dsn) as backend:
        evictions = backend.shrink(size, dry_run=dry_run)
        target = size if size is not None else backend.max_size()
        remaining = backend.total_size()
    verb = "Would evict" if dry_run else "Evicted"
    for eviction in evictions:
        click.echo(
            f"{verb} {eviction.query_id} ({eviction.query_kind}, "
            f"{format_bytes(eviction.size_bytes)}, score {eviction.score:.3g})"
        )
    freed = sum(eviction.size_bytes for eviction in evictions)
    click.echo(f"{verb} {len(evictions)} results, {format_bytes(freed)}.")
    if dry_run:
        remaining -= freed
    if remaining > target:
        # Say why, since "Evicted 0 results" alone reads like a failure.
        click.echo(
            f"The cache stays at {format_bytes(remaining)}, above the {format_bytes(target)} "
            "target: the other results were created within the protected period "
            "(cache_protected_period in cache.cache_config), are being read, or are "
            "tables outside the cache schema, which shrink never evicts."
        )
