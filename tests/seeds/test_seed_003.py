"""Claims of seed 003 (../shared/seeds/003_acbd05ad416b8b59.txt, Hidehiro Kawai's v3 patch
"panic_smp_send_stop" and Dave Young's review, July 2016)."""

from __future__ import annotations

from tests.seeds.helpers import POST, events, run


def test_problem_1_octeon_watchdogs_of_offlined_cpus_stay_armed() -> None:
    """Seed 003 Problem 1: 'octeon_generic_shutdown() ... assumes that other CPUs are still
    online ... stopping watchdog timer will fail because other CPUs have been offlined by
    smp_send_stop()'. linux-3.16: smp_send_stop (arch/mips/kernel/smp.c stop_this_cpu
    clears cpu_online_mask) runs before machine_crash_shutdown's octeon_generic_shutdown,
    which only zeroes the watchdogs of online CPUs."""
    r = run(policy="linux-3.16", arch="mips-octeon", params=POST)
    wd = next(e for e in r.trace if e.event == "octeon-watchdog")
    assert "still armed on offline CPUs [1]" in wd.effect
    assert not r.properties["watchdog-quiesced"]
    assert not r.properties["vmcore-captured"]


def test_problem_1_does_not_happen_with_kdump_first() -> None:
    """Seed 003: the problem comes with crash_kexec_post_notifiers only."""
    r = run(policy="linux-3.16", arch="mips-octeon")
    assert r.properties["watchdog-quiesced"] and r.properties["vmcore-captured"]


def test_problem_1_fixed_by_the_mips_crash_smp_send_stop_hook() -> None:
    """The MIPS companion of 0ee59413c967 (v4.9): crash_smp_send_stop calls
    `_crash_smp_send_stop` = octeon_crash_smp_send_stop while the CPUs are still online
    (arch/mips/cavium-octeon/setup.c, 6.1.192)."""
    for policy in ("linux-4.9", "linux-6.1"):
        r = run(policy=policy, arch="mips-octeon", params=POST)
        assert r.properties["watchdog-quiesced"] and r.properties["vmcore-captured"]


def test_problem_2_smp_send_stop_loses_the_other_cpus_registers() -> None:
    """Seed 003 Problem 2: 'if smp_send_stop() stops other CPUs before
    machine_crash_shutdown(), we miss those operations' (saving registers, disabling
    virtualization). x86 3.16: stop_this_cpu disables the local APIC, so the NMI shootdown
    in native_machine_crash_shutdown cannot reach the stopped CPU."""
    r = run(policy="linux-3.16", params=POST)
    assert not r.properties["vmcore-complete"]
    shoot = next(e for e in r.trace if e.event == "nmi_shootdown_cpus")
    assert "registers NOT saved" in shoot.effect


def test_problem_2_fixed_by_crash_smp_send_stop_in_4_9() -> None:
    """0ee59413c967 (v4.9): with post notifiers panic() calls crash_smp_send_stop (NMI
    shootdown, registers saved) before the notifiers; machine_crash_shutdown's own call is
    then a no-op (static flag)."""
    r = run(policy="linux-4.9", params=POST)
    assert r.properties["vmcore-complete"]
    ev = events(r)
    assert ev.index("nmi_shootdown_cpus") < ev.index("atomic_notifier_call_chain")
    assert ev.count("nmi_shootdown_cpus") == 1


def test_problem_2_on_mips_too() -> None:
    """Seed 003: 'Most of architectures stop other CPUs in machine_crash_shutdown() path ...
    they save registers'. MIPS crash_kexec_prepare_cpus only signals online CPUs."""
    assert not run(policy="linux-3.16", arch="mips-octeon", params=POST,
                   platform_drivers=False).properties["vmcore-complete"]
    assert run(policy="linux-4.9", arch="mips-octeon", params=POST,
               platform_drivers=False).properties["vmcore-complete"]


def test_nmi_reaches_a_cpu_with_interrupts_off_only_on_x86() -> None:
    """Seed 003: smp_send_stop on x86 'tries to stop other CPUs with normal IPI before
    issuing NMI IPI'; arm64 6.1 has ordinary IPIs only (arch/arm64/kernel/smp.c), so a CPU
    spinning with interrupts off keeps its registers unsaved."""
    assert run(faults=("ipi-deaf-cpu",), params=POST).properties["vmcore-complete"]
    assert not run(arch="arm64", faults=("ipi-deaf-cpu",),
                   params=POST).properties["vmcore-complete"]


def test_a_cpu_the_stop_missed_keeps_writing_under_the_dump_on_arm64() -> None:
    """Seeds 001 and 004 (a CPU spinning with interrupts off that arm64's IPI stop cannot
    reach) and issue 16: the CPU is not stopped, its registers are missing from the
    vmcore, and it keeps executing the old kernel after the handover, so memory changes
    under the dump; x86's NMI stops it (registers saved, memory frozen)."""
    arm = run(arch="arm64", faults=("ipi-deaf-cpu",), params=POST)
    x86 = run(faults=("ipi-deaf-cpu",), params=POST)
    assert not arm.properties["vmcore-complete"] and not arm.properties["vmcore-intact"]
    assert x86.properties["vmcore-complete"] and x86.properties["vmcore-intact"]
    assert any("interrupts off" in e.effect for e in arm.trace if e.event == "capture-kernel")
