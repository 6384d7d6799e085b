"""Repeatable random samples of per-subscriber results."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Select, cast, func, literal, select
from sqlalchemy.dialects.postgresql import BIT

from flowcore.model.fields import Sampling

__all__ = ["apply_sampling"]

_HASH_RANGE = 2**31


def _subscriber_hash(subscriber: Any, seed: float | None) -> Any:
    """Return a number in [0, 2^31) derived from the subscriber and seed, stable across runs."""
    keyed = func.md5(func.concat(subscriber, literal(f"|{seed if seed is not None else 0}")))
    hex_prefix = func.concat(literal("x"), func.substr(keyed, 1, 8))
    return cast(cast(hex_prefix, BIT(32)), BigInteger) % _HASH_RANGE


def apply_sampling(query: Select[Any], sampling: Sampling | None) -> Select[Any]:
    """Return ``query`` restricted to a repeatable sample of its subscribers.

    Subscribers are ranked by a hash of their id and the seed, so the same seed gives the same
    sample on every run. ``size`` keeps that many subscribers with all their rows (a result
    such as ``unique_locations`` has several rows per subscriber); ``fraction`` keeps about
    that share.
    """
    if sampling is None:
        return query
    rows = query.subquery("unsampled")
    key = _subscriber_hash(rows.c.subscriber, sampling.seed)
    # NOTE: FlowKit's "system" and "bernoulli" methods sample table pages or rows with
    # TABLESAMPLE; results here are sub-queries, so every method samples by subscriber hash.
    if sampling.size is not None:
        rank = func.dense_rank().over(order_by=(key, rows.c.subscriber))
        ranked = select(*rows.c, rank.label("_sample_rank")).subquery("ranked")
        kept = [ranked.c[c.name] for c in rows.c]
        return select(*kept).where(ranked.c._sample_rank <= sampling.size)
    threshold = int((sampling.fraction or 0) * _HASH_RANGE)
    return select(*rows.c).where(key < threshold)
