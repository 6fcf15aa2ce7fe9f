"""Guests restored from a QEMU snapshot (panicpath.lab.snapshot, runner, harness).

The pure parts (key, run-time settings, console lines, the store's files) are
tested without QEMU; the real-QEMU tests check that a restored run observes what
a booted run of the same scenario observes, that one snapshot serves scenarios
that differ only in what the kernel lets a running system change
(crash_kexec_post_notifiers: kernel/panic.c core_param(..., 0644), 6.1), and that
a snapshot that cannot be restored is replaced by booting.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from panicpath.lab.conformance import conformance, find_predictor
from panicpath.lab.kernels import KernelFiles
from panicpath.lab.runner import LabRun, Prepared, prepare, run_prepared_async
from panicpath.lab.scenario import builtin_scenarios_dir, load_scenario, parse_scenario
from panicpath.lab.snapshot import (
    B64_LINE,
    SnapshotStore,
    go_lines,
    runtime_settings,
    snapshot_key,
)

#: N_TTY_BUF_SIZE (include/linux/tty.h, 6.1): a canonical-mode line longer than
#: this is cut by the guest's tty.
N_TTY_BUF_SIZE = 4096


# ---------------------------------------------------------------- pure parts

def _argv(tmp_path: Path, sock: str = "a/qmp.sock", action: str = "shutdown",
          append: str = "console=ttyS0 lab.wait=1", smp: str = "2") -> list[str]:
    kernel, initrd = tmp_path / "vmlinuz", tmp_path / "initrd"
    for f in (kernel, initrd):
        if not f.exists():
            f.write_bytes(b"x" * 100)
    return ["qemu-system-x86_64", "-accel", "tcg", "-smp", smp, "-kernel", str(kernel),
            "-initrd", str(initrd), "-append", append, "-action", f"panic={action}",
            "-qmp", f"unix:{sock},server=on,wait=on"]


def test_snapshot_key_leaves_out_qmp_socket_and_panic_action(tmp_path: Path) -> None:
    k = snapshot_key(_argv(tmp_path), "QEMU 7.2")
    assert snapshot_key(_argv(tmp_path, sock="b/qmp.sock", action="none"), "QEMU 7.2") == k


def test_snapshot_key_changes_with_guest_state(tmp_path: Path) -> None:
    k = snapshot_key(_argv(tmp_path), "QEMU 7.2")
    others = {
        snapshot_key(_argv(tmp_path, append="console=ttyS0 lab.wait=1 quiet"), "QEMU 7.2"),
        snapshot_key(_argv(tmp_path, smp="3"), "QEMU 7.2"),
        snapshot_key(_argv(tmp_path), "QEMU 8.0"),
    }
    assert k not in others and len(others) == 3
    # the initrd rebuilt (new size or mtime): a new key
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"y" * 101)
    assert snapshot_key(_argv(tmp_path), "QEMU 7.2") != k
    st = initrd.stat()
    k2 = snapshot_key(_argv(tmp_path), "QEMU 7.2")
    os.utime(initrd, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert snapshot_key(_argv(tmp_path), "QEMU 7.2") != k2


def test_runtime_settings_of_a_scenario() -> None:
    s = parse_scenario('name = "x"\n[boot]\ncrash_kexec_post_notifiers = true\npanic = 5\n'
                       'panic_print = 6\n[trigger]\nkind = "nmi"\n', Path("x.toml"))
    r = runtime_settings(s)
    assert (r.post_notifiers, r.panic_print, r.panic_timeout, r.unknown_nmi_panic, r.trigger) == (
        True, 6, 5, True, "nmi")
    d = runtime_settings(parse_scenario('name = "y"\n', Path("y.toml")))
    assert (d.post_notifiers, d.panic_print, d.panic_timeout, d.unknown_nmi_panic, d.trigger) == (
        False, 0, 0, False, "sysrq")


def test_go_lines_without_probe() -> None:
    s = parse_scenario('name = "x"\n[boot]\npanic_print = 0x7f\npanic = -1\n', Path("x.toml"))
    assert go_lines(runtime_settings(s), None) == (
        "GO post=0 print=127 panic=-1 nmi=0 trigger=sysrq probe=0",)


def test_go_lines_carry_the_probe_gzipped_in_short_base64_lines() -> None:
    s = parse_scenario('name = "x"\n[boot]\ncrash_kexec_post_notifiers = true\n',
                       Path("x.toml"))
    probe = os.urandom(20_000)  # incompressible: many lines
    go, *chunks = go_lines(runtime_settings(s), probe)
    fields = dict(kv.split("=", 1) for kv in go.split()[1:])
    assert go.split()[0] == "GO" and fields["post"] == "1" and fields["trigger"] == "sysrq"
    assert int(fields["probe"]) == len(chunks) > 1
    assert fields["md5"] == hashlib.md5(probe).hexdigest()
    assert all(0 < len(c) <= B64_LINE for c in chunks)
    assert len(go) < N_TTY_BUF_SIZE
    assert gzip.decompress(base64.b64decode("".join(chunks))) == probe


def _image(path: Path, data: bytes = b"QFI\xfb snapshot") -> Path:
    path.write_bytes(data)
    return path


def test_store_commit_once_and_boot_lines(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snapshots" / "k")
    store.root.mkdir(parents=True)
    assert not store.ready()
    lines = ((0.5, "Linux version 6.1"), (4.25, "LABMARK WAITING"))
    assert store.commit(_image(store.root / "new-1.qcow2"), lines, {"qemu": "7.2"})
    assert store.ready() and store.boot_lines() == lines
    # a second run that also saved one does not replace it
    assert not store.commit(_image(store.root / "new-2.qcow2", b"other"), (), {})
    assert store.master.read_bytes() == b"QFI\xfb snapshot"
    assert store.boot_lines() == lines


def test_store_slots_master_then_copies_and_invalidate(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "k")
    store.root.mkdir()
    new = _image(store.root / "new.qcow2")
    store.commit(new, ((0.0, "x"),), {})
    new.unlink()  # as the runner does: the master is a hard link
    with store.slot() as a, store.slot() as b:
        assert a == store.master
        assert b == store.root / "slot-1.qcow2" and b.read_bytes() == store.master.read_bytes()
    with store.slot() as again:  # released: slot 0 again
        assert again == store.master
    store.invalidate()
    assert not store.ready() and not list(store.root.glob("*.qcow2"))


def test_prepare_shares_a_snapshot_between_run_time_settings(lab_kernel: KernelFiles,
                                                             tmp_path: Path) -> None:
    d = builtin_scenarios_dir()
    a = prepare(load_scenario(d / "kdump_post_notifiers_order.toml"), tmp_path / "a",
                cache=tmp_path)
    b = prepare(load_scenario(d / "kdump_no_post_notifiers.toml"), tmp_path / "b",
                cache=tmp_path)
    c = prepare(load_scenario(d / "nmi_ramoops.toml"), tmp_path / "c", cache=tmp_path)
    assert a.snapshot and b.snapshot and c.snapshot
    # post notifiers and the probe differ: same snapshot; ramoops' memmap= differs: another
    assert a.snapshot.store == b.snapshot.store != c.snapshot.store
    append = a.snapshot.cmd[a.snapshot.cmd.index("-append") + 1].split()
    assert "lab.wait=1" in append and not [p for p in append if p.startswith("lab.probe")]
    assert a.snapshot.go_lines[0].startswith("GO post=1 ")
    assert b.snapshot.go_lines[0].startswith("GO post=0 ")
    assert prepare(load_scenario(d / "kdump_no_post_notifiers.toml"), tmp_path / "n",
                   snapshot=False).snapshot is None


# ---------------------------------------------------------------- real QEMU

async def _gather(preps: list[Prepared]) -> list[LabRun]:
    return list(await asyncio.gather(*(run_prepared_async(p) for p in preps)))


def _runtime_line(run: LabRun) -> str:
    lines = [x for x in run.result.log_path.read_text().splitlines() if "LABINFO runtime" in x]
    assert len(lines) == 1, run.result.log_path
    return lines[0]


@pytest.mark.qemu
@pytest.mark.timeout(420)
def test_restored_runs_observe_what_booted_runs_observe(lab_kernel: KernelFiles,
                                                        tmp_path: Path) -> None:
    d = builtin_scenarios_dir()
    order = load_scenario(d / "kdump_post_notifiers_order.toml")
    none = load_scenario(d / "kdump_no_post_notifiers.toml")
    cache = tmp_path / "cache"
    # booted (--no-snapshot) runs of both, and the first snapshot run (boots and saves)
    booted = asyncio.run(_gather([prepare(order, tmp_path / "order-boot", snapshot=False),
                                  prepare(none, tmp_path / "none-boot", snapshot=False)]))
    saved = asyncio.run(run_prepared_async(prepare(order, tmp_path / "order-save",
                                                   cache=cache)))
    # both restored from that one snapshot, side by side (slot 0 and a copy)
    restored = asyncio.run(_gather([prepare(order, tmp_path / "order-restore", cache=cache),
                                    prepare(none, tmp_path / "none-restore", cache=cache)]))
    runs = [*booted, saved, *restored]
    for r in runs:
        assert r.result.ok, r.result.summary()
    assert [r.result.snapshot for r in runs] == ["none", "none", "saved", "restored", "restored"]
    # the same observation, callbacks first for a readable failure
    for a, b in ((booted[0], saved), (booted[0], restored[0]), (booted[1], restored[1])):
        assert a.observation.callbacks == b.observation.callbacks
        assert a.observation == b.observation
    assert [c.name for c in restored[0].observation.callbacks] == [
        "high", "dump-kernel-offset", "second", "first", "low", "dump"]
    assert restored[1].observation.callbacks == ()
    # the settings reached the restored kernel through the console (the two scenarios
    # differ in post notifiers and panic_print: 0x10 and 0x4)
    assert (order.panic_print, none.panic_print) == (0x10, 0x4)
    assert "post=Y print=16 panic=0 nmi=0 trigger=sysrq probe=1" in _runtime_line(restored[0])
    assert "post=N print=4 panic=0 nmi=0 trigger=sysrq probe=1" in _runtime_line(restored[1])
    predictor = find_predictor()
    if predictor is not None:
        for r in runs:
            conf = conformance(r.scenario, r.observation, predictor)
            assert conf.agree, (r.scenario.name, r.result.snapshot,
                                [str(x) for x in conf.differences])


@pytest.mark.qemu
@pytest.mark.timeout(300)
def test_snapshot_that_cannot_be_restored_is_replaced(lab_kernel: KernelFiles,
                                                      tmp_path: Path) -> None:
    s = load_scenario(builtin_scenarios_dir() / "kdump_no_post_notifiers.toml")
    cache = tmp_path / "cache"
    first = asyncio.run(run_prepared_async(prepare(s, tmp_path / "first", cache=cache)))
    assert (first.result.ok, first.result.snapshot) == (True, "saved"), first.result.summary()
    prep = prepare(s, tmp_path / "second", cache=cache)
    assert prep.snapshot is not None and prep.snapshot.store.ready()
    # the image loses its snapshot: -loadvm fails, QEMU exits
    subprocess.run(["qemu-img", "snapshot", "-d", "panicpath", str(prep.snapshot.store.master)],
                   check=True)
    second = asyncio.run(run_prepared_async(prep))
    assert (second.result.ok, second.result.snapshot) == (True, "saved"), second.result.summary()
    # QEMU's own words are in the failed run's log and its detail
    failed = (tmp_path / "second" / "restore-failed.log").read_text()
    assert "Snapshot 'panicpath'" in failed and "QEMU said:" in failed
    assert second.observation == first.observation
    third = asyncio.run(run_prepared_async(prepare(s, tmp_path / "third", cache=cache)))
    assert (third.result.ok, third.result.snapshot) == (True, "restored")
