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
from panicpath.policies.proposals.common import HYP, INFO
from panicpath.policies.proposals.mladek import ALL, mladek_policy


def before(run: Run) -> frozenset[str]:
    """crash_kexec_post_notifiers: every list; panic_notifiers_level=0: none (kdump first);
    otherwise the hypervisor list, and the info list when a kmsg dumper is registered."""
    if run.machine.post_notifiers_snapshot:
        return ALL
    if run.scenario.int_param("panic_notifiers_level", -1) == 0:
        return frozenset()
    return frozenset({HYP, INFO}) if run.dumpers else frozenset({HYP})


POLICY = mladek_policy(
    "mladek-2", "Mladek solution 2: hypervisor (+info) lists before kdump by default", __doc__,
    before, unforced=frozenset({"hyperv-report-panic", "fadump"}),
    params=("panic_notifiers_level",), param_space=(("panic_notifiers_level", ("0", "2")),))
