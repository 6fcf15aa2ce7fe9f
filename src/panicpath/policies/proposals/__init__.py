"""Every proposal in the seeds as a policy (kind "proposal"), by fixed name."""

from __future__ import annotations

from panicpath.policies.base import Policy
from panicpath.policies.proposals import (
    biederman,
    crash_shutdown_list,
    kawai_2016,
    mladek_1,
    mladek_2,
    mladek_3,
    mladek_4,
    piccoli_arch_hook,
    piccoli_filter,
    piccoli_helper_kexec,
    piccoli_helper_panic,
    piccoli_levels,
    rutland_defer,
)

PROPOSALS: tuple[Policy, ...] = (
    mladek_1.POLICY,
    mladek_2.POLICY,
    mladek_3.POLICY,
    mladek_4.POLICY,
    piccoli_helper_panic.POLICY,
    piccoli_helper_kexec.POLICY,
    piccoli_arch_hook.POLICY,
    piccoli_levels.POLICY,
    piccoli_filter.POLICY,
    biederman.POLICY,
    rutland_defer.POLICY,
    crash_shutdown_list.POLICY,
    kawai_2016.POLICY,
)

__all__ = ["PROPOSALS"]
