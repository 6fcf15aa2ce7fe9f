"""Pieces shared by the proposal policies: list names, where each catalog driver goes, the
split-list panic() of Piccoli's 2022 series, and switching off a driver's forcing of
crash_kexec_post_notifiers.

Nothing here names an outcome: a proposal is a program plus placements, and the matrix
comes out of running it. Each placement cites the seed or patch that puts a driver
there (docs/proposals.md has the full table).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from panicpath.catalog import DRIVERS
from panicpath.model.callback import Callback, parse_need
from panicpath.model.run import Run
from panicpath.model.steps import STEPS, crash_kexec, run_calls, run_list
from panicpath.policies.base import Op
from panicpath.policies.kernels import ENTRY

SEED_000 = "shared/seeds/000_53a1568bcf55ac04.txt"
SEED_001 = "shared/seeds/001_6a6b582d9e6b633e.txt"
SEED_002 = "shared/seeds/002_ef6287f3926c4285.txt"
SEED_003 = "shared/seeds/003_acbd05ad416b8b59.txt"
SEED_004 = "shared/seeds/004_db6820201c20accb.txt"
SERIES = ("https://lore.kernel.org/lkml/20220427224924.592546-1-gpiccoli@igalia.com/ "
          "(\"The panic notifiers refactor\" V1, 30 patches, 2022-04-27; patch N is "
          "...-(N+1)-gpiccoli@igalia.com)")

HYP = "panic_hypervisor_list"
INFO = "panic_info_list"
PRE = "panic_pre_reboot_list"
POST_REBOOT = "panic_post_reboot_list"
SPLIT_LISTS = (HYP, INFO, PRE, POST_REBOOT)
"""Patches 19-22 of the series: kernel/panic.c panic_hypervisor_list, panic_info_list,
panic_pre_reboot_list (patch 21 renames panic_notifier_list to it) and
panic_post_reboot_list."""

MUST_PRECEDE_KDUMP = ("hyperv-fb", "hyperv-vmbus-unload", "bcm-vk")
"""The catalog callbacks the seeds say must run before the capture kernel takes over, in
the order they must run: the VMbus unload (seed 000, Baoquan He: "execute it before kdump
unconditionally"; seeds 001/004: the kdump kernel cannot connect to VMbus otherwise),
hyperv_fb before it because it needs a live VMbus (seed 004, Kelley on patch 21), and
bcm_vk's DMA stop (seed 002, Scott Branden: "memory may not be frozen when kdump is
occurring")."""

SERIES_PLACEMENT: dict[str, tuple[str, int | None, str]] = {
    "hyperv-report-panic": (HYP, None, "patch 19 (panic_hypervisor_list)"),
    "pvpanic": (HYP, None, "patch 19"),
    "bcm-vk": (HYP, None, "patch 19; seed 002 (Piccoli: keep it in the hypervisor list)"),
    "fadump": (HYP, None, "patch 19 (ppc_fadump_block)"),
    "dump-kernel-offset": (INFO, None, "patch 20 (kernel_offset_notifier)"),
    "hyperv-vmbus-unload": (PRE, None, "patch 16 (INT_MIN + 1) + patch 21 (list renamed)"),
    "hyperv-fb": (PRE, None, "patch 21; seed 004 (Kelley: 'puts the Hyper-V FB panic "
                  "notifier on the pre_reboot notifier list')"),
    "ipmi-panic-event": (PRE, -(2**31) + 1, "patch 21 (priority 200 -> INT_MIN + 1)"),
    "xen-panic-event": (PRE, None, "patch 21 (xen_panic_block)"),
}
"""Where V1 of the series put each catalog notifier (docs/kernel-history.md 4.2, read
from the patches). Every other panic_notifier_list callback, user callbacks and
sev-snp (which post-dates the series) included, stays on the renamed list: pre_reboot."""

SEED_PLACEMENT: dict[str, tuple[str, int | None, str]] = {
    **SERIES_PLACEMENT,
    "hyperv-vmbus-unload": (HYP, None, "seed 000 (Baoquan He: run the VMbus unload before "
                            "kdump unconditionally); seed 004 (Kelley)"),
    "hyperv-fb": (HYP, None, "seed 004 (Kelley: 'maybe it needs to be put on the hypervisor "
                  "notifier list'); INT_MIN + 10 keeps it before the unload"),
}
"""The series' placement corrected as its reviewers asked in the seeds: the VMbus unload
and hyperv_fb on the hypervisor list, which runs before kdump by default in solutions 2
and 3 (bcm_vk is already there, seed 002)."""


def split_place(table: Mapping[str, tuple[str, int | None, str]],
                moved_to: Mapping[str, str] | None = None,
                no_unload_with_crash_kernel: bool = False,
                ) -> Callable[[Callback, Run], Callback | None]:
    """A `Policy.place` for the split lists: each panic notifier goes to the list `table`
    names (optionally at a new priority), `moved_to` overrides the list for some names,
    everything else on panic_notifier_list goes to pre_reboot (patch 21's rename).
    `no_unload_with_crash_kernel` adds patch 16's `if (!kexec_crash_loaded())` to the
    VMbus unload notifier (seed 004)."""

    def place(cb: Callback, run: Run) -> Callback | None:
        if cb.list != "panic_notifier_list":
            return cb
        lst, prio, _ = table.get(cb.name, (PRE, None, ""))
        if moved_to and cb.name in moved_to:
            lst = moved_to[cb.name]
        new = replace(cb, list=lst, priority=cb.priority if prio is None else prio)
        if no_unload_with_crash_kernel and cb.name == "hyperv-vmbus-unload":
            new = replace(new, needs=(parse_need("no-crash-kernel"), *new.needs))
        return new

    return place


def copy_to(lst: str, names: tuple[str, ...] = MUST_PRECEDE_KDUMP, *, keep: bool = True,
            ordered: bool = True) -> Callable[[Callback, Run], Callback | tuple[Callback, ...]]:
    """A `Policy.place` that registers the named callbacks on `lst` as well (`keep`: the
    panic notifier stays, for panics without kdump) or instead. With `ordered` the copies
    take the registration order of `names` (direct calls are written in that order)."""

    def place(cb: Callback, run: Run) -> Callback | tuple[Callback, ...]:
        if cb.name not in names or cb.list != "panic_notifier_list":
            return cb
        copy = replace(cb, list=lst, order=names.index(cb.name) if ordered else cb.order)
        return (cb, copy) if keep else copy

    return place


def forcers(run: Run) -> list[str]:
    """Drivers present in this run that set crash_kexec_post_notifiers at boot."""
    names: tuple[str, ...] = getattr(run, "drivers", ())
    return [n for n in names if "force-post-notifiers" in DRIVERS[n].boot]


def unforce(drivers: frozenset[str], why: str) -> Callable[[Run], None]:
    """A `Policy.setup`: the named drivers no longer force crash_kexec_post_notifiers (the
    proposal gives their must-run callback another way to run before kdump). The value
    stays forced if another present driver forces it, or the command line sets it."""

    def setup(run: Run) -> None:
        forcing = forcers(run)
        if not forcing or not set(forcing) <= drivers:
            return
        m = run.machine
        m.post_notifiers = bool(run.scenario.int_param("crash_kexec_post_notifiers", 0))
        run.emit("crash_kexec_post_notifiers", "step",
                 f"{', '.join(forcing)} no longer force it: "
                 f"{'on' if m.post_notifiers else 'off'} (command line)", why)

    return setup


def both(*setups: Callable[[Run], None]) -> Callable[[Run], None]:
    """Several `Policy.setup` functions in order."""

    def setup(run: Run) -> None:
        for s in setups:
            s(run)

    return setup


def hook(name: str, step: Callable[[Run], None]) -> Callable[[Run], None]:
    """A `Policy.setup` that installs `step` as run hook `name`."""

    def setup(run: Run) -> None:
        run.hooks[name] = step

    return setup


Before = Callable[[Run], frozenset[str]]
"""Which of hypervisor / info / pre_reboot run before kdump in this run."""


def level_before(run: Run, default: int) -> frozenset[str]:
    """kernel/panic.c order_panic_notifiers_and_kdump() of patch 24 (docs/kernel-history.md
    4.3): crash_kexec_post_notifiers or level >= 4: all three lists before kdump; 3:
    hypervisor and info; 2: hypervisor, and info only if kmsg_has_dumpers() (patch 23);
    1: hypervisor; 0: none (kdump first)."""
    if run.machine.post_notifiers_snapshot:
        return frozenset({HYP, INFO, PRE})
    level = run.scenario.int_param("panic_notifiers_level", default)  # 0..4: model/params.py
    if level >= 4:
        return frozenset({HYP, INFO, PRE})
    if level == 3:
        return frozenset({HYP, INFO})
    if level == 2:
        return frozenset({HYP, INFO}) if run.dumpers else frozenset({HYP})
    if level == 1:
        return frozenset({HYP})
    return frozenset()


def split_steps(before: Before, pre_kdump: str = "") -> dict[str, Callable[[Run], None]]:
    """The steps of the series' panic() (patch 24, kernel/panic.c as patched): each list runs
    once, before __crash_kexec when `before(run)` holds it, else after; the info list
    brings panic_print and kmsg_dump(PANIC) with it; if nothing runs before kdump it is
    the very first thing; post_reboot runs only when panic_timeout is 0 (after
    emergency_restart, which does not return). `pre_kdump` names a further list run
    before everything, on every panic (Mladek's solution 4)."""

    def kdump_first(run: Run) -> None:
        if not before(run):
            crash_kexec(run)

    def phase(lst: str, early: bool) -> Callable[[Run], None]:
        walk = run_list(lst)

        def step(run: Run) -> None:
            if (lst in before(run)) != early:
                return
            walk(run)
            if lst == INFO:
                STEPS["panic_print_sys_info"](run)
                STEPS["kmsg_dump"](run)

        return step

    def timeout(run: Run) -> None:
        if run.scenario.int_param("panic", 0) == 0:
            run_list(POST_REBOOT)(run)
        STEPS["panic_timeout"](run)

    steps: dict[str, Callable[[Run], None]] = {"kdump_first": kdump_first,
                                               "panic_timeout_post_reboot": timeout}
    for lst, short in ((HYP, "hypervisor"), (INFO, "info"), (PRE, "pre_reboot")):
        steps[f"{short}_before_kdump"] = phase(lst, True)
        steps[f"{short}_after_kdump"] = phase(lst, False)
    if pre_kdump:
        steps[pre_kdump] = run_list(pre_kdump)
    return steps


def split_program(pre_kdump: str = "") -> tuple[Op, ...]:
    """The op sequence of the series' panic() (see split_steps)."""
    return (*ENTRY, Op("crash_smp_send_stop"), *((Op(pre_kdump),) if pre_kdump else ()),
            Op("kdump_first"), Op("hypervisor_before_kdump"), Op("info_before_kdump"),
            Op("pre_reboot_before_kdump"), Op("crash_kexec"), Op("hypervisor_after_kdump"),
            Op("info_after_kdump"), Op("pre_reboot_after_kdump"),
            Op("console_flush_on_panic"), Op("panic_timeout_post_reboot"))


def calls(name: str) -> Callable[[Run], None]:
    """Re-export of the direct-call step (no list) for proposal modules."""
    return run_calls(name)
