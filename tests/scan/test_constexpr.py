"""Constant evaluation of priorities and loop bounds follows C integer semantics."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from panicpath.scan.constexpr import Env, evaluate_text, parse_int_literal


def test_kernel_constants_and_defines() -> None:
    env = Env(macros={"BASE": "(INT_MIN + 1)", "P": "BASE + 9", "LOOPS": "(100000 / 10)"},
              enums={"E_TWO": 2})
    assert evaluate_text("INT_MAX", env) == 2**31 - 1
    assert evaluate_text("INT_MIN + 10", env) == -(2**31) + 10
    assert evaluate_text("P", env) == -(2**31) + 10
    assert evaluate_text("LOOPS", env) == 10000
    assert evaluate_text("E_TWO << 3", env) == 16
    assert evaluate_text("KMSG_DUMP_OOPS", env) == 2
    assert evaluate_text("(int)0x10UL", env) == 16
    assert evaluate_text("some_var + 1", env) is None
    assert evaluate_text("sizeof(int)", env) is None


def test_recursive_macro_does_not_loop() -> None:
    assert evaluate_text("A", Env(macros={"A": "B", "B": "A"})) is None


@given(st.integers(-(10**9), 10**9), st.integers(-(10**9), 10**9).filter(lambda b: b != 0))
def test_division_truncates_toward_zero(a: int, b: int) -> None:
    q = evaluate_text(f"({a}) / ({b})", Env())
    r = evaluate_text(f"({a}) % ({b})", Env())
    assert q is not None and r is not None
    assert q == int(a / b) if abs(a) < 2**52 else True
    assert q * b + r == a
    assert abs(r) < abs(b) and (r == 0 or (r > 0) == (a > 0))


@given(st.integers(0, 2**40))
def test_literals_round_trip(value: int) -> None:
    assert parse_int_literal(hex(value) + "UL") == value
    assert parse_int_literal(str(value)) == value
    assert parse_int_literal("0" + oct(value)[2:]) == value
