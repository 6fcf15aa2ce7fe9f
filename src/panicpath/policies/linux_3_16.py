"""Linux 3.16: crash_kexec_post_notifiers arrives; other CPUs stopped by smp_send_stop.

f06e5153f4ae ("kernel/panic.c: add "crash_kexec_post_notifiers" option for kdump
after panic_notifers", Masami Hiramatsu, v3.16): if !post crash_kexec();
smp_send_stop(); notifiers; kmsg_dump(); if post crash_kexec(). With the option,
the CPUs are stopped without saving registers before machine_crash_shutdown
(seed 003, Problem 2) and offlined before Octeon's watchdog shutdown (Problem 1).
"""

from panicpath.policies.base import Op, Policy
from panicpath.policies.kernels import ENTRY, KDUMP_FIRST_UNLESS_POST, KDUMP_LAST_IF_POST, OLD_TAIL

POLICY = Policy(
    name="linux-3.16",
    version=(3, 16),
    title="Linux 3.16: crash_kexec_post_notifiers, smp_send_stop before the notifiers",
    program=(*ENTRY, KDUMP_FIRST_UNLESS_POST, Op("smp_send_stop"), Op("notifier_chain"),
             Op("kmsg_dump"), KDUMP_LAST_IF_POST, *OLD_TAIL),
    features=frozenset({"post_notifiers_option"}),
    sources=("commit f06e5153f4ae (v3.16)", "kernel/panic.c v3.16 panic()"),
)
