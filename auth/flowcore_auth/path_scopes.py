"""Path scopes: the ``user_claims`` format of FlowKit 1.10 to 1.17 tokens.

Such a token's ``user_claims`` is a list of strings ``<action>&<path>[&<path>...]``. A path is
dotted: the top-level query kind, then parameter names and nested query kinds down to an
aggregation unit, such as ``spatial_aggregate.locations.daily_location.aggregation_unit.admin3``.
Each ``&``-separated part may list whole alternatives with commas, as in
``get_result,run&daily_location.aggregation_unit.admin2,daily_location.aggregation_unit.admin3``.
A string grants every combination of one alternative per part, and each combination is one
*grant*, a set of strings.

A request is granted when the set of its action and its paths equals one grant exactly. A
request's paths are read from the query's JSON: one per ``aggregation_unit`` in the tree, or
the path of a nested query that has no unit at all. List items add no path step. Available
dates are the action ``get_result`` with the path ``available_dates``, a geography the action
``get_result`` with the path ``geography.aggregation_unit.<unit>``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

__all__ = [
    "AVAILABLE_DATES_PATH",
    "PathGrants",
    "allows",
    "expand_path_scopes",
    "geography_paths",
    "holds_action",
    "request_paths",
]

#: The grants of one token: each one a set of an action and the paths it may be used on.
PathGrants = frozenset[frozenset[str]]

#: Path that, with the action ``get_result``, grants the list of available dates.
AVAILABLE_DATES_PATH = "available_dates"

_UNIT_KEY = "aggregation_unit"


def expand_path_scopes(scopes: Iterable[str]) -> PathGrants:
    """Expand scope strings, with their comma alternatives, into the grants they hold."""
    grants: set[frozenset[str]] = set()
    for scope in scopes:
        alternatives = [part.split(",") for part in scope.strip().split("&")]
        grants.update(frozenset(choice) for choice in itertools.product(*alternatives))
    return frozenset(grants)


def request_paths(spec: object) -> frozenset[str]:
    """Return the paths a query spec's JSON needs: one per aggregation unit in its tree."""
    return frozenset(_paths(spec, ()))


def geography_paths(unit: str) -> frozenset[str]:
    """Return the paths a request for the geography of ``unit`` needs."""
    return frozenset({f"geography.{_UNIT_KEY}.{unit}"})


def allows(grants: PathGrants, actions: Iterable[str], paths: frozenset[str]) -> bool:
    """Check whether one of ``actions`` together with ``paths`` equals one of ``grants``."""
    return any((frozenset({action}) | paths) in grants for action in actions)


def holds_action(grants: PathGrants, actions: Iterable[str]) -> bool:
    """Check whether some grant includes one of ``actions``, for whatever paths."""
    action_set = frozenset(actions)
    return any(not action_set.isdisjoint(grant) for grant in grants)


def _paths(node: object, prefix: tuple[str, ...]) -> Iterator[str]:
    if isinstance(node, list):
        for item in node:
            yield from _paths(item, prefix)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("query_kind")
    if isinstance(kind, str):
        prefix = (*prefix, kind)
    found = False
    for key, value in node.items():
        if key == "query_kind":
            continue
        if key == _UNIT_KEY and isinstance(value, str):
            found = True
            yield ".".join((*prefix, key, value))
        elif isinstance(value, dict | list):
            for path in _paths(value, (*prefix, str(key))):
                found = True
                yield path
    # A query without any unit below it is named by its own path, such as a metric.
    if not found and isinstance(kind, str):
        yield ".".join(prefix)
