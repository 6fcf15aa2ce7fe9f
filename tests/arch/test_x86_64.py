"""arch/x86: smp_send_stop (IPI then NMI), NMI shootdown, machine_ops overrides."""

from __future__ import annotations

from panicpath.arch.x86_64 import REBOOT_IPI_WAIT_MS, X86_64
from panicpath.engine import build
from panicpath.model.scenario import Scenario
from panicpath.model.state import CpuMode


def test_smp_send_stop_falls_back_to_nmi_after_one_second() -> None:
    """arch/x86/kernel/smp.c native_stop_other_cpus: REBOOT_VECTOR first; a CPU with
    interrupts off ignores it for 1 s, then the NMI stops it (offline, APIC off), without
    saving registers."""
    run = build(Scenario(faults=("ipi-deaf-cpu",), cpus=3))
    X86_64().smp_send_stop(run)
    cpus = run.machine.cpus
    assert run.machine.now_ms == REBOOT_IPI_WAIT_MS
    assert all(c.mode is CpuMode.STOPPED and not c.online and not c.apic_enabled
               for c in cpus[1:])
    assert not any(c.regs_saved for c in cpus[1:])


def test_no_wait_when_every_cpu_takes_the_ipi() -> None:
    run = build(Scenario(cpus=4))
    X86_64().smp_send_stop(run)
    assert run.machine.now_ms == 0


def test_shootdown_saves_registers_of_irqs_off_cpus_but_not_of_apic_off_ones() -> None:
    """arch/x86/kernel/reboot.c nmi_shootdown_cpus: NMIs reach a CPU spinning with interrupts
    off; a CPU stopped earlier by stop_this_cpu has its local APIC disabled and gets nothing."""
    run = build(Scenario(faults=("ipi-deaf-cpu=1",), cpus=3))
    m = run.machine
    m.cpus[2].mode, m.cpus[2].online, m.cpus[2].apic_enabled = CpuMode.STOPPED, False, False
    X86_64().nmi_shootdown(run)
    assert m.cpus[1].regs_saved and m.cpus[1].mode is CpuMode.CRASH_STOPPED
    assert not m.cpus[2].regs_saved


def test_second_shootdown_is_refused() -> None:
    run = build(Scenario())
    x = X86_64()
    x.nmi_shootdown(run)
    x.nmi_shootdown(run)
    assert [e.effect for e in run.trace if e.event == "nmi_shootdown_cpus"][-1].startswith(
        "already issued")


def test_crash_shutdown_overrides_run_before_the_native_shutdown() -> None:
    """machine_ops.crash_shutdown: hv_machine_crash_shutdown / kvm_crash_shutdown run their
    part first, then native_machine_crash_shutdown."""
    run = build(Scenario(hypervisor="kvm"))
    X86_64().machine_crash_shutdown(run)
    events = [e.event for e in run.trace]
    assert events.index("kvm-crash-shutdown") < events.index("native_machine_crash_shutdown")
    assert "kvm-pv-cpu0" not in run.machine.devices
