"""piccoli-arch-hook: Piccoli's approach (3) (seed 000): "Have a way in arm64 (and all archs
maybe) to run code before a kdump - this is analog to the custom machine_crash_shutdown()
we have nowadays in some archs"; seed 001 is the arm64 thread it refers to ("Should arm64
have a custom crash shutdown handler?", where Mark Rutland is not keen).

Starts from linux-6.1. Changes: hyperv_fb, the VMbus unload and bcm_vk's DMA stop
(common.MUST_PRECEDE_KDUMP: seeds 000, 002, 004) are also registered as crash-shutdown
handlers (x86 machine_ops.crash_shutdown, powerpc crash_shutdown_register with its 3
slots, MIPS _machine_crash_shutdown: each architecture runs them its own way); arm64 and
s390, which have no such hook (arch/arm64/kernel/machine_kexec.c), gain one run at the start
of machine_crash_shutdown(). The three stay on the panic notifier list for panics without
kdump (the "code duplicity" con). Hyper-V stops forcing crash_kexec_post_notifiers. No patch
was posted.
"""

from __future__ import annotations

from panicpath.model.effects import perform
from panicpath.model.run import Run
from panicpath.policies.base import Policy
from panicpath.policies.proposals.common import SEED_000, SEED_001, both, copy_to, hook
from panicpath.policies.proposals.helpers import (
    BASE,
    FEATURES,
    PROGRAM,
    THREAD,
    UNFORCE_HYPERV,
    VERSION,
)


def new_arch_hook(run: Run) -> None:
    """The hook this proposal adds to architectures without one (arm64, s390): the
    registered crash-shutdown handlers run on the crashing CPU at the start of
    machine_crash_shutdown(), as x86's machine_ops.crash_shutdown override does."""
    if run.arch.has_crash_shutdown_hook:
        return
    handlers, run.crash_shutdown = run.crash_shutdown, ()
    run.emit("machine_crash_shutdown", "step",
             f"new {run.arch.name} crash-shutdown hook: {', '.join(c.name for c in handlers)}",
             f"{SEED_000} Piccoli (3); {SEED_001}")
    for cb in handlers:
        perform(run, cb)


POLICY = Policy(
    name="piccoli-arch-hook",
    version=VERSION,
    title="Piccoli (3): a crash-shutdown hook on every arch (arm64 included)",
    program=PROGRAM,
    features=FEATURES,
    sources=(f"{SEED_000}: Piccoli, approach (3)", f"{SEED_001}: the arm64 thread", THREAD),
    doc=__doc__ or "",
    base=BASE,
    kind="proposal",
    catalog_version=(6, 3),
    place=copy_to("crash_shutdown"),
    setup=both(UNFORCE_HYPERV, hook("before_machine_crash_shutdown", new_arch_hook)),
)
