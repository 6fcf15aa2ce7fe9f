"""Claims of seed 001 (../shared/seeds/001_6a6b582d9e6b633e.txt, "Should arm64 have a custom
crash shutdown handler?", Mark Rutland and Vitaly Kuznetsov, May 2022)."""

from __future__ import annotations

from panicpath.model.callback import Callback, parse_need
from tests.seeds.helpers import POST, events, run


def _ipi_hook() -> Callback:
    return Callback(name="needs-ipi", list="crash_shutdown", needs=(parse_need("ipi"),),
                    order=50)


def test_crash_shutdown_runs_on_the_crashing_cpu_and_cannot_rely_on_ipis() -> None:
    """Seed 001, Vitaly: 'machine_ops.crash_shutdown is called on the CPU which crashed. We
    can't count on IPIs still being functional'. arch/x86/kernel/reboot.c
    machine_crash_shutdown runs the override on the panic CPU; kernel/smp.c
    smp_call_function waits forever for an online CPU spinning with interrupts off."""
    ok = run(user_callbacks=(_ipi_hook(),))
    hook = next(e for e in ok.trace if e.event == "needs-ipi")
    assert hook.cpu == 0 and ok.properties["vmcore-captured"]
    deaf = run(user_callbacks=(_ipi_hook(),), faults=("ipi-deaf-cpu",))
    assert deaf.end == "hang"
    assert not deaf.properties["vmcore-captured"]


def test_host_may_take_minutes_to_answer_the_unload() -> None:
    """Seed 001, Vitaly: 'it was taking *minutes* for the host to reply'.
    drivers/hv/channel_mgmt.c vmbus_wait_for_unload gives up after 100 s: the path is 100 s
    long and the capture kernel meets a host still busy with the old connection."""
    r = run(hypervisor="hyperv", faults=("slow-host",))
    unload = next(e for e in r.trace if e.event == "hyperv-vmbus-unload")
    assert unload.t_ms == 100_000
    assert not r.properties["path-bounded"]
    assert not r.properties["dump-target-reachable"]
    fast = run(hypervisor="hyperv")
    assert fast.properties["path-bounded"] and fast.properties["dump-target-reachable"]


def test_arm64_has_no_crash_shutdown_hook() -> None:
    """Seed 001, Mark Rutland: arm64 has no custom machine_crash_shutdown.
    arch/arm64/kernel/machine_kexec.c machine_crash_shutdown (6.1) calls no driver code."""
    hook = Callback(name="my-hook", list="crash_shutdown", order=50)
    x86 = run(user_callbacks=(hook,))
    arm = run(arch="arm64", user_callbacks=(hook,))
    assert "my-hook" in x86.ran_callbacks
    assert "my-hook" not in arm.ran_callbacks


def test_unload_from_the_notifier_on_arm64_only_because_post_notifiers_are_forced() -> None:
    """Seeds 001/004: on arm64 the VMbus unload only happens before kdump through the panic
    notifier, which only runs first because Hyper-V forces post notifiers. Without the
    forcing driver (no crash MSRs), kdump goes first and the capture kernel cannot reach
    its VMbus disk; x86 still unloads from hv_machine_crash_shutdown."""
    drivers = ("hyperv-vmbus-unload", "hyperv-crash-shutdown")
    arm = run(arch="arm64", hypervisor="hyperv", platform_drivers=False, drivers=drivers)
    assert "hyperv-vmbus-unload" not in arm.ran_callbacks
    assert not arm.properties["dump-target-reachable"]
    x86 = run(hypervisor="hyperv", platform_drivers=False, drivers=drivers)
    assert x86.ran_callbacks == ("hyperv-crash-shutdown",)
    assert x86.properties["dump-target-reachable"]
    forced = run(arch="arm64", hypervisor="hyperv")
    assert forced.properties["dump-target-reachable"]


def test_x86_crash_handler_unloads_before_other_cpus_are_stopped() -> None:
    """kernel-facts 5 (x86): hv_machine_crash_shutdown runs hv_crash_handler before
    native_machine_crash_shutdown's NMI shootdown."""
    r = run(hypervisor="hyperv", platform_drivers=False,
            drivers=("hyperv-vmbus-unload", "hyperv-crash-shutdown"))
    ev = events(r)
    assert ev.index("hyperv-crash-shutdown") < ev.index("nmi_shootdown_cpus")
    post = run(hypervisor="hyperv", params=POST)
    crash = next(e for e in post.trace if e.event == "hyperv-crash-shutdown")
    assert "already disconnected" in crash.effect


def test_a_host_that_answers_before_the_timeout_is_slow_but_harmless() -> None:
    """drivers/hv/channel_mgmt.c vmbus_wait_for_unload: the host may take ~50 s (disk cache
    flush) and still answer within the 100 s budget; the path is long but bounded and the
    capture kernel reconnects. Past the budget (seed 001's 'minutes') it does not."""
    r = run(hypervisor="hyperv", faults=("slow-host=50000",))
    unload = next(e for e in r.trace if e.event == "hyperv-vmbus-unload")
    assert unload.t_ms == 50_000
    assert r.properties["path-bounded"] and r.properties["dump-target-reachable"]
