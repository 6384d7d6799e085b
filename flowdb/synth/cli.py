"""``flowcore db synth``: generate synthetic data into FlowDB from the command line."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import click

from flowdb.synth.params import ENVIRONMENT_VARIABLES, GENERATORS, GEOGRAPHIES

__all__ = ["synth"]

_COUNT = click.IntRange(min=0)


class _DateType(click.ParamType):
    """A calendar date written YYYY-MM-DD."""

    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a date in the form YYYY-MM-DD", param, ctx)


_DATE = _DateType()


@click.command()
@click.option("--dsn", default=None, help="PostgreSQL DSN (default: as for `flowcore db load`).")
@click.option(
    "--generator",
    type=click.Choice(GENERATORS),
    default=None,
    help="sql: plausible behaviour at volume; python: calls only, byte-reproducible. "
    "[env SYNTHETIC_DATA_GENERATOR; default sql]",
)
@click.option("--days", type=click.IntRange(min=1), help="Days to generate. [env N_DAYS; 7]")
@click.option("--start-date", type=_DATE, help="First day. [default 2016-01-01]")
@click.option(
    "--subscribers", type=click.IntRange(min=2), help="Subscribers. [env N_SUBSCRIBERS; 4000]"
)
@click.option("--cells", type=click.IntRange(min=1), help="Cells. [env N_CELLS; 1000]")
@click.option("--sites", type=click.IntRange(min=1), help="sql only. [env N_SITES; 1000]")
@click.option(
    "--tacs", type=click.IntRange(min=1), help="Handset models, sql only. [env N_TACS; 1000]"
)
@click.option("--calls", type=_COUNT, help="Calls per day. [env N_CALLS; 200000]")
@click.option("--sms", type=_COUNT, help="SMS per day, sql only. [env N_SMS; 200000]")
@click.option("--mds", type=_COUNT, help="Data sessions per day, sql only. [env N_MDS; 200000]")
@click.option(
    "--subscribers-seed",
    type=int,
    help="Seed of the subscribers, their handsets and calling pairs. [env SUBSCRIBERS_SEED; 11111]",
)
@click.option("--calls-seed", type=int, help="Seed of the events. [env CALLS_SEED; 22222]")
@click.option(
    "--cells-seed", type=int, help="Seed of cells, sites, handset models. [env CELLS_SEED; 33333]"
)
@click.option(
    "--p-out-of-area",
    type=click.FloatRange(0, 1),
    help="Chance an event is at any cell, not one near home. [env P_OUT_OF_AREA; 0.05]",
)
@click.option(
    "--p-relocate",
    type=click.FloatRange(0, 1),
    help="Daily chance a subscriber moves home. [env P_RELOCATE; 0.01]",
)
@click.option(
    "--interactions-multiplier",
    type=click.IntRange(min=1),
    help="Calling pairs per subscriber. [env INTERACTIONS_MULTIPLIER; 5]",
)
@click.option(
    "--disaster-region",
    help="admin2 p-code off limits during the disaster; needs both disaster dates. "
    "[env DISASTER_REGION_PCOD]",
)
@click.option("--disaster-start", type=_DATE, help="First off-limits day. [env DISASTER_START]")
@click.option("--disaster-end", type=_DATE, help="Last off-limits day. [env DISASTER_END]")
@click.option(
    "--geography",
    type=click.Choice(GEOGRAPHIES),
    default=None,
    help="auto: the loaded admin boundaries, else Nepal's, else a grid. [default auto]",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Day tables built at once (default: the number of CPUs).",
)
def synth(dsn: str | None, **options: Any) -> None:
    """Generate synthetic calls, SMS and data sessions into an empty FlowDB.

    Options override FlowKit's environment variables of the same meaning.
    """
    import psycopg

    from flowdb.config import ConfigError, resolve_dsn
    from flowdb.synth import SynthError, SynthParams, generate

    renamed = {
        "days": "n_days",
        "subscribers": "n_subscribers",
        "cells": "n_cells",
        "sites": "n_sites",
        "tacs": "n_tacs",
        "calls": "n_calls",
        "sms": "n_sms",
        "mds": "n_mds",
    }
    overrides = {renamed.get(name, name): value for name, value in options.items()}
    try:
        target = resolve_dsn(dsn)
        params = SynthParams.from_env(**overrides)
    except (ConfigError, ValueError) as error:
        message = str(error)
        # Messages name the parameters' Python fields. Name the option and the environment
        # variable that set each one instead. Only names with an underscore are replaced, so
        # plain words stay as written.
        variables = {field: variable for variable, (field, _) in ENVIRONMENT_VARIABLES.items()}
        for option in options:
            field = renamed.get(option, option)
            if "_" in field:
                flag = "--" + option.replace("_", "-")
                if field in variables:
                    flag = f"{flag}/{variables[field]}"
                message = re.sub(rf"\b{field}\b", flag, message)
        raise click.ClickException(message) from error
    click.echo(
        f"Generating {params.n_days} days from {params.start_date} with the "
        f"{params.generator} generator ...",
        err=True,
    )
    try:
        report = generate(target, params)
    except SynthError as error:
        raise click.ClickException(str(error)) from error
    except psycopg.OperationalError as error:
        raise click.ClickException(f"cannot connect to the database: {error}") from error
    click.echo(
        f"Geography: admin{report.geography.level} ({report.geography.source}, "
        f"{report.geography.regions} regions)",
        err=True,
    )
    for event_type, rows in sorted(report.rows.items()):
        click.echo(f"events.{event_type}: {rows:,} rows over {len(report.days)} days")
    click.echo(
        f"Done in {report.seconds:.1f} s (set-up {report.staging_seconds:.1f} s, events "
        f"{report.events_seconds:.1f} s, publishing {report.publish_seconds:.1f} s).",
        err=True,
    )
