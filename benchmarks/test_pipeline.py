"""Getting data in: the sql generator's and the CSV loader's rows per second.

The generator benchmark writes the dataset's parameters into a fresh database once per round.
The loader benchmark exports the dataset as CSV files in FlowKit's folder layout and loads
them into a fresh database; above a million rows a day it exports the first day only.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pytest
from conftest import record
from psycopg import sql
from report import RESULTS

from flowdb.loader import load_directory
from flowdb.schema import EVENT_TYPES
from flowdb.synth import generate

_LOADED_TYPES = ("calls", "sms", "mds")
# Above this many event rows a day, the loader benchmark loads the first day only.
_EXPORT_ALL_DAYS_BELOW = 1_000_000


@pytest.fixture
def fresh_database(bench_server, request):
    """Function creating migrated empty databases that are dropped after the test."""
    template = bench_server.empty_template()
    created: list[str] = []

    def create() -> str:
        dsn = bench_server.create_database(template)
        created.append(dsn.rsplit("/", 1)[1])
        return dsn

    yield create
    for name in created:
        bench_server.drop_database(name)


def test_generator(benchmark, bench_dataset, fresh_database) -> None:
    if bench_dataset.params.n_days > 7:
        pytest.skip("the generator is timed on datasets of up to 7 days")
    targets: list[str] = []
    reports = []

    def setup() -> None:
        targets.append(fresh_database())

    def run() -> None:
        reports.append(generate(targets[-1], bench_dataset.params))

    benchmark.pedantic(run, setup=setup, rounds=1, iterations=1)
    rows = reports[-1].total_rows
    assert rows == bench_dataset.params.n_days * (
        2 * bench_dataset.params.n_calls
        + 2 * bench_dataset.params.n_sms
        + bench_dataset.params.n_mds
    )
    seconds = benchmark.stats.stats.median if benchmark.stats else reports[-1].seconds
    benchmark.extra_info["rows"] = rows
    benchmark.extra_info["rows_per_second"] = rows / seconds
    record(benchmark, bench_dataset, "synth (sql generator)", "write", None)
    RESULTS.notes.append(
        f"{bench_dataset.name}: the sql generator wrote {rows:,} rows in {seconds:.1f} s "
        f"({rows / seconds:,.0f} rows/s)"
    )


def _export(dsn: str, folder: Path, days: list[dt.date]) -> int:
    """Write the days' events as FlowKit-layout CSV files; return the rows written."""
    rows = 0
    with psycopg.connect(dsn) as conn:
        for event_type in _LOADED_TYPES:
            prefix = EVENT_TYPES[event_type].file_prefix
            type_folder = folder / "records" / event_type
            type_folder.mkdir(parents=True, exist_ok=True)
            columns = [c for c in EVENT_TYPES[event_type].column_names]
            for day in days:
                partition = sql.Identifier("events", f"{event_type}_{day:%Y%m%d}")
                statement = sql.SQL(
                    "COPY {table} ({columns}) TO STDOUT (FORMAT csv, HEADER)"
                ).format(table=partition, columns=sql.SQL(", ").join(map(sql.Identifier, columns)))
                path = type_folder / f"{prefix}_{day:%Y%m%d}.csv"
                with path.open("wb") as handle, conn.cursor().copy(statement) as copy:
                    for chunk in copy:
                        handle.write(chunk)
                count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(partition))
                rows += int(count.fetchone()[0])
    return rows


def test_loader(benchmark, bench_dataset, dataset_dsns, fresh_database, tmp_path) -> None:
    params = bench_dataset.params
    per_day = 2 * params.n_calls + 2 * params.n_sms + params.n_mds
    days = bench_dataset.days if per_day < _EXPORT_ALL_DAYS_BELOW else bench_dataset.days[:1]
    rows = _export(dataset_dsns[bench_dataset.name], tmp_path, days)
    targets: list[str] = []
    reports = []

    def setup() -> None:
        targets.append(fresh_database())

    def run() -> None:
        reports.append(load_directory(targets[-1], tmp_path))

    benchmark.pedantic(run, setup=setup, rounds=3 if rows < 1_000_000 else 1, iterations=1)
    report = reports[-1]
    assert report.ok, report.rejected
    assert sum(report.table_rows.values()) == rows
    seconds = benchmark.stats.stats.median if benchmark.stats else 0.0
    benchmark.extra_info["rows"] = rows
    if seconds:
        benchmark.extra_info["rows_per_second"] = rows / seconds
        RESULTS.notes.append(
            f"{bench_dataset.name}: the loader loaded {rows:,} CSV rows in {seconds:.1f} s "
            f"({rows / seconds:,.0f} rows/s)"
        )
    record(benchmark, bench_dataset, "load (CSV loader)", "write", None)
