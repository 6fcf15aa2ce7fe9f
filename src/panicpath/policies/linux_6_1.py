"""Linux 6.1 as Debian's 6.1.192 (the kernel the lab boots).

kernel/panic.c panic() of linux-source-6.1 6.1.192 (shared/reference/kernel-facts.md
section 1, verified): snapshot post notifiers; if !post __crash_kexec;
panic_other_cpus_shutdown(post) (all-CPU backtrace before the stop, then
crash_smp_send_stop or smp_send_stop — Piccoli's "panic: Fixes the panic_print
NMI backtrace setting", a stable backport); notifier chain; panic_print_sys_info;
kmsg_dump(PANIC); if post __crash_kexec; console flush; panic_timeout.

The stable tree carries backports that the original v6.1 did not have: the v6.3
panic_other_cpus_shutdown() fix and the v6.2 Hyper-V notifier untangle (d786e00d19f9,
with hyperv_fb's busy-lock check 1d044ca035dc), backported to 6.1.y in July 2025. Its
drivers are therefore taken in their 6.3 form (`catalog_version`).
"""

from panicpath.policies.base import Op, Policy
from panicpath.policies.kernels import ENTRY, KDUMP_FIRST_UNLESS_POST, KDUMP_LAST_IF_POST, TAIL

PROGRAM = (*ENTRY, KDUMP_FIRST_UNLESS_POST, Op("panic_other_cpus_shutdown"),
           Op("notifier_chain"), Op("panic_print_sys_info"), Op("kmsg_dump"),
           KDUMP_LAST_IF_POST, *TAIL)
FEATURES = frozenset({"post_notifiers_option", "crash_smp_send_stop", "mips_crash_smp_send_stop",
                      "ppc_crash_smp_send_stop", "panic_other_cpus_shutdown",
                      "printk_nmi_deferred", "console_unblank_flush"})

POLICY = Policy(
    name="linux-6.1",
    version=(6, 1),
    title="Linux 6.1.192 (Debian): panic_other_cpus_shutdown, notifiers, panic_print, kmsg_dump",
    program=PROGRAM,
    features=FEATURES,
    sources=("Debian linux-source-6.1 6.1.192 kernel/panic.c panic()",
             "6.1.y backports of d786e00d19f9 / 1d044ca035dc (v6.2, July 2025) and of the "
             "v6.3 panic_print NMI backtrace fix (docs/kernel-history.md section 3)"),
    catalog_version=(6, 3),
)
