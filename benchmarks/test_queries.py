"""Each seed query through the Python API: cold (cache cleared) and warm (result cached).

Both record their median's ratio to the scan floor, the time of ``count(*)`` over the same
tables and dates by sequential scans, and to the same count from the ``datetime`` index alone,
both measured in the same run on the same server. ``FLOWCORE_BENCH_TIMEOUT``
(seconds) skips a query that takes longer, after cancelling it and its nested queries.
"""

from __future__ import annotations

import os

import pytest
from conftest import record

COLD_ROUNDS = {"small": 5, "medium": 2, "scaling": 2}


def _cold_rounds(size: str) -> int:
    configured = os.environ.get("FLOWCORE_BENCH_ROUNDS")
    return int(configured) if configured else COLD_ROUNDS.get(size, 3)


def _timeout() -> float | None:
    configured = os.environ.get("FLOWCORE_BENCH_TIMEOUT")
    return float(configured) if configured else None


def _run_or_cancel(session, query) -> list | None:
    """Run a query and return its rows, or cancel it and return None when it times out."""
    try:
        return session.run(query.spec, timeout=_timeout()).rows()
    except TimeoutError:
        for planned in session.plan(query.spec).walk():
            session.executor.cancel(planned.query_id)
        return None


def _skip_timed_out(query) -> None:
    pytest.skip(f"{query.name} did not finish within FLOWCORE_BENCH_TIMEOUT={_timeout()} s")


def _run_or_skip(session, query) -> list:
    """Run a query and return its rows; cancel it and skip the test when it times out."""
    rows = _run_or_cancel(session, query)
    if rows is None:
        _skip_timed_out(query)
    return rows


def test_cold(benchmark, request, bench_dataset, bench_query, bench_session, scan_floor) -> None:
    floor = scan_floor(bench_query)

    def clear_cache() -> None:
        bench_session.cache.clear()

    timed_out = False

    def run() -> list | None:
        # A skip inside the benchmark would leave it without data, which breaks its report,
        # so a round that times out marks the benchmark and later rounds return at once.
        nonlocal timed_out
        if timed_out:
            return None
        rows = _run_or_cancel(bench_session, bench_query)
        timed_out = rows is None
        return rows

    rounds = _cold_rounds(request.config.getoption("--bench-size"))
    rows = benchmark.pedantic(run, setup=clear_cache, rounds=rounds, iterations=1)
    if timed_out:
        benchmark.extra_info["timed_out"] = True
        _skip_timed_out(bench_query)
    assert rows, f"{bench_query.name} returned no rows on {bench_dataset.name}"
    record(benchmark, bench_dataset, bench_query.name, "cold", floor)


def test_warm(benchmark, bench_dataset, bench_query, bench_session, scan_floor) -> None:
    floor = scan_floor(bench_query)
    expected = _run_or_skip(bench_session, bench_query)

    rows = benchmark(lambda: bench_session.run(bench_query.spec).rows())
    assert rows == expected
    record(benchmark, bench_dataset, bench_query.name, "warm", floor)
