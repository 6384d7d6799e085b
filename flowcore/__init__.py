"""flowcore: a plugin-based query framework for mobile operator data (FlowKit-compatible)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowcore.session import Session

try:
    __version__ = version("flowcore")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__", "connect"]


def connect(dsn: str | None = None, **options: object) -> Session:
    """Open a session on FlowDB (see ``flowcore.session.connect`` for the options)."""
    from flowcore.session import connect as _connect

    return _connect(dsn, **options)  # type: ignore[arg-type]
