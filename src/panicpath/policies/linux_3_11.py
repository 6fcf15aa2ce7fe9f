"""Linux 3.11: kdump first, then stop CPUs, kmsg_dump, and the notifiers last.

kernel/panic.c panic() before 6723734cdff1 ("panic: call panic handlers before
kmsg_dump", v3.12): crash_kexec(NULL); smp_send_stop(); kmsg_dump(KMSG_DUMP_PANIC);
atomic_notifier_call_chain(&panic_notifier_list, ...). There is no
crash_kexec_post_notifiers: kdump always comes first.
"""

from panicpath.policies.base import Op, Policy
from panicpath.policies.kernels import ENTRY, OLD_TAIL

POLICY = Policy(
    name="linux-3.11",
    version=(3, 11),
    title="Linux 3.11: kdump, smp_send_stop, kmsg_dump, then notifiers",
    program=(*ENTRY, Op("crash_kexec"), Op("smp_send_stop"), Op("kmsg_dump"),
             Op("notifier_chain"), *OLD_TAIL),
    sources=("kernel/panic.c v3.11 panic()", "commit 6723734cdff1 (v3.12) for the next change"),
)
