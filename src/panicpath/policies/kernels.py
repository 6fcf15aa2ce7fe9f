"""Shared pieces of the kernel-version policies."""

from __future__ import annotations

from panicpath.policies.base import Op

ENTRY = (Op("panic_entry"),)
TAIL = (Op("console_flush_on_panic"), Op("panic_timeout"))
"""kernel/panic.c after the dump: console_unblank/console_flush_on_panic, then the
panic_timeout reboot or the halt loop."""

KDUMP_FIRST_UNLESS_POST = Op("crash_kexec", "!post")
KDUMP_LAST_IF_POST = Op("crash_kexec", "post")
