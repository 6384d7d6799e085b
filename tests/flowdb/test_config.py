"""DSN resolution order and the SQLAlchemy URL form."""

from __future__ import annotations

import pytest

from flowdb.config import ConfigError, resolve_dsn, sqlalchemy_url

_VARIABLES = (
    "FLOWDB_DSN",
    "FLOWDB_HOST",
    "FLOWDB_PORT",
    "FLOWMACHINE_FLOWDB_USER",
    "FLOWMACHINE_FLOWDB_PASSWORD",
)


@pytest.fixture
def clean_environment(monkeypatch, tmp_path):
    for variable in _VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("FLOWCORE_HOME", str(tmp_path))
    return tmp_path


def test_explicit_dsn_wins(clean_environment, monkeypatch) -> None:
    monkeypatch.setenv("FLOWDB_DSN", "postgresql://env/flowdb")
    assert resolve_dsn("postgresql://explicit/flowdb") == "postgresql://explicit/flowdb"


def test_flowdb_dsn_before_flowkit_variables(clean_environment, monkeypatch) -> None:
    monkeypatch.setenv("FLOWDB_DSN", "postgresql://env/flowdb")
    monkeypatch.setenv("FLOWDB_HOST", "db.example")
    monkeypatch.setenv("FLOWMACHINE_FLOWDB_USER", "fm")
    assert resolve_dsn() == "postgresql://env/flowdb"


def test_flowkit_variables_build_dsn(clean_environment, monkeypatch) -> None:
    monkeypatch.setenv("FLOWDB_HOST", "db.example")
    monkeypatch.setenv("FLOWDB_PORT", "9000")
    monkeypatch.setenv("FLOWMACHINE_FLOWDB_USER", "flow machine")
    monkeypatch.setenv("FLOWMACHINE_FLOWDB_PASSWORD", "p@ss/word")
    assert resolve_dsn() == "postgresql://flow%20machine:p%40ss%2Fword@db.example:9000/flowdb"


def test_flowkit_default_port(clean_environment, monkeypatch) -> None:
    monkeypatch.setenv("FLOWDB_HOST", "db.example")
    monkeypatch.setenv("FLOWMACHINE_FLOWDB_USER", "fm")
    assert resolve_dsn() == "postgresql://fm@db.example:5432/flowdb"


def test_flowkit_host_without_user_raises(clean_environment, monkeypatch) -> None:
    monkeypatch.setenv("FLOWDB_HOST", "db.example")
    with pytest.raises(ConfigError, match="FLOWMACHINE_FLOWDB_USER is not"):
        resolve_dsn()


def test_flowkit_bad_port_raises(clean_environment, monkeypatch) -> None:
    monkeypatch.setenv("FLOWDB_HOST", "db.example")
    monkeypatch.setenv("FLOWDB_PORT", "five")
    with pytest.raises(ConfigError, match="FLOWDB_PORT 'five' is invalid"):
        resolve_dsn()


def test_stored_dsn_used_last(clean_environment) -> None:
    (clean_environment / "dsn").write_text("postgresql://local@127.0.0.1:5999/flowdb\n")
    assert resolve_dsn() == "postgresql://local@127.0.0.1:5999/flowdb"


def test_nothing_configured_raises_with_advice(clean_environment) -> None:
    with pytest.raises(ConfigError) as raised:
        resolve_dsn()
    assert "flowcore db up" in str(raised.value)
    assert "FLOWDB_DSN" in str(raised.value)


@pytest.mark.parametrize(
    ("dsn", "url"),
    [
        ("postgresql://u:p@h:5432/flowdb", "postgresql+psycopg://u:p@h:5432/flowdb"),
        ("postgres://u@h/flowdb", "postgresql+psycopg://u@h/flowdb"),
        ("postgresql+psycopg2://u@h/db", "postgresql+psycopg://u@h/db"),
        (
            "host=127.0.0.1 port=5433 dbname=flowdb user=u password='a b'",
            "postgresql+psycopg://u:a%20b@127.0.0.1:5433/flowdb",
        ),
        (
            "host=/run/postgresql dbname=flowdb",
            "postgresql+psycopg:///flowdb?host=%2Frun%2Fpostgresql",
        ),
    ],
)
def test_sqlalchemy_url(dsn, url) -> None:
    assert sqlalchemy_url(dsn) == url


def test_sqlalchemy_url_rejects_other_schemes() -> None:
    with pytest.raises(ConfigError, match="scheme 'mysql' is invalid"):
        sqlalchemy_url("mysql://u@h/db")
