"""Each seed query through the Python API: cold (cache cleared) and warm (result cached).

Both record their median's ratio to the scan floor: the time of ``count(*)`` over the same
tables and dates, measured in the same run on the same server.
"""

from __future__ import annotations

import os

from conftest import record

COLD_ROUNDS = {"small": 5, "medium": 2, "scaling": 2}


def _cold_rounds(size: str) -> int:
    configured = os.environ.get("FLOWCORE_BENCH_ROUNDS")
    return int(configured) if configured else COLD_ROUNDS.get(size, 3)


def test_cold(benchmark, request, bench_dataset, bench_query, bench_session, scan_floor) -> None:
    floor = scan_floor(bench_query)

    def clear_cache() -> None:
        bench_session.cache.clear()

    def run() -> list:
        return bench_session.run(bench_query.spec).rows()

    rounds = _cold_rounds(request.config.getoption("--bench-size"))
    rows = benchmark.pedantic(run, setup=clear_cache, rounds=rounds, iterations=1)
    assert rows, f"{bench_query.name} returned no rows on {bench_dataset.name}"
    record(benchmark, bench_dataset, bench_query.name, "cold", floor)


def test_warm(benchmark, bench_dataset, bench_query, bench_session, scan_floor) -> None:
    floor = scan_floor(bench_query)
    expected = bench_session.run(bench_query.spec).rows()

    rows = benchmark(lambda: bench_session.run(bench_query.spec).rows())
    assert rows == expected
    record(benchmark, bench_dataset, bench_query.name, "warm", floor)
