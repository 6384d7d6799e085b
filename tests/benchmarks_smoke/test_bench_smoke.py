"""The benchmark suite runs to completion on the small dataset (each benchmark once, untimed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_benchmarks_run_on_small_dataset(flowdb_server) -> None:
    environment = {
        **os.environ,
        "FLOWCORE_BENCH_SIZE": "small",
        # The suite's databases go on this session's server instead of a cluster of its own.
        "FLOWCORE_BENCH_DSN": flowdb_server.admin_dsn,
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "benchmarks",
            "-p",
            "no:cacheprovider",
            "--benchmark-disable",
            "-q",
            "-x",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=1_800,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5_000:]
    assert " passed" in output
    assert " failed" not in output
