"""Shared pieces of the kernel-version policies."""

from __future__ import annotations

from panicpath.policies.base import Op

ENTRY = (Op("panic_entry"),)
TAIL = (Op("console_flush_on_panic"), Op("panic_timeout"))
"""kernel/panic.c after the dump (v4.5+, 8d91f8b15361): console_unblank /
console_flush_on_panic, then the panic_timeout reboot or the halt loop."""
OLD_TAIL = (Op("panic_timeout"),)
"""Before v4.5 panic() ended with bust_spinlocks(0) and the panic_timeout handling; no
forced console flush (docs/kernel-history.md section 1.1)."""

KDUMP_FIRST_UNLESS_POST = Op("crash_kexec", "!post")
KDUMP_LAST_IF_POST = Op("crash_kexec", "post")
