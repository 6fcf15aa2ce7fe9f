"""Checking names given on the command line against the fixed vocabularies."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def one_line(msg: str) -> str:
    """`msg` safe to print as one line: control characters and line separators a name in
    the message may carry (a TOML key "a\\rb") are shown escaped, as repr() would."""
    return _CONTROL.sub(lambda m: repr(m.group(0))[1:-1], msg)


def unknown_name(*checks: tuple[str, Iterable[str], Collection[str]]) -> str | None:
    """The one-line error for the first given name not in its vocabulary, else None. Each
    check is (what, names given, valid names), e.g. ("policy", ("linux-9.9",), POLICIES)."""
    for what, given, valid in checks:
        for name in given:
            if name not in valid:
                return f"unknown {what} {name!r}; valid: {', '.join(valid)}"
    return None
