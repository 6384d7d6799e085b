"""``flowcore plugins``: list installed plugin distributions, their query kinds and units."""

from __future__ import annotations

import click
from rich.table import Table

from flowcore.cli.output import table_console

__all__ = ["plugins"]


@click.command()
def plugins() -> None:
    """List plugin distributions with their versions, query kinds and aggregation units."""
    from flowcore.errors import PluginError
    from flowcore.plugins import build_plugin_manager, load_registry
    from flowcore.settings import Settings

    try:
        settings = Settings.from_env()
        registry = load_registry(build_plugin_manager(settings))
    except (ValueError, PluginError) as error:
        raise click.ClickException(str(error)) from None
    table = Table(title="flowcore plugins")
    table.add_column("distribution")
    table.add_column("query kinds")
    table.add_column("aggregation units")
    owners = sorted(
        {k.distribution for k in registry.kinds.values()}
        | {u.distribution for u in registry.units.values()}
    )
    for owner in owners:
        kinds = sorted(
            f"{k.name}{' *' if k.top_level else ''}"
            for k in registry.kinds.values()
            if k.distribution == owner
        )
        units = sorted(
            u.name if u.public else f"{u.name} †"
            for u in registry.units.values()
            if u.distribution == owner
        )
        table.add_row(owner, "\n".join(kinds) or "-", ", ".join(units) or "-")
    console = table_console()
    console.print(table)
    console.print("* top-level kinds: accepted at the top of an HTTP API request")
    console.print("† internal units: used inside query kinds, not accepted as aggregation_unit")
