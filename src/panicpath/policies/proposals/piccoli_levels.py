"""piccoli-levels: Guilherme Piccoli's 2022 "panic notifiers refactor" as posted (V1, 30
patches, 2022-04-27, https://lore.kernel.org/lkml/20220427224924.592546-1-gpiccoli@igalia.com/;
seeds 000, 002, 004 discuss it).

Starts from linux-6.1 (Debian 6.1.192; the series was based on 5.18-rc4, and 6.1.192 holds
its merged fixes). Changes, by patch:
- 19-22: four lists, panic_hypervisor_list, panic_info_list, panic_pre_reboot_list (the
  renamed panic_notifier_list, so every driver not moved stays there) and
  panic_post_reboot_list; drivers on the lists V1 put them on (common.SERIES_PLACEMENT:
  Hyper-V report, pvpanic, bcm_vk (seed 002), fadump on hypervisor; the kernel offset on
  info; the VMbus unload, hyperv_fb (seed 004, patch 21), IPMI (at INT_MIN + 1), Xen on
  pre_reboot).
- 16 as posted: the VMbus unload notifier does nothing when a crash kernel is loaded
  (`if (!kexec_crash_loaded())`, seed 004), relying on crash_shutdown() to unload.
- 23-24: panic() refactored; `panic_notifiers_level=0..4` (default 2) decides which lists
  run before kdump (common.level_before); crash_kexec_post_notifiers means level 4;
  crash_smp_send_stop() always stops the other CPUs.
- 26-27: Hyper-V and fadump no longer force crash_kexec_post_notifiers.
Objections in the seeds: Kelley (seed 004) -- patch 16 leaves arm64, which has no custom
crash_shutdown(), without the VMbus unload when a crash kernel is loaded; patch 21 puts
hyperv_fb after the unload in the kdump case. Piccoli himself dropped the levels (seed 000:
"the panic level approach I'm proposing is not a good fit, I'll drop it"). Not merged.
"""

from __future__ import annotations

from panicpath.model.run import Run
from panicpath.policies.base import Policy
from panicpath.policies.linux_6_1 import FEATURES
from panicpath.policies.proposals.common import (
    SEED_000,
    SEED_002,
    SEED_004,
    SERIES,
    SERIES_PLACEMENT,
    SPLIT_LISTS,
    level_before,
    split_place,
    split_program,
    split_steps,
    unforce,
)

DEFAULT_LEVEL = 2
"""kernel/panic.c as patched by patch 24: `unsigned int panic_notifiers_level = 2;`."""


def before(run: Run) -> frozenset[str]:
    """The lists that run before kdump at this level (patch 24)."""
    return level_before(run, DEFAULT_LEVEL)


POLICY = Policy(
    name="piccoli-levels",
    version=(6, 1),
    title="Piccoli 2022 series as posted: four lists, panic_notifiers_level (default 2)",
    program=split_program(),
    features=FEATURES | {"split_panic_lists"},
    sources=(SERIES, f"{SEED_004}: Kelley on patches 16 and 21",
             f"{SEED_002}: bcm_vk on the hypervisor list (patch 19)",
             f"{SEED_000}: Piccoli drops the level approach"),
    doc=__doc__ or "",
    base="linux-6.1",
    kind="proposal",
    catalog_version=(6, 3),
    steps=split_steps(before),
    place=split_place(SERIES_PLACEMENT, no_unload_with_crash_kernel=True),
    setup=unforce(frozenset({"hyperv-report-panic", "fadump"}),
                  "series patches 26/27 'Do not force all panic notifiers to execute before "
                  "kdump' (Hyper-V, powerpc)"),
    lists=SPLIT_LISTS,
    params=("panic_notifiers_level",),
    param_space=(("panic_notifiers_level", ("0", "1", "2", "3", "4")),),
)
