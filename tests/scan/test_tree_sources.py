"""`--tree` and `compare --baseline` on Debian's real kernel sources (``scan --source``'s
cached trees, scan/kernel_sources.py; marker ``sources``)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from panicpath.cli import main
from panicpath.lab.archive import LabSetupError
from panicpath.policies import policy_for_release
from panicpath.scan.kernel_sources import SERIES, ensure_source
from panicpath.scan.tree_model import load_tree

pytestmark = [pytest.mark.sources, pytest.mark.timeout(600)]

SPACE = ["--arch", "x86_64", "--arch", "arm64"]


def source(series: str) -> Path:
    try:
        return ensure_source(series)
    except LabSetupError as e:  # pragma: no cover - no archive and nothing cached
        pytest.fail(f"linux-source-{series}: {e}")


def ok_json(*args: str) -> Any:
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("series", SERIES)
def test_tree_is_the_derived_policy_file_plus_the_scanned_catalog(series: str,
                                                                  tmp_path: Path) -> None:
    """compare --tree SRC gives the compare --json of scan --policy-out's file plus the
    tree's scanned callbacks as a space file's [[callback]]s."""
    root = source(series)
    model = load_tree(root)
    # the cut trees hold the panic path's files only: what they register is every
    # architecture's own machine_crash_shutdown, which the architecture model runs
    assert model.left_out["architecture model"]
    assert all(m.arch == m.hypervisor == "" for m in model.callbacks)
    derived = tmp_path / "derived.toml"
    r = CliRunner().invoke(main, ["scan", str(root), "--policy-out", str(derived), "--json"])
    assert r.exit_code == 0, r.stderr
    space = tmp_path / "space.toml"
    space.write_text("".join(
        f"[[callback]]\nname = {json.dumps(m.callback['name'])}\nlist = "
        f"{json.dumps(m.callback['list'])}\npriority = {m.callback['priority']}\nneeds = "
        f"{json.dumps(m.callback['needs'])}\neffects = {json.dumps(m.callback['effects'])}\n"
        for m in model.callbacks))
    hand = policy_for_release(tuple(int(x) for x in series.split(".")))  # type: ignore[arg-type]
    name = model.policy().name
    args = ["--policy", hand.name, "--policy", name, *SPACE, "--json"]
    by_tree = ok_json("compare", "--tree", str(root), *args)
    by_file = ok_json("compare", "--policy-file", str(derived), "--space", str(space), *args)
    assert by_tree == by_file
    assert {r["policy"] for r in by_tree["results"]} == {hand.name, name}


def _patched_6_1(tmp_path: Path) -> Path:
    """Debian's 6.1.192 with __crash_kexec only after the notifier chain and kmsg_dump,
    always (docs/policy-files.md's example, as a patch to kernel/panic.c)."""
    tree = tmp_path / "linux-6.1-after"
    shutil.copytree(source("6.1"), tree)
    panic = tree / "kernel" / "panic.c"
    text = panic.read_text()
    new, n1 = re.subn(r"\n\tif \(!_crash_kexec_post_notifiers\)\n\t\t__crash_kexec\(NULL\);\n",
                      "\n", text)
    new, n2 = re.subn(r"\n\tif \(_crash_kexec_post_notifiers\)\n\t\t__crash_kexec\(NULL\);\n",
                      "\n\t__crash_kexec(NULL);\n", new)
    assert (n1, n2) == (1, 1)
    panic.write_text(new)
    return tree


def test_patch_review_against_linux_6_1_equals_the_hand_written_order(tmp_path: Path) -> None:
    """Issue 17's acceptance: a patched 6.1 panic.c reviewed against linux-6.1 fixes and
    breaks what a hand-written policy of that order does."""
    patched = _patched_6_1(tmp_path)
    by_tree = ok_json("compare", "--tree", str(patched), "--baseline", "linux-6.1", *SPACE,
                      "--json")["review"]
    dump = CliRunner().invoke(main, ["policies", "--dump", "linux-6.1"]).stdout
    program = ('program = [\n  { step = "panic_entry" },\n  { step = "panic_other_cpus_shutdown" },\n'
               '  { step = "notifier_chain" },\n  { step = "panic_print_sys_info" },\n'
               '  { step = "kmsg_dump" },\n  { step = "crash_kexec" },\n'
               '  { step = "console_flush_on_panic" },\n  { step = "panic_timeout" },\n]\n')
    hand = re.sub(r"(?ms)^program = \[.*?^\]\n", program, dump)
    hand = hand.replace('name = "linux-6.1"', 'name = "kdump-after-notifiers"')
    assert hand != dump
    f = tmp_path / "after.toml"
    f.write_text(hand)
    by_file = ok_json("compare", "--policy-file", str(f), "--baseline", "linux-6.1", *SPACE,
                      "--json")["review"]
    assert by_tree["configurations"] == by_file["configurations"] > 0
    assert by_tree["breaks"] > 0 and by_tree["fixes"] > 0
    for prop, got in by_tree["properties"].items():
        want = by_file["properties"][prop]
        for k in ("fixes", "breaks", "fixed", "broken"):
            assert got[k] == want[k], (prop, k)
        for k in ("smallest_fix", "smallest_break"):
            assert (got[k] is None) == (want[k] is None), (prop, k)
            if got[k] is not None:
                assert got[k]["config"] == want[k]["config"]
                assert got[k]["faults"] == want[k]["faults"]
    # what the model says this order costs (docs/policy-files.md): the vmcore is complete
    # less often, and a corrupted notifier list now loses it
    assert by_tree["properties"]["vmcore-complete"]["breaks"] > 0
    assert by_tree["properties"]["host-informed"]["fixes"] > 0
