"""Parameters of the synthetic data generators, with FlowKit's environment variables as defaults.

Every parameter has the name, meaning and default of the variable FlowKit's synthetic-data
container reads (``N_DAYS``, ``N_SUBSCRIBERS``, ``CALLS_SEED``, ...); :meth:`SynthParams.from_env`
reads them, and the command line overrides them one by one.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from typing import Any, Literal

import attrs

__all__ = ["ENVIRONMENT_VARIABLES", "GENERATORS", "GEOGRAPHIES", "SynthParams"]

GENERATORS = ("sql", "python")
"""Generator names: ``sql`` (in the database, at volume) and ``python`` (byte-reproducible)."""

GEOGRAPHIES = ("auto", "nepal", "grid")
"""Where the admin boundaries come from: the loaded ones else Nepal (auto), Nepal, or a grid."""

Generator = Literal["sql", "python"]
GeographySource = Literal["auto", "nepal", "grid"]


def _at_least(minimum: int) -> Any:
    """Return an attrs validator rejecting integers below ``minimum``."""

    def check(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
        if value < minimum:
            raise ValueError(f"{attribute.name} is {value}; it must be at least {minimum}")

    return check


def _probability(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    """Reject a probability outside [0, 1]."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} is {value}; it must be between 0 and 1")


def _positive_seed(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    """Reject seeds PostgreSQL's setseed() and PostGIS's ST_GeneratePoints cannot take."""
    if not 1 <= value < 2**31:
        raise ValueError(f"{attribute.name} is {value}; it must be between 1 and {2**31 - 1}")


def _one_of(allowed: tuple[str, ...]) -> Any:
    """Return an attrs validator accepting only the strings in ``allowed``."""

    def check(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
        if value not in allowed:
            choices = ", ".join(allowed)
            raise ValueError(f"{attribute.name} is {value!r}; allowed: {choices}")

    return check


@attrs.frozen(kw_only=True)
class SynthParams:
    """What to generate: volumes, seeds, behaviour probabilities and an optional disaster."""

    generator: Generator = attrs.field(default="sql", validator=_one_of(GENERATORS))
    n_days: int = attrs.field(default=7, validator=_at_least(1))
    start_date: dt.date = dt.date(2016, 1, 1)
    n_subscribers: int = attrs.field(default=4_000, validator=_at_least(2))
    n_cells: int = attrs.field(default=1_000, validator=_at_least(1))
    n_sites: int = attrs.field(default=1_000, validator=_at_least(1))
    n_tacs: int = attrs.field(default=1_000, validator=_at_least(1))
    n_calls: int = attrs.field(default=200_000, validator=_at_least(0))
    n_sms: int = attrs.field(default=200_000, validator=_at_least(0))
    n_mds: int = attrs.field(default=200_000, validator=_at_least(0))
    subscribers_seed: int = attrs.field(default=11_111, validator=_positive_seed)
    calls_seed: int = attrs.field(default=22_222, validator=_positive_seed)
    cells_seed: int = attrs.field(default=33_333, validator=_positive_seed)
    p_out_of_area: float = attrs.field(default=0.05, validator=_probability)
    p_relocate: float = attrs.field(default=0.01, validator=_probability)
    interactions_multiplier: int = attrs.field(default=5, validator=_at_least(1))
    #: Radius in metres of a home's neighbourhood: the cells a subscriber uses when at home.
    home_radius_m: float = 3_000.0
    #: admin2 p-code of the region off limits between ``disaster_start`` and ``disaster_end``.
    disaster_region: str | None = None
    #: First and last day (both inclusive) on which the disaster region is off limits.
    disaster_start: dt.date | None = None
    disaster_end: dt.date | None = None
    geography: GeographySource = attrs.field(default="auto", validator=_one_of(GEOGRAPHIES))
    #: Database connections used at once to build day tables (None: one per CPU core).
    jobs: int | None = None

    def __attrs_post_init__(self) -> None:
        if self.disaster_region is None:
            if self.disaster_start is not None or self.disaster_end is not None:
                raise ValueError(
                    "disaster_start or disaster_end is set but disaster_region is missing; "
                    "give the admin2 p-code of the off-limits region as well"
                )
            return
        if self.disaster_start is None or self.disaster_end is None:
            raise ValueError(
                f"disaster_region is {self.disaster_region!r} but disaster_start or "
                f"disaster_end is missing; give both dates of the off-limits period"
            )
        if self.disaster_end < self.disaster_start:
            raise ValueError(
                f"disaster_end {self.disaster_end} is before disaster_start "
                f"{self.disaster_start}; the end must be on or after the start"
            )

    @property
    def days(self) -> list[dt.date]:
        """Return the generated calendar days in order."""
        return [self.start_date + dt.timedelta(days=offset) for offset in range(self.n_days)]

    def disaster_on(self, day: dt.date) -> bool:
        """Return whether the disaster region is off limits on ``day``."""
        if self.disaster_region is None:
            return False
        assert self.disaster_start is not None and self.disaster_end is not None
        return self.disaster_start <= day <= self.disaster_end

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> SynthParams:
        """Build parameters from FlowKit's environment variables, then ``overrides``.

        Raises:
            ValueError: when a variable does not parse or a value is out of range; the
                message names the variable and its value.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for variable, (field, parse) in ENVIRONMENT_VARIABLES.items():
            raw = environ.get(variable, "").strip()
            if not raw:
                continue
            try:
                values[field] = parse(raw)
            except ValueError as error:
                raise ValueError(f"{variable}={raw!r} is invalid: {error}") from None
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)


def _integer(raw: str) -> int:
    """Parse an integer, allowing ``_`` and ``,`` as thousands separators."""
    return int(raw.replace("_", "").replace(",", ""))


def _generator_name(raw: str) -> str:
    """Parse a generator name, ignoring case."""
    return raw.lower()


ENVIRONMENT_VARIABLES: dict[str, tuple[str, Any]] = {
    "SYNTHETIC_DATA_GENERATOR": ("generator", _generator_name),
    "N_DAYS": ("n_days", _integer),
    "N_SUBSCRIBERS": ("n_subscribers", _integer),
    "N_CELLS": ("n_cells", _integer),
    "N_SITES": ("n_sites", _integer),
    "N_TACS": ("n_tacs", _integer),
    "N_CALLS": ("n_calls", _integer),
    "N_SMS": ("n_sms", _integer),
    "N_MDS": ("n_mds", _integer),
    "SUBSCRIBERS_SEED": ("subscribers_seed", _integer),
    "CALLS_SEED": ("calls_seed", _integer),
    "CELLS_SEED": ("cells_seed", _integer),
    "P_OUT_OF_AREA": ("p_out_of_area", float),
    "P_RELOCATE": ("p_relocate", float),
    "INTERACTIONS_MULTIPLIER": ("interactions_multiplier", _integer),
    "DISASTER_REGION_PCOD": ("disaster_region", str),
    "DISASTER_START": ("disaster_start", dt.date.fromisoformat),
    "DISASTER_END": ("disaster_end", dt.date.fromisoformat),
}
"""FlowKit's variable names mapped to the parameter they set and the parser of their value."""
