"""Linux 7.3: the 8250 serial console is an nbcon console.

panic() runs as in 6.1.192 (vpanic since v6.17, 3f045de7f557; docs/kernel-history.md).
What changed for the panic path by 7.3 is the console: the 8250 UART driver became an
nbcon console with an atomic write callback (Debian's 7.3.4 headers: struct uart_8250_port
has `console_line_ended` and serial8250_console_write() takes a `struct
nbcon_write_context *`; 7.2.13's do not). printk() in NMI context stores the record and,
for nbcon consoles, flushes them atomically at once (kernel/printk/printk.c
vprintk_emit() -> nbcon_atomic_flush_pending(), kernel/printk/nbcon.c), where a legacy
console waited for an irq_work that a panic in NMI never runs. Seen in the lab: an NMI
panic prints "Kernel panic - not syncing: NMI: Not continuing" on the serial console of
7.3.4, not of 7.2.13 (docs/lab.md, Other kernels and architectures).
"""

from panicpath.policies.base import Policy
from panicpath.policies.linux_6_1 import FEATURES, PROGRAM  # console_unblank: linux_6_6.py

POLICY = Policy(
    name="linux-7.3",
    version=(7, 3),
    title="Linux 7.3: vpanic(), the serial console prints from NMI context (nbcon 8250)",
    program=PROGRAM,
    features=(FEATURES - {"console_unblank_flush"}) | {"vpanic", "nbcon_console"},
    sources=("kernel/panic.c vpanic() (v6.17, 3f045de7f557)",
             "drivers/tty/serial/8250 nbcon console (7.3; Debian 7.3.4 headers)"),
)
