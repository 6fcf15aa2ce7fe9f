"""Claims of seed 000 (../shared/seeds/000_53a1568bcf55ac04.txt, Piccoli's summary of the
2022 panic-notifier thread, quoting Baoquan He, Petr Mladek, Eric Biederman, Mark Rutland)."""

from __future__ import annotations

import pytest

from tests.seeds.helpers import POST, events, index, run


def test_kdump_is_not_first_without_a_crash_kernel() -> None:
    """Seed 000, Baoquan He: 'if kdump kernel is not loaded, it's not the first thing at all'.
    kernel/kexec_core.c __crash_kexec returns when kexec_crash_image is NULL, and
    kernel/panic.c goes on to stop CPUs, notifiers and kmsg_dump."""
    r = run(kdump=False, drivers=("pvpanic",), host_panic_action="none")
    assert r.ran_callbacks[:2] == ("pvpanic", "dump-kernel-offset")
    assert index(r, "__crash_kexec") < index(r, "pvpanic")
    assert r.properties["vmcore-captured"] and not r.applicable["vmcore-captured"]
    assert r.end == "halt-loop"


def test_kdump_is_not_first_with_post_notifiers() -> None:
    """Seed 000, Baoquan He: '... Not to mention if crash_kexec_post_notifiers is specified'.
    kernel/panic.c (6.1): with the option, __crash_kexec runs after notifiers and kmsg_dump."""
    r = run(drivers=("pvpanic",), params=POST)
    ev = events(r)
    assert ev.index("pvpanic") < ev.index("kmsg_dump") < ev.index("__crash_kexec")
    assert r.measures["callbacks-before-kdump"] == 2


def test_kdump_is_first_by_default_when_loaded() -> None:
    """Seed 000 (Mladek's solution 1 is the status quo): kdump first, no notifier before it."""
    r = run(drivers=("pvpanic", "bcm-vk"))
    assert r.ran_callbacks == ()
    assert r.measures["callbacks-before-kdump"] == 0
    assert r.properties["vmcore-captured"]


@pytest.mark.parametrize(("arch", "hv", "drivers"), [
    ("x86_64", "hyperv", ()), ("arm64", "hyperv", ()), ("powerpc", "none", ("fadump",)),
])
def test_hyperv_and_powerpc_force_post_notifiers(arch: str, hv: str,
                                                 drivers: tuple[str, ...]) -> None:
    """Seed 000: 'Hyper-V and PowerPC currently force this parameter to be enabled'.
    drivers/hv/hv_common.c hv_common_init and arch/powerpc/kernel/fadump.c setup_fadump set
    crash_kexec_post_notifiers (6.1.192): notifiers run before kdump without the parameter."""
    r = run(arch=arch, hypervisor=hv, drivers=drivers)
    assert "crash_kexec_post_notifiers on" in r.trace[[e.event for e in r.trace].index("panic")].effect
    assert r.measures["callbacks-before-kdump"] >= 1


def test_kdump_skips_driver_shutdown_so_devices_keep_running() -> None:
    """Seed 000, Piccoli: 'regular kexec invokes the drivers .shutdown() handlers, while kdump
    does not'. kernel/kexec_core.c __crash_kexec calls machine_crash_shutdown and
    machine_kexec, never device_shutdown(): a device doing DMA is still doing it when the
    capture kernel reads memory, unless a panic-path callback stopped it."""
    r = run(drivers=("bcm-vk",), faults=("dma-active",))
    assert "device_shutdown" not in events(r)
    assert not r.properties["vmcore-intact"]
    capture = next(e for e in r.trace if e.kind == "capture")
    assert "bcm-vk DMA still running" in capture.effect


@pytest.mark.parametrize("policy", ["linux-3.16", "linux-4.9", "linux-6.1", "linux-mainline"])
def test_corrupted_list_loses_kdump_only_where_notifiers_run_first(policy: str) -> None:
    """Seed 000, Eric Biederman: 'Any kind of notifier list is fundamentally fragile in the
    face of memory corruption'. kernel/notifier.c notifier_call_chain dereferences the
    corrupt node and oopses inside panic: kdump survives when it runs first."""
    first = run(policy=policy, faults=("corrupted-notifier-list",))
    assert first.properties["vmcore-captured"]
    after = run(policy=policy, faults=("corrupted-notifier-list",), params=POST)
    assert not after.properties["vmcore-captured"]
    assert after.end == "hang"


def test_crazy_callback_blocks_kdump_only_with_post_notifiers() -> None:
    """Seed 000, Piccoli (a): 'somebody eventually would slip a nonsense callback'. A notifier
    that never returns (no timeout on the chain, kernel/notifier.c) takes kdump with it."""
    assert run(faults=("hanging-callback",)).properties["vmcore-captured"]
    r = run(faults=("hanging-callback",), params=POST)
    assert not r.properties["vmcore-captured"] and not r.properties["path-bounded"]
