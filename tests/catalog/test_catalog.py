"""The catalog: fixed names, citations, where each driver can exist, who forces post notifiers."""

from __future__ import annotations

import pytest

from panicpath.catalog import DRIVERS
from panicpath.engine import select_drivers
from panicpath.model.callback import INT_MAX, INT_MIN
from panicpath.model.scenario import Scenario
from panicpath.policies import POLICIES

FIXED = ("hyperv-vmbus-unload", "hyperv-report-panic", "hyperv-kmsg-dump",
         "hyperv-crash-shutdown", "hyperv-fb", "bcm-vk", "pvpanic", "dump-kernel-offset",
         "ipmi-panic-event", "ramoops", "octeon-watchdog", "fadump", "kvm-crash-shutdown",
         "sev-snp")


def test_fixed_names_exist_and_cite_source() -> None:
    for name in FIXED:
        d = DRIVERS[name]
        for cb in d.callbacks:
            assert cb.sources and all("/" in s for s in cb.sources), name


@pytest.mark.parametrize(("name", "list_", "prio"), [
    ("hyperv-vmbus-unload", "panic_notifier_list", INT_MIN + 1),
    ("hyperv-fb", "panic_notifier_list", INT_MIN + 10),
    ("pvpanic", "panic_notifier_list", INT_MAX),
    ("ipmi-panic-event", "panic_notifier_list", 200),
    ("bcm-vk", "panic_notifier_list", 0),
    ("dump-kernel-offset", "panic_notifier_list", 0),
    ("fadump", "panic_notifier_list", INT_MAX),
    ("hyperv-kmsg-dump", "kmsg_dumper", 0),
    ("ramoops", "kmsg_dumper", 0),
    ("hyperv-crash-shutdown", "crash_shutdown", 0),
])
def test_lists_and_priorities_match_6_1(name: str, list_: str, prio: int) -> None:
    """kernel-facts.md section 6 (verified in 6.1.192)."""
    cb = DRIVERS[name].callbacks[0]
    assert (cb.list, cb.priority) == (list_, prio)


def test_forcers_of_post_notifiers() -> None:
    """kernel-facts section 4: in 6.1.192 only Hyper-V (hv_common_init) and powerpc fadump
    force crash_kexec_post_notifiers; mainline adds the SEV-SNP host."""
    forcers = {d.name for d in DRIVERS.values() if "force-post-notifiers" in d.boot}
    assert forcers == {"hyperv-report-panic", "fadump", "sev-snp"}


def test_platform_drivers_follow_arch_and_hypervisor() -> None:
    pol = POLICIES["linux-6.1"]
    names = lambda **kw: {d.name for d in select_drivers(Scenario(**kw), pol)}  # noqa: E731
    assert "hyperv-crash-shutdown" in names(hypervisor="hyperv")
    assert "hyperv-crash-shutdown" not in names(hypervisor="hyperv", arch="arm64")
    assert "kvm-crash-shutdown" in names(hypervisor="kvm")
    assert names(arch="s390") == set()
    assert "sev-snp" not in names(drivers=("sev-snp",))
    assert "sev-snp" in {d.name for d in select_drivers(Scenario(drivers=("sev-snp",)),
                                                        POLICIES["linux-mainline"])}
    assert "ipmi-panic-event" in names(drivers=("ipmi-watchdog",))


def test_pvpanic_trylock_form_survives_a_lock_held_by_a_stopped_cpu() -> None:
    """pvpanic before Piccoli's 2022 fixes took spin_lock(&pvpanic_lock) at priority 1
    (drivers/misc/pvpanic/pvpanic.c, ~v5.13); 6.1.192 uses spin_trylock at INT_MAX. With the
    lock held by a CPU that crash_smp_send_stop parked, the old form deadlocks the panic
    CPU before kdump; the new one skips the event and kdump proceeds."""
    from panicpath.engine import simulate

    kw: dict[str, object] = {"drivers": ("pvpanic",), "faults": ("lock-held-by-stopped-cpu",),
                             "params": (("crash_kexec_post_notifiers", "1"),)}
    old = simulate(Scenario(policy="linux-5.18", **kw))  # type: ignore[arg-type]
    new = simulate(Scenario(policy="linux-6.1", **kw))  # type: ignore[arg-type]
    assert old.end == "hang" and not old.properties["vmcore-captured"]
    assert new.properties["vmcore-captured"] and "pvpanic" in new.failed_callbacks
