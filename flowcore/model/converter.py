"""The one cattrs converter that reads JSON into query specs and writes specs back to JSON.

It structures a spec as a tagged union on ``query_kind`` (nested specs too), rejects unknown
keys, reads ``null`` as "use the default" for every optional field (FlowKit's client sends
explicit nulls), and reports every failure as ``$.json.path: reason``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union, get_args, get_origin

import attrs
import cattrs
from cattrs.errors import ClassValidationError, IterableValidationError
from cattrs.gen import make_dict_structure_fn

from flowcore.errors import FieldValueError, InvalidSpecError
from flowcore.model.base import QuerySpec
from flowcore.model.fields import EVENT_TYPES, AggregationUnitName, QueryId, RegionUnitName
from flowcore.registry import Registry

__all__ = ["SpecConverter", "count_query_nodes"]


#: Dates a spec may name: one day inside Python's range, so a day can be added or removed.
EARLIEST_DATETIME = dt.datetime(1, 1, 2)
LATEST_DATETIME = dt.datetime(9999, 12, 30, 23, 59, 59)
#: JSON nesting a spec may have; deeper input is rejected before it is read.
MAX_JSON_DEPTH = 64


class _FieldError(ValueError):
    """A validation failure whose message is already fit for the user.

    ``subpath`` extends the JSON path of the value that failed (e.g. ``.query_kind``).
    """

    def __init__(self, message: str, subpath: str = "") -> None:
        super().__init__(message)
        self.subpath = subpath


def _describe(value: Any) -> str:
    """Name a JSON value in a message: its repr for scalars, ``null``, or its type."""
    if value is None:
        return "null"
    if isinstance(value, str | int | float | bool):
        return repr(value)
    return type(value).__name__


def _expected(target: Any) -> str:
    """Return what a field accepts, for messages: allowed values or an object's fields.

    Returns an empty string for other types, whose own errors name the problem.
    """
    if typing.get_origin(target) is typing.Literal:
        return "one of " + ", ".join(repr(value) for value in typing.get_args(target))
    if _spec_union_members(target) is not None:
        return "a query spec object"
    if attrs.has(target) and not _is_spec_class(target):
        names = ", ".join(field.name for field in attrs.fields(target))
        return f"an object with the fields {names}"
    return ""


def _strict_int(value: Any, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise _FieldError(f"{_describe(value)} is not an integer")
    return value


def _strict_float(value: Any, _: type) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _FieldError(f"{_describe(value)} is not a number")
    return float(value)


def _strict_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise _FieldError(f"{_describe(value)} is not a string")
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL, so the statement would fail after validation.
        raise _FieldError(f"{_describe(value)} contains a NUL character (\\u0000)")
    return value


def _strict_bool(value: Any, _: type) -> bool:
    if not isinstance(value, bool):
        raise _FieldError(f"{_describe(value)} is not a boolean (true or false)")
    return value


def _datetime(value: Any, _: type) -> dt.datetime:
    """Read an ISO 8601 date or datetime; an aware time is converted to naive UTC."""
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, dt.date):
        parsed = dt.datetime.combine(value, dt.time())
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise _FieldError(
                f"{value!r} is not a valid date or datetime (expected ISO 8601, e.g. 2016-01-01)"
            ) from None
    else:
        raise _FieldError(f"{_describe(value)} is not a valid date or datetime")
    if parsed.tzinfo is not None:
        try:
            parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
        except OverflowError:
            parsed = dt.datetime.min
    if not EARLIEST_DATETIME <= parsed <= LATEST_DATETIME:
        raise _FieldError(
            f"{_describe(value if isinstance(value, str) else parsed.isoformat())} is outside "
            f"the supported range {EARLIEST_DATETIME.date()} to {LATEST_DATETIME.date()}"
        )
    return parsed


def _literal(value: Any, literal_type: Any) -> Any:
    allowed = get_args(literal_type)
    if value not in allowed or isinstance(value, bool) != any(isinstance(a, bool) for a in allowed):
        raise _FieldError(f"{_describe(value)} is not one of {', '.join(map(str, allowed))}")
    return value


def _event_types(value: Any, _: type) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise _FieldError(f"{_describe(value)} is not a list of event types")
    if not value:
        raise _FieldError(f"must list at least one event type of {', '.join(EVENT_TYPES)}")
    result: list[str] = []
    for item in value:
        if item not in EVENT_TYPES:
            raise _FieldError(f"{_describe(item)} is not one of {', '.join(EVENT_TYPES)}")
        if item not in result:
            result.append(item)
    return tuple(result)


def _query_id(value: Any, _: type) -> str:
    if not isinstance(value, str) or not value:
        raise _FieldError(f"{_describe(value)} is not a query id")
    return value


def _is_spec_class(candidate: Any) -> bool:
    return isinstance(candidate, type) and issubclass(candidate, QuerySpec)


def _spec_union_members(target: Any) -> tuple[type[QuerySpec], ...] | None:
    """Return the spec classes of ``target`` if it is a spec class or a union of them."""
    if _is_spec_class(target):
        return (target,)
    if get_origin(target) in (Union, types.UnionType):
        members = [a for a in get_args(target) if a is not type(None)]
        if members and all(_is_spec_class(m) for m in members):
            return tuple(members)
    return None


def _is_homogeneous_tuple(target: Any) -> bool:
    args = get_args(target)
    return get_origin(target) is tuple and len(args) == 2 and args[1] is Ellipsis


def _is_optional_union_of_specs(target: Any) -> bool:
    return (
        get_origin(target) in (Union, types.UnionType) and _spec_union_members(target) is not None
    )


def count_query_nodes(data: Any, limit: int) -> int:
    """Count the objects with a ``query_kind`` key in raw JSON, stopping once past ``limit``."""
    count = 0
    stack = [data]
    while stack and count <= limit:
        item = stack.pop()
        if isinstance(item, Mapping):
            if "query_kind" in item:
                count += 1
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return count


def json_depth(data: Any, limit: int) -> int:
    """Return the nesting depth of raw JSON, stopping once past ``limit``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack and deepest <= limit:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, Mapping):
            stack.extend((value, depth + 1) for value in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((value, depth + 1) for value in item)
    return deepest


class SpecConverter:
    """Structure JSON into spec instances of the registry's kinds, and unstructure them back."""

    def __init__(self, registry: Registry, *, max_spec_nodes: int = 500) -> None:
        self.registry = registry
        self.max_spec_nodes = max_spec_nodes
        self._converter = cattrs.Converter(detailed_validation=True, forbid_extra_keys=True)
        self._spec_fns: dict[type, Any] = {}
        self._configure()

    # -- configuration ----------------------------------------------------------------------

    def _configure(self) -> None:
        c = self._converter
        c.register_structure_hook(int, _strict_int)
        c.register_structure_hook(float, _strict_float)
        c.register_structure_hook(str, _strict_str)
        c.register_structure_hook(bool, _strict_bool)
        c.register_structure_hook(dt.datetime, _datetime)
        c.register_structure_hook(QueryId, _query_id)
        c.register_structure_hook(AggregationUnitName, self._aggregation_unit)
        c.register_structure_hook(RegionUnitName, self._region_unit)
        c.register_structure_hook_func(lambda t: get_origin(t) is Literal, _literal)
        c.register_structure_hook_func(lambda t: get_origin(t) is list, self._structure_plain_list)
        c.register_structure_hook_func(
            lambda t: get_origin(t) in (dict, Mapping), self._structure_mapping
        )
        # Registered before the event-types hook, which then takes precedence for its type.
        c.register_structure_hook_func(_is_homogeneous_tuple, self._structure_list)
        c.register_structure_hook_func(self._is_event_types, _event_types)
        c.register_structure_hook_func(
            lambda t: _spec_union_members(t) is not None, self._structure_nested_spec
        )
        c.register_structure_hook_func(
            lambda t: attrs.has(t) and not _is_spec_class(t), self._structure_plain_attrs
        )
        c.register_unstructure_hook(dt.datetime, _unstructure_datetime)
        c.register_unstructure_hook_func(_is_spec_class, self._unstructure_spec)

    @staticmethod
    def _is_event_types(target: Any) -> bool:
        if get_origin(target) is not tuple:
            return False
        args = get_args(target)
        return (
            len(args) == 2
            and args[1] is Ellipsis
            and get_origin(args[0]) is Literal
            and set(get_args(args[0])) <= set(EVENT_TYPES)
        )

    def _structure_list(self, value: Any, target: Any) -> tuple[Any, ...]:
        """Read a JSON list into a tuple; a string or object would otherwise be iterated."""
        if not isinstance(value, list | tuple):
            raise _FieldError(f"{_describe(value)} is not a list")
        return typing.cast(tuple[Any, ...], self._converter._structure_tuple(value, target))

    def _structure_plain_list(self, value: Any, target: Any) -> list[Any]:
        """Read a JSON list into a list, rejecting other values with a message."""
        (item_type,) = get_args(target) or (Any,)
        return list(self._structure_list(value, tuple[item_type, ...]))  # type: ignore[valid-type]

    def _structure_mapping(self, value: Any, target: Any) -> dict[Any, Any]:
        """Read a JSON object into a dict, rejecting other values with a message."""
        if not isinstance(value, Mapping):
            raise _FieldError(f"{_describe(value)} is not an object")
        return typing.cast(dict[Any, Any], self._converter._structure_dict(value, target))

    def _aggregation_unit(self, value: Any, _: type) -> str:
        allowed = self.registry.public_units()
        if not isinstance(value, str) or value not in allowed:
            raise _FieldError(f"{_describe(value)} is not one of {', '.join(allowed)}")
        return value

    def _region_unit(self, value: Any, _: type) -> str:
        allowed = self.registry.region_units()
        if not isinstance(value, str) or value not in allowed:
            raise _FieldError(
                f"{_describe(value)} is not one of {', '.join(allowed)}, the units of region "
                "polygons"
            )
        return value

    def _structure_plain_attrs(self, value: Any, cls: type) -> Any:
        if not isinstance(value, Mapping):
            raise _FieldError(f"{_describe(value)} is not {_expected(cls)}")
        fn = self._spec_fns.get(cls)
        if fn is None:
            fn = make_dict_structure_fn(cls, self._converter, _cattrs_forbid_extra_keys=True)
            self._spec_fns[cls] = fn
        return fn(_drop_nulls_with_defaults(value, cls), cls)

    def _structure_nested_spec(self, value: Any, target: Any) -> QuerySpec:
        members = _spec_union_members(target) or (QuerySpec,)
        if not isinstance(value, Mapping):
            raise _FieldError(f"{_describe(value)} is not a query spec object")
        kind_name = value.get("query_kind")
        candidates = self.registry.implementations(members)
        allowed = ", ".join(k.name for k in candidates) or "(none installed)"
        if kind_name is None:
            raise _FieldError(f"missing required field; expected one of {allowed}", ".query_kind")
        kind = next((k for k in candidates if k.name == kind_name), None)
        if kind is None:
            raise _FieldError(f"{_describe(kind_name)} is not one of {allowed}", ".query_kind")
        body = {k: v for k, v in value.items() if k != "query_kind"}
        return typing.cast(QuerySpec, self._structure_plain_attrs(body, kind.spec))

    # -- public API -------------------------------------------------------------------------

    def structure(self, data: Any, target: Any = QuerySpec) -> QuerySpec:
        """Return the spec described by ``data``; raise InvalidSpecError listing every fault."""
        if isinstance(data, QuerySpec):
            return data
        if not isinstance(data, Mapping):
            raise InvalidSpecError([f"$: expected a JSON object, got {type(data).__name__}"], data)
        nodes = count_query_nodes(data, self.max_spec_nodes)
        if nodes > self.max_spec_nodes:
            raise InvalidSpecError(
                [
                    f"$: the spec nests more than {self.max_spec_nodes} queries; "
                    "split it into smaller queries"
                ],
                data,
            )
        if json_depth(data, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
            raise InvalidSpecError(
                [f"$: the spec is nested more than {MAX_JSON_DEPTH} levels deep"], data
            )
        if "query_kind" not in data:
            raise InvalidSpecError(["$.query_kind: missing required field"], data)
        try:
            return self._structure_nested_spec(data, target)
        except (ClassValidationError, IterableValidationError, _FieldError, ValueError) as error:
            raise InvalidSpecError(sorted(_flatten(error, "$")), data) from None
        except RecursionError:
            raise InvalidSpecError(["$: the spec is nested too deeply"], data) from None

    def check_api_required(self, spec: QuerySpec, data: Any) -> None:
        """Raise InvalidSpecError if ``data``, the JSON of ``spec``, lacks a field the API requires.

        Only the top-level spec is checked; see ``QuerySpec.api_required``.
        """
        required = type(spec).api_required
        if not required:
            # Most kinds have none, and resolving the type hints on every request costs time.
            return
        types = typing.get_type_hints(type(spec))
        problems = []
        for name in required:
            if isinstance(data, dict) and name in data:
                continue
            expected = _expected(types[name])
            suffix = f"; expected {expected}" if expected else ""
            problems.append(f"$.{name}: missing required field{suffix}")
        if problems:
            raise InvalidSpecError(problems, data)

    def unstructure(self, spec: QuerySpec) -> dict[str, Any]:
        """Return the JSON form of a spec (``query_kind`` first, nested specs inline)."""
        return typing.cast(dict[str, Any], self._converter.unstructure(spec))

    def _unstructure_spec(self, spec: QuerySpec) -> dict[str, Any]:
        out: dict[str, Any] = {"query_kind": spec.query_kind}
        for field in attrs.fields(type(spec)):
            out[field.name] = self._converter.unstructure(getattr(spec, field.name))
        return out


def _unstructure_datetime(value: dt.datetime) -> str:
    if value.time() == dt.time():
        return value.date().isoformat()
    return value.isoformat()


def _drop_nulls_with_defaults(value: Mapping[str, Any], cls: type) -> dict[str, Any]:
    """Treat an explicit null as absent for fields that have a default."""
    defaults = {f.name for f in attrs.fields(cls) if f.default is not attrs.NOTHING}
    return {k: v for k, v in value.items() if not (v is None and k in defaults)}


#: A key written as ``.name`` or ``[name]`` in a path; any other key is written as JSON text.
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _index_step(index: Any) -> str:
    """Return the path step of a list index or mapping key: ``[0]``, ``[home]`` or ``["a b"]``."""
    text = str(index)
    return f"[{text}]" if _PLAIN_KEY.fullmatch(text) else f"[{json.dumps(text)}]"


def _key_step(key: Any) -> str:
    """Return the path step of an object key: ``.name``, or ``["a.b"]`` for unusual keys."""
    text = str(key)
    return f".{text}" if _PLAIN_KEY.fullmatch(text) else _index_step(text)


def _flatten(error: BaseException, path: str) -> list[str]:
    """Turn a cattrs exception tree into ``path: message`` lines."""
    if isinstance(error, ClassValidationError | IterableValidationError):
        lines: list[str] = []
        if isinstance(error, ClassValidationError):
            by_attribute, without = error.group_exceptions()
            for exc, attribute_note in by_attribute:
                field_path = f"{path}.{attribute_note.name}"
                if isinstance(exc, KeyError):
                    expected = _expected(attribute_note.type)
                    suffix = f"; expected {expected}" if expected else ""
                    lines.append(f"{field_path}: missing required field{suffix}")
                else:
                    lines.extend(_flatten(exc, field_path))
        else:
            by_index, without = error.group_exceptions()
            for exc, index_note in by_index:
                lines.extend(_flatten(exc, path + _index_step(index_note.index)))
        for exc in without:
            lines.extend(_flatten(exc, path))
        return lines
    if isinstance(error, cattrs.ForbiddenExtraKeysError):
        return [f"{path}{_key_step(key)}: unknown field" for key in sorted(error.extra_fields)]
    if isinstance(error, KeyError):
        return [f"{path}: missing required field"]
    if isinstance(error, _FieldError):
        return [f"{path}{error.subpath}: {error}"]
    if isinstance(error, FieldValueError):
        return [f"{path}.{error.field}: {error}"]
    if isinstance(error, ValueError | TypeError):
        message = str(error)
        if isinstance(error, TypeError) and "missing" in message and "argument" in message:
            return [f"{path}: {message.split(':', 1)[-1].strip()}"]
        return [f"{path}: {message}"]
    return [f"{path}: {error}"]
