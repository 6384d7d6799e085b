"""``flowcore run SPEC.json``: compute a query spec and print its result."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import OperationalError

from flowcore.errors import FlowcoreError, InvalidSpecError, MissingDataError
from flowcore.json_values import csv_value, dumps
from flowcore.settings import Settings
from flowdb.config import ConfigError

__all__ = ["run"]


@click.command()
@click.argument("spec_file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["csv", "json"]),
    default="csv",
    show_default=True,
    help="Output format of the result rows.",
)
@click.option(
    "--redact/--no-redact",
    default=False,
    show_default=True,
    help="Drop rows at or below the redaction threshold, as the HTTP API does.",
)
@click.option("--dsn", default=None, help="FlowDB to use (default: the configured database).")
@click.option("--sql", "show_sql", is_flag=True, help="Print the query's SQL instead of running.")
def run(spec_file: str, output_format: str, redact: bool, dsn: str | None, show_sql: bool) -> None:
    """Run the query spec in SPEC_FILE (JSON, or - for standard input) and print its rows."""
    import flowcore

    text = sys.stdin.read() if spec_file == "-" else Path(spec_file).read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise click.ClickException(f"{spec_file} is not valid JSON: {error}") from None
    try:
        settings = Settings.from_env()
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    try:
        with flowcore.connect(dsn, settings=settings) as session:
            if show_sql:
                click.echo(session.sql(data))
                return
            result = session.run(data, redact=redact)
            _print(result, output_format)
    except InvalidSpecError as error:
        lines = list(error.messages)
        if isinstance(error, MissingDataError) and error.available_dates:
            lines.append(f"available dates: {error.available_dates}")
        raise click.ClickException("invalid spec:\n  " + "\n  ".join(lines)) from None
    except (FlowcoreError, ConfigError) as error:
        raise click.ClickException(str(error)) from None
    except OperationalError as error:
        reason = str(error.orig or error).strip().splitlines()[0]
        raise click.ClickException(f"cannot reach FlowDB: {reason}") from None


def _print(result: Any, output_format: str) -> None:
    if output_format == "json":
        rows = result.to_dicts()
        payload = {"query_id": result.query_id, "query_result": rows}
        click.echo(dumps(payload, indent=True).decode("utf-8"))
        return
    writer = csv.writer(sys.stdout)
    writer.writerow(result.columns)
    for row in result:
        writer.writerow([csv_value(value) for value in row])
