"""mladek-2: "call hypervisor and eventually the info notifiers before kdump" by default,
with a command-line parameter to call kdump first (seed 000, Petr Mladek's solution 2, "a
good compromise").

Starts from linux-6.1. Changes: the lists split as the series does (patches 19-22), drivers
placed as the seeds' reviewers asked (common.SEED_PLACEMENT: VMbus unload, hyperv_fb and
bcm_vk on the hypervisor list); by default the hypervisor list runs before kdump and the
info list (with panic_print and kmsg_dump) too when a kmsg dumper is registered ("eventually",
read as the series' level 2, patch 24); `panic_notifiers_level=0` restores kdump first;
crash_kexec_post_notifiers runs every list first; Hyper-V and fadump stop forcing
crash_kexec_post_notifiers (patches 26/27), since their notifiers now run before kdump.
Objection (seed 000, Baoquan He): "solution 2 will cause regression if not calling kdump
firstly".
"""

from __future__ import annotations

from panicpath.model.run import Run
from panicpath.policies.base import Policy
from panicpath.policies.proposals.common import (
    HYP,
    INFO,
    PRE,
    SEED_PLACEMENT,
    SPLIT_LISTS,
    split_place,
    split_program,
    split_steps,
    unforce,
)
from panicpath.policies.proposals.mladek import (
    BASE,
    FEATURES_SPLIT,
    SOURCES,
    UNFORCE_WHY,
    VERSION,
)


def before(run: Run) -> frozenset[str]:
    """crash_kexec_post_notifiers: every list; panic_notifiers_level=0: none (kdump first);
    otherwise the hypervisor list, and the info list when a kmsg dumper is registered."""
    if run.machine.post_notifiers_snapshot:
        return frozenset({HYP, INFO, PRE})
    if run.scenario.param("panic_notifiers_level") == "0":
        return frozenset()
    return frozenset({HYP, INFO}) if run.dumpers else frozenset({HYP})


POLICY = Policy(
    name="mladek-2",
    version=VERSION,
    title="Mladek solution 2: hypervisor (+info) lists before kdump by default",
    program=split_program(),
    features=FEATURES_SPLIT,
    sources=SOURCES,
    doc=__doc__ or "",
    base=BASE,
    kind="proposal",
    catalog_version=(6, 3),
    steps=split_steps(before),
    place=split_place(SEED_PLACEMENT),
    setup=unforce(frozenset({"hyperv-report-panic", "fadump"}), UNFORCE_WHY),
    lists=SPLIT_LISTS,
    params=("panic_notifiers_level",),
    param_space=(("panic_notifiers_level", ("0", "2")),),
)
