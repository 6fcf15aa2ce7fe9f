"""Linux 4.5: panic_cpu, __crash_kexec, and a forced console flush at the end.

7bbee5ca3896 ("kexec: Fix race between panic() and crash_kexec()", v4.5-rc1): the
one-CPU gate becomes atomic_cmpxchg(&panic_cpu) and panic() calls __crash_kexec()
directly; 1717f2096b54 / 58c5661f2144 add nmi_panic() and let CPUs looping in NMI
context save their registers; 8d91f8b15361 (v4.5-rc1) adds console_flush_on_panic()
after the notifiers and dumpers. The middle of panic() keeps 3.16's order
(docs/kernel-history.md section 1.1).
"""

from panicpath.policies.base import Op, Policy
from panicpath.policies.kernels import ENTRY, KDUMP_FIRST_UNLESS_POST, KDUMP_LAST_IF_POST, TAIL

POLICY = Policy(
    name="linux-4.5",
    version=(4, 5),
    title="Linux 4.5: panic_cpu gate, console_flush_on_panic",
    program=(*ENTRY, KDUMP_FIRST_UNLESS_POST, Op("smp_send_stop"), Op("notifier_chain"),
             Op("kmsg_dump"), KDUMP_LAST_IF_POST, *TAIL),
    features=frozenset({"post_notifiers_option"}),
    sources=("commit 7bbee5ca3896 (v4.5)", "commit 8d91f8b15361 (v4.5)",
             "commits 1717f2096b54, 58c5661f2144 (v4.5)"),
)
