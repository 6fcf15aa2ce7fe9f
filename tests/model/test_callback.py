"""Parsing of callback declarations (priorities, needs, effects)."""

from __future__ import annotations

import pytest

from panicpath.model.callback import (
    INT_MAX,
    INT_MIN,
    CallbackError,
    parse_effect,
    parse_need,
    parse_priority,
)


@pytest.mark.parametrize(("text", "value"), [
    ("INT_MIN + 10", INT_MIN + 10), ("INT_MIN+1", INT_MIN + 1), ("INT_MAX", INT_MAX),
    ("INT_MAX - 1", INT_MAX - 1), ("-200", -200), (200, 200), ("0", 0),
])
def test_priority_expressions(text: object, value: int) -> None:
    assert parse_priority(text) == value


@pytest.mark.parametrize("bad", ["INT_MID", "1.5", True, "INT_MIN * 2", None])
def test_bad_priority(bad: object) -> None:
    with pytest.raises(CallbackError):
        parse_priority(bad)


def test_needs_and_effects() -> None:
    assert str(parse_need("lock:vmbus-ring")) == "lock:vmbus-ring"
    assert parse_effect("spin:500").arg == "500"
    with pytest.raises(CallbackError, match="valid: vmbus"):
        parse_need("telepathy")
    with pytest.raises(CallbackError, match="name the lock"):
        parse_need("lock")
    with pytest.raises(CallbackError, match="milliseconds"):
        parse_effect("spin:forever")
