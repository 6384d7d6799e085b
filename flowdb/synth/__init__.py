"""Synthetic FlowDB data: FlowKit's two generators, ``sql`` (at volume) and ``python`` (exact).

``generate(dsn, SynthParams.from_env(n_days=7))`` fills a migrated database that holds no cells
or events yet; ``flowcore db synth`` is the command-line front end.
"""

from __future__ import annotations

from flowdb.synth.daytables import SynthError
from flowdb.synth.params import SynthParams
from flowdb.synth.run import SynthReport, generate

__all__ = ["SynthError", "SynthParams", "SynthReport", "generate"]
