"""x86_64: NMI shootdown for kdump, IPI-then-NMI for smp_send_stop, machine_ops overrides."""

from __future__ import annotations

from panicpath.arch.base import Arch, answers_irq, answers_nmi, stop_cpu
from panicpath.model.effects import perform
from panicpath.model.run import Run
from panicpath.model.state import CpuMode

NMI_SHOOTDOWN_WAIT_MS = 1000
"""arch/x86/kernel/reboot.c nmi_shootdown_cpus(): waits at most 1000 x 1 ms."""
REBOOT_IPI_WAIT_MS = 1000
"""arch/x86/kernel/smp.c native_stop_other_cpus(): 1 s for the REBOOT_VECTOR IPI."""
STOP_NMI_WAIT_MS = 10
"""arch/x86/kernel/smp.c native_stop_other_cpus(): 10 ms for the NMI fallback."""


class X86_64(Arch):
    """x86_64 as in arch/x86 of Linux 6.1.192 (and earlier where the policy says so)."""

    name = "x86_64"
    kdump_since = (2, 6)
    has_crash_shutdown_hook = True

    def smp_send_stop(self, run: Run) -> None:
        """arch/x86/kernel/smp.c native_stop_other_cpus(wait=0) (6.1): REBOOT_VECTOR IPI to
        all others, wait up to 1 s; CPUs still running then get an NMI (smp_stop_nmi_callback)
        unless smp_no_nmi_ipi; each stops in stop_this_cpu(): leaves cpu_online_mask,
        disables its local APIC, halts. No registers are saved."""
        m = run.machine
        pending = [c for c in m.other_cpus() if c.mode not in (CpuMode.STOPPED, CpuMode.CRASH_STOPPED)
                   and c.online]
        deaf = []
        for c in pending:
            if answers_irq(c):
                stop_cpu(c, save_regs=False, offline=True, apic_off=True)
            else:
                deaf.append(c)
        eff = "REBOOT_VECTOR IPI: other CPUs stop (offline, APIC off, registers NOT saved)"
        if deaf:
            run.wait(REBOOT_IPI_WAIT_MS)
            late = []
            for c in deaf:
                if answers_nmi(c):
                    stop_cpu(c, save_regs=False, offline=True, apic_off=True)
                else:
                    late.append(c.id)
            eff += f"; CPUs {[c.id for c in deaf]} ignored it for 1 s, NMI sent"
            if late:
                run.wait(STOP_NMI_WAIT_MS)
                eff += f"; CPUs {late} never stopped"
        run.emit("smp_send_stop", "arch", eff, "arch/x86/kernel/smp.c native_stop_other_cpus")

    def nmi_shootdown(self, run: Run) -> None:
        """arch/x86/kernel/reboot.c nmi_shootdown_cpus(kdump_nmi_callback) (6.1): refuses a
        second shootdown; NMI to all but self; waits up to 1 s for the online CPUs to
        answer. Each one runs crash_nmi_callback: crash_save_cpu(), VMX/SVM off, halt.
        A CPU whose APIC was disabled by an earlier smp_send_stop gets nothing."""
        m = run.machine
        if m.shootdown_done:
            run.emit("nmi_shootdown_cpus", "arch", "already issued: WARN, nothing sent",
                     "arch/x86/kernel/reboot.c nmi_shootdown_cpus")
            return
        m.shootdown_done = True
        missed = []
        skipped = []
        for c in m.other_cpus():
            if c.mode is CpuMode.CRASH_STOPPED:
                continue
            if answers_nmi(c):
                stop_cpu(c, save_regs=True, offline=False)
                c.virt_disabled = True
            elif c.online:
                missed.append(c.id)
            else:
                skipped.append(c.id)
        eff = "NMI to all other CPUs: registers saved, VMX/SVM off, halted"
        if missed:
            run.wait(NMI_SHOOTDOWN_WAIT_MS)
            eff += f"; CPUs {missed} did not answer within 1 s"
        if skipped:
            eff += f"; CPUs {skipped} already offline with APIC off: registers NOT saved"
        run.emit("nmi_shootdown_cpus", "arch", eff, "arch/x86/kernel/reboot.c nmi_shootdown_cpus")

    def crash_smp_send_stop(self, run: Run) -> None:
        """arch/x86/kernel/crash.c crash_smp_send_stop() (v4.9 0ee59413c967 .. 6.1): once;
        smp_ops.crash_stop_other_cpus = kdump_nmi_shootdown_cpus, i.e. the NMI shootdown
        with registers saved, then disable_local_APIC() on this CPU."""
        m = run.machine
        if m.stop_done:
            return
        self.nmi_shootdown(run)
        m.stop_done = True

    def machine_crash_shutdown(self, run: Run) -> None:
        """arch/x86/kernel/reboot.c machine_crash_shutdown -> machine_ops.crash_shutdown.

        Overrides (6.1): Hyper-V hv_machine_crash_shutdown (arch/x86/kernel/cpu/mshyperv.c)
        runs hv_crash_handler (VMbus unload, with the other CPUs still running) before
        the native shutdown; KVM kvm_crash_shutdown (arch/x86/kernel/kvm.c) turns the PV
        features off first; Xen HVM xen_hvm_crash_shutdown runs native then a soft
        reset. The crash_shutdown callbacks registered for the scenario are those hooks.
        """
        for cb in run.crash_shutdown:
            perform(run, cb)
        self.native_machine_crash_shutdown(run)

    def native_machine_crash_shutdown(self, run: Run) -> None:
        """arch/x86/kernel/crash.c native_machine_crash_shutdown (6.1): local_irq_disable;
        crash_smp_send_stop() (v4.9+; before it kdump_nmi_shootdown_cpus() directly);
        cpu_emergency_disable_virtualization; IOAPIC/LAPIC/HPET off; crash_save_cpu()."""
        if run.has("crash_smp_send_stop"):
            self.crash_smp_send_stop(run)
        else:
            self.nmi_shootdown(run)
        me = run.machine.me
        me.regs_saved = True
        me.virt_disabled = True
        run.emit("native_machine_crash_shutdown", "arch",
                 "VMX/SVM off, IOAPIC/LAPIC/HPET off, crash_save_cpu(panic CPU)",
                 "arch/x86/kernel/crash.c native_machine_crash_shutdown")
