"""Linux 6.6: an oops in panic() no longer flushes the console.

John Ogness's "printk: Reduce console_unblank() usage in unsafe scenarios" (7b23a66db55e,
v6.6; Msg-Id 20230717194607.145135-3-john.ogness@linutronix.de): console_unblank() first
looks for a console with an unblank() callback and returns if there is none (the serial,
hvc and virtio consoles have none), and returns in NMI context. Before it, the
bust_spinlocks(0) of every oops (lib/bust_spinlocks.c, called by oops_end()) took the
console lock and its console_unlock() printed every pending record, deferred ones
included (kernel/printk/printk.c console_unblank(), 6.1.192). So an oops on a corrupted
notifier list after powerpc's crash_kexec_prepare() had deferred printk flushed the
notifiers' lines up to 6.5 (seen on pseries 6.1, docs/lab.md) and does not from 6.6.
panic() itself runs as in 6.3 (kernel/panic.c 6.6; 6.12.118 and 7.2.13 the same order).
"""

from panicpath.policies.base import Policy
from panicpath.policies.linux_6_1 import FEATURES, PROGRAM

POLICY = Policy(
    name="linux-6.6",
    version=(6, 6),
    title="Linux 6.6: console_unblank() leaves the console alone (an oops flushes nothing)",
    program=PROGRAM,
    features=FEATURES - {"console_unblank_flush"},
    sources=("commit 7b23a66db55e (v6.6) kernel/printk/printk.c console_unblank()",
             "Msg-Id 20230717194607.145135-3-john.ogness@linutronix.de"),
)
