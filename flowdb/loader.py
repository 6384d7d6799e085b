"""Loading a dataset folder in FlowKit's test-data layout into FlowDB.

The layout (any part may be missing)::

    records/calls/calls_YYYYMMDD.csv        one file per event type and day
    records/sms/sms_YYYYMMDD.csv            (``.csv.gz`` works too)
    records/mds/mds_YYYYMMDD.csv
    records/topups/topup_YYYYMMDD.csv       FlowKit's singular file prefix
    infrastructure/sites.csv
    infrastructure/cells.csv
    tac_database.csv
    geography/admin0.geojson ... admin3.geojson

Files load in parallel. A file with bad rows is rejected as a whole, with every bad line
reported, and the other files still load.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from pathlib import Path

import attrs
import psycopg

from flowcore.cache.reload import invalidate_reloaded_day, invalidate_reloaded_table
from flowdb.cell_counts import affected_parents
from flowdb.load_events import DayFile, load_day_file, parse_day_file_name
from flowdb.load_geography import admin_level, load_layer_file
from flowdb.load_infrastructure import INFRASTRUCTURE_TABLES, load_table_file
from flowdb.load_report import LineError, LoadReport, RejectedFile
from flowdb.schema import EVENT_TYPES
from flowdb.statistics import refresh_parent_statistics

__all__ = ["LoadError", "LoadPlan", "load_directory", "plan_directory"]

logger = logging.getLogger(__name__)

_INFRASTRUCTURE_FILES = {
    "sites": ("infrastructure/sites.csv",),
    "cells": ("infrastructure/cells.csv",),
    "tacs": ("tac_database.csv", "infrastructure/tac_database.csv"),
}
_PROGRESS_DELAY_SECONDS = 1.0


class LoadError(ValueError):
    """The folder cannot be loaded at all (missing, or holding no recognised data)."""


@attrs.define
class LoadPlan:
    """The files found in a dataset folder, sorted by what they load into."""

    days: list[DayFile] = attrs.field(factory=list)
    tables: list[tuple[str, Path]] = attrs.field(factory=list)
    layers: list[tuple[int, Path]] = attrs.field(factory=list)
    unusable: list[RejectedFile] = attrs.field(factory=list)

    def paths(self) -> list[Path]:
        """Return every file the plan loads."""
        return (
            [day.path for day in self.days]
            + [path for _, path in self.tables]
            + [path for _, path in self.layers]
        )


def plan_directory(folder: Path) -> LoadPlan:
    """Find the loadable files of a dataset folder.

    Raises:
        LoadError: when the folder does not exist or contains nothing loadable.
    """
    if not folder.is_dir():
        raise LoadError(f"{folder} is not a folder: expected a dataset folder to load")
    plan = LoadPlan()
    records = folder / "records"
    if records.is_dir():
        for type_folder in sorted(path for path in records.iterdir() if path.is_dir()):
            _plan_records(plan, type_folder)
    for table, candidates in _INFRASTRUCTURE_FILES.items():
        for candidate in candidates:
            if (folder / candidate).is_file():
                plan.tables.append((table, folder / candidate))
                break
    geography = folder / "geography"
    if geography.is_dir():
        for path in sorted(geography.glob("*.geojson")):
            level = admin_level(path)
            if level is None:
                logger.warning("skipping %s: expected admin0.geojson ... admin3.geojson", path)
                continue
            plan.layers.append((level, path))
    if not plan.paths() and not plan.unusable:
        raise LoadError(
            f"{folder} contains no loadable data: expected records/<type>/<type>_YYYYMMDD.csv, "
            f"infrastructure/cells.csv, infrastructure/sites.csv, tac_database.csv or "
            f"geography/admin<N>.geojson"
        )
    return plan


def _plan_records(plan: LoadPlan, type_folder: Path) -> None:
    """Add a ``records/<type>`` folder's day files to the plan."""
    files = sorted(
        path
        for path in type_folder.iterdir()
        # Any case, so a file named .CSV is rejected with the expected name, not skipped.
        if path.is_file() and path.name.lower().endswith((".csv", ".csv.gz"))
    )
    event_type = EVENT_TYPES.get(type_folder.name)
    if event_type is None:
        allowed = ", ".join(EVENT_TYPES)
        message = f"folder records/{type_folder.name} is not an event type; allowed: {allowed}"
        plan.unusable += [
            RejectedFile.from_errors(path, [LineError(None, message)]) for path in files
        ]
        return
    by_day: dict[date, list[DayFile]] = {}
    for path in files:
        parsed = parse_day_file_name(path, event_type)
        if isinstance(parsed, LineError):
            plan.unusable.append(RejectedFile.from_errors(path, [parsed]))
        else:
            by_day.setdefault(parsed.day, []).append(parsed)
    for day, day_files in sorted(by_day.items()):
        if len(day_files) == 1:
            plan.days.extend(day_files)
            continue
        # Each file would replace the other's rows, so which one stays would depend on timing.
        names = ", ".join(day_file.path.name for day_file in day_files)
        message = f"{names} hold {event_type.name} of {day.isoformat()}; keep one file per day"
        plan.unusable += [
            RejectedFile.from_errors(day_file.path, [LineError(None, message)])
            for day_file in day_files
        ]


class _Progress:
    """A rich progress bar over the bytes to load, shown once a load takes over a second."""

    def __init__(self, total_bytes: int, enabled: bool) -> None:
        self._enabled = enabled
        self._lock = threading.Lock()
        self._started_at = time.monotonic()
        self._visible = False
        self._bar = None
        if enabled:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._bar = Progress(
                TextColumn("loading"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                transient=True,
            )
            self._task = self._bar.add_task("load", total=total_bytes)

    def advance(self, byte_count: int) -> None:
        """Count bytes read; show the bar when the load has run for a while."""
        if self._bar is None:
            return
        with self._lock:
            self._bar.advance(self._task, byte_count)
            if not self._visible and time.monotonic() - self._started_at > _PROGRESS_DELAY_SECONDS:
                self._bar.start()
                self._visible = True

    def close(self) -> None:
        """Remove the bar from the terminal."""
        if self._bar is not None and self._visible:
            self._bar.stop()


def load_directory(
    dsn: str, path: Path | str, *, progress: bool = False, jobs: int | None = None
) -> LoadReport:
    """Load every recognised file of a dataset folder; return rows loaded and rejected files.

    ``jobs`` files load at once (default: the number of CPUs, at most 8). Loading an event day,
    a table or a layer again replaces it.

    Raises:
        LoadError: when the folder does not exist or contains nothing loadable.
    """
    folder = Path(path)
    plan = plan_directory(folder)
    report = LoadReport()
    report.rejected += plan.unusable
    workers = jobs or min(8, os.cpu_count() or 1)
    total_bytes = sum(file.stat().st_size for file in plan.paths())
    bar = _Progress(total_bytes, progress)

    tasks: list[tuple[Path, Callable[[], None]]] = []
    lock = threading.Lock()

    def reject(file: Path, errors: list[LineError]) -> None:
        with lock:
            report.rejected.append(RejectedFile.from_errors(file, errors))

    for day_file in plan.days:

        def load_day(day_file: DayFile = day_file) -> None:
            result = load_day_file(dsn, day_file, on_progress=bar.advance)
            if result.errors:
                reject(day_file.path, result.errors)
                return
            with lock:
                report.add_day(day_file.event_type.name, day_file.day, result.rows)
            invalidate_reloaded_day(dsn, day_file.event_type.name, day_file.day)

        tasks.append((day_file.path, load_day))

    for table_name, table_path in plan.tables:

        def load_table(table_name: str = table_name, table_path: Path = table_path) -> None:
            table = INFRASTRUCTURE_TABLES[table_name]
            result = load_table_file(dsn, table_path, table, on_progress=bar.advance)
            if result.errors:
                reject(table_path, result.errors)
                return
            with lock:
                report.add_table(table.qualified, result.rows)
            invalidate_reloaded_table(dsn, table.qualified)

        tasks.append((table_path, load_table))

    for level, layer_path in plan.layers:

        def load_layer(level: int = level, layer_path: Path = layer_path) -> None:
            result = load_layer_file(dsn, layer_path, level)
            bar.advance(layer_path.stat().st_size)
            if result.errors:
                reject(layer_path, result.errors)
                return
            with lock:
                report.add_table(f"geography.admin{level}", result.rows)
            invalidate_reloaded_table(dsn, f"geography.admin{level}")

        tasks.append((layer_path, load_layer))

    # Big files first, so the longest loads do not start last.
    tasks.sort(key=lambda task: task[0].stat().st_size, reverse=True)
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures: list[tuple[Path, Future[None]]] = [
                (file, pool.submit(task)) for file, task in tasks
            ]
            for file, future in futures:
                try:
                    future.result()
                except psycopg.OperationalError:
                    raise
                except (psycopg.Error, OSError) as error:
                    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
                    logger.error("loading %s failed: %s", file, message)
                    reject(file, [LineError(None, f"loading failed: {message}")])
    finally:
        bar.close()
    refresh_parent_statistics(
        dsn, affected_parents({name: len(days) for name, days in report.day_rows.items()})
    )
    report.rejected.sort(key=lambda rejected: str(rejected.path))
    return report
