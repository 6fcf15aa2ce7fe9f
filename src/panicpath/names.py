"""Checking names given on the command line against the fixed vocabularies."""

from __future__ import annotations

from collections.abc import Collection, Iterable


def unknown_name(*checks: tuple[str, Iterable[str], Collection[str]]) -> str | None:
    """The one-line error for the first given name not in its vocabulary, else None. Each
    check is (what, names given, valid names), e.g. ("policy", ("linux-9.9",), POLICIES)."""
    for what, given, valid in checks:
        for name in given:
            if name not in valid:
                return f"unknown {what} {name!r}; valid: {', '.join(valid)}"
    return None
