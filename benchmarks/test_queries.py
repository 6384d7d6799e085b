"""Each seed query through the Python API: cold (cache cleared) and warm (result cached).

Both record their median's ratio to the scan floor: the time of ``count(*)`` over the same
tables and dates, measured in the same run on the same server. ``FLOWCORE_BENCH_TIMEOUT``
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


def _run_or_skip(session, query) -> list:
    """Run a query and return its rows; cancel it and skip the test when it times out."""
    timeout = _timeout()
    try:
        return session.run(query.spec, timeout=timeout).rows()
    except TimeoutError:
        for planned in session.plan(query.spec).walk():
            session.executor.cancel(planned.query_id)
        pytest.skip(f"{query.name} did not finish within FLOWCORE_BENCH_TIMEOUT={timeout} s")


def test_cold(benchmark, request, bench_dataset, bench_query, bench_session, scan_floor) -> None:
    floor = scan_floor(bench_query)

    def clear_cache() -> None:
        bench_session.cache.clear()

    def run() -> list:
        return _run_or_skip(bench_session, bench_query)

    rounds = _cold_rounds(request.config.getoption("--bench-size"))
    rows = benchmark.pedantic(run, setup=clear_cache, rounds=rounds, iterations=1)
    assert rows, f"{bench_query.name} returned no rows on {bench_dataset.name}"
    record(benchmark, bench_dataset, bench_query.name, "cold", floor)


def test_warm(benchmark, bench_dataset, bench_query, bench_session, scan_floor) -> None:
    floor = scan_floor(bench_query)
    expected = _run_or_skip(bench_session, bench_query)

    rows = benchmark(lambda: bench_session.run(bench_query.spec).rows())
    assert rows == expected
    record(benchmark, bench_dataset, bench_query.name, "warm", floor)
