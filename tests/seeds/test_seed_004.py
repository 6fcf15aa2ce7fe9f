"""Claims of seed 004 (../shared/seeds/004_db6820201c20accb.txt, Michael Kelley's review of
patch 16 of Piccoli's series, April 2022)."""

from __future__ import annotations

from panicpath.model.callback import INT_MIN
from tests.seeds.helpers import events, run


def test_hyperv_fb_runs_before_the_vmbus_unload_by_priority() -> None:
    """Seed 004: hyperv_fb 'relies in doing a vmbus operation that demands a valid
    connection', ordered by priority INT_MIN + 10 against hv_panic_vmbus_unload at
    INT_MIN + 1 (drivers/video/fbdev/hyperv_fb.c, drivers/hv/vmbus_drv.c, 6.1.192)."""
    r = run(hypervisor="hyperv", drivers=("hyperv-fb",))
    ev = events(r, "notifier")
    assert ev.index("hyperv-fb") < ev.index("hyperv-vmbus-unload")
    assert r.properties["fb-shows-panic"]


def test_hyperv_fb_after_the_unload_loses_the_framebuffer_update() -> None:
    """Seed 004: the notifier must run while the VMbus connection is alive. Placing it below
    the unload (INT_MIN) loses the update: nothing else changes."""
    r = run(hypervisor="hyperv", drivers=("hyperv-fb",),
            overrides=(("hyperv-fb", "panic_notifier_list", INT_MIN),))
    assert not r.properties["fb-shows-panic"]
    assert "hyperv-fb" in r.failed_callbacks


def test_hyperv_fb_skips_when_the_ring_lock_is_held() -> None:
    """Seed 004: 'It does, however, obtain a spin lock on the ring buffer'. 6.1.192 checks
    hv_ringbuffer_spinlock_busy() and returns: with the lock held by a stopped CPU the
    update is lost but the panic goes on."""
    r = run(hypervisor="hyperv", drivers=("hyperv-fb",), faults=("lock-held-by-stopped-cpu",))
    assert not r.properties["fb-shows-panic"]
    assert r.properties["vmcore-captured"]


def test_hyperv_reports_the_panic_once() -> None:
    """Seed 004 (the quoted code): 'Hyper-V should be notified only once about a panic. If we
    will be doing hv_kmsg_dump() with kmsg data later, don't do the notification here.'
    drivers/hv/hv_common.c hyperv_report_reg (6.1.192)."""
    r = run(hypervisor="hyperv")
    assert r.host_reports == ("hyperv-kmsg-page",)
    no_msg = run(hypervisor="hyperv", params=(("hyperv_record_panic_msg", "0"),))
    assert no_msg.host_reports == ("hyperv-crash-msr",)


def test_arm64_without_the_unload_notifier_cannot_reach_its_disk() -> None:
    """Seed 004, Kelley: 'ARM64 has no mechanism to provide such a custom function that will
    eventually do the needed vmbus_initiate_unload() before running kdump.' Removing the
    notifier (what patch 16's kexec_crash_loaded() test does when kdump is loaded) leaves
    arm64 with no unload at all."""
    arm = run(arch="arm64", hypervisor="hyperv", platform_drivers=False,
              drivers=("hyperv-report-panic", "hyperv-kmsg-dump", "hyperv-crash-shutdown"))
    assert not arm.properties["dump-target-reachable"]
    x86 = run(hypervisor="hyperv", platform_drivers=False,
              drivers=("hyperv-report-panic", "hyperv-kmsg-dump", "hyperv-crash-shutdown"))
    assert x86.properties["dump-target-reachable"]


def test_before_the_untangle_hyperv_fb_ran_after_the_unload() -> None:
    """Seed 004, patch 16 (c): 'we must order this notifier with the panic notifier from
    vmbus_drv.c'. Before d786e00d19f9 (v6.2) both notifiers had priority 0 and hyperv_fb
    registered later (at probe), so it ran after hyperv_panic_event had unloaded VMbus;
    Debian 6.1.192 carries the untangle and keeps the update."""
    old = run(policy="linux-5.18", hypervisor="hyperv", drivers=("hyperv-fb",))
    ev = events(old, "notifier")
    assert ev.index("hyperv-vmbus-unload") < ev.index("hyperv-fb")
    assert not old.properties["fb-shows-panic"]
    assert run(hypervisor="hyperv", drivers=("hyperv-fb",)).properties["fb-shows-panic"]


def test_old_hyperv_fb_spin_lock_can_deadlock_the_panic() -> None:
    """Seed 004, Kelley: 'It does, however, obtain a spin lock on the ring buffer ... I'm
    inclined to take the risk of blocking on that spin lock.' Before 1d044ca035dc (v6.2)
    the lock was taken unconditionally: held by a stopped CPU, it hangs the panic before
    kdump (post notifiers are forced on Hyper-V); 6.1.192's busy check skips instead."""
    old = run(policy="linux-5.18", hypervisor="hyperv", drivers=("hyperv-fb",),
              faults=("lock-held-by-stopped-cpu=vmbus-ring",))
    assert old.end == "hang" and not old.properties["vmcore-captured"]
    new = run(hypervisor="hyperv", drivers=("hyperv-fb",),
              faults=("lock-held-by-stopped-cpu=vmbus-ring",))
    assert new.properties["vmcore-captured"]
