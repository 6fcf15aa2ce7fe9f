"""Reading the project's TOML inputs (scenario, space, policy files) with one-line errors.

tomllib gives lines for syntax errors only; `key_line` finds the line of a key of the
parsed document in the text (tables, arrays of tables, inline tables, dotted and quoted
keys), so a refused value is reported as ``file:line``.
"""

from __future__ import annotations

import errno
import json
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BOM = "\ufeff"
"""A UTF-8 byte-order mark some editors write first; TOML readers here skip it."""

_BARE = r"[A-Za-z0-9_-]+"
_BASIC = r'"(?:[^"\\\n]|\\.)*"'
_LITERAL = r"'[^'\n]*'"
_SEGMENT = rf"(?:{_BARE}|{_BASIC}|{_LITERAL})"
_KEY = rf"{_SEGMENT}(?:\s*\.\s*{_SEGMENT})*"
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_KEY})\s*\]\]?")
_ASSIGN = re.compile(rf"^\s*({_KEY})\s*=\s*(.*)$")
_SEGMENTS = re.compile(_SEGMENT)
_TOML_POS = re.compile(r"\s*\(at line (\d+), column (\d+)\)|\s*\(at end of document\)")


def toml_lines(text: str) -> list[str]:
    """The lines of a TOML document: TOML ends a line at LF (or CRLF) only; str.splitlines()
    also splits at U+0085, U+2028, form feeds and others a quoted key or string may hold."""
    return [ln.removesuffix("\r") for ln in text.split("\n")]


def line_of(text: str, needle: str) -> int:
    """The first line of `text` that contains `needle` (1 if none), for file:line errors."""
    for i, line in enumerate(toml_lines(text), 1):
        if needle in line:
            return i
    return 1


def _segments(key: str) -> tuple[str, ...]:
    out = []
    for m in _SEGMENTS.finditer(key):
        s = m.group(0)
        if s.startswith('"'):
            try:
                s = json.loads(s, strict=False)  # a tab in a quoted key is TOML
            except ValueError:
                s = s[1:-1]
        elif s.startswith("'"):
            s = s[1:-1]
        out.append(s)
    return tuple(out)


def key_line(text: str, path: Sequence[str | int]) -> int | None:
    """The line (1-based) of the key at `path` in the TOML `text`: ``("cpus",)``,
    ``("params", "panic")``, ``("callback", 1, "priority")`` (the second ``[[callback]]``
    or the second inline table of ``callback = [...]``). When the key itself is not
    written (a default, or a value inside a multi-line array), the line of the deepest
    part of `path` that is: its table header or the ``key =`` line that opens it. None
    when nothing of `path` is in the text."""
    target = tuple(path)
    best: tuple[int, int] | None = None  # (depth matched, line)
    context: tuple[str | int, ...] = ()
    counts: dict[tuple[str | int, ...], int] = {}
    lines = toml_lines(text)
    i = 0
    in_string: str | None = None
    while i < len(lines):
        raw = lines[i]
        no = i + 1
        i += 1
        if in_string is not None:  # inside a multi-line string: no keys here
            if raw.count(in_string) % 2 == 1:
                in_string = None
            continue
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        h = _HEADER.match(raw)
        if h is not None and not _ASSIGN.match(raw):
            segs: tuple[str | int, ...] = _segments(h.group(2))
            if h.group(1) == "[[":
                n = counts.get(segs, -1) + 1
                counts[segs] = n
                segs = (*segs, n)
            context = segs
            depth = _prefix_depth(context, target)
            if depth == len(target):
                return no  # the table itself, or a table inside it
            if depth == len(context) and (best is None or depth > best[0]):
                best = (depth, no)
            continue
        a = _ASSIGN.match(raw)
        if a is None:
            continue
        full = (*context, *_segments(a.group(1)))
        value = a.group(2)
        for quote in ('"""', "'''"):
            if value.startswith(quote) and value.count(quote) == 1:
                in_string = quote
        open_brackets = _depth(value) if in_string is None else 0
        while open_brackets > 0 and i < len(lines):  # a value over several lines
            open_brackets += _depth(lines[i])
            i += 1
        depth = _prefix_depth(full, target)
        if depth == len(target):
            return no  # the key, or a dotted key inside it
        if depth < len(full):
            continue
        if best is None or depth > best[0]:
            best = (depth, no)
        rest = target[depth:]
        if value.startswith("{") and isinstance(rest[0], str):
            if re.search(rf"(?:^|[{{,])\s*(?:{re.escape(rest[0])}|\"{re.escape(rest[0])}\")"
                         r"\s*=", value[1:]):
                return no
        elif value.startswith("[") and isinstance(rest[0], int):
            found = _array_item(lines, no - 1, rest[0])
            if found is not None:
                key = rest[1] if len(rest) > 1 and isinstance(rest[1], str) else None
                return _item_key(lines, found, key)
    return None if best is None else best[1]


def _prefix_depth(have: tuple[str | int, ...], want: tuple[str | int, ...]) -> int:
    n = 0
    for a, b in zip(have, want, strict=False):
        if a != b:
            break
        n += 1
    return n


def _array_item(lines: list[str], start: int, index: int) -> int | None:
    """The 0-based line where the `index`-th inline table of the array opened on line
    `start` begins (counting ``{`` at the array's own depth), or None."""
    seen = -1
    depth = 0
    for j in range(start, len(lines)):
        text = lines[j] if j > start else lines[j].partition("=")[2]
        for ch in _code(text):
            if ch in "[{":
                depth += 1
                if ch == "{" and depth == 2:
                    seen += 1
                    if seen == index:
                        return j
            elif ch in "]}":
                depth -= 1
                if depth == 0:
                    return None
    return None


def _item_key(lines: list[str], start: int, key: str | None) -> int:
    """The line of `key` inside the inline table that begins on line `start` (0-based)."""
    if key is not None:
        pat = re.compile(rf"(?:^|[{{,])\s*(?:{re.escape(key)}|\"{re.escape(key)}\")\s*=")
        for j in range(start, min(len(lines), start + 50)):
            if pat.search(lines[j] if j > start else lines[j][lines[j].find("{"):]):
                return j + 1
            if "}" in _code(lines[j]):
                break
    return start + 1


def _depth(text: str) -> int:
    """How many brackets `text` opens and does not close."""
    code = _code(text)
    return sum(code.count(c) for c in "[{") - sum(code.count(c) for c in "]}")


def _code(text: str) -> str:
    """`text` without strings and comments (brackets inside them do not count)."""
    out = []
    quote: str | None = None
    k = 0
    while k < len(text):
        ch = text[k]
        if quote is not None:
            if ch == "\\" and quote == '"':
                k += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            break
        else:
            out.append(ch)
        k += 1
    return "".join(out)


MAX_INPUT_BYTES = 64 << 20
"""The largest input file read (scenario, space, policy, trace, scan document): a bound so
that a device (/dev/zero) or a wrong file is refused instead of filling memory."""


def read_input(path: str | Path) -> bytes:
    """The bytes of an input file; OSError (with strerror) when it cannot be read or holds
    more than MAX_INPUT_BYTES."""
    with open(path, "rb") as f:
        data = f.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise OSError(errno.EFBIG, f"more than {MAX_INPUT_BYTES >> 20} MiB, not an input file")
    return data


TOO_DEEP = "arrays or tables nested too deeply to read; valid: a few levels"
"""The error of a document whose nesting exhausts the parser's recursion."""


def deep_line(text: str, limit: int = 50) -> int:
    """The first line of `text` where brackets or braces open deeper than `limit` (the
    place a too deeply nested document goes wrong), else its last line."""
    depth = 0
    lines = toml_lines(text)
    for i, ln in enumerate(lines, 1):
        for ch in _code(ln):
            depth += 1 if ch in "[{" else -1 if ch in "]}" else 0
            if depth > limit:
                return i
    return max(1, len(lines))


def syntax_error(e: tomllib.TOMLDecodeError, text: str) -> tuple[int, str]:
    """The line of a tomllib syntax error in `text` (at the end of the document: its last
    line that is not blank) and the message without tomllib's position, with the column
    where there is one."""
    msg = str(e)
    m = _TOML_POS.search(msg)
    bare = _TOML_POS.sub("", msg)
    if m is not None and m.group(1) is not None:
        return int(m.group(1)), f"{bare} (column {m.group(2)})"
    lines = toml_lines(text)
    last = max((i for i, ln in enumerate(lines, 1) if ln.strip()), default=1)
    return last, f"{bare} (at the end of the document)" if m is not None else bare


def read_toml(path: str | Path, error: type[Exception], what: str) -> tuple[dict[str, Any], str]:
    """The parsed document and its text; unreadable, non-UTF-8 or malformed files raise
    `error` with one line naming the file and the line (`what` completes the non-UTF-8
    message). A leading byte-order mark is skipped."""
    p = Path(path)
    try:
        data = read_input(p)
        text = data.decode("utf-8")
    except OSError as e:
        raise error(f"{p}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        bad = data.count(b"\n", 0, e.start) + 1
        raise error(f"{p}:{bad}: not UTF-8 text; {what}") from None
    text = text.removeprefix(BOM)
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as e:
        at, msg = syntax_error(e, text)
        raise error(f"{p}:{at}: {msg} (fix the TOML syntax)") from None
    except RecursionError:
        raise error(f"{p}:{deep_line(text)}: {TOO_DEEP}") from None
