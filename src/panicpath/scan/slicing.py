"""Blank the function bodies a unit cannot need before it is parsed.

Parsing and indexing cost in proportion to a file's size, but what the scanner
reports comes from few places: the statements that register, unregister or
write something, the initialisers and assignments that fill a notifier block or
a dumper, the preprocessor and enum definitions that constant expressions use,
the wrappers of registration calls, and the bodies of the callbacks and of the
same-file functions they call (to the feature walk's depth). kernel/trace/trace.c
(6.1) is 264 KB for one panic notifier.

Kernel style puts a function body's opening brace alone at column 0 and its
closing brace at column 0 (Documentation/process/coding-style.rst, section 3),
so bodies are found on bytes. Every body that does not spell one of the names,
field accesses or definitions above (:func:`word_positions`,
:func:`field_positions`, :func:`definition_positions`), is not a wrapper
candidate and is not reachable from a possible callback is replaced by spaces,
newlines kept, so every byte offset and line of what is left is unchanged; the
parser is then told not to read those blanks (cparse.parse's ``skip``).

The plan only has to be safe, not exact; the runner checks it after the parse
and parses the whole file instead when a check fails:

- every blanked range must be exactly a block of a top-level item in the
  parsed tree (:func:`blocks_intact`), so an unusual layout cannot cut a
  function in two;
- the feature walk must never enter a blanked body (a callback or callee the
  name guess missed): see ``Unit.blanked`` and features._walk_function.
"""

from __future__ import annotations

import re
from bisect import bisect_right

from tree_sitter import Node

from panicpath.scan import prefilter

_CALLED = re.compile(rb"([A-Za-z_]\w*)\s*\(")
_IDENT = re.compile(rb"[A-Za-z_]\w*")
_NO_PARAMS = re.compile(rb"\(\s*(?:void)?\s*\)\s*$")
_ENUM = re.compile(rb"enum\b[^;{}()]*\{")
_DIRECTIVE = re.compile(rb"#[ \t]*(?:define|undef|include)\b")
_FUNCTION_MACRO = re.compile(rb"#[ \t]*define[ \t]+([A-Za-z_]\w*)\(")
_OBJECT_MACRO = re.compile(rb"#[ \t]*define[ \t]+([A-Za-z_]\w*)[ \t]+([^\n]*)")

#: Struct fields the unit index records (unit.TRACKED_FIELDS), found as ``.f`` / ``->f``.
_FIELDS: tuple[bytes, ...] = (b"notifier_call", b"priority", b"dump", b"max_reason",
                              b"crash_shutdown")
#: Names whose mention keeps a body and makes it a wrapper candidate: the pre-filter's tokens.
_WORDS: tuple[bytes, ...] = tuple(dict.fromkeys((*prefilter.TOKENS, *prefilter.UNIT_TOKENS)))
#: Types of the objects registered: a positional ``struct notifier_block``
#: initialiser names no field. In a signature (a notifier callback's parameter)
#: they keep nothing.
_TYPES: frozenset[bytes] = frozenset({b"notifier_block", b"kmsg_dumper", b"machine_ops"})
_BLOCKS = frozenset({"compound_statement", "initializer_list", "field_declaration_list",
                     "enumerator_list"})
_BLANK = bytes(32 if i != 10 else 10 for i in range(256))
_WRAPPER_ROUNDS = 3  # registrations.find_wrappers looks three levels deep
_STATEMENT_SPAN = 2048

#: A body: (start of its signature, offset of ``{``, offset of ``}``, names
#: called in the signature, whether the signature can take parameters).
Body = tuple[int, int, int, tuple[bytes, ...], bool]


def find_bodies(data: bytes) -> list[Body]:
    """Brace blocks whose ``{`` and ``}`` sit alone at column 0, in file order.

    A block with another column-0 ``{`` line before its ``}``, or whose braces do
    not balance (``#ifdef`` branches that each open one, a misplaced ``}``), is
    skipped whole: it is never blanked. The signature is what follows the previous
    ``;``, ``}``, comment end or preprocessor line.
    """
    opens = _column0(data, b"{", True)
    if not opens:
        return []
    closes = _column0(data, b"}", False)
    out: list[Body] = []
    prev = 0
    for i, start in enumerate(opens):
        if start < prev:
            continue
        j = bisect_right(closes, start)
        if j == len(closes):
            break
        end = closes[j]
        if (i + 1 < len(opens) and opens[i + 1] < end) or \
                data.count(b"{", start + 1, end) != data.count(b"}", start + 1, end):
            prev = end + 1  # not a plain block (or braces in strings): leave it whole
            continue
        sig = max(data.rfind(b";", prev, start) + 1, data.rfind(b"}", prev, start) + 1,
                  _after_directive(data, prev, start), prev)
        comment = data.rfind(b"*/", sig, start)
        while comment >= 0 and data.find(b"(", comment, start) < 0:
            comment = data.rfind(b"*/", sig, comment)  # a comment after the ")": look before
        if comment >= 0:
            sig = comment + 2  # after the comment that precedes the signature
        names = tuple(dict.fromkeys(_CALLED.findall(data, sig, start)))
        params = _NO_PARAMS.search(data, sig, start) is None
        out.append((sig, start, end, names, params))
        prev = end + 1
    return out


def _after_directive(data: bytes, lo: int, hi: int) -> int:
    """Start of the line after the last preprocessor line in ``data[lo:hi]`` (or -1)."""
    pos = data.rfind(b"\n#", lo, hi)
    if pos < 0:
        return -1
    end = data.find(b"\n", pos + 1, hi)
    return end + 1 if end >= 0 else hi


def _column0(data: bytes, brace: bytes, alone: bool) -> list[int]:
    """Offsets of ``brace`` at the start of a line (``alone``: then only blanks to the end)."""
    found: list[int] = []
    needle = b"\n" + brace
    pos = 0 if data.startswith(brace) else data.find(needle)
    while pos >= 0:
        at = pos if data[pos:pos + 1] == brace else pos + 1
        if alone:
            nl = data.find(b"\n", at + 1)
            rest = data[at + 1:nl if nl >= 0 else len(data)]
            if not rest.strip(b" \t"):
                found.append(at)
        else:
            found.append(at)
        pos = data.find(needle, at + 1)
    return found


def word_positions(data: bytes, words: frozenset[bytes]) -> list[int]:
    """Offsets of every occurrence of ``words`` (substrings, as the pre-filter matches them)."""
    found: list[int] = []
    for word in words:
        pos = data.find(word)
        while pos >= 0:
            found.append(pos)
            pos = data.find(word, pos + 1)
    return found


def field_positions(data: bytes) -> list[int]:
    """Offsets of tracked field accesses (``.notifier_call``, ``->priority`` ...)."""
    found: list[int] = []
    for name in _FIELDS:
        pos = data.find(name)
        while pos >= 0:
            if _is_field_access(data, pos, len(name)):
                found.append(pos)
            pos = data.find(name, pos + 1)
    return found


def definition_positions(data: bytes) -> list[int]:
    """Offsets of ``#define``/``#undef``/``#include`` and enum definitions (the unit's
    constants and headers)."""
    found: list[int] = []
    pos = data.find(b"#")
    while pos >= 0:
        if _DIRECTIVE.match(data, pos):
            found.append(pos)
        pos = data.find(b"#", pos + 1)
    pos = data.find(b"enum")
    while pos >= 0:
        if (pos == 0 or not _is_ident_byte(data[pos - 1])) and _ENUM.match(data, pos):
            found.append(pos)
        pos = data.find(b"enum", pos + 4)
    return found


def _is_ident_byte(byte: int) -> bool:
    return byte == 95 or 48 <= byte <= 57 or 65 <= byte <= 90 or 97 <= byte <= 122


def _is_field_access(data: bytes, pos: int, size: int) -> bool:
    end = pos + size
    if end < len(data) and _is_ident_byte(data[end]):
        return False
    before = pos - 1
    while before >= 0 and data[before] in b" \t\r\n":
        before -= 1
    return before >= 0 and (data[before] == 46 or data[before - 1:before + 1] == b"->")


def plan(data: bytes, extra: frozenset[bytes], header_texts: list[bytes],
         depth: int) -> tuple[bytes, tuple[tuple[int, int], ...]]:
    """``data`` with the unneeded bodies blanked, and the (``{``, ``}``) offsets of each.

    ``extra`` are wrapper and alias names defined in candidate headers;
    ``header_texts`` the local headers of the unit (any function they call by
    name may be a wrapper); ``depth`` the feature walk's call depth.
    """
    bodies = find_bodies(data)
    if not bodies:
        return data, ()
    opens = [b[1] for b in bodies]
    words = set(_WORDS) | extra
    for text in header_texts:
        if any(word in text for word in words):
            words.update(_CALLED.findall(text))
    seeds = word_positions(data, frozenset(words))
    words = _macro_wrappers(data, seeds) - words
    if words:
        seeds += word_positions(data, frozenset(words))
    callers = {k for k in (_body_at(bodies, opens, pos) for pos in seeds) if k >= 0}
    seeds += _wrapper_calls(data, bodies, opens, callers)
    filled = [pos for pos in word_positions(data, _TYPES) if not _in_signature(bodies, opens, pos)]
    filled += field_positions(data)
    context = definition_positions(data) + filled
    needed = {k for k in (_body_at(bodies, opens, pos) for pos in context) if k >= 0} | callers
    needed |= _reachable(data, bodies, _callback_guesses(data, seeds + filled), depth)
    if len(needed) == len(bodies):
        return data, ()
    out = bytearray(data)
    blanked: list[tuple[int, int]] = []
    for k, (_sig, start, end, _names, _params) in enumerate(bodies):
        if k not in needed and end > start + 1:
            out[start + 1:end] = data[start + 1:end].translate(_BLANK)
            blanked.append((start, end))
    return bytes(out), tuple(blanked)


def _body_at(bodies: list[Body], opens: list[int], pos: int) -> int:
    """Index of the body whose signature or block holds ``pos``, or -1 (top level)."""
    k = bisect_right(opens, pos) - 1
    if k >= 0 and pos <= bodies[k][2]:
        return k
    if k + 1 < len(bodies) and pos >= bodies[k + 1][0]:
        return k + 1
    return -1


def _in_signature(bodies: list[Body], opens: list[int], pos: int) -> bool:
    k = _body_at(bodies, opens, pos)
    return k >= 0 and pos < bodies[k][1]


def _macro_wrappers(data: bytes, seeds: list[int]) -> set[bytes]:
    """Function-like macros whose definition spells a seed (at top level or inside a body):
    wrapper candidates whose callers must be kept like a wrapper function's."""
    names: set[bytes] = set()
    for pos in seeds:
        line = data.rfind(b"\n", 0, pos) + 1
        while line > 1 and data[line - 2:line] == b"\\\n":
            line = data.rfind(b"\n", 0, line - 2) + 1
        while line < pos and data[line] in b" \t":
            line += 1
        match = _FUNCTION_MACRO.match(data, line)
        if match:
            names.add(match.group(1))
    return names


def _wrapper_calls(data: bytes, bodies: list[Body], opens: list[int], kept: set[int]) -> list[int]:
    """Keep the bodies that call a kept body able to pass a parameter on (three levels, as
    registrations.find_wrappers); returns the offsets of those calls (``kept`` grows)."""
    known: set[bytes] = set()
    calls: list[int] = []
    for _ in range(_WRAPPER_ROUNDS):
        names = {n for k in kept if bodies[k][4] for n in bodies[k][3]} - known
        if not names:
            break
        known |= names
        added = False
        for name in names:
            pos = data.find(name)
            while pos >= 0:
                end = pos + len(name)
                if (pos == 0 or not _is_ident_byte(data[pos - 1])) and (
                        end >= len(data) or not _is_ident_byte(data[end])):
                    k = _body_at(bodies, opens, pos)
                    if k >= 0 and pos > bodies[k][1]:
                        calls.append(pos)
                        if k not in kept:
                            kept.add(k)
                            added = True
                pos = data.find(name, end)
        if not added:
            break
    return calls


def _callback_guesses(data: bytes, seeds: list[int]) -> set[bytes]:
    """Names that may be registered callbacks: identifiers of the statements around the seeds
    (``.notifier_call = f``, ``crash_shutdown_register(f)``, ``void machine_crash_shutdown(``),
    and of the object-like macros those name. A wrong guess keeps a body too many; a missed
    one is caught by the feature walk."""
    names: set[bytes] = set()
    for pos in seeds:
        floor = max(0, pos - _STATEMENT_SPAN)
        lo = max(data.rfind(b";", floor, pos), data.rfind(b"{", floor, pos), floor)
        hi = data.find(b";", pos, pos + _STATEMENT_SPAN)
        names.update(_IDENT.findall(data, lo, hi if hi >= 0 else pos + _STATEMENT_SPAN))
    for match in _OBJECT_MACRO.finditer(data):
        if match.group(1) in names:
            names.update(_IDENT.findall(match.group(2)))
    return names


def _reachable(data: bytes, bodies: list[Body], roots: set[bytes], depth: int) -> set[int]:
    """Bodies named in ``roots`` and the bodies they call, ``depth`` calls deep."""
    by_name: dict[bytes, list[int]] = {}
    for k, body in enumerate(bodies):
        for name in body[3]:
            by_name.setdefault(name, []).append(k)
    kept: set[int] = set()
    frontier = {k for name in roots for k in by_name.get(name, ())}
    for level in range(depth + 1):
        kept |= frontier
        if level == depth:
            break
        called = {n for k in frontier for n in _CALLED.findall(data, bodies[k][1], bodies[k][2])}
        frontier = {k for name in called for k in by_name.get(name, ())} - kept
    return kept


def blocks_intact(root: Node, blanked: tuple[tuple[int, int], ...]) -> bool:
    """Whether each blanked range is exactly the block of a top-level item in the tree."""
    for start, end in blanked:
        brace = root.descendant_for_byte_range(start, start + 1)
        block = brace.parent if brace is not None else None
        if block is None or block.type not in _BLOCKS or block.start_byte != start or \
                block.end_byte != end + 1:
            return False
        owner = block.parent
        if owner is None or owner.type == "ERROR" or _inside_function(
                owner if owner.type == "function_definition" else block):
            return False
    return True


def _inside_function(node: Node) -> bool:
    cur = node.parent
    while cur is not None:
        if cur.type == "function_definition":
            return True
        cur = cur.parent
    return False
