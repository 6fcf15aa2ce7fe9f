"""Every registration shape in tests/data/scan is found with exact callback, line and priority."""

from __future__ import annotations

from pathlib import Path

import pytest

from panicpath.scan import ScanResult
from panicpath.scan.results import Callback

INT_MAX = 2**31 - 1
INT_MIN = -(2**31)


def _one(result: ScanResult, callback: str) -> Callback:
    found = [c for c in result.callbacks if c.callback == callback]
    assert len(found) == 1, (callback, found)
    return found[0]


@pytest.mark.parametrize(
    ("callback", "file", "line", "priority", "expr"),
    [
        ("sb_panic_notify", "static_block.c", 24, INT_MAX, "INT_MAX"),
        ("rf_on_panic", "runtime_fill.c", 26, INT_MIN + 10, "INT_MIN + 10"),
        ("lp_define_cb", "local_prio.c", 44, INT_MIN + 1, "LP_PRIO"),
        ("lp_enum_cb", "local_prio.c", 45, 110, "LP_HIGH"),
        ("lp_opaque_cb", "local_prio.c", 46, None, "lp_runtime_priority()"),
        ("wh_cb", "wrapper_head.c", 27, 42, "42"),
        ("al_cb", "alias_list.c", 17, 7, "7"),
        ("al_local_cb", "alias_list.c", 18, 0, ""),
        ("hw_cb", "header_wrapper.c", 27, -5, "-5"),
        ("hw_macro_cb", "header_wrapper.c", 28, 3, "3"),
        ("ft_panic", "features.c", 58, 1, "1"),
        ("mf_cb", "malformed.c", 17, 5, "5"),
    ],
)
def test_panic_notifier_shapes(fixture_scan: ScanResult, callback: str, file: str, line: int,
                               priority: int | None, expr: str) -> None:
    cb = _one(fixture_scan, callback)
    assert (cb.list, cb.file, cb.line, cb.priority, cb.priority_expr) == (
        "panic_notifier_list", file, line, priority, expr)


def test_grep_for_the_list_name_misses_the_alias(fixture_scan: ScanResult) -> None:
    data = (__import__("pathlib").Path(__file__).parents[1] / "data/scan/alias_list.c").read_bytes()
    assert b"panic_notifier_list" not in data
    assert _one(fixture_scan, "al_cb").via == "atomic_notifier_chain_register(&AL_PANIC_CHAIN, &al_nb)"


def test_wrapper_with_other_list_is_not_a_panic_registration(fixture_scan: ScanResult) -> None:
    # wrapper_head.c line 26 passes &reboot_list through the same wrapper.
    assert not [c for c in fixture_scan.callbacks if c.file == "wrapper_head.c" and c.line == 26]
    # the wrapper's own body (line 21) registers a parameter: reported at callers only.
    assert not [c for c in fixture_scan.callbacks if c.file == "wrapper_head.c" and c.line == 21]


def test_header_helpers_are_reported_at_call_sites_not_in_header(fixture_scan: ScanResult) -> None:
    assert not [c for c in fixture_scan.callbacks if c.file.endswith(".h")]


def test_kmsg_dumpers_with_max_reason(fixture_scan: ScanResult) -> None:
    static = _one(fixture_scan, "km_dump")
    runtime = _one(fixture_scan, "km_rt_dump")
    assert (static.list, static.line, static.max_reason, static.priority) == (
        "kmsg_dumper", 25, "KMSG_DUMP_PANIC (1)", None)
    assert (runtime.list, runtime.line, runtime.max_reason) == (
        "kmsg_dumper", 28, "KMSG_DUMP_OOPS (2)")


def test_crash_shutdown_hooks(fixture_scan: ScanResult) -> None:
    crash = {(c.callback, c.line) for c in fixture_scan.callbacks if c.list == "crash_shutdown"}
    assert crash == {
        ("native_machine_crash_shutdown", 19),  # struct machine_ops initialiser inside #ifdef
        ("machine_crash_shutdown", 23),  # the arch definition
        ("cr_stop_watchdogs", 30),  # crash_shutdown_register
        ("cr_ops_shutdown", 32),  # machine_ops.crash_shutdown = ...
    }


def test_post_notifiers_writers_with_guards(fixture_scan: ScanResult) -> None:
    got = [(w.file, w.line, w.function, w.condition, w.value)
           for w in fixture_scan.post_notifiers_writers]
    assert got == [
        ("writers.c", 12, "wr_setup", "wr_supported && wr_mode == 2 && wr_features & WR_CRASH_MSR",
         "true"),
        ("writers.c", 15, "wr_setup", "wr_supported && !(wr_mode == 2)", "false"),
        ("writers.c", 22, "wr_force", "", "1"),
    ]


def test_unregistrations_reported_separately(fixture_scan: ScanResult) -> None:
    got = {(u.list, u.file, u.line, u.callback) for u in fixture_scan.unregistrations}
    assert got == {
        ("crash_shutdown", "crash.c", 38, "cr_stop_watchdogs"),
        ("kmsg_dumper", "kmsg.c", 33, "km_dump"),
        ("panic_notifier_list", "runtime_fill.c", 33, "rf_on_panic"),
        ("panic_notifier_list", "static_block.c", 30, "sb_panic_notify"),
    }
    assert not [c for c in fixture_scan.callbacks if "unregister" in c.via]


def test_run_order(fixture_scan: ScanResult) -> None:
    lists = [c.list for c in fixture_scan.callbacks]
    assert lists == sorted(lists, key=["panic_notifier_list", "kmsg_dumper",
                                       "crash_shutdown"].index)
    prios = [c.priority for c in fixture_scan.callbacks
             if c.list == "panic_notifier_list" and c.priority is not None]
    assert prios == sorted(prios, reverse=True)
    assert fixture_scan.callbacks[0].callback == "sb_panic_notify"


def test_panic_head_macros_follow_alias_chains_only() -> None:
    """Aliases of the head, directly, through parentheses and &, and through another
    macro (in either order of definition); a macro that only mentions the head in a
    larger expression, or an alias of some other list, is not one."""
    from panicpath.scan import cparse
    from panicpath.scan.registrations import panic_head_macros
    from panicpath.scan.unit import SourceFile, build_unit

    source = b"""#define SECOND FIRST
#define FIRST panic_notifier_list
#define WRAPPED (&panic_notifier_list)
#define CALL foo(panic_notifier_list)
#define OTHER reboot_notifier_list
#define PLAIN 42
#define HEADS_UP panic_notifier_list_extra
"""
    unit = build_unit(SourceFile("m.h", cparse.parse(source)), [])
    assert sorted(panic_head_macros(unit)) == ["FIRST", "SECOND", "WRAPPED"]


def test_wrapper_found_in_a_file_that_starts_with_blank_lines(tmp_path: Path) -> None:
    """Wrapper bodies are searched in place in the file's bytes; the tree's root starts
    after leading blanks, which must not shift the offsets."""
    from panicpath.scan import scan_tree

    (tmp_path / "w.c").write_bytes(b"\n" * 200 + b"""static int my_reg(struct notifier_block *nb)
{
\treturn atomic_notifier_chain_register(&panic_notifier_list, nb);
}

static int w_cb(struct notifier_block *nb, unsigned long e, void *p)
{
\treturn 0;
}

static struct notifier_block w_nb = { .notifier_call = w_cb, .priority = 9 };

static int __init w_init(void)
{
\treturn my_reg(&w_nb);
}
""")
    result = scan_tree(tmp_path, jobs=1)
    assert [(c.callback, c.priority, c.line) for c in result.callbacks] == [("w_cb", 9, 215)]
