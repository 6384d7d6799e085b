"""Core settings out of range are rejected with the variable, the value and the bound."""

from __future__ import annotations

import pytest

from flowcore.settings import Settings


@pytest.mark.parametrize(
    ("name", "raw", "minimum"),
    [
        ("FLOWCORE_MAX_WORKERS", "0", 1),
        ("FLOWCORE_MAX_WORKERS", "-2", 1),
        ("FLOWCORE_REDACTION_THRESHOLD", "-3", 0),
        ("FLOWCORE_MAX_SPEC_NODES", "0", 1),
        ("FLOWCORE_HEARTBEAT_SECONDS", "0", 1),
        ("FLOWCORE_CACHE_PRUNING_SECONDS", "-1", 0),
        ("FLOWMACHINE_CACHE_PRUNING_FREQUENCY", "-1", 0),
        ("FLOWCORE_CACHE_PRUNING_TIMEOUT", "0", 1),
        ("FLOWMACHINE_CACHE_PRUNING_TIMEOUT", "0", 1),
    ],
)
def test_env_value_below_minimum(name: str, raw: str, minimum: int) -> None:
    with pytest.raises(ValueError) as raised:
        Settings.from_env({name: raw})

    assert str(raised.value) == f"{name} must be at least {minimum}, got {raw!r}"


def test_env_values_at_minimum_accepted() -> None:
    settings = Settings.from_env(
        {
            "FLOWCORE_MAX_WORKERS": "1",
            "FLOWCORE_REDACTION_THRESHOLD": "0",
            "FLOWCORE_CACHE_PRUNING_SECONDS": "0",
        }
    )

    assert settings.max_workers == 1
    assert settings.redaction_threshold == 0
    assert settings.cache_pruning_seconds == 0


def test_pruning_timeout_from_flowkit_variable() -> None:
    assert Settings.from_env({}).cache_pruning_timeout == 600
    assert (
        Settings.from_env({"FLOWMACHINE_CACHE_PRUNING_TIMEOUT": "30"}).cache_pruning_timeout == 30
    )
    both = {"FLOWMACHINE_CACHE_PRUNING_TIMEOUT": "30", "FLOWCORE_CACHE_PRUNING_TIMEOUT": "45"}
    assert Settings.from_env(both).cache_pruning_timeout == 45


def test_settings_object_rejects_zero_workers() -> None:
    with pytest.raises(ValueError, match="max_workers"):
        Settings(max_workers=0)


@pytest.mark.parametrize(
    ("name", "raw", "maximum"),
    [
        ("FLOWCORE_MAX_WORKERS", "33", 32),
        ("FLOWCORE_REDACTION_THRESHOLD", "99999999999999999999999", 2**31 - 1),
        ("FLOWCORE_MAX_SPEC_NODES", "100001", 100_000),
        ("FLOWCORE_HEARTBEAT_SECONDS", "3601", 3600),
        ("FLOWCORE_CACHE_PRUNING_SECONDS", "99999999999", 366 * 86_400),
    ],
)
def test_env_value_above_maximum(name: str, raw: str, maximum: int) -> None:
    with pytest.raises(ValueError) as raised:
        Settings.from_env({name: raw})

    assert str(raised.value) == f"{name} must be at most {maximum}, got {raw!r}"


@pytest.mark.parametrize("raw", ["1_000", "\u0663", "4.0", "four", "--4", "9" * 5000])
def test_env_value_not_plain_digits(raw: str) -> None:
    with pytest.raises(ValueError) as raised:
        Settings.from_env({"FLOWCORE_MAX_WORKERS": raw})

    assert str(raised.value) == f"FLOWCORE_MAX_WORKERS must be an integer, got {raw!r}"


def test_env_values_at_maximum_accepted() -> None:
    settings = Settings.from_env(
        {"FLOWCORE_MAX_WORKERS": "32", "FLOWCORE_REDACTION_THRESHOLD": str(2**31 - 1)}
    )

    assert settings.max_workers == 32
    assert settings.redaction_threshold == 2**31 - 1


def test_settings_object_rejects_too_many_workers() -> None:
    with pytest.raises(ValueError, match="max_workers"):
        Settings(max_workers=33)
