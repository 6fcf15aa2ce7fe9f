"""arm64: ordinary IPIs stop the other CPUs; machine_crash_shutdown has no driver hook (seed 004)."""

from __future__ import annotations

from panicpath.arch.base import Arch, ipi_stop
from panicpath.model.run import Run

STOP_WAIT_MS = 1000
"""arch/arm64/kernel/smp.c smp_send_stop / crash_smp_send_stop: wait up to 1 s (USEC_PER_SEC)."""
FAILED_TO_STOP = "SMP: failed to stop secondary CPUs"
"""arch/arm64/kernel/smp.c (6.1): pr_warn("SMP: failed to stop secondary CPUs %*pbl\n", ...)
after the 1 s wait, with the mask of the CPUs it signalled."""


UNIFIED_STOP = (6, 10)
"""fdfa588124b6 "arm64: smp: smp_send_stop() and crash_smp_send_stop() should try non-NMI
first" (v6.10): crash_smp_send_stop() sets crash_stop and calls smp_send_stop(), whose
warning names the other CPUs still online after the wait."""


def _stop(run: Run, vector: str, save_regs: bool, source: str) -> None:
    """ipi_stop, then the kernel's warning when a CPU did not answer. Which CPUs it names
    (arch/arm64/kernel/smp.c, 6.1.192): smp_send_stop() prints cpu_online_mask after the
    wait, the panic CPU included ("0-1" when CPU 1 stayed online; seen on arm64 6.1);
    crash_smp_send_stop() the mask it signalled (the other CPUs online before). From
    v6.10 (UNIFIED_STOP) both print the other CPUs still online."""
    signalled = [c.id for c in run.machine.other_cpus() if c.online]
    if ipi_stop(run, vector=vector, save_regs=save_regs, offline=True,
                timeout_ms=STOP_WAIT_MS, source=source):
        left = [c.id for c in run.machine.other_cpus() if c.online]
        if run.release() >= UNIFIED_STOP:
            named = left
        elif vector == "smp_send_stop":
            named = sorted({run.machine.me.id, *left})
        else:
            named = signalled
        run.printk(f"{FAILED_TO_STOP} {cpulist(named)}")


def cpulist(ids: list[int]) -> str:
    """A CPU list as %*pbl prints it: ranges joined by commas ("1", "1-3", "1,3")."""
    runs: list[list[int]] = []
    for i in sorted(ids):
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


class Arm64(Arch):
    """arm64 as in arch/arm64 of Linux 6.1.192."""

    name = "arm64"
    kdump_since = (4, 12)
    """arm64 kdump support: 78fd584cdec0 "arm64: kdump: implement machine_crash_shutdown()", v4.12."""
    has_crash_shutdown_hook = False
    self_stop_goes_offline = True
    """arch/arm64/kernel/smp.c panic_smp_self_stop() -> local_cpu_stop(): the CPU marks itself
    offline (set_cpu_online(false)), masks DAIF and parks; crash_smp_send_stop, which only
    signals online CPUs, then never saves its registers."""

    def smp_send_stop(self, run: Run) -> None:
        """arch/arm64/kernel/smp.c smp_send_stop() (6.1): IPI_CPU_STOP to online CPUs, which
        go offline and park; waits up to 1 s, then "SMP: failed to stop secondary CPUs".
        Ordinary IPIs in 6.1: a CPU spinning with interrupts masked is not stopped."""
        _stop(run, "smp_send_stop", False, "arch/arm64/kernel/smp.c smp_send_stop")

    def crash_smp_send_stop(self, run: Run) -> None:
        """arch/arm64/kernel/smp.c crash_smp_send_stop() (v4.12 .. 6.1): once;
        IPI_CPU_CRASH_STOP to online CPUs: ipi_cpu_crash_stop() runs crash_save_cpu() and
        parks (or dies through PSCI); waits up to 1 s."""
        m = run.machine
        if m.stop_done:
            return
        _stop(run, "crash_smp_send_stop", True, "arch/arm64/kernel/smp.c crash_smp_send_stop")
        m.stop_done = True

    def machine_crash_shutdown(self, run: Run) -> None:
        """arch/arm64/kernel/machine_kexec.c machine_crash_shutdown() (6.1): local_irq_disable,
        crash_smp_send_stop, crash_save_cpu for this CPU, mask interrupts. There is no
        machine_ops and no list: a driver cannot run code here (seeds 001, 004)."""
        self.crash_smp_send_stop(run)
        run.machine.me.regs_saved = True
        if run.crash_shutdown:
            names = ", ".join(cb.name for cb in run.crash_shutdown)
            run.emit("machine_crash_shutdown", "arch",
                     f"no crash-shutdown hook on arm64: {names} not run",
                     "arch/arm64/kernel/machine_kexec.c machine_crash_shutdown")
        run.emit("machine_crash_shutdown", "arch",
                 "crash_save_cpu(panic CPU), interrupts masked, \"Starting crashdump kernel...\"",
                 "arch/arm64/kernel/machine_kexec.c machine_crash_shutdown")
