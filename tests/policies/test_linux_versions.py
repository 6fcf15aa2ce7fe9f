"""Kernel-version policies: the order of panic() steps per version."""

from __future__ import annotations

import pytest

from panicpath.engine import simulate
from panicpath.model.scenario import Scenario
from panicpath.policies import POLICIES

POST = (("crash_kexec_post_notifiers", "1"),)


def steps(policy: str, **kw: object) -> list[str]:
    r = simulate(Scenario(policy=policy, kdump=False, host_panic_action="none",
                          drivers=("ramoops",), **kw))  # type: ignore[arg-type]
    return [e.event for e in r.trace if e.kind in ("step", "notifier", "kmsg_dumper", "arch")]


def test_3_11_dumps_before_notifiers_3_15_after() -> None:
    """6723734cdff1 (v3.12) moved the notifier chain before kmsg_dump."""
    old = steps("linux-3.11")
    new = steps("linux-3.15")
    assert old.index("kmsg_dump") < old.index("atomic_notifier_call_chain")
    assert new.index("atomic_notifier_call_chain") < new.index("kmsg_dump")


def test_post_notifiers_unknown_before_3_16() -> None:
    """f06e5153f4ae (v3.16) adds the parameter: before it kdump is always first."""
    r = simulate(Scenario(policy="linux-3.15", params=POST))
    assert r.ran_callbacks == ()
    r = simulate(Scenario(policy="linux-3.16", params=POST))
    assert "dump-kernel-offset" in r.ran_callbacks


@pytest.mark.parametrize(("policy", "stop"), [
    ("linux-3.16", "smp_send_stop"), ("linux-4.9", "nmi_shootdown_cpus"),
    ("linux-6.1", "nmi_shootdown_cpus"),
])
def test_stop_before_notifiers_with_post(policy: str, stop: str) -> None:
    """3.16: smp_send_stop before the notifiers; 4.9+ (0ee59413c967): crash_smp_send_stop."""
    ev = [e.event for e in simulate(Scenario(policy=policy, params=POST)).trace]
    assert ev.index(stop) < ev.index("atomic_notifier_call_chain")


def test_panic_print_position_per_version() -> None:
    """5.0 (d999bd9392de): after the console flush; 5.18 (f953f140f318): before kmsg_dump."""
    pp = (("panic_print", "1"),)
    v50 = steps("linux-5.0", params=pp)
    v518 = steps("linux-5.18", params=pp)
    assert v50.index("kmsg_dump") < v50.index("panic_print_sys_info")
    assert v518.index("panic_print_sys_info") < v518.index("kmsg_dump")
    assert "panic_print_sys_info" not in steps("linux-4.9", params=pp)


def test_all_cpu_backtrace_before_the_stop_only_with_panic_other_cpus_shutdown() -> None:
    """8d470a45d1a6 (v5.18) took the 0x40 backtrace after the CPUs were stopped; the
    panic_other_cpus_shutdown fix (6.1.192 backport) takes it before."""
    for policy, shown in (("linux-5.18", False), ("linux-6.1", True)):
        r = simulate(Scenario(policy=policy, kdump=False, host_panic_action="none",
                              params=(("panic_print", "0x40"),)))
        bt = next(e for e in r.trace if e.event == "trigger_all_cpu_backtrace")
        assert ("[1]" in bt.effect) is shown, policy


def test_every_kernel_policy_cites_sources() -> None:
    for p in POLICIES.values():
        if p.kind == "kernel":
            assert p.sources and p.program[0].step == "panic_entry"


def test_console_flush_on_panic_arrives_in_4_5() -> None:
    """8d91f8b15361 (v4.5): console_flush_on_panic() after the dumpers."""
    assert "console_flush_on_panic" not in steps("linux-3.16")
    assert "console_flush_on_panic" in steps("linux-4.5")


def test_nmi_printk_deferred_only_from_4_7() -> None:
    """printk_nmi (cf9b1106c81c, v4.7) defers NMI-context printk; kexec before the flush then
    leaves the console silent (lab nmi_panic.log). Older kernels printed directly."""
    kw: dict[str, object] = {"faults": ("nmi-context",), "params": POST}
    assert simulate(Scenario(policy="linux-4.5", **kw)).properties[  # type: ignore[arg-type]
        "console-shows-panic"]
    assert not simulate(Scenario(policy="linux-4.9", **kw)).properties[  # type: ignore[arg-type]
        "console-shows-panic"]


def test_debian_6_1_carries_the_6_3_driver_forms() -> None:
    """Debian 6.1.192 = v6.1 + stable backports (d786e00d19f9 from v6.2): the Hyper-V unload
    notifier is at INT_MIN + 1 there, at priority 0 in v5.18."""
    from panicpath.engine import build

    def prio(policy: str) -> int:
        run = build(Scenario(policy=policy, hypervisor="hyperv"))
        return next(c.priority for c in run.notifiers if c.name == "hyperv-vmbus-unload")

    assert prio("linux-6.1") == -(2**31) + 1
    assert prio("linux-5.18") == 0
