"""Linux 6.1 as Debian's 6.1.192 (the kernel the lab boots).

kernel/panic.c panic() of linux-source-6.1 6.1.192 (shared/reference/kernel-facts.md
section 1, verified): snapshot post notifiers; if !post __crash_kexec;
panic_other_cpus_shutdown(post) (all-CPU backtrace before the stop, then
crash_smp_send_stop or smp_send_stop — Piccoli's "panic: Fixes the panic_print
NMI backtrace setting", a stable backport); notifier chain; panic_print_sys_info;
kmsg_dump(PANIC); if post __crash_kexec; console flush; panic_timeout.
"""

from panicpath.policies.base import Op, Policy
from panicpath.policies.kernels import ENTRY, KDUMP_FIRST_UNLESS_POST, KDUMP_LAST_IF_POST, TAIL

PROGRAM = (*ENTRY, KDUMP_FIRST_UNLESS_POST, Op("panic_other_cpus_shutdown"),
           Op("notifier_chain"), Op("panic_print_sys_info"), Op("kmsg_dump"),
           KDUMP_LAST_IF_POST, *TAIL)
FEATURES = frozenset({"post_notifiers_option", "crash_smp_send_stop", "mips_crash_smp_send_stop",
                      "ppc_crash_smp_send_stop", "panic_other_cpus_shutdown"})

POLICY = Policy(
    name="linux-6.1",
    version=(6, 1),
    title="Linux 6.1.192 (Debian): panic_other_cpus_shutdown, notifiers, panic_print, kmsg_dump",
    program=PROGRAM,
    features=FEATURES,
    sources=("Debian linux-source-6.1 6.1.192 kernel/panic.c panic()",),
)
