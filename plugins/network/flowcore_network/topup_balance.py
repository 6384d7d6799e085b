"""``topup_balance``: a statistic of each subscriber's account balance, weighted by time held.

Balances are only seen at top-ups, so, as in FlowKit 1.34, the balance between two top-ups is
taken as the mean of the earlier top-up's post-event balance and the later one's pre-event
balance, held for the seconds between them. Before the first top-up the balance is its
pre-event balance, held from ``start_date``; after the last top-up it is its post-event
balance, held until ``end_date``. Statistics over these (balance, seconds) pairs:

* ``sum``: sum of balance x seconds; ``avg``: that sum over the total seconds.
* ``variance``: ``(sum(w * b^2) - sum(w * b)^2 / sum(w)) / (sum(w) - 1)``; ``stddev`` is its
  square root.
* ``count``: the number of top-ups; ``max`` and ``min``: over every pre- and post-event balance.
* ``median``: the smallest balance at which the weight of balances up to it reaches half the
  total.
* ``mode``: the balance held longest in total (ties: the smallest).

NOTE: FlowKit changed how it weights balances, and which version 1.34 ships is uncertain. Older
versions compute the weights from every top-up in ``events.topups``, ignoring the date range and
``hours``. Later ones, like this module, use only the top-ups in the range and hour window.
Both order the weighted median by weight rather than by balance. The later ones take as
``mode`` the balance with the smallest sum of weight x balance. Here the median is the
weighted median by balance and the mode the balance held longest, so values differ from
FlowKit's where that matters.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import attrs
from sqlalchemy import Select, desc, extract, func, literal, select, union_all
from sqlalchemy.dialects.postgresql import distinct_on

from flowcore.kinds import QueryKind
from flowcore.model.base import SubscriberMetric
from flowcore.model.fields import Hours, QueryId, Statistic
from flowcore.sql.context import BuildContext
from flowcore_network.metric_fields import METRIC_INDEX, MetricFields, per_subscriber

__all__ = ["TopUpBalance", "build_topup_balance", "KIND"]


@attrs.frozen(kw_only=True)
class TopUpBalance(SubscriberMetric, MetricFields):
    """A time-weighted statistic of each subscriber's top-up balances."""

    query_kind: ClassVar[str] = "topup_balance"
    description: ClassVar[str] = "A time-weighted statistic of each subscriber's balance."

    statistic: Statistic
    subscriber_subset: QueryId | None = None
    hours: Hours | None = None


def _utc(moment: dt.datetime) -> Any:
    return literal(moment.replace(tzinfo=dt.UTC))


def build_topup_balance(spec: TopUpBalance, context: BuildContext) -> Select[Any]:
    """Select ``subscriber`` and ``value``, the statistic of balances."""
    topups = context.events(
        start=spec.start_date,
        end=spec.end_date,
        event_types=("topups",),
        hours=spec.hours,
        subscriber_subset=spec.subscriber_subset,
        columns=("id", "pre_event_balance", "post_event_balance"),
    ).subquery("topups")

    if spec.statistic == "count":
        return per_subscriber(topups, func.count())
    if spec.statistic in ("max", "min"):
        aggregate = func.max if spec.statistic == "max" else func.min
        balances = union_all(
            select(topups.c.subscriber, topups.c.pre_event_balance.label("balance")),
            select(topups.c.subscriber, topups.c.post_event_balance.label("balance")),
        ).subquery("balances")
        return per_subscriber(balances, aggregate(balances.c.balance))

    held = _held_balances(spec, topups)
    weight, balance = held.c.weight, held.c.balance
    weighted_sum = func.sum(weight * balance)
    total_weight = func.sum(weight)
    variance = (
        func.sum(weight * balance * balance) - weighted_sum * weighted_sum / total_weight
    ) / (total_weight - 1)
    if spec.statistic == "sum":
        return per_subscriber(held, weighted_sum)
    if spec.statistic == "avg":
        return per_subscriber(held, weighted_sum / total_weight)
    if spec.statistic == "variance":
        return per_subscriber(held, variance)
    if spec.statistic == "stddev":
        return per_subscriber(held, func.sqrt(variance))
    if spec.statistic == "median":
        return _weighted_median(held)
    return _weighted_mode(held)


def _held_balances(spec: TopUpBalance, topups: Any) -> Any:
    """Select ``subscriber``, ``balance`` and ``weight`` (seconds held) of each balance."""
    ordering = {"partition_by": topups.c.subscriber, "order_by": (topups.c.datetime, topups.c.id)}
    previous_post = func.lag(topups.c.post_event_balance, 1, topups.c.pre_event_balance)
    previous_time = func.lag(topups.c.datetime, 1, _utc(spec.start_date))
    steps = select(
        topups.c.subscriber,
        ((topups.c.pre_event_balance + previous_post.over(**ordering)) / 2).label("balance"),
        extract("epoch", topups.c.datetime - previous_time.over(**ordering)).label("weight"),
        topups.c.post_event_balance,
        topups.c.datetime,
        func.row_number()
        .over(
            partition_by=topups.c.subscriber,
            order_by=(desc(topups.c.datetime), desc(topups.c.id)),
        )
        .label("from_last"),
    ).subquery("balance_steps")
    after_last = select(
        steps.c.subscriber,
        steps.c.post_event_balance.label("balance"),
        extract("epoch", _utc(spec.end_date) - steps.c.datetime).label("weight"),
    ).where(steps.c.from_last == 1)
    return union_all(
        select(steps.c.subscriber, steps.c.balance, steps.c.weight), after_last
    ).subquery("held_balances")


def _weighted_median(held: Any) -> Select[Any]:
    """Select each subscriber's smallest balance whose cumulative weight reaches half."""
    cumulative = select(
        held.c.subscriber,
        held.c.balance,
        func.sum(held.c.weight)
        .over(partition_by=held.c.subscriber, order_by=held.c.balance)
        .label("weight_up_to"),
        func.sum(held.c.weight).over(partition_by=held.c.subscriber).label("total_weight"),
    ).subquery("cumulative_weights")
    return (
        select(cumulative.c.subscriber, cumulative.c.balance.label("value"))
        .where(cumulative.c.weight_up_to >= cumulative.c.total_weight / 2)
        .ext(distinct_on(cumulative.c.subscriber))
        .order_by(cumulative.c.subscriber, cumulative.c.balance)
    )


def _weighted_mode(held: Any) -> Select[Any]:
    """Select each subscriber's balance held longest in total (ties: the smallest)."""
    totals = (
        select(held.c.subscriber, held.c.balance, func.sum(held.c.weight).label("seconds"))
        .group_by(held.c.subscriber, held.c.balance)
        .subquery("seconds_per_balance")
    )
    return (
        select(totals.c.subscriber, totals.c.balance.label("value"))
        .ext(distinct_on(totals.c.subscriber))
        .order_by(totals.c.subscriber, totals.c.seconds.desc(), totals.c.balance)
    )


KIND = QueryKind(
    spec=TopUpBalance,
    build=build_topup_balance,
    version="1",
    index_columns=METRIC_INDEX,
    example={
        "query_kind": "topup_balance",
        "start_date": "2016-01-01",
        "end_date": "2016-01-02",
        "statistic": "avg",
    },
)
