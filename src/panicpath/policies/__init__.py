"""Policies by their fixed names: kernel versions, then every proposal in the seeds."""

from __future__ import annotations

from panicpath.policies import (
    linux_3_11,
    linux_3_15,
    linux_3_16,
    linux_4_5,
    linux_4_9,
    linux_5_0,
    linux_5_18,
    linux_6_1,
    linux_6_3,
    linux_mainline,
)
from panicpath.policies.base import Op, Policy
from panicpath.policies.proposals import PROPOSALS

POLICIES: dict[str, Policy] = {
    p.name: p
    for p in (
        linux_3_11.POLICY,
        linux_3_15.POLICY,
        linux_3_16.POLICY,
        linux_4_5.POLICY,
        linux_4_9.POLICY,
        linux_5_0.POLICY,
        linux_5_18.POLICY,
        linux_6_1.POLICY,
        linux_6_3.POLICY,
        linux_mainline.POLICY,
        *PROPOSALS,
    )
}

__all__ = ["POLICIES", "Op", "Policy"]
