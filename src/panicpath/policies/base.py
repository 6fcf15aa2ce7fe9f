"""A policy: the ordered program of panic() for one kernel version or one proposal."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from panicpath.model.callback import Callback
    from panicpath.model.run import Run

CONDITIONS = ("", "post", "!post")
"""When an op runs: always, only with crash_kexec_post_notifiers (as panic() snapshotted
it), only without."""

MAINLINE = (99, 0)

FEATURES: dict[str, str] = {
    "post_notifiers_option":
        "the crash_kexec_post_notifiers boot parameter exists (f06e5153f4ae, v3.16); without "
        "it the parameter is ignored and no driver can force it (engine._boot)",
    "crash_smp_send_stop":
        "crash_smp_send_stop() (0ee59413c967, v4.9): the CPUs stopped once, registers saved, "
        "and machine_crash_shutdown's own stop becomes a no-op (arch/x86/kernel/crash.c)",
    "mips_crash_smp_send_stop":
        "Octeon's _crash_smp_send_stop hook stops the watchdogs while the CPUs are online "
        "(arch/mips/kernel/crash.c crash_smp_send_stop, v4.9)",
    "ppc_crash_smp_send_stop":
        "powerpc's own crash_smp_send_stop (219572d2fc41, v5.17, arch/powerpc/kexec/crash.c)",
    "panic_other_cpus_shutdown":
        "panic_print's all-CPU backtrace is taken before the CPUs are stopped "
        "(kernel/panic.c panic_other_cpus_shutdown, v6.3; 6.1.y backport)",
    "printk_nmi_deferred":
        "printk in NMI context fills a buffer a later flush prints (cf9b1106c81c, v4.7, "
        "kernel/printk/printk_safe.c)",
    "console_unblank_flush":
        "an oops's bust_spinlocks(0) -> console_unblank() takes the console lock and its "
        "console_unlock() prints every pending record, deferred ones included (lib/"
        "bust_spinlocks.c, kernel/printk/printk.c): deferred printk is stored in the ring "
        "buffer since 93d102f094be (v5.15); 7b23a66db55e (v6.6) returns early unless a "
        "console has an unblank() callback",
    "nbcon_console":
        "the 8250 serial console is an nbcon console that printk flushes atomically, NMI "
        "context included (kernel/printk/nbcon.c, 7.3)",
    "vpanic":
        "panic() is a wrapper of vpanic() (3f045de7f557, v6.17); a name only, no mechanic "
        "reads it",
    "split_panic_lists":
        "the panic notifier list is split in four (Piccoli's 2022 series, patches 19-22); a "
        "name only, the lists and their steps are the policy's",
}
"""Every feature a policy may name (`Policy.features`, tested by `Run.has`), with the
kernel change it stands for. A policy file naming another is refused."""


@dataclass(frozen=True)
class Op:
    """One step of the program, by name (panicpath.model.steps.STEPS or a policy's own)."""

    step: str
    when: str = ""


@dataclass(frozen=True)
class Policy:
    """A kernel version or a proposal.

    `features` names behaviours that appeared at some version and that steps or
    architectures test (`Run.has`). `version` decides which catalog callbacks exist
    (Driver.since). `steps` holds steps private to the policy. `place` may move a
    catalog callback (to another list or priority) for proposals that re-home
    drivers; `setup` may change the run before it starts (e.g. remove a parameter).
    """

    name: str
    version: tuple[int, int]
    title: str
    program: tuple[Op, ...]
    features: frozenset[str] = frozenset()
    sources: tuple[str, ...] = ()
    doc: str = ""
    base: str = ""
    kind: str = "kernel"
    steps: dict[str, Callable[[Run], None]] = field(default_factory=dict)
    place: Callable[[Callback, Run], Callback | tuple[Callback, ...] | None] | None = None
    """Returns the callback as this policy registers it: moved, None (not registered), or a
    tuple when the driver registers it in several places (seed 002, Scott Branden: "we
    would then need to register for the panic path and the crash_shutdown path")."""
    setup: Callable[[Run], None] | None = None
    params: tuple[str, ...] = ()
    lists: tuple[str, ...] = ()
    """Callback lists the policy adds beyond panic_notifier_list, kmsg_dumper and
    crash_shutdown; scenario [[placement]] overrides may name them."""
    param_space: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Values of the policy's own boot parameters that `compare` explores by default."""
    catalog_version: tuple[int, int] | None = None
    """Which release's driver forms this kernel carries, when it differs from `version`
    (a stable kernel with backports)."""
    unmodelled: tuple[str, ...] = ()
    """Calls in the kernel's panic path the model has no step for, as ``NAME (file:line):
    why`` (a policy derived by `panicpath scan --policy-out`, scan/panic_policy.py);
    commands that run the policy name them before their verdict."""

    @property
    def drivers_version(self) -> tuple[int, int]:
        """The version used to pick each catalog driver's form."""
        return self.catalog_version or self.version
