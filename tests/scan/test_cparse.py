"""Tests for src/panicpath/scan/cparse.py: the repairing parse, node order, precompiled queries."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from tree_sitter import Parser

from panicpath.scan import cparse, scan_tree
from tests.scan.conftest import DATA

# arch/x86/kernel/reboot.c (6.1) shape: #ifdef inside a struct initialiser, which
# the grammar cannot place; the repairing parse blanks the directives.
MACHINE_OPS = b"""
struct machine_ops machine_ops __ro_after_init = {
\t.restart = native_machine_restart,
#ifdef CONFIG_KEXEC_CORE
\t.crash_shutdown = native_machine_crash_shutdown,
#endif
};

static int other(int a)
{
\tint x = {
#if A
\t\t1,
#else
\t\t2,
#endif
\t};
\treturn a + x;
}
"""


def _full_reparse(source: bytes) -> str:
    """What parse() returned before the incremental retry: a fresh parse of the repaired text."""
    parser = Parser(cparse._LANGUAGE)
    data = cparse.normalize(source)
    tree = parser.parse(data)
    if not tree.root_node.has_error:
        return str(tree.root_node)
    errors = cparse.error_nodes(tree.root_node)
    spans = [((n.parent or n).start_byte, (n.parent or n).end_byte) for n in errors
             if n.parent is not None and n.parent.type != "translation_unit"]
    repaired, blanked = cparse._blank_conditionals(data, spans)
    if not blanked:
        return str(tree.root_node)
    retry = parser.parse(repaired)
    better = len(cparse.error_nodes(retry.root_node)) < len(errors)
    return str((retry if better else tree).root_node)


def test_repair_places_the_ifdef_initialiser() -> None:
    tree = cparse.parse(MACHINE_OPS)
    assert not tree.root_node.has_error
    fields = [cparse.text(n) for n in cparse.walk(tree.root_node, frozenset({"field_designator"}))]
    assert ".crash_shutdown" in fields


def test_incremental_retry_equals_a_fresh_parse_on_the_fixtures() -> None:
    sources = [MACHINE_OPS] + [p.read_bytes() for p in sorted(DATA.iterdir())
                               if p.suffix in (".c", ".h")]
    for source in sources:
        assert str(cparse.parse(source).root_node) == _full_reparse(source)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([
    b"#ifdef A\n", b"#else\n", b"#endif\n", b"  # if B\n", b"\t.x = f,\n", b"int y = {\n",
    b"};\n", b"static void g(void) {\n", b"}\n", b"struct s v = {\n", b"1,\n", b"# elif C\n",
]), min_size=1, max_size=25))
def test_incremental_retry_equals_a_fresh_parse(lines: list[bytes]) -> None:
    source = b"".join(lines)
    assert str(cparse.parse(source).root_node) == _full_reparse(source)


def test_source_order_puts_the_outer_node_first() -> None:
    tree = cparse.parse(b"void f(void) { a(b(c))(d); x = y = z; }\n")
    calls = cparse.in_source_order(list(cparse.walk(tree.root_node,
                                                    frozenset({"call_expression"})))[::-1])
    texts = [cparse.text(n) for n in calls]
    assert texts == ["a(b(c))(d)", "a(b(c))", "b(c)"]
    nodes = list(cparse.walk(tree.root_node, frozenset({"assignment_expression"})))
    assert [cparse.text(n) for n in cparse.in_source_order(nodes[::-1])] == ["x = y = z", "y = z"]


def test_a_scan_compiles_no_query_outside_walked_types(tmp_path: Path) -> None:
    cparse._QUERIES.clear()
    scan_tree(DATA, jobs=1, use_cache=False)
    used = set(cparse._QUERIES)
    assert used, "the scan compiled nothing: the check below would be vacuous"
    assert used <= set(cparse.WALKED_TYPES), sorted(map(sorted, used - set(cparse.WALKED_TYPES)))


def test_walk_ignores_node_types_the_grammar_lacks() -> None:
    """A query over a type set with an unknown type still finds the known ones; one with
    only unknown types finds nothing (instead of failing)."""
    from panicpath.scan import cparse

    root = cparse.parse(b"void f(void) { g(1); h(2); }\n").root_node
    calls = [cparse.text(n) for n in cparse.walk(root, frozenset({"call_expression",
                                                                   "no_such_node"}))]
    assert calls == ["g(1)", "h(2)"]
    assert list(cparse.walk(root, frozenset({"no_such_node"}))) == []


def test_retry_with_errors_left_equals_a_fresh_parse() -> None:
    """The example hypothesis found: reusing the first parse's nodes recovered from
    the error left after the repair differently from a fresh parse."""
    source = b"#ifdef A\n\t.x = f,\n# elif C\nstatic void g(void) {\n"
    assert str(cparse.parse(source).root_node) == _full_reparse(source)
