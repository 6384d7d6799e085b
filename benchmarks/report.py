"""The end-of-run table: each benchmark's median and its ratio to the scan floor."""

from __future__ import annotations

from collections.abc import Callable

import attrs

__all__ = ["BenchRow", "RESULTS", "print_report"]


@attrs.frozen
class BenchRow:
    """One measured median: what ran, how (cold, warm, http ...), and its floor."""

    dataset: str
    name: str
    mode: str
    median: float
    floor: float | None
    ratio: float | None


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


def print_report(write_line: Callable[[str], None]) -> None:
    """Write the table of medians (ms), scan floors (ms) and ratios, then the notes."""
    if not RESULTS.rows and not RESULTS.notes:
        return
    write_line("")
    write_line("flowcore benchmarks: median milliseconds, and the ratio to a plain scan")
    header = f"{'dataset':<14} {'query':<58} {'mode':<6} {'median':>11} {'floor':>9} {'ratio':>7}"
    write_line(header)
    write_line("-" * len(header))
    for row in sorted(RESULTS.rows, key=lambda r: (r.dataset, r.name, r.mode)):
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}"
        write_line(
            f"{row.dataset:<14} {row.name:<58} {row.mode:<6} {_milliseconds(row.median):>11} "
            f"{_milliseconds(row.floor):>9} {ratio:>7}"
        )
    for line in RESULTS.notes:
        write_line(line)
