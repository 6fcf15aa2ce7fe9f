"""s390: SIGP STOP stops any CPU whatever its interrupt mask; kdump stores every CPU's status."""

from __future__ import annotations

from panicpath.arch.base import Arch, stop_cpu
from panicpath.model.run import Run
from panicpath.model.state import CpuMode


class S390(Arch):
    """s390 as in arch/s390/kernel/{smp,machine_kexec}.c of Linux 6.1.192."""

    name = "s390"
    kdump_since = (3, 0)

    def smp_send_stop(self, run: Run) -> None:
        """arch/s390/kernel/smp.c smp_send_stop() (6.1): SIGP STOP to every other CPU and spin
        until each reports stopped. SIGP is a machine order: interrupt masks do not matter.
        No crash_smp_send_stop override, so the weak default calls this once."""
        for c in run.machine.other_cpus():
            if c.mode not in (CpuMode.STOPPED, CpuMode.CRASH_STOPPED):
                stop_cpu(c, save_regs=False, offline=False)
        run.emit("smp_send_stop", "arch", "SIGP STOP to every other CPU: all stopped",
                 "arch/s390/kernel/smp.c smp_send_stop")

    def machine_crash_shutdown(self, run: Run) -> None:
        """arch/s390/kernel/machine_kexec.c machine_crash_shutdown(): only
        set_os_info_reipl_block(). The CPUs are stopped in machine_kexec()."""
        run.emit("machine_crash_shutdown", "arch", "set_os_info_reipl_block()",
                 "arch/s390/kernel/machine_kexec.c machine_crash_shutdown")

    def machine_kexec(self, run: Run) -> None:
        """arch/s390/kernel/machine_kexec.c machine_kexec() for a crash image (6.1): checks
        the kdump checksum, smp_send_stop(), then __machine_kexec on the IPL CPU, where
        the kdump path stores the status (registers) of every CPU with SIGP STORE STATUS."""
        self.smp_send_stop(run)
        for c in run.machine.cpus:
            c.regs_saved = True
        run.emit("machine_kexec", "arch", "store status of all CPUs (SIGP), registers saved",
                 "arch/s390/kernel/machine_kexec.c __do_machine_kdump")
