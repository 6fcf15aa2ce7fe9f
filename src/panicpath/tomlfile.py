"""Reading the project's TOML inputs (scenario and space files) with one-line errors."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


def line_of(text: str, needle: str) -> int:
    """The first line of `text` that contains `needle` (1 if none), for file:line errors."""
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    return 1


def read_toml(path: str | Path, error: type[Exception], what: str) -> tuple[dict[str, Any], str]:
    """The parsed document and its text; unreadable, non-UTF-8 or malformed files raise
    `error` with one line naming the file (`what` completes the non-UTF-8 message)."""
    p = Path(path)
    try:
        data = p.read_bytes()
        text = data.decode("utf-8")
    except OSError as e:
        raise error(f"{p}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise error(f"{p}:{line}: not UTF-8 text; {what}") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as e:
        raise error(f"{p}: {e} (fix the TOML syntax)") from None
