"""docs/plugins.md documents every hook and each of its arguments."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from flowcore import hookspecs

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
HOOKS = sorted(name for name in dir(hookspecs) if name.startswith("flowcore_"))


def test_hooks_exist() -> None:
    assert len(HOOKS) >= 5


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_documented_with_arguments(hook: str) -> None:
    text = DOCS.read_text()
    arguments = list(inspect.signature(getattr(hookspecs, hook)).parameters)
    heading = f"### `{hook}({', '.join(arguments)})`"
    assert heading in text
