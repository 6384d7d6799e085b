"""Grant decisions: one role must hold an action and every scope the request needs."""

from __future__ import annotations

import logging

import pytest
from flowcore_auth import Identity, PermissionDeniedError, is_allowed, require
from flowcore_auth.grants import DENIED_MESSAGE

DAILY_LOCATION_SCOPES = {
    "admin3:spatial_aggregate:spatial_aggregate",
    "admin3:spatial_aggregate:daily_location",
}


def identity(**roles: list[str]) -> Identity:
    """Build an identity for the user 'alice' holding ``roles``."""
    return Identity(subject="alice", roles=roles, token_id="token-1")


@pytest.mark.parametrize(
    ("roles", "actions", "scopes", "allowed"),
    [
        pytest.param(
            {"analyst": ["run", *DAILY_LOCATION_SCOPES]},
            {"run"},
            DAILY_LOCATION_SCOPES,
            True,
            id="one role holds all",
        ),
        pytest.param(
            {"scopes": sorted(DAILY_LOCATION_SCOPES), "runner": ["run"]},
            {"run"},
            DAILY_LOCATION_SCOPES,
            False,
            id="action and scopes in different roles",
        ),
        pytest.param(
            {
                "a": ["run", "admin3:spatial_aggregate:spatial_aggregate"],
                "b": ["run", "admin3:spatial_aggregate:daily_location"],
            },
            {"run"},
            DAILY_LOCATION_SCOPES,
            False,
            id="scopes split over roles",
        ),
        pytest.param(
            {"analyst": ["run", "admin3:spatial_aggregate:spatial_aggregate"]},
            {"run"},
            DAILY_LOCATION_SCOPES,
            False,
            id="nested kind missing",
        ),
        pytest.param(
            {"analyst": ["get_result", *DAILY_LOCATION_SCOPES]},
            {"run"},
            DAILY_LOCATION_SCOPES,
            False,
            id="wrong action",
        ),
        pytest.param(
            {"analyst": ["get_result", *DAILY_LOCATION_SCOPES]},
            {"run", "get_result"},
            DAILY_LOCATION_SCOPES,
            True,
            id="poll with get_result",
        ),
        pytest.param(
            {"analyst": ["run", *DAILY_LOCATION_SCOPES]},
            {"run", "get_result"},
            DAILY_LOCATION_SCOPES,
            True,
            id="poll with run",
        ),
        pytest.param(
            {"analyst": sorted(DAILY_LOCATION_SCOPES)},
            {"run", "get_result"},
            DAILY_LOCATION_SCOPES,
            False,
            id="poll with neither action",
        ),
        pytest.param(
            {
                "admin2 runner": ["run", "admin2:spatial_aggregate:spatial_aggregate"],
                "admin3 runner": ["run", *DAILY_LOCATION_SCOPES],
            },
            {"run"},
            DAILY_LOCATION_SCOPES,
            True,
            id="second role grants",
        ),
        pytest.param(
            {"dates": ["get_available_dates"]},
            {"get_available_dates"},
            set(),
            True,
            id="simple scope alone",
        ),
        pytest.param(
            {"analyst": ["run", "admin2:spatial_aggregate:spatial_aggregate"]},
            {"run"},
            {"admin3:spatial_aggregate:spatial_aggregate"},
            False,
            id="other aggregation unit",
        ),
        pytest.param({}, {"get_result"}, set(), False, id="no roles"),
        pytest.param(
            {"geo": ["get_result", "admin3:geography:geography"]},
            {"get_result"},
            {"admin3:geography:geography"},
            True,
            id="geography",
        ),
    ],
)
def test_is_allowed(
    roles: dict[str, list[str]], actions: set[str], scopes: set[str], allowed: bool
) -> None:
    assert is_allowed(identity(**roles), actions, scopes) is allowed


def test_is_allowed_accepts_iterators() -> None:
    caller = identity(analyst=["run", *DAILY_LOCATION_SCOPES])

    assert is_allowed(caller, iter(["run"]), iter(DAILY_LOCATION_SCOPES)) is True


def test_is_allowed_needs_an_action() -> None:
    with pytest.raises(ValueError) as raised:
        is_allowed(identity(analyst=["run"]), [], [])

    assert str(raised.value) == "actions must name at least one action, got none"


@pytest.mark.parametrize("argument", ["actions", "scopes"])
def test_is_allowed_rejects_bare_string(argument: str) -> None:
    arguments = {"actions": ["run"], "scopes": []}
    arguments[argument] = "run"  # type: ignore[assignment]

    with pytest.raises(TypeError) as raised:
        is_allowed(identity(analyst=["run"]), **arguments)

    assert str(raised.value) == f"{argument} must be a collection of strings, got the string 'run'"


def test_require_allows_silently() -> None:
    caller = identity(analyst=["run", *DAILY_LOCATION_SCOPES])

    # require raises when it denies, so returning at all is the assertion.
    require(caller, {"run"}, DAILY_LOCATION_SCOPES)


def test_require_denies_with_fixed_message(caplog: pytest.LogCaptureFixture) -> None:
    caller = identity(scopes=sorted(DAILY_LOCATION_SCOPES), runner=["run"])

    with (
        caplog.at_level(logging.INFO, logger="flowcore_auth.grants"),
        pytest.raises(PermissionDeniedError) as raised,
    ):
        require(caller, {"run"}, DAILY_LOCATION_SCOPES)

    assert str(raised.value) == DENIED_MESSAGE == "User claims verification failed"
    assert len(caplog.records) == 1
    assert "subject='alice'" in caplog.records[0].getMessage()
    assert "token_id='token-1'" in caplog.records[0].getMessage()


def test_require_consumes_iterators_once() -> None:
    caller = identity(analyst=["run", *DAILY_LOCATION_SCOPES])

    # Generators are read once, so require must not pass exhausted ones on to is_allowed.
    require(caller, (action for action in ["run"]), (scope for scope in DAILY_LOCATION_SCOPES))


def test_identity_roles_read_only() -> None:
    caller = identity(analyst=["run"])

    with pytest.raises(TypeError):
        caller.roles["analyst"] = frozenset({"get_result"})  # type: ignore[index]
    assert caller.roles["analyst"] == frozenset({"run"})
