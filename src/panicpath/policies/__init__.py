"""Policies by their fixed names: kernel versions, then every proposal in the seeds."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

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
    linux_6_6,
    linux_7_3,
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
        linux_6_6.POLICY,
        linux_7_3.POLICY,
        linux_mainline.POLICY,
        *PROPOSALS,
    )
}
"""Every policy a command can name: the built-ins, plus for the duration of a command the
policies of its `--policy-file` options (policy_file.policy_files)."""

BUILTIN: Mapping[str, Policy] = MappingProxyType(dict(POLICIES))
"""The policies written in this package, whatever files a command has loaded."""


def policy_for_release(release: tuple[int, int]) -> Policy:
    """The kernel-version policy in force for a kernel release (the lab predicts a guest
    with it): the newest numbered kernel policy whose version is not after the release
    (5.10 runs linux-5.0, 6.12 and 7.2 linux-6.6, 7.3 linux-7.3). linux-mainline is the
    tip of the tree, no release's."""
    kernels = [p for p in POLICIES.values()
               if p.kind == "kernel" and p.version <= release and p.name != "linux-mainline"]
    if not kernels:
        raise KeyError(f"no kernel policy covers {release[0]}.{release[1]}")
    return max(kernels, key=lambda p: p.version)


__all__ = ["BUILTIN", "POLICIES", "Op", "Policy", "policy_for_release"]
