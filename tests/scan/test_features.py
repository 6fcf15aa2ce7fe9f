"""Risk features of callbacks: kinds, lines, lock names, loop arithmetic, bounded depth."""

from __future__ import annotations

import pytest

from panicpath.scan import ScanResult
from panicpath.scan.features import classify


def _features(result: ScanResult, callback: str) -> set[tuple[str, int, str]]:
    (cb,) = [c for c in result.callbacks if c.callback == callback]
    return {(f.kind, f.line, f.detail) for f in cb.features}


def test_every_feature_kind_with_line(fixture_scan: ScanResult) -> None:
    assert _features(fixture_scan, "ft_panic") == {
        ("poll", 31, "loop polling with mdelay() (100 iterations) [in ft_helper]"),
        ("spin", 32, "1000 ms: mdelay(FT_WAIT_MS) x 100 iterations [in ft_helper]"),
        ("mutex", 33, "ft_mutex: mutex_lock() [in ft_helper]"),
        ("lock", 39, "ft_lock: spin_lock()"),
        ("poll", 40, "loop polling with cpu_relax() (unbounded or unknown bound)"),
        ("ipi", 42, "smp_call_function(ft_ipi)"),
        ("hypercall", 43, "hv_do_hypercall(HVCALL_POST_MESSAGE)"),
        ("alloc", 44, "kmalloc(64)"),
        ("wait", 45, "wait_for_completion(&ft_done_cmp)"),
        ("print", 46, "ft: notifying"),
        ("notify-stop", 48, "return NOTIFY_STOP"),
    }


def test_walk_depth_is_bounded(fixture_scan: ScanResult) -> None:
    # mdelay(7) at line 14 is four calls below ft_panic; the walk stops at three.
    assert not [f for f in _features(fixture_scan, "ft_panic") if f[1] == 14]


def test_trylock_versus_lock(fixture_scan: ScanResult) -> None:
    assert ("trylock", 10, "sb_lock: spin_trylock()") in _features(fixture_scan,
                                                                    "sb_panic_notify")
    assert ("lock", 14, "par->lock: spin_lock_irqsave()") in _features(fixture_scan,
                                                                        "rf_on_panic")


def test_known_external_callee_cited_at_registration(fixture_scan: ScanResult) -> None:
    feats = _features(fixture_scan, "native_machine_crash_shutdown")
    assert [(k, line) for k, line, _ in feats] == [("ipi", 19)]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("spin_lock_irqsave", "lock"), ("raw_spin_lock", "lock"), ("spin_trylock", "trylock"),
        ("spin_lock_init", None), ("spin_unlock", None), ("mutex_lock", "mutex"),
        ("mutex_is_locked", None), ("down", "mutex"), ("msleep", "sleep"), ("udelay", "spin"),
        ("on_each_cpu_mask", "ipi"), ("HYPERVISOR_sched_op", "hypercall"),
        ("vmbus_sendpacket", "vmbus"), ("iowrite32", "mmio"), ("outb", "mmio"),
        ("kzalloc", "alloc"), ("pr_emerg", "print"), ("dev_err", "print"), ("strlen", None),
    ],
)
def test_classify(name: str, kind: str | None) -> None:
    assert classify(name) == kind
