"""JSON for result rows: NUMERIC values as JSON numbers with all their digits.

The HTTP API and ``flowcore run --format json`` write rows the same way.
"""

from __future__ import annotations

import decimal
from typing import Any

import orjson

__all__ = ["decimal_text", "dumps"]


def decimal_text(value: decimal.Decimal) -> str:
    """Return the digits of a NUMERIC value, in positional notation for ordinary magnitudes."""
    exponent = value.as_tuple().exponent
    # str() would give 1E+1 for Decimal('1E+1').
    if isinstance(exponent, int) and -30 < exponent < 30:
        return format(value, "f")
    return str(value)


def _default(value: Any) -> Any:
    """Serialise what orjson does not: NUMERIC with full precision, other types as text."""
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return None
        return orjson.Fragment(decimal_text(value))
    return str(value)


def dumps(value: Any, *, indent: bool = False) -> bytes:
    """Return JSON bytes for a value that may contain NUMERIC, dates and timestamps."""
    return orjson.dumps(value, default=_default, option=orjson.OPT_INDENT_2 if indent else None)
