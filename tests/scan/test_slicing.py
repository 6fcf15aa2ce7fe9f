"""Blanking unneeded bodies never changes what a scan finds, and keeps every offset and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from panicpath.scan import cparse, runner, scan_tree, slicing
from panicpath.scan.jsonio import to_cache_dict

from .conftest import DATA

SOURCE = b"""#include <linux/notifier.h>
#define WAIT_MS 5

static int helper3(void)
{
\treturn 3;
}

static int helper2(void)
{
\treturn helper3();
}

static int helper1(void)
{
\tmdelay(WAIT_MS);
\treturn helper2();
}

static int unrelated(int x)
{
\tspin_lock(&other_lock);
\treturn x + 1;
}

static int my_panic_cb(struct notifier_block *nb, unsigned long ev, void *p)
{
\treturn helper1();
}

static struct notifier_block my_nb = {
\t.notifier_call = my_panic_cb,
\t.priority = 3,
};

static int my_register(struct notifier_block *nb)
{
\treturn atomic_notifier_chain_register(&panic_notifier_list, nb);
}

static int __init my_init(void)
{
\tmy_nb.priority = WAIT_MS + 1;
\treturn my_register(&my_nb);
}
"""


def _body(data: bytes, name: bytes) -> bytes:
    start = data.index(b"\n{", data.index(name + b"(")) + 1
    return data[start:data.index(b"\n}", start) + 2]


def test_find_bodies_reads_kernel_style_blocks() -> None:
    bodies = slicing.find_bodies(SOURCE)
    names = [b[3] for b in bodies]
    assert names == [(b"helper3",), (b"helper2",), (b"helper1",), (b"unrelated",),
                     (b"my_panic_cb",), (b"my_register",), (b"my_init",)]
    params = {b[3][0]: b[4] for b in bodies}
    assert params[b"unrelated"] and params[b"my_register"] and not params[b"helper3"]
    for _sig, start, end, _names, _params in bodies:
        assert SOURCE[start:start + 1] == b"{" and SOURCE[end:end + 1] == b"}"


def test_unbalanced_or_nested_blocks_are_never_blanked() -> None:
    odd = b"""static void f(void)
{
#ifdef A
\tif (a) {
#else
\tif (b) {
#endif
\t\tg();
\t}
}
"""
    nested = b"""static void h(void)
{
\tint x;
{
\tx = 1;
}
}
"""
    assert slicing.find_bodies(odd) == []
    assert slicing.find_bodies(nested) == []


def test_plan_keeps_what_the_finders_read_and_blanks_the_rest() -> None:
    sliced, blanked = slicing.plan(SOURCE, frozenset(), [], depth=2)
    assert len(sliced) == len(SOURCE)
    assert [i for i, c in enumerate(sliced) if c == 10] == [i for i, c in enumerate(SOURCE)
                                                             if c == 10]
    for kept in (b"my_panic_cb", b"helper1", b"helper2", b"my_register", b"my_init"):
        assert _body(sliced, kept) == _body(SOURCE, kept), kept
    for gone in (b"helper3", b"unrelated"):  # helper3 is 3 calls deep, past depth 2
        assert _body(sliced, gone).strip(b"{} \n") == b"", gone
    assert len(blanked) == 2
    tree = cparse.parse(sliced)
    assert slicing.blocks_intact(tree.root_node, blanked)


def test_depth_follows_the_feature_walk() -> None:
    sliced, _ = slicing.plan(SOURCE, frozenset(), [], depth=3)
    assert _body(sliced, b"helper3") == _body(SOURCE, b"helper3")


def test_blocks_intact_rejects_a_range_that_is_not_a_block() -> None:
    tree = cparse.parse(SOURCE)
    start = SOURCE.index(b"\treturn 3;")
    assert not slicing.blocks_intact(tree.root_node, ((start, start + 5),))


def _scan(root: Path, monkeypatch: pytest.MonkeyPatch, plan: object | None) -> str:
    """The scan's findings as JSON, with ``slicing.plan`` replaced for this scan only."""
    with monkeypatch.context() as patch:
        if plan is not None:
            patch.setattr(slicing, "plan", plan)
        result = scan_tree(root, jobs=1, use_cache=False)
    found = to_cache_dict(result)
    return json.dumps([found["callbacks"], found["post_notifiers_writers"],
                       found["unregistrations"], found["errors"]], sort_keys=True)


def _no_slicing(data: bytes, *_args: object) -> tuple[bytes, tuple[tuple[int, int], ...]]:
    return data, ()


def test_fixtures_scan_the_same_with_and_without_slicing(monkeypatch: pytest.MonkeyPatch) -> None:
    sliced = _scan(DATA, monkeypatch, None)
    assert sliced == _scan(DATA, monkeypatch, _no_slicing)


def test_a_plan_that_misses_the_callbacks_falls_back_to_the_whole_file(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With no callback guessed, every callback body is blanked: the feature walk notices
    and those units are parsed whole, so the findings do not change."""
    fallbacks: list[str] = []
    analyse = runner._analyse

    def counting(rel: str, data: bytes, blanked: tuple[tuple[int, int], ...]) -> object:
        found = analyse(rel, data, blanked)
        if blanked and found is None:
            fallbacks.append(rel)
        return found

    plain = _scan(DATA, monkeypatch, _no_slicing)
    monkeypatch.setattr(runner, "_analyse", counting)
    monkeypatch.setattr(slicing, "_callback_guesses", lambda data, seeds: set())
    assert _scan(DATA, monkeypatch, None) == plain
    assert "features.c" in fallbacks


_CALLS = st.lists(st.integers(0, 7), max_size=3)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=st.lists(_CALLS, min_size=8, max_size=8), callback=st.integers(0, 7),
       risky=st.lists(st.sampled_from(["mdelay(10);", "spin_lock(&l);", "mutex_lock(&m);",
                                       "smp_call_function(f, 0, 1);", ""]), min_size=8,
                      max_size=8))
def test_random_call_graphs_scan_the_same_sliced(tmp_path_factory: pytest.TempPathFactory,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 calls: list[list[int]], callback: int,
                                                 risky: list[str]) -> None:
    """Whatever the call graph, the features of the callback (3 calls deep) are the same."""
    parts = []
    for i in range(8):
        body = "".join(f"\tfn{j}();\n" for j in calls[i]) + f"\t{risky[i]}\n"
        parts.append(f"static int fn{i}(void)\n{{\n{body}\treturn 0;\n}}\n")
    parts.append(f"static int cb(struct notifier_block *nb, unsigned long e, void *p)\n{{\n"
                 f"\treturn fn{callback}();\n}}\n")
    parts.append("static struct notifier_block nb = { .notifier_call = cb, .priority = 1 };\n")
    parts.append("static int __init reg(void)\n{\n"
                 "\treturn atomic_notifier_chain_register(&panic_notifier_list, &nb);\n}\n")
    root = tmp_path_factory.mktemp("graph")
    (root / "g.c").write_text("".join(parts))
    assert _scan(root, monkeypatch, None) == _scan(root, monkeypatch, _no_slicing)


def _nodes(tree: object) -> list[tuple[str, int, int, tuple[int, int]]]:
    root = tree.root_node  # type: ignore[attr-defined]
    return [(n.type, n.start_byte, n.end_byte, tuple(n.start_point)) for n in cparse.walk(root)]


@pytest.mark.parametrize("name", [*sorted(p.name for p in DATA.glob("*.c")), "SOURCE"])
def test_skipping_blank_blocks_gives_the_tree_of_reading_them(name: str) -> None:
    """cparse.parse(..., skip) tells tree-sitter not to read the blanked insides
    (included_ranges): every node, byte and line is what reading the blanks gives."""
    data = SOURCE if name == "SOURCE" else (DATA / name).read_bytes()
    sliced, blanked = slicing.plan(data, frozenset(), [], depth=1)
    assert _nodes(cparse.parse(sliced, blanked)) == _nodes(cparse.parse(sliced))


IN_BODY_MACRO = b"""static int mb_cb(struct notifier_block *nb, unsigned long e, void *p)
{
\treturn 0;
}

static struct notifier_block mb_nb = { .notifier_call = mb_cb, .priority = 4 };

static void mb_setup(void)
{
#define MB_REGISTER(n) atomic_notifier_chain_register(&panic_notifier_list, (n))
\tmb_ready = 1;
}

static int __init mb_init(void)
{
\tmb_setup();
\treturn MB_REGISTER(&mb_nb);
}
"""


def test_a_macro_wrapper_defined_inside_a_body_keeps_its_callers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """mb_init spells no scanned name, only a macro defined in another function's body
    that does: its body must not be blanked, or the registration would be lost."""
    sliced, _ = slicing.plan(IN_BODY_MACRO, frozenset(), [], depth=3)
    assert _body(sliced, b"mb_init") == _body(IN_BODY_MACRO, b"mb_init")
    (tmp_path / "mb.c").write_bytes(IN_BODY_MACRO)
    found = _scan(tmp_path, monkeypatch, None)
    assert '"mb_cb"' in found and found == _scan(tmp_path, monkeypatch, _no_slicing)


def test_signature_names_survive_a_trailing_comment() -> None:
    """A comment after the parameter list does not hide the function's name (a wrapper
    whose name is lost would leave its callers blanked)."""
    data = b"""/* kernel-doc: my_reg() - register(nb) */
static int my_reg(struct notifier_block *nb) /* wraps the chain */
{
\treturn atomic_notifier_chain_register(&panic_notifier_list, nb);
}
"""
    [body] = slicing.find_bodies(data)
    assert body[3] == (b"my_reg",) and body[4]
