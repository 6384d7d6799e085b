"""``histogram_aggregate``: how many subscribers' metric values fall in each bin.

Bins follow numpy's ``histogram``:

* ``{"n_bins": n}``: n equal-width bins between the smallest and largest value (or between the
  bounds of ``range``), with edges computed as ``numpy.linspace`` does. Every bin is half-open
  ``[lower, upper)`` except the last, which includes its upper edge. Values outside ``range``
  are left out. When every value is equal the bins span ``value - 0.5`` to ``value + 0.5``, and
  with no values at all they span 0 to 1, as in numpy.
* ``{"bin_list": [e0, e1, ...]}``: consecutive edges define the bins, all half-open
  ``[lower, upper)`` as in FlowKit 1.34, so a value equal to the last edge is left out (numpy
  would count it in the last bin). ``range`` does not apply to a list of edges.

Columns ``value`` (the number of subscribers, 0 for an empty bin), ``lower_edge`` and
``upper_edge``. Release rule: when any bin holds fewer subscribers than the redaction
threshold, the release is a single row of nulls.

NOTE: FlowKit 1.34 differs in three corner cases. It computes equal-width edges in decimal
arithmetic, so the last upper edge can differ from the maximum in the last digits. It reports
an empty bin with a count of 1, because it counts the row of an outer join. When every value is
equal, it returns one bin holding every value, not numpy's widened range.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from sqlalchemy import (
    Float,
    FromClause,
    Integer,
    Select,
    case,
    cast,
    column,
    exists,
    func,
    literal,
    null,
    select,
    true,
    union_all,
    values,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by

from flowcore.errors import FieldValueError
from flowcore.kinds import QueryKind
from flowcore.model.base import Aggregate, CategoricalSubscriberMetric, SubscriberMetric
from flowcore.sql.context import BuildContext

__all__ = [
    "Bins",
    "HistogramRange",
    "HistogramAggregate",
    "build_histogram_aggregate",
    "censor_small_bins",
    "KIND",
]


#: Largest ``n_bins`` accepted. FlowKit 1.34 sets no limit, but every bin is a stored row, so a
#: huge count would only load the database.
MAX_BINS = 10_000


@attrs.frozen(kw_only=True)
class Bins:
    """Either a number of equal-width bins or a list of bin edges."""

    n_bins: int | None = None
    bin_list: tuple[float, ...] | None = None

    def __attrs_post_init__(self) -> None:
        if self.n_bins is not None and self.bin_list is not None:
            raise ValueError("Only one of n_bins or bin_list may be provided.")
        if self.n_bins is None and self.bin_list is None:
            raise ValueError("One of n_bins or bin_list must be provided.")
        if self.n_bins is not None and self.n_bins < 1:
            raise ValueError(f"n_bins must be at least 1, got {self.n_bins}")
        if self.n_bins is not None and self.n_bins > MAX_BINS:
            raise ValueError(f"n_bins must be at most {MAX_BINS}, got {self.n_bins}")
        if self.bin_list is not None:
            edges = self.bin_list
            if len(edges) < 2:
                raise ValueError(f"bin_list needs at least two edges, got {list(edges)}")
            if any(upper <= lower for lower, upper in zip(edges, edges[1:], strict=False)):
                raise ValueError(f"bin_list must be strictly increasing, got {list(edges)}")


@attrs.frozen(kw_only=True)
class HistogramRange:
    """The lower and upper edge of equal-width bins."""

    lower_bound: float
    upper_bound: float

    def __attrs_post_init__(self) -> None:
        if not self.lower_bound < self.upper_bound:
            raise ValueError(
                f"range: lower_bound should be less than upper_bound, got lower_bound "
                f"{self.lower_bound} and upper_bound {self.upper_bound}"
            )


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"range: {name} must be a number, got {value!r}")
    return float(value)


def to_range(value: Any) -> HistogramRange | None:
    """Read ``range`` from an object ``{lower_bound, upper_bound}`` or a two-element list."""
    if value is None or isinstance(value, HistogramRange):
        return value
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise FieldValueError(
                "range", f"must be a list of two numbers [lower_bound, upper_bound], got {value!r}"
            )
        lower, upper = value
    elif isinstance(value, dict):
        unknown = sorted(set(value) - {"lower_bound", "upper_bound"})
        missing = sorted({"lower_bound", "upper_bound"} - set(value))
        if unknown or missing:
            raise FieldValueError(
                "range",
                f"must have exactly the fields lower_bound and upper_bound, got {sorted(value)}",
            )
        lower, upper = value["lower_bound"], value["upper_bound"]
    else:
        raise FieldValueError(
            "range",
            "must be an object {lower_bound, upper_bound} or a list of two numbers, "
            f"got {value!r}",
        )
    return HistogramRange(
        lower_bound=_number(lower, "lower_bound"), upper_bound=_number(upper, "upper_bound")
    )


# Null is allowed by the field's "nullable", since OpenAPI 3.0 has no "null" type.
_RANGE_SCHEMA = {
    "oneOf": [
        {
            "type": "object",
            "properties": {"lower_bound": {"type": "number"}, "upper_bound": {"type": "number"}},
            "required": ["lower_bound", "upper_bound"],
            "additionalProperties": False,
        },
        {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
    ]
}


@attrs.frozen(kw_only=True)
class HistogramAggregate(Aggregate):
    """Subscriber counts per bin of a numeric per-subscriber metric."""

    query_kind: ClassVar[str] = "histogram_aggregate"
    #: No location columns, whatever unit the metric uses: scopes name ``nonspatial``.
    nonspatial: ClassVar[bool] = True
    description: ClassVar[str] = "Subscriber counts per bin of a per-subscriber metric."

    metric: SubscriberMetric
    bins: Bins
    range: Any = attrs.field(
        default=None, converter=to_range, metadata={"json_schema": _RANGE_SCHEMA}
    )

    def __attrs_post_init__(self) -> None:
        if isinstance(self.metric, CategoricalSubscriberMetric):
            raise ValueError(
                f"metric {self.metric.query_kind} is categorical; a histogram needs a numeric "
                "metric"
            )


def _equal_width_edges(spec: HistogramAggregate, metric: FromClause, n_bins: int) -> Any:
    """Select ``i`` (0 to n_bins) and ``edge``, computed as ``numpy.linspace``."""
    if spec.range is not None:
        lowest: Any = literal(spec.range.lower_bound, Float)
        highest: Any = literal(spec.range.upper_bound, Float)
    else:
        smallest = cast(func.min(metric.c.value), Float)
        largest = cast(func.max(metric.c.value), Float)
        # numpy widens a zero-width range by 0.5 either side and uses [0, 1] for no values.
        lowest = func.coalesce(
            case((smallest == largest, smallest - 0.5), else_=smallest), literal(0.0, Float)
        )
        highest = func.coalesce(
            case((smallest == largest, largest + 0.5), else_=largest), literal(1.0, Float)
        )
    bounds = select(lowest.label("lowest"), highest.label("highest")).subquery("bounds")
    index = func.generate_series(0, n_bins).table_valued("value").render_derived("steps")
    step = (bounds.c.highest - bounds.c.lowest) / float(n_bins)
    edge = case(
        (index.c.value == n_bins, bounds.c.highest),
        else_=cast(index.c.value, Float) * step + bounds.c.lowest,
    )
    # One bounds row against every step: a cross join, spelled as a join on true.
    return select(index.c.value.label("i"), edge.label("edge")).select_from(
        bounds.join(index, true())
    )


def _listed_edges(edges: tuple[float, ...]) -> Any:
    """Select ``i`` and ``edge`` for each listed edge."""
    rows = values(column("i", Integer), column("edge", Float), name="listed_edges").data(
        [(i, edge) for i, edge in enumerate(edges)]
    )
    return select(rows.c.i, rows.c.edge)


def build_histogram_aggregate(spec: HistogramAggregate, context: BuildContext) -> Select[Any]:
    """Select ``value``, ``lower_edge`` and ``upper_edge`` for every bin, empty bins included."""
    metric = context.result_of(spec.metric)
    if spec.bins.bin_list is not None:
        edges = _listed_edges(spec.bins.bin_list).subquery("edges")
        n_bins = len(spec.bins.bin_list) - 1
        last_bin_closed = False
    else:
        n_bins = spec.bins.n_bins or 1
        edges = _equal_width_edges(spec, metric, n_bins).subquery("edges")
        last_bin_closed = True

    thresholds = select(
        func.array_agg(aggregate_order_by(edges.c.edge, edges.c.i))
    ).scalar_subquery()
    value = cast(metric.c.value, Float)
    # width_bucket compares against the exact edges, as numpy's corrected bin index does.
    bucket: Any = func.width_bucket(value, thresholds)
    if last_bin_closed:
        bucket = case((value == thresholds[n_bins + 1], n_bins), else_=bucket)
    placed = select(bucket.label("bin")).select_from(metric).subquery("placed_values")
    counts = (
        select(placed.c.bin, func.count().label("subscribers"))
        .where(placed.c.bin.between(1, n_bins))
        .group_by(placed.c.bin)
        .subquery("bin_counts")
    )

    lower = edges.alias("lower_edges")
    upper = edges.alias("upper_edges")
    return (
        select(
            func.coalesce(counts.c.subscribers, 0).label("value"),
            lower.c.edge.label("lower_edge"),
            upper.c.edge.label("upper_edge"),
        )
        .join_from(lower, upper, upper.c.i == lower.c.i + 1)
        .outerjoin(counts, counts.c.bin == upper.c.i)
        .order_by(lower.c.edge)
    )


def censor_small_bins(result: FromClause, threshold: int) -> Select[Any]:
    """Select the bins in edge order, or one row of nulls if a bin has < ``threshold``."""
    small = exists(select(literal(1)).select_from(result).where(result.c.value < threshold))
    released = select(result.c.value, result.c.lower_edge, result.c.upper_edge).where(~small)
    censored = select(
        null().label("value"), null().label("lower_edge"), null().label("upper_edge")
    ).where(small)
    both = union_all(released, censored).subquery("released_bins")
    return select(both.c.value, both.c.lower_edge, both.c.upper_edge).order_by(both.c.lower_edge)


KIND = QueryKind(
    spec=HistogramAggregate,
    build=build_histogram_aggregate,
    version="1",
    top_level=True,
    redactor=censor_small_bins,
    example={
        "query_kind": "histogram_aggregate",
        "metric": {
            "query_kind": "radius_of_gyration",
            "start_date": "2016-01-01",
            "end_date": "2016-01-02",
        },
        "bins": {"n_bins": 10},
    },
)
