"""Linux 3.15: kdump first; notifiers now before kmsg_dump; no post-notifiers option.

kernel/panic.c v3.12..v3.15: crash_kexec(NULL); smp_send_stop(); notifier chain;
kmsg_dump(KMSG_DUMP_PANIC). 6723734cdff1 ("panic: call panic handlers before
kmsg_dump", v3.12) moved the notifiers before the dump so they can add to it.
"""

from panicpath.policies.base import Op, Policy
from panicpath.policies.kernels import ENTRY, OLD_TAIL

POLICY = Policy(
    name="linux-3.15",
    version=(3, 15),
    title="Linux 3.15: kdump first, no crash_kexec_post_notifiers",
    program=(*ENTRY, Op("crash_kexec"), Op("smp_send_stop"), Op("notifier_chain"),
             Op("kmsg_dump"), *OLD_TAIL),
    sources=("kernel/panic.c v3.15 panic()", "commit 6723734cdff1 (v3.12)"),
)
