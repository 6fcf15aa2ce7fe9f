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


@pytest.mark.parametrize(("text", "fragment"), [
    ("spin:\u00b2", "needs milliseconds"),      # isdigit() but int() refuses: was a traceback
    ("spin:\uff15\uff10", "needs milliseconds"),  # fullwidth digits
    ("spin:", "needs an argument: spin:ARG"),
    ("stop-dma:", "needs an argument: stop-dma:ARG"),
    ("hang:5", "hang takes no argument"),
    ("notify-stop:x", "notify-stop takes no argument"),
])
def test_effect_arguments_follow_the_kind(text: str, fragment: str) -> None:
    """An argument where the kind takes none was dropped silently; a missing one ran as
    `no  device`; a superscript digit passed isdigit() and crashed the run in int()."""
    with pytest.raises(CallbackError, match=fragment):
        parse_effect(text)


def test_effects_that_take_an_argument_keep_it() -> None:
    assert [str(parse_effect(e)) for e in ("print", "print:hi", "persist-log", "spin:0",
                                           "stop-dma:bcm-vk", "hang")] == [
        "print", "print:hi", "persist-log", "spin:0", "stop-dma:bcm-vk", "hang"]


@pytest.mark.parametrize(("text", "fragment"), [
    ("vmbus:x", "vmbus takes no argument"), ("ipi:", "ipi takes no argument"),
    ("mutex: ", "must name the lock"),
])
def test_need_arguments_follow_the_kind(text: str, fragment: str) -> None:
    with pytest.raises(CallbackError, match=fragment):
        parse_need(text)


@pytest.mark.parametrize("bad", ["\uff11", "INT_MIN + \uff11", "\u0663"])
def test_a_priority_is_ascii_digits(bad: str) -> None:
    with pytest.raises(CallbackError, match="is not an integer"):
        parse_priority(bad)
