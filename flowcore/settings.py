"""Settings of the core, read from environment variables with documented defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["Settings"]


def _env_int(env: Mapping[str, str], name: str, default: int, bounds: range) -> int:
    """Return an environment variable's whole number within ``bounds``, else ``default``."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    text = raw.strip()
    # int() also takes "1_000" and non-ASCII digits, so the text is checked first.
    digits = text[1:] if text.startswith("-") else text
    # The length check keeps int() away from its limit of 4,300 digits.
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 30:
        raise ValueError(f"{name} must be an integer, got {raw!r}")
    value = int(text)
    if value < bounds.start:
        raise ValueError(f"{name} must be at least {bounds.start}, got {raw!r}")
    if value >= bounds.stop:
        raise ValueError(f"{name} must be at most {bounds.stop - 1}, got {raw!r}")
    return value


def _env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name} must be true or false, got {raw!r}")


#: Allowed values of each whole-number setting. The upper bounds reject values that would fail
#: later or mean nothing: redaction compares the threshold with count columns, some of them
#: 4-byte integers, and each worker uses one of the connection pool's connections (see
#: flowcore.session.create_flowdb_engine).
REDACTION_THRESHOLDS = range(0, 2**31)
MAX_WORKERS = range(1, 33)
MAX_SPEC_NODES = range(1, 100_001)
HEARTBEAT_SECONDS = range(1, 3_601)
CACHE_PRUNING_SECONDS = range(0, 366 * 86_400 + 1)
CACHE_PRUNING_TIMEOUTS = range(1, 366 * 86_400 + 1)


def _within(bounds: range) -> Any:
    """Return an attrs validator that accepts the values of ``bounds``."""
    return attrs.validators.and_(
        attrs.validators.ge(bounds.start), attrs.validators.le(bounds.stop - 1)
    )


@attrs.frozen
class Settings:
    """Tunable behaviour of the core; every field has an environment variable."""

    #: Rows whose checked count is at or below this are dropped when results are redacted
    #: (FlowKit releases only counts above 15). FLOWCORE_REDACTION_THRESHOLD.
    redaction_threshold: int = attrs.field(default=15, validator=_within(REDACTION_THRESHOLDS))
    #: Queries computed at the same time by one process. FLOWCORE_MAX_WORKERS.
    max_workers: int = attrs.field(default=4, validator=_within(MAX_WORKERS))
    #: Nodes allowed in one spec tree (the query and every nested query). FLOWCORE_MAX_SPEC_NODES.
    max_spec_nodes: int = attrs.field(default=500, validator=_within(MAX_SPEC_NODES))
    #: A plugin that fails to load stops start-up instead of being skipped. FLOWCORE_STRICT_PLUGINS.
    strict_plugins: bool = False
    #: Name of the cache backend driver. FLOWCORE_CACHE_BACKEND.
    cache_backend: str = "postgresql"
    #: Seconds between liveness heartbeats of an executor process. FLOWCORE_HEARTBEAT_SECONDS.
    heartbeat_seconds: int = attrs.field(default=5, validator=_within(HEARTBEAT_SECONDS))
    #: Seconds between automatic cache shrinks to the configured size; 0 turns them off.
    #: FLOWCORE_CACHE_PRUNING_SECONDS, or FlowKit's FLOWMACHINE_CACHE_PRUNING_FREQUENCY.
    cache_pruning_seconds: int = attrs.field(
        default=86400, validator=_within(CACHE_PRUNING_SECONDS)
    )
    #: Seconds after which an automatic cache shrink starts no more evictions.
    #: FLOWCORE_CACHE_PRUNING_TIMEOUT, or FlowKit's FLOWMACHINE_CACHE_PRUNING_TIMEOUT.
    cache_pruning_timeout: int = attrs.field(default=600, validator=_within(CACHE_PRUNING_TIMEOUTS))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables, falling back to the defaults."""
        env = os.environ if env is None else env
        defaults = cls()
        return cls(
            redaction_threshold=_env_int(
                env,
                "FLOWCORE_REDACTION_THRESHOLD",
                defaults.redaction_threshold,
                REDACTION_THRESHOLDS,
            ),
            max_workers=_env_int(env, "FLOWCORE_MAX_WORKERS", defaults.max_workers, MAX_WORKERS),
            max_spec_nodes=_env_int(
                env, "FLOWCORE_MAX_SPEC_NODES", defaults.max_spec_nodes, MAX_SPEC_NODES
            ),
            strict_plugins=_env_bool(env, "FLOWCORE_STRICT_PLUGINS", defaults.strict_plugins),
            cache_backend=env.get("FLOWCORE_CACHE_BACKEND") or defaults.cache_backend,
            heartbeat_seconds=_env_int(
                env, "FLOWCORE_HEARTBEAT_SECONDS", defaults.heartbeat_seconds, HEARTBEAT_SECONDS
            ),
            cache_pruning_seconds=_env_int(
                env,
                "FLOWCORE_CACHE_PRUNING_SECONDS",
                _env_int(
                    env,
                    "FLOWMACHINE_CACHE_PRUNING_FREQUENCY",
                    defaults.cache_pruning_seconds,
                    CACHE_PRUNING_SECONDS,
                ),
                CACHE_PRUNING_SECONDS,
            ),
            cache_pruning_timeout=_env_int(
                env,
                "FLOWCORE_CACHE_PRUNING_TIMEOUT",
                _env_int(
                    env,
                    "FLOWMACHINE_CACHE_PRUNING_TIMEOUT",
                    defaults.cache_pruning_timeout,
                    CACHE_PRUNING_TIMEOUTS,
                ),
                CACHE_PRUNING_TIMEOUTS,
            ),
        )
