"""The end-of-run table: each benchmark's median and its ratio to the scan floor."""

from __future__ import annotations

from collections.abc import Callable

import attrs

__all__ = ["BenchRow", "RESULTS", "ScanFloor", "print_report"]


@attrs.frozen
class ScanFloor:
    """Seconds to count the rows a query reads: by a plain scan, and from an index alone."""

    #: ``count(*)`` by sequential scans of the partitions: one pass over the data.
    plain: float
    #: The same ``count(*)`` as PostgreSQL plans it, by an index-only scan of the ``datetime``
    #: index on vacuumed tables, which reads far less than the rows.
    index_only: float


@attrs.frozen
class BenchRow:
    """One measured median: what ran, how (cold, warm, http ...), and its floors."""

    dataset: str
    name: str
    mode: str
    median: float
    floor: ScanFloor | None

    def ratio(self) -> float | None:
        """Return the median as a multiple of the plain scan floor."""
        return None if self.floor is None else self.median / self.floor.plain

    def index_ratio(self) -> float | None:
        """Return the median as a multiple of the index-only count."""
        return None if self.floor is None else self.median / self.floor.index_only


@attrs.define
class _Results:
    rows: list[BenchRow] = attrs.field(factory=list)
    #: Event rows generated in this run, by dataset name (absent when a dataset was reused).
    generated: dict[str, int] = attrs.field(factory=dict)
    #: Free-form lines printed under the table, such as throughputs.
    notes: list[str] = attrs.field(factory=list)


RESULTS = _Results()
"""Everything measured in this run, filled by the benchmarks."""


def _milliseconds(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1000:,.1f}"


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def print_report(write_line: Callable[[str], None]) -> None:
    """Write the table of medians, scan floors (ms) and ratios, then the notes."""
    if not RESULTS.rows and not RESULTS.notes:
        return
    write_line("")
    write_line(
        "flowcore benchmarks: median milliseconds, the ratio to a plain scan of what the query "
        "reads, and to an index-only count of it"
    )
    header = (
        f"{'dataset':<14} {'query':<58} {'mode':<6} {'median':>11} {'scan':>9} {'ratio':>7} "
        f"{'index':>9} {'ratio':>7}"
    )
    write_line(header)
    write_line("-" * len(header))
    for row in sorted(RESULTS.rows, key=lambda r: (r.dataset, r.name, r.mode)):
        plain = None if row.floor is None else row.floor.plain
        index_only = None if row.floor is None else row.floor.index_only
        write_line(
            f"{row.dataset:<14} {row.name:<58} {row.mode:<6} {_milliseconds(row.median):>11} "
            f"{_milliseconds(plain):>9} {_ratio(row.ratio()):>7} "
            f"{_milliseconds(index_only):>9} {_ratio(row.index_ratio()):>7}"
        )
    for line in RESULTS.notes:
        write_line(line)
