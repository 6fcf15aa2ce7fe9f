"""The fast paths select and find exactly what the plain ones do.

- ripgrep (``sources.start_rg``), GNU grep (``sources.grep_filter``) and the
  in-process filter (``sources.filter_chunk``) pick the same files, also on
  files that trip up a naive ripgrep call (ignore files, hidden directories,
  NUL bytes, a UTF-16 byte-order mark, symlinks);
- the unit check (``prefilter.UNIT_TOKENS``) drops only files that cannot
  yield a finding, and never one whose registration goes through a header;
- the one-query node index and the error finder return what ``cparse.walk``
  returns;
- a scan without ripgrep gives the same result as one with it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from panicpath.scan import cparse, prefilter, scan_tree, sources
from panicpath.scan.jsonio import to_cache_dict

from .conftest import DATA

OTHER_CHAIN = b"void f(void) { raw_notifier_chain_register(&netdev_chain, &nb); }\n"
PANIC = b"void g(void) { atomic_notifier_chain_register(&panic_notifier_list, &nb); }\n"


def _tricky_tree(tmp_path: Path) -> Path:
    root = tmp_path / "linux"
    shutil.copytree(DATA, root)
    (root / ".gitignore").write_text("ignored.c\n*.h\n")
    (root / ".ignore").write_text("dot_ignored.c\n")
    (root / "ignored.c").write_bytes(PANIC)
    (root / "dot_ignored.c").write_bytes(PANIC)
    (root / ".hidden").mkdir()
    (root / ".hidden" / "h.c").write_bytes(PANIC)
    (root / "nul.c").write_bytes(b"\0\0binary\0" * 100 + PANIC)
    (root / "bom.c").write_bytes(b"\xff\xfe" + PANIC)
    (root / "bom8.c").write_bytes(b"\xef\xbb\xbf" + PANIC)
    (root / "asm.S").write_bytes(PANIC)
    (root / "plain.c").write_bytes(b"int x;\n")
    (root / "other_chain.c").write_bytes(OTHER_CHAIN)
    (root / "link.c").symlink_to("static_block.c")
    return root


def _python_filter(root: Path, files: list[str]) -> set[str]:
    matched, _, errors = sources.filter_chunk(str(root), files, frozenset())
    assert not errors
    return set(matched)


def test_grep_and_python_filters_agree(tmp_path: Path) -> None:
    root = _tricky_tree(tmp_path)
    files, links, _ = sources.walk_dir(root)
    assert links == ["link.c"]
    expected = _python_filter(root, files)
    assert {"nul.c", "bom.c", "bom8.c", "ignored.c", "dot_ignored.c", ".hidden/h.c",
            "alias_list.h", "other_chain.c"} <= expected
    assert "plain.c" not in expected and "asm.S" not in files
    grepped = sources.grep_filter(root, files, frozenset())
    assert grepped is not None and set(grepped) == expected


def test_ripgrep_and_python_filters_agree(tmp_path: Path) -> None:
    if shutil.which("rg") is None:
        pytest.skip("ripgrep is not installed (scripts/install-deps.sh installs it)")
    root = _tricky_tree(tmp_path)
    files, _, _ = sources.walk_dir(root)
    proc = sources.start_rg(root, 2)
    assert proc is not None
    found = sources.finish_rg(proc)
    assert found is not None
    # Symlinked files are not followed (the walk hands them to Python).
    assert "link.c" not in found
    assert found & set(files) == _python_filter(root, files)
    assert found <= set(files)


def test_scan_without_ripgrep_is_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _tricky_tree(tmp_path)
    with_rg = to_cache_dict(scan_tree(root, jobs=2))
    monkeypatch.setattr(sources, "start_rg", lambda root, jobs: None)
    without = to_cache_dict(scan_tree(root, jobs=2))
    for result in (with_rg, without):
        result["stats"].pop("seconds")
    assert json.dumps(with_rg, sort_keys=True) == json.dumps(without, sort_keys=True)
    found = {(c["file"], c["callback"]) for c in with_rg["callbacks"]}
    assert {"nul.c", "bom.c", "bom8.c", "ignored.c", ".hidden/h.c"} <= {f for f, _ in found}


def test_unit_check_drops_only_files_that_cannot_matter(tmp_path: Path) -> None:
    root = tmp_path / "t"
    (root / "sub").mkdir(parents=True)
    (root / "other_chain.c").write_bytes(b'#include "sub/c.h"\n' + OTHER_CHAIN)
    (root / "sub" / "c.h").write_bytes(b"#define NETDEV_CHAIN netdev_chain\n")
    # The list is named only two headers down: the file must still be parsed.
    (root / "deep.c").write_bytes(
        b'#include "sub/a.h"\nstatic struct notifier_block nb = { .notifier_call = deep_cb };\n'
        b"void f(void) { atomic_notifier_chain_register(&DEEP_HEAD, &nb); }\n")
    (root / "sub" / "a.h").write_bytes(b'#include "b.h"\n#define DEEP_HEAD B_HEAD\n')
    (root / "sub" / "b.h").write_bytes(b"#define B_HEAD panic_notifier_list\n")
    result = scan_tree(root)
    assert [(c.file, c.callback) for c in result.callbacks] == [("deep.c", "deep_cb")]
    # deep.c and sub/b.h are parsed; other_chain.c is dropped before parsing.
    assert result.stats.files_parsed == 2
    assert not prefilter.unit_may_matter([OTHER_CHAIN])
    assert prefilter.unit_may_matter([OTHER_CHAIN], frozenset({b"netdev_chain"}))


def test_unit_check_changes_nothing_but_the_parse_count(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    root = _tricky_tree(tmp_path)
    checked = to_cache_dict(scan_tree(root))
    monkeypatch.setattr(prefilter, "unit_may_matter", lambda texts, extra=frozenset(): True)
    unchecked = to_cache_dict(scan_tree(root))
    assert checked["stats"]["files_parsed"] < unchecked["stats"]["files_parsed"]
    for result in (checked, unchecked):
        result.pop("stats")
    assert checked == unchecked


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.iterdir() if p.suffix in (".c", ".h")))
def test_node_index_matches_walk(name: str) -> None:
    tree = cparse.parse((DATA / name).read_bytes())
    nodes = cparse.FileNodes(tree)
    for types in ({"ERROR"}, {"preproc_include"},
                  {"call_expression", "assignment_expression", "function_definition"},
                  {"preproc_def", "preproc_function_def", "enumerator_list", "function_definition",
                   "declaration", "assignment_expression"}):
        kinds = frozenset(types)
        expected = [(n.type, n.start_byte, n.end_byte) for n in cparse.walk(tree.root_node, kinds)]
        got = [(n.type, n.start_byte, n.end_byte) for n in nodes.select(kinds)]
        assert got == expected
    errors = [(n.start_byte, n.end_byte) for n in cparse.error_nodes(tree.root_node)]
    assert errors == [(n.start_byte, n.end_byte)
                      for n in cparse.walk(tree.root_node, frozenset({"ERROR"}))]
    if name == "malformed.c":
        assert errors
    with pytest.raises(ValueError, match="not indexed"):
        nodes.select(frozenset({"identifier"}))


def test_grouped_annotation_regex_matches_the_plain_one() -> None:
    tricky = (b"__init x__init __init_foo __initdata my__init _noinline noinline_x noinline\n"
              b"static int __init __cold f(void) __must_check; asmlinkage void __user *p; "
              b"__iomem__ ___init __ref __refdata __exit_call __exit notrace(noinstr)")
    samples = [tricky, *(p.read_bytes() for p in sorted(DATA.iterdir()) if p.is_file())]
    for data in samples:
        plain = cparse.ANNOTATION_WORDS_RE.sub(cparse._blank, data)
        assert cparse.normalize(data) == plain
    assert cparse.normalize(tricky) != tricky


GLOBAL_WRAPPER_H = b"""#include <linux/notifier.h>
#define MY_PANIC_LIST panic_notifier_list
static inline int my_panic_register(struct notifier_block *nb)
{
\treturn atomic_notifier_chain_register(&panic_notifier_list, nb);
}
"""
#: Spells no pre-filter token: found only through the wrapper name (third pass).
WRAPPER_USER_C = b"""#include <linux/my_panic.h>
static int a_cb(struct notifier_block *nb, unsigned long e, void *p) { return 0; }
static struct notifier_block a_nb = { .notifier_call = a_cb, .priority = 7 };
static int __init a_init(void)
{
\treturn my_panic_register(&a_nb);
}
"""
#: Spells notifier_chain_register (a pre-filter token) but no unit token: the
#: unit check drops it until the alias MY_PANIC_LIST is known.
ALIAS_USER_C = b"""#include <linux/my_panic.h>
static int b_cb(struct notifier_block *nb, unsigned long e, void *p) { return 0; }
static struct notifier_block b_nb = { .notifier_call = b_cb, .priority = -3 };
static int __init b_init(void)
{
\treturn atomic_notifier_chain_register(&MY_PANIC_LIST, &b_nb);
}
"""


def _global_wrapper_tree(tmp_path: Path) -> Path:
    root = tmp_path / "linux"
    for rel, data in (("include/linux/my_panic.h", GLOBAL_WRAPPER_H),
                      ("drivers/a/user.c", WRAPPER_USER_C),
                      ("drivers/b/alias.c", ALIAS_USER_C),
                      ("drivers/c/other.c", OTHER_CHAIN)):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


@pytest.mark.parametrize("jobs", [1, 2])
def test_wrappers_and_aliases_from_a_global_header(tmp_path: Path, jobs: int) -> None:
    """Wrappers and list aliases that a global header defines become extra tokens: the
    unit check keeps a unit that spells only the alias, and a third pass picks up the file
    that spells no pre-filter token at all. Tree and tarball scans, serial and parallel,
    find both registrations with the priorities of their blocks."""
    import tarfile

    root = _global_wrapper_tree(tmp_path)
    tarball = tmp_path / "linux.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(root, arcname="linux")
    for target in (root, tarball):
        result = scan_tree(target, jobs=jobs, use_cache=False)
        got = sorted((c.file, c.callback, c.priority) for c in result.callbacks)
        assert got == [("drivers/a/user.c", "a_cb", 7), ("drivers/b/alias.c", "b_cb", -3)], target
