"""Linux 5.18: panic_print moves before the kmsg dumpers; bit 0x40 dumps all CPUs' backtraces.

f953f140f318 ("panic: move panic_print before kmsg dumpers", v5.18) and
8d470a45d1a6 ("panic: add option to dump all CPUs backtraces in panic_print",
v5.18). The backtrace is taken inside panic_print_sys_info(), i.e. after the other
CPUs were stopped. powerpc got its own crash_smp_send_stop in v5.17 (219572d2fc41).
"""

from panicpath.policies.base import Op, Policy
from panicpath.policies.kernels import ENTRY, KDUMP_FIRST_UNLESS_POST, KDUMP_LAST_IF_POST, TAIL

POLICY = Policy(
    name="linux-5.18",
    version=(5, 18),
    title="Linux 5.18: panic_print before kmsg_dump",
    program=(*ENTRY, KDUMP_FIRST_UNLESS_POST, Op("smp_send_stop", "!post"),
             Op("crash_smp_send_stop", "post"), Op("notifier_chain"),
             Op("panic_print_sys_info"), Op("kmsg_dump"), KDUMP_LAST_IF_POST, *TAIL),
    features=frozenset({"post_notifiers_option", "crash_smp_send_stop",
                        "mips_crash_smp_send_stop", "printk_nmi_deferred", "ppc_crash_smp_send_stop",
                        "console_unblank_flush"}),
    sources=("commit f953f140f318 (v5.18)", "commit 8d470a45d1a6 (v5.18)",
             "commit 219572d2fc41 (v5.17, powerpc)"),
)
