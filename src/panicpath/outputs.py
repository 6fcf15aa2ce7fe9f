"""Paths a command writes to, checked when the option is parsed: before any work, so a
typo in a directory costs one line and exit 2, not a run's time and a traceback at the end.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click


def output_file_problem(path: str | os.PathLike[str]) -> str | None:
    """Why a file cannot be written at `path` (None: it can, as far as can be told
    without writing): a directory there, a directory part that is missing or a file, no
    write permission."""
    p = Path(path)
    if p.is_dir():
        return "is a directory; valid: a file name"
    parent = p.parent
    if not parent.exists():
        return f"no directory {parent}; valid: a file in an existing directory"
    if not parent.is_dir():
        return f"{parent} is not a directory; valid: a file in an existing directory"
    if not os.access(parent, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        return "not writable; valid: a file this user may write"
    return None


def output_dir_problem(path: str | os.PathLike[str]) -> str | None:
    """Why `path` cannot be (made) a directory to write into (None: it can): a file there
    or on the way to it, no write permission where it would be made."""
    p = Path(path)
    for a in (p, *p.parents):
        if not a.exists():
            continue
        if not a.is_dir():
            return (f"{a} is a file, not a directory; valid: a directory (made if missing)")
        if not os.access(a, os.W_OK | os.X_OK):
            return f"{a} is not writable; valid: a directory this user may write"
        return None
    return None


class OutputFile(click.Path):
    """`click.Path` of a file the command writes, refused at parse time when it cannot be
    (output_file_problem)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(dir_okay=False, **kwargs)

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        rv = super().convert(value, param, ctx)
        problem = output_file_problem(os.fsdecode(rv))
        if problem is not None:
            self.fail(f"{os.fsdecode(value)!r}: {problem}", param, ctx)
        return rv


class OutputDir(click.Path):
    """`click.Path` of a directory the command writes into (made if missing), refused at
    parse time when it cannot be (output_dir_problem)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(file_okay=False, **kwargs)

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        rv = super().convert(value, param, ctx)
        problem = output_dir_problem(os.fsdecode(rv))
        if problem is not None:
            self.fail(f"{os.fsdecode(value)!r}: {problem}", param, ctx)
        return rv
