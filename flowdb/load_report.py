"""Load reports: rows per table and per day, and the rejected files with their errors."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path

import attrs

__all__ = ["MAX_ERRORS_PER_FILE", "LineError", "LoadReport", "RejectedFile"]

MAX_ERRORS_PER_FILE = 1000
"""Errors kept per rejected file; further ones are only counted."""


@attrs.frozen
class LineError:
    """One reason a file was rejected, at a line of the file (None: the file as a whole)."""

    line: int | None
    message: str

    def __str__(self) -> str:
        return self.message if self.line is None else f"line {self.line}: {self.message}"


@attrs.define
class RejectedFile:
    """A file that was not loaded, with every error found in it (up to a limit)."""

    path: Path
    errors: list[LineError] = attrs.field(factory=list)
    error_count: int = 0
    """Number of errors found, which exceeds ``len(errors)`` when the list was cut."""

    @classmethod
    def from_errors(cls, path: Path, errors: list[LineError]) -> RejectedFile:
        """Build a rejection from all errors found, keeping the first MAX_ERRORS_PER_FILE."""
        ordered = sorted(errors, key=lambda error: error.line or 0)
        return cls(path, ordered[:MAX_ERRORS_PER_FILE], len(ordered))

    def messages(self) -> list[str]:
        """Return one line per error, each starting with the file name."""
        lines = [
            f"{self.path.name} {error}" if error.line is not None else f"{self.path.name}: {error}"
            for error in self.errors
        ]
        if self.error_count > len(self.errors):
            lines.append(f"{self.path.name}: {self.error_count - len(self.errors)} more errors")
        return lines


@attrs.define
class LoadReport:
    """Rows loaded per table and per event day, and the rejected files."""

    table_rows: dict[str, int] = attrs.field(factory=dict)
    """Rows loaded per qualified table name, e.g. ``events.calls`` or ``geography.admin3``."""

    day_rows: dict[str, dict[date, int]] = attrs.field(factory=lambda: defaultdict(dict))
    """Rows loaded per event type and day."""

    rejected: list[RejectedFile] = attrs.field(factory=list)

    @property
    def ok(self) -> bool:
        """True when no file was rejected."""
        return not self.rejected

    def add_table(self, table: str, rows: int) -> None:
        """Count ``rows`` loaded into ``table``."""
        self.table_rows[table] = self.table_rows.get(table, 0) + rows

    def add_day(self, event_type: str, day: date, rows: int) -> None:
        """Count an event day's rows, which replaced any rows loaded earlier for that day."""
        self.day_rows[event_type][day] = rows
        self.add_table(f"events.{event_type}", rows)
