"""Scan Debian's linux-source-6.1 tarball and check the callbacks named in the seeds.

Expected values come from kernel-facts.md section 4-6 (each verified in the
6.1.192 tree): priorities of the Hyper-V, hyperv_fb, bcm_vk, pvpanic, x86 and
ipmi notifiers, the kmsg dumpers, the crash-shutdown hooks, and the two
in-tree writers of crash_kexec_post_notifiers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from panicpath.scan import ScanResult, scan_result_to_json, scan_to_user_callbacks, scan_tree

TARBALL = Path("/usr/src/linux-source-6.1.tar.xz")
INT_MAX = 2**31 - 1
INT_MIN = -(2**31)

pytestmark = [
    pytest.mark.kernel_tree,
    pytest.mark.skipif(not TARBALL.exists(), reason="linux-source-6.1 is not installed"),
    pytest.mark.timeout(300),
]


@pytest.fixture(scope="module")
def kernel() -> ScanResult:
    return scan_tree(TARBALL, jobs=2)


def _find(result: ScanResult, callback: str, file: str) -> list[tuple[str, int | None]]:
    return [(c.list, c.priority) for c in result.callbacks
            if c.callback == callback and c.file == file]


@pytest.mark.parametrize(
    ("callback", "file", "priority"),
    [
        ("hv_panic_vmbus_unload", "drivers/hv/vmbus_drv.c", INT_MIN + 1),
        ("hv_die_panic_notify_crash", "drivers/hv/hv_common.c", 0),
        ("hvfb_on_panic", "drivers/video/fbdev/hyperv_fb.c", INT_MIN + 10),
        ("bcm_vk_on_panic", "drivers/misc/bcm-vk/bcm_vk_dev.c", 0),
        ("pvpanic_panic_notify", "drivers/misc/pvpanic/pvpanic.c", INT_MAX),
        ("dump_kernel_offset", "arch/x86/kernel/setup.c", 0),
        ("panic_event", "drivers/char/ipmi/ipmi_msghandler.c", 200),
        ("trace_panic_handler", "kernel/trace/trace.c", 150),
        ("xen_panic_event", "arch/x86/xen/enlighten.c", INT_MIN),
        ("ppc_panic_fadump_handler", "arch/powerpc/kernel/setup-common.c", INT_MAX),
        ("panic_exit", "arch/um/kernel/um_arch.c", INT_MAX - 1),
        ("rcu_panic", "kernel/rcu/tree_stall.h", 0),  # registered in a header
    ],
)
def test_panic_notifiers(kernel: ScanResult, callback: str, file: str, priority: int) -> None:
    assert _find(kernel, callback, file) == [("panic_notifier_list", priority)]


def test_panic_notifier_count(kernel: ScanResult) -> None:
    # kernel-facts.md 6.2: about 46 register call sites on panic_notifier_list in 6.1.192.
    assert len([c for c in kernel.callbacks if c.list == "panic_notifier_list"]) == 46


@pytest.mark.parametrize(
    ("callback", "file", "max_reason"),
    [
        ("hv_kmsg_dump", "drivers/hv/hv_common.c", "unset"),
        ("pstore_dump", "fs/pstore/platform.c", "psinfo->max_reason"),
        ("mtdoops_do_dump", "drivers/mtd/mtdoops.c", "KMSG_DUMP_OOPS (2)"),
    ],
)
def test_kmsg_dumpers(kernel: ScanResult, callback: str, file: str, max_reason: str) -> None:
    found = [c for c in kernel.callbacks if c.callback == callback and c.file == file]
    assert [(c.list, c.max_reason) for c in found] == [("kmsg_dumper", max_reason)]


def test_crash_shutdown_hooks(kernel: ScanResult) -> None:
    crash = {(c.callback, c.file) for c in kernel.callbacks if c.list == "crash_shutdown"}
    assert crash >= {
        ("pseries_crash_stop_watchdogs", "arch/powerpc/platforms/pseries/setup.c"),
        ("crash_kexec_stop_spus", "arch/powerpc/platforms/cell/spu_base.c"),
        ("cbe_ptcal_crash_shutdown", "arch/powerpc/platforms/cell/ras.c"),
        ("ehea_crash_handler", "drivers/net/ethernet/ibm/ehea/ehea_main.c"),
        ("hv_machine_crash_shutdown", "arch/x86/kernel/cpu/mshyperv.c"),
        ("kvm_crash_shutdown", "arch/x86/kernel/kvm.c"),
        ("xen_hvm_crash_shutdown", "arch/x86/xen/enlighten_hvm.c"),
        ("xen_crash_shutdown", "arch/x86/xen/enlighten_pv.c"),
        ("native_machine_crash_shutdown", "arch/x86/kernel/reboot.c"),
        ("octeon_crash_shutdown", "arch/mips/cavium-octeon/setup.c"),
        ("machine_crash_shutdown", "arch/arm64/kernel/machine_kexec.c"),
        ("machine_crash_shutdown", "arch/x86/kernel/reboot.c"),
        ("machine_crash_shutdown", "arch/powerpc/kexec/core.c"),
        ("machine_crash_shutdown", "arch/s390/kernel/machine_kexec.c"),
    }


def test_post_notifiers_writers(kernel: ScanResult) -> None:
    writers = {(w.file, w.function, w.condition, w.value)
               for w in kernel.post_notifiers_writers if w.function}
    assert writers == {
        ("drivers/hv/hv_common.c", "hv_common_init",
         "ms_hyperv.misc_features & HV_FEATURE_GUEST_CRASH_MSR_AVAILABLE", "true"),
        ("arch/powerpc/kernel/fadump.c", "setup_fadump",
         "fw_dump.fadump_supported && fw_dump.fadump_enabled", "true"),
    }


def test_risk_features_of_seed_callbacks(kernel: ScanResult) -> None:
    users = {u["source"]: u for u in scan_to_user_callbacks(scan_result_to_json(kernel))}
    pvpanic = users["drivers/misc/pvpanic/pvpanic.c:176"]
    assert "trylock:pvpanic_lock" in pvpanic["needs"] and "mmio" in pvpanic["effects"]
    unload = users["drivers/hv/vmbus_drv.c:1383"]
    assert {"vmbus", "host"} <= set(unload["needs"])
    hvfb = users["drivers/video/fbdev/hyperv_fb.c:1221"]
    assert "vmbus" in hvfb["needs"]


def test_unregistrations_are_separate(kernel: ScanResult) -> None:
    unregs = {(u.list, u.callback) for u in kernel.unregistrations}
    assert ("panic_notifier_list", "hv_panic_vmbus_unload") in unregs
    assert ("kmsg_dumper", "hv_kmsg_dump") in unregs


def test_blanking_unneeded_bodies_changes_nothing(kernel: ScanResult,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole 6.1 tree scanned with every candidate file parsed whole gives the same
    callbacks, features, writers, unregistrations and errors (slicing.py)."""
    from panicpath.scan import slicing
    from panicpath.scan.jsonio import to_cache_dict

    monkeypatch.setattr(slicing, "plan", lambda data, *_args: (data, ()))
    whole = to_cache_dict(scan_tree(TARBALL, jobs=2, use_cache=False))
    sliced = to_cache_dict(kernel)
    for key in ("callbacks", "post_notifiers_writers", "unregistrations", "errors"):
        assert whole[key] == sliced[key], key
    assert whole["stats"]["files_parsed"] == sliced["stats"]["files_parsed"]
