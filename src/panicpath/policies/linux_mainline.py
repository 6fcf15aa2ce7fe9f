"""Linux mainline (v6.17+ vpanic(), 3f045de7f557; panic_try_start ~v6.18).

kernel/panic.c vpanic() (kernel-facts.md section 1b): the same order as 6.1.192 —
panic_try_start(); if !post __crash_kexec; panic_other_cpus_shutdown; notifiers;
sys_info(panic_print); kmsg_dump_desc(PANIC); if post __crash_kexec; flush;
panic_timeout. New callers force post notifiers (AMD SEV-SNP host). The serial console is an nbcon
console since 7.3 (linux_7_3.py).
"""

from panicpath.policies.base import MAINLINE, Policy
from panicpath.policies.linux_6_1 import FEATURES, PROGRAM  # console_unblank: linux_6_6.py

POLICY = Policy(
    name="linux-mainline",
    version=MAINLINE,
    title="Linux mainline: vpanic(), same order as 6.1.192",
    program=PROGRAM,
    features=(FEATURES - {"console_unblank_flush"}) | {"vpanic", "nbcon_console"},
    sources=("kernel/panic.c vpanic() (mainline)",),
)
