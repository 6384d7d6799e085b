"""The benchmark datasets, each made reproducibly by the sql generator.

``FLOWCORE_BENCH_SIZE`` (or ``--bench-size``) picks one:

* ``small``: the size of FlowKit's test data, with 500 subscribers, 60 cells, about 1,200 call
  rows a day and 7 days. It is generated in seconds and is what ``make bench`` runs.
* ``medium``: 20,000 subscribers, 5,000 cells, 1,000,000 calls, SMS and data sessions a day
  for 7 days (35 million rows); run by hand.
* ``scaling``: the same network and subscribers as medium with 200,000 events of each type a
  day, over 1, 7 and 30 days, to read how time grows with the days a query covers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
from collections.abc import Sequence

import attrs

from flowdb import cell_counts
from flowdb.synth import SynthParams, daytables, geography, python, sql
from flowdb.testing import schema_fingerprint

__all__ = ["BenchDataset", "SIZES", "datasets_for"]


@attrs.frozen
class BenchDataset:
    """One generated dataset: a name for reports and the generator's parameters."""

    name: str
    params: SynthParams

    @property
    def days(self) -> list[dt.date]:
        """Return the dataset's days."""
        return self.params.days

    def fingerprint(self) -> str:
        """Return a short hash of the parameters, the generator's code and the migrations.

        A stored dataset is reused only while all of them are unchanged.
        """
        digest = hashlib.sha256(repr(self.params).encode())
        digest.update(schema_fingerprint().encode())
        for module in (sql, python, daytables, geography, cell_counts):
            digest.update(inspect.getsource(module).encode())
        return digest.hexdigest()[:10]


_SMALL = SynthParams(
    n_days=7,
    n_subscribers=500,
    n_cells=60,
    n_sites=30,
    n_tacs=20,
    n_calls=600,
    n_sms=600,
    n_mds=700,
)

_MEDIUM = SynthParams(
    n_days=7,
    n_subscribers=20_000,
    n_cells=5_000,
    n_sites=5_000,
    n_tacs=1_000,
    n_calls=1_000_000,
    n_sms=1_000_000,
    n_mds=1_000_000,
)


def _scaling(days: int) -> SynthParams:
    return attrs.evolve(_MEDIUM, n_days=days, n_calls=200_000, n_sms=200_000, n_mds=200_000)


SIZES: dict[str, Sequence[BenchDataset]] = {
    "small": [BenchDataset("small", _SMALL)],
    "medium": [BenchDataset("medium", _MEDIUM)],
    "scaling": [BenchDataset(f"scaling-{days}d", _scaling(days)) for days in (1, 7, 30)],
}
"""Datasets of each ``FLOWCORE_BENCH_SIZE``."""


def datasets_for(size: str) -> Sequence[BenchDataset]:
    """Return the datasets of a size, or raise ValueError naming the allowed sizes."""
    try:
        return SIZES[size]
    except KeyError:
        allowed = ", ".join(SIZES)
        raise ValueError(f"FLOWCORE_BENCH_SIZE {size!r} is unknown; allowed: {allowed}") from None
