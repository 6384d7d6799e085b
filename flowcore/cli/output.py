"""The console the commands print their tables on."""

from __future__ import annotations

from rich.console import Console

__all__ = ["PIPED_WIDTH", "table_console"]

#: Width of tables written to a pipe or a file, where Rich would otherwise assume 80 columns
#: and cut long names such as query kinds short.
PIPED_WIDTH = 200


def table_console() -> Console:
    """Return a console for tables: the terminal's width, or PIPED_WIDTH off a terminal."""
    console = Console()
    return console if console.is_terminal else Console(width=PIPED_WIDTH)
