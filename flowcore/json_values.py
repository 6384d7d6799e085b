"""JSON and CSV cells for result rows: NUMERIC values with all their digits.

The HTTP API and ``flowcore run`` write rows the same way, in JSON and in CSV.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import orjson

__all__ = ["csv_value", "decimal_text", "dumps"]


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


def csv_value(value: Any) -> Any:
    """Return a result cell as a CSV writer should write it.

    Dates and timestamps are ISO 8601, NUMERIC values keep their digits, and an array cell,
    such as a calendar of period starts, is its JSON text, the same form a JSON result gives,
    instead of Python's repr of the list.
    """
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return dumps(value).decode("utf-8")
    if isinstance(value, decimal.Decimal):
        return decimal_text(value)
    return value
