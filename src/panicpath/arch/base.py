"""What every architecture provides to the panic path, and the shared CPU-stop mechanics."""

from __future__ import annotations

from panicpath.model.run import Run
from panicpath.model.state import HALTED_MODES, Cpu, CpuMode


class Arch:
    """One architecture's panic-path primitives. Subclasses cite the arch source they model.

    `kdump_since` is the first kernel version (major, minor) in which the
    architecture could load and run a crash kernel.
    """

    name = "base"
    kdump_since: tuple[int, int] = (2, 6)
    has_crash_shutdown_hook = False
    """Whether drivers can hook machine_crash_shutdown (x86 machine_ops, powerpc crash_shutdown_register)."""
    self_stop_goes_offline = False

    def panic_smp_self_stop(self, run: Run, cpu: Cpu) -> None:
        """kernel/panic.c weak panic_smp_self_stop(): spin forever with interrupts off; the
        CPU stays in cpu_online_mask."""
        cpu.mode = CpuMode.SELF_STOPPED
        cpu.online = not self.self_stop_goes_offline

    def smp_send_stop(self, run: Run) -> None:
        raise NotImplementedError

    def crash_smp_send_stop(self, run: Run) -> None:
        """kernel/panic.c weak crash_smp_send_stop() (v4.9+): smp_send_stop() once."""
        m = run.machine
        if m.stop_done:
            return
        self.smp_send_stop(run)
        m.stop_done = True

    def machine_crash_shutdown(self, run: Run) -> None:
        raise NotImplementedError

    def machine_kexec(self, run: Run) -> None:
        """Jump to the crash kernel. Most architectures do no more than that here."""


def stop_cpu(cpu: Cpu, *, save_regs: bool, offline: bool, apic_off: bool = False) -> None:
    """A CPU answers a stop request: it saves its registers if the handler does
    (crash_save_cpu), leaves cpu_online_mask if the handler does, and halts."""
    if save_regs:
        cpu.regs_saved = True
        cpu.mode = CpuMode.CRASH_STOPPED
    else:
        cpu.mode = CpuMode.STOPPED
    if offline:
        cpu.online = False
    if apic_off:
        cpu.apic_enabled = False


def answers_irq(cpu: Cpu) -> bool:
    """Whether an ordinary (maskable) IPI is taken: only by a CPU running with interrupts on."""
    return cpu.mode is CpuMode.RUNNING


def answers_nmi(cpu: Cpu) -> bool:
    """Whether an NMI is taken: any CPU whose local APIC still works and that is not
    already inside an NMI handler, halted ones included (NMIs wake `hlt`)."""
    return cpu.apic_enabled and not cpu.nmi_blocked and cpu.mode is not CpuMode.PANICKING


def not_yet_halted(cpu: Cpu) -> bool:
    """A CPU that a stop request still has to reach."""
    return cpu.mode not in HALTED_MODES or cpu.mode is CpuMode.SELF_STOPPED


def ipi_stop(run: Run, *, vector: str, save_regs: bool, offline: bool, timeout_ms: int,
             source: str, online_only: bool = True) -> list[int]:
    """Send an ordinary stop IPI to the other CPUs and wait up to `timeout_ms`.

    Returns the ids of the CPUs that did not answer. CPUs outside
    cpu_online_mask are not sent anything when `online_only` (the arm64, MIPS
    and powerpc stop paths iterate over online CPUs).
    """
    m = run.machine
    missed: list[int] = []
    for c in m.other_cpus():
        if online_only and not c.online:
            continue
        if c.mode in (CpuMode.STOPPED, CpuMode.CRASH_STOPPED):
            continue
        if answers_irq(c):
            stop_cpu(c, save_regs=save_regs, offline=offline)
        else:
            missed.append(c.id)
    if missed:
        run.wait(timeout_ms)
    saved = "registers saved" if save_regs else "registers NOT saved"
    eff = f"{vector} to online CPUs; {saved}"
    if missed:
        eff += f"; CPUs {missed} did not answer (interrupts off) after {timeout_ms} ms"
    run.emit(vector, "arch", eff, source)
    return missed
