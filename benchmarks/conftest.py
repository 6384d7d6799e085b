"""Fixtures of the benchmark suite: a production-configured cluster, datasets, sessions, floors.

Server: ``FLOWCORE_BENCH_DSN`` (an admin DSN of a server where databases may be created), else
a local cluster in ``$FLOWCORE_HOME/bench`` with the settings of ``flowcore db up`` (not the
test cluster's crash-unsafe ones). The suite starts that cluster when needed and stops it at
the end unless ``FLOWCORE_KEEP_BENCH_CLUSTER`` is set. Each dataset is generated once into a
database named after its parameters and kept, so later runs reuse it.

Size: ``--bench-size`` or ``FLOWCORE_BENCH_SIZE`` (small, medium, scaling; default small).
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from dataset_sizes import BenchDataset, datasets_for
from psycopg import sql
from report import RESULTS, BenchRow, ScanFloor, print_report
from seed_queries import BenchQuery, seed_queries

import flowcore
from flowcore.session import Session
from flowdb.cluster import LocalCluster
from flowdb.config import flowcore_home
from flowdb.synth import generate
from flowdb.testing import ScratchServer

__all__: list[str] = []

_FLOOR_ROUNDS = 5


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--bench-size``."""
    parser.addoption(
        "--bench-size",
        default=os.environ.get("FLOWCORE_BENCH_SIZE", "small"),
        help="Dataset size: small, medium or scaling (default: FLOWCORE_BENCH_SIZE, else small).",
    )


def _datasets(config: pytest.Config) -> list[BenchDataset]:
    try:
        return list(datasets_for(config.getoption("--bench-size")))
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``bench_dataset`` and ``bench_query`` over the chosen size's datasets."""
    datasets = _datasets(metafunc.config)
    if "bench_query" in metafunc.fixturenames:
        pairs = [(dataset, query) for dataset in datasets for query in seed_queries(dataset)]
        metafunc.parametrize(
            ("bench_dataset", "bench_query"),
            pairs,
            ids=[f"{dataset.name}-{query.name}" for dataset, query in pairs],
            indirect=["bench_dataset"],
        )
    elif "bench_dataset" in metafunc.fixturenames:
        metafunc.parametrize(
            "bench_dataset", datasets, ids=[d.name for d in datasets], indirect=True
        )


@pytest.fixture(scope="session")
def bench_server() -> Iterator[ScratchServer]:
    """The PostgreSQL server the benchmarks run on."""
    external = os.environ.get("FLOWCORE_BENCH_DSN")
    if external:
        yield ScratchServer(external)
        return
    cluster = LocalCluster(flowcore_home() / "bench")
    started = cluster.running_pid() is None
    cluster.up()
    admin_dsn = cluster.dsn("postgres")
    assert admin_dsn is not None
    try:
        yield ScratchServer(admin_dsn, cluster=cluster)
    finally:
        if started and not os.environ.get("FLOWCORE_KEEP_BENCH_CLUSTER"):
            cluster.down()


@pytest.fixture(scope="session")
def dataset_dsns(bench_server: ScratchServer) -> dict[str, str]:
    """DSNs of the datasets generated (or reused) in this session, by dataset name."""
    return {}


@pytest.fixture(scope="session")
def dataset_builds() -> dict[str, float]:
    """Seconds each dataset took to generate in this session (absent when reused)."""
    return {}


@pytest.fixture
def bench_dataset(
    request: pytest.FixtureRequest,
    bench_server: ScratchServer,
    dataset_dsns: dict[str, str],
    dataset_builds: dict[str, float],
) -> BenchDataset:
    """A dataset of the chosen size, generated on first use and kept on the server."""
    dataset: BenchDataset = request.param
    if dataset.name not in dataset_dsns:
        name = f"flowcore_bench_{dataset.name.replace('-', '_')}_{dataset.fingerprint()}"

        def build(dsn: str) -> None:
            started = time.perf_counter()
            report = generate(dsn, dataset.params)
            seconds = time.perf_counter() - started
            # Vacuum now rather than let autovacuum run on the new days during the first
            # measurements, which it slowed by up to five times.
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("VACUUM (ANALYZE) events.calls, events.sms, events.mds")
            dataset_builds[dataset.name] = seconds
            RESULTS.generated[dataset.name] = report.total_rows
            RESULTS.notes.append(
                f"{dataset.name}: generated {report.total_rows:,} rows for the benchmarks in "
                f"{seconds:.1f} s (set-up {report.staging_seconds:.1f} s, day tables "
                f"{report.events_seconds:.1f} s, publishing {report.publish_seconds:.1f} s)"
            )

        bench_server.template(name, build)
        dataset_dsns[dataset.name] = bench_server.dsn(name)
    return dataset


@pytest.fixture(scope="session")
def sessions(dataset_dsns: dict[str, str]) -> Iterator[dict[str, Session]]:
    """Python API sessions by dataset name, opened on first use and closed at the end."""
    opened: dict[str, Session] = {}
    try:
        yield opened
    finally:
        for session in opened.values():
            session.cache.clear()
            session.close()


@pytest.fixture
def bench_session(
    bench_dataset: BenchDataset, dataset_dsns: dict[str, str], sessions: dict[str, Session]
) -> Session:
    """The Python API session on the current dataset."""
    if bench_dataset.name not in sessions:
        sessions[bench_dataset.name] = flowcore.connect(dataset_dsns[bench_dataset.name])
    return sessions[bench_dataset.name]


@pytest.fixture(scope="session")
def floors() -> dict[tuple[str, tuple[str, ...], dt.date, dt.date], ScanFloor]:
    """Measured scan floors, by (dataset, tables, start, end)."""
    return {}


#: Planner settings that leave PostgreSQL only sequential scans, for the plain scan floor.
_PLAIN_SCAN_SETTINGS = ("enable_indexonlyscan", "enable_indexscan", "enable_bitmapscan")


def _scan_seconds(
    dsn: str, tables: tuple[str, ...], start: dt.date, end: dt.date, *, plain: bool
) -> float:
    """Time one ``count(*)`` of each table over [start, end) and return the total seconds.

    With ``plain``, the counts read the partitions by sequential scans; otherwise PostgreSQL
    chooses, which on vacuumed tables is an index-only scan of the ``datetime`` index.
    """
    with psycopg.connect(dsn, autocommit=True) as conn:
        if plain:
            for setting in _PLAIN_SCAN_SETTINGS:
                conn.execute(sql.SQL("SET {} = off").format(sql.Identifier(setting)))
        began = time.perf_counter()
        for table in tables:
            conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE datetime >= %s AND datetime < %s").format(
                    sql.Identifier("events", table)
                ),
                (
                    dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC),
                    dt.datetime.combine(end, dt.time(), tzinfo=dt.UTC),
                ),
            ).fetchone()
        return time.perf_counter() - began


def _median_scan(
    dsn: str, tables: tuple[str, ...], start: dt.date, end: dt.date, *, plain: bool
) -> float:
    # The first scan warms the buffer cache, as the query's earlier rounds do.
    _scan_seconds(dsn, tables, start, end, plain=plain)
    rounds = [_scan_seconds(dsn, tables, start, end, plain=plain) for _ in range(_FLOOR_ROUNDS)]
    return statistics.median(rounds)


@pytest.fixture
def scan_floor(
    bench_dataset: BenchDataset,
    dataset_dsns: dict[str, str],
    floors: dict[tuple[str, tuple[str, ...], dt.date, dt.date], ScanFloor],
) -> Any:
    """Function returning the floors of a query: a plain scan and an index-only count."""

    def measure(query: BenchQuery) -> ScanFloor:
        key = (bench_dataset.name, query.reads, query.start, query.end)
        if key not in floors:
            dsn = dataset_dsns[bench_dataset.name]
            floors[key] = ScanFloor(
                plain=_median_scan(dsn, query.reads, query.start, query.end, plain=True),
                index_only=_median_scan(dsn, query.reads, query.start, query.end, plain=False),
            )
        return floors[key]

    return measure


def record(
    benchmark: Any, dataset: BenchDataset, name: str, mode: str, floor: ScanFloor | None
) -> None:
    """Store a finished benchmark's median (and its ratios to the floors) for the report."""
    stats = getattr(benchmark, "stats", None)
    if stats is None:
        return
    row = BenchRow(dataset.name, name, mode, stats.stats.median, floor)
    benchmark.extra_info.update(
        {
            "dataset": dataset.name,
            "mode": mode,
            "floor_seconds": None if floor is None else floor.plain,
            "ratio_to_floor": row.ratio(),
            "index_only_count_seconds": None if floor is None else floor.index_only,
            "ratio_to_index_only_count": row.index_ratio(),
        }
    )
    RESULTS.rows.append(row)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the table of medians and ratios to the scan floor after the run."""
    print_report(terminalreporter.write_line)
