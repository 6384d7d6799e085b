"""Settings of the core, read from environment variables with documented defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping

import attrs

__all__ = ["Settings"]


def _env_int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {raw!r}")
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


@attrs.frozen
class Settings:
    """Tunable behaviour of the core; every field has an environment variable."""

    #: Rows whose checked count is at or below this are dropped when results are redacted
    #: (FlowKit releases only counts above 15). FLOWCORE_REDACTION_THRESHOLD.
    redaction_threshold: int = attrs.field(default=15, validator=attrs.validators.ge(0))
    #: Queries computed at the same time by one process. FLOWCORE_MAX_WORKERS.
    max_workers: int = attrs.field(default=4, validator=attrs.validators.ge(1))
    #: Nodes allowed in one spec tree (the query and every nested query). FLOWCORE_MAX_SPEC_NODES.
    max_spec_nodes: int = attrs.field(default=500, validator=attrs.validators.ge(1))
    #: A plugin that fails to load stops start-up instead of being skipped. FLOWCORE_STRICT_PLUGINS.
    strict_plugins: bool = False
    #: Name of the cache backend driver. FLOWCORE_CACHE_BACKEND.
    cache_backend: str = "postgresql"
    #: Seconds between liveness heartbeats of an executor process. FLOWCORE_HEARTBEAT_SECONDS.
    heartbeat_seconds: int = attrs.field(default=5, validator=attrs.validators.ge(1))
    #: Seconds between automatic cache shrinks to the configured size; 0 turns them off.
    #: FLOWCORE_CACHE_PRUNING_SECONDS, or FlowKit's FLOWMACHINE_CACHE_PRUNING_FREQUENCY.
    cache_pruning_seconds: int = attrs.field(default=86400, validator=attrs.validators.ge(0))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables, falling back to the defaults."""
        env = os.environ if env is None else env
        defaults = cls()
        return cls(
            redaction_threshold=_env_int(
                env, "FLOWCORE_REDACTION_THRESHOLD", defaults.redaction_threshold, 0
            ),
            max_workers=_env_int(env, "FLOWCORE_MAX_WORKERS", defaults.max_workers, 1),
            max_spec_nodes=_env_int(env, "FLOWCORE_MAX_SPEC_NODES", defaults.max_spec_nodes, 1),
            strict_plugins=_env_bool(env, "FLOWCORE_STRICT_PLUGINS", defaults.strict_plugins),
            cache_backend=env.get("FLOWCORE_CACHE_BACKEND") or defaults.cache_backend,
            heartbeat_seconds=_env_int(
                env, "FLOWCORE_HEARTBEAT_SECONDS", defaults.heartbeat_seconds, 1
            ),
            cache_pruning_seconds=_env_int(
                env,
                "FLOWCORE_CACHE_PRUNING_SECONDS",
                _env_int(
                    env, "FLOWMACHINE_CACHE_PRUNING_FREQUENCY", defaults.cache_pruning_seconds, 0
                ),
                0,
            ),
        )
