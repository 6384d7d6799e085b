"""The ``flowcore`` command line: database, queries, cache, plugins, and commands from other
distributions (``serve``, ``token``) found through the ``flowcore.commands`` entry points."""

from __future__ import annotations

import importlib
import logging
from importlib.metadata import entry_points

import click

__all__ = ["main"]

# Built-in command groups, imported only when the command line runs.
_BUILTIN_COMMANDS = {
    "db": "flowcore.cli.db:db",
    "run": "flowcore.cli.run:run",
    "cache": "flowcore.cli.cache:cache",
    "plugins": "flowcore.cli.plugins:plugins",
}


class _LazyGroup(click.Group):
    """A click group whose sub-commands are imported on first use."""

    def _targets(self) -> dict[str, str]:
        targets = dict(_BUILTIN_COMMANDS)
        for entry_point in entry_points(group="flowcore.commands"):
            targets.setdefault(entry_point.name, entry_point.value)
        return targets

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self._targets())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self._targets().get(cmd_name)
        if target is None:
            return None
        module_name, _, attribute = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise click.ClickException(
                f"command {cmd_name!r} is unavailable: {module_name} failed to import ({error})"
            ) from error
        return getattr(module, attribute)


@click.group(cls=_LazyGroup)
@click.version_option(package_name="flowcore", prog_name="flowcore")
@click.option("-v", "--verbose", count=True, help="Log more: -v for info, -vv for debug.")
def main(verbose: int) -> None:
    """Query mobile operator data: manage FlowDB, run queries, serve the API."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
