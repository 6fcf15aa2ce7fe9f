"""Evaluate C constant expressions (priorities, max_reason, loop bounds) to integers.

Identifiers are looked up in an :class:`Env` built from the file's ``#define``s,
its enum constants and those of its local headers, then in :data:`BUILTINS`,
the kernel-wide constants the panic path uses (include/vdso/limits.h for INT_MAX
/ INT_MIN, include/linux/kmsg_dump.h enum kmsg_dump_reason and
include/linux/notifier.h NOTIFY_* in 6.1). Anything else (sizeof, function
calls, variables) is not constant: the caller keeps the expression text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from tree_sitter import Node

from panicpath.scan import cparse

BUILTINS: Mapping[str, int] = {
    "INT_MAX": 2**31 - 1,
    "INT_MIN": -(2**31),
    "UINT_MAX": 2**32 - 1,
    "SHRT_MAX": 2**15 - 1,
    "SHRT_MIN": -(2**15),
    "LONG_MAX": 2**63 - 1,
    "LONG_MIN": -(2**63),
    "U8_MAX": 255,
    "S8_MAX": 127,
    "U16_MAX": 2**16 - 1,
    "S32_MAX": 2**31 - 1,
    "S32_MIN": -(2**31),
    "U32_MAX": 2**32 - 1,
    "KMSG_DUMP_UNDEF": 0,
    "KMSG_DUMP_PANIC": 1,
    "KMSG_DUMP_OOPS": 2,
    "KMSG_DUMP_EMERG": 3,
    "KMSG_DUMP_SHUTDOWN": 4,
    "KMSG_DUMP_MAX": 5,
    "NOTIFY_DONE": 0x0000,
    "NOTIFY_OK": 0x0001,
    "NOTIFY_STOP_MASK": 0x8000,
    "NOTIFY_BAD": 0x8002,
    "NOTIFY_STOP": 0x8001,
    "MSEC_PER_SEC": 1000,
    "USEC_PER_MSEC": 1000,
    "USEC_PER_SEC": 1000000,
    "NSEC_PER_USEC": 1000,
    "NSEC_PER_MSEC": 1000000,
    "true": 1,
    "false": 0,
    "NULL": 0,
}

_MAX_DEPTH = 24


@dataclass
class Env:
    """Names visible to a translation unit: macro bodies (parsed lazily) and enum values."""

    macros: dict[str, str] = field(default_factory=dict)
    enums: dict[str, int] = field(default_factory=dict)
    _parsed: dict[str, Node | None] = field(default_factory=dict)

    def macro_node(self, name: str) -> Node | None:
        """The expression node of an object-like macro's body, parsed once."""
        if name not in self._parsed:
            body = self.macros.get(name)
            self._parsed[name] = parse_expression(body) if body is not None else None
        return self._parsed[name]


def parse_expression(source: str) -> Node | None:
    """Parse a C expression given as text; None if it is not one expression."""
    wrapped = ("int __panicpath_x = (" + source + "\n);").encode("utf-8", "replace")
    root = cparse.parse(wrapped).root_node
    for node in cparse.walk(root, frozenset({"init_declarator"})):
        value = node.child_by_field_name("value")
        if value is not None and not value.has_error:
            return value
    return None


def parse_int_literal(literal: str) -> int | None:
    """C integer literal (decimal, hex, octal, binary, with U/L suffixes) to int."""
    body = literal.strip().rstrip("uUlL")
    try:
        if body.lower().startswith(("0x", "0b")):
            return int(body, 0)
        if len(body) > 1 and body.startswith("0"):
            return int(body, 8)
        return int(body, 10)
    except ValueError:
        return None


def _c_div(a: int, b: int) -> int | None:
    if b == 0:
        return None
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _c_mod(a: int, b: int) -> int | None:
    q = _c_div(a, b)
    return None if q is None else a - b * q


_BINARY: Mapping[str, Callable[[int, int], int | None]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": _c_div,
    "%": _c_mod,
    "<<": lambda a, b: a << b if 0 <= b < 128 else None,
    ">>": lambda a, b: a >> b if 0 <= b < 128 else None,
    "&": lambda a, b: a & b,
    "|": lambda a, b: a | b,
    "^": lambda a, b: a ^ b,
    "&&": lambda a, b: int(bool(a) and bool(b)),
    "||": lambda a, b: int(bool(a) or bool(b)),
    "==": lambda a, b: int(a == b),
    "!=": lambda a, b: int(a != b),
    "<": lambda a, b: int(a < b),
    "<=": lambda a, b: int(a <= b),
    ">": lambda a, b: int(a > b),
    ">=": lambda a, b: int(a >= b),
}


def evaluate(node: Node | None, env: Env, depth: int = 0) -> int | None:
    """Value of a constant expression node, or None if it is not constant here."""
    if node is None or depth > _MAX_DEPTH:
        return None
    kind = node.type
    if kind == "number_literal":
        return parse_int_literal(cparse.text(node))
    if kind in ("identifier", "true", "false", "null"):
        return _lookup(cparse.text(node), env, depth)
    if kind == "parenthesized_expression":
        inner = node.named_children[0] if node.named_child_count else None
        return evaluate(inner, env, depth + 1)
    if kind == "cast_expression":
        return evaluate(node.child_by_field_name("value"), env, depth + 1)
    if kind == "unary_expression":
        return _unary(node, env, depth)
    if kind == "binary_expression":
        op = node.child_by_field_name("operator")
        func = _BINARY.get(cparse.text(op))
        left = evaluate(node.child_by_field_name("left"), env, depth + 1)
        right = evaluate(node.child_by_field_name("right"), env, depth + 1)
        if func is None or left is None or right is None:
            return None
        return func(left, right)
    if kind == "conditional_expression":
        cond = evaluate(node.child_by_field_name("condition"), env, depth + 1)
        if cond is None:
            return None
        branch = "consequence" if cond else "alternative"
        return evaluate(node.child_by_field_name(branch), env, depth + 1)
    if kind == "char_literal":
        body = cparse.text(node)[1:-1]
        return ord(body) if len(body) == 1 else None
    return None


def _unary(node: Node, env: Env, depth: int) -> int | None:
    op = cparse.text(node.child_by_field_name("operator"))
    value = evaluate(node.child_by_field_name("argument"), env, depth + 1)
    if value is None:
        return None
    if op == "-":
        return -value
    if op == "+":
        return value
    if op == "~":
        return ~value
    if op == "!":
        return int(not value)
    return None


def _lookup(name: str, env: Env, depth: int) -> int | None:
    if name in env.enums:
        return env.enums[name]
    if name in env.macros:
        return evaluate(env.macro_node(name), env, depth + 1)
    return BUILTINS.get(name)


def evaluate_text(source: str, env: Env) -> int | None:
    """Value of a constant expression given as text."""
    return evaluate(parse_expression(source), env)
