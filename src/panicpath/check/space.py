"""Configuration spaces for `compare`: architecture x hypervisor x drivers x kdump x
parameters x faults, restricted to machines that can exist."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from panicpath.catalog import DRIVERS
from panicpath.faults import FAULTS
from panicpath.model.scenario import Scenario

ARCH_HYPERVISORS: dict[str, tuple[str, ...]] = {
    "x86_64": ("none", "kvm", "hyperv", "xen"),
    "arm64": ("none", "kvm", "hyperv"),
    "powerpc": ("none",),
    "mips-octeon": ("none",),
    "s390": ("none",),
}
"""Which hypervisors the model runs on which architecture (Hyper-V guests exist on x86_64
and arm64, seed 004; Xen guests are modelled on x86_64 only)."""

OPTIONAL_DRIVER_SETS: dict[str, tuple[tuple[str, ...], ...]] = {
    "x86_64": ((), ("pvpanic", "ramoops"), ("bcm-vk",), ("ipmi-panic-event", "ipmi-watchdog")),
    "arm64": ((), ("pvpanic", "ramoops"), ("bcm-vk",)),
    "powerpc": ((), ("fadump",), ("ramoops",)),
    "mips-octeon": ((),),
    "s390": ((),),
}
HYPERV_EXTRA: tuple[str, ...] = ("hyperv-fb",)
"""Every seed situation: Hyper-V with its framebuffer (seed 004), bcm_vk's DMA (002),
pvpanic and pstore (lab), IPMI's watchdog (003, Kawai's BMC work), fadump (000)."""


@dataclass(frozen=True)
class Space:
    """What to enumerate. Empty tuples mean 'all'."""

    policies: tuple[str, ...]
    arches: tuple[str, ...] = ()
    hypervisors: tuple[str, ...] = ()
    kdump: tuple[bool, ...] = (True, False)
    post_notifiers: tuple[str, ...] = ("0", "1")
    faults: tuple[tuple[str, ...], ...] = ()
    cpus: int = 2

    def fault_sets(self) -> tuple[tuple[str, ...], ...]:
        """No fault, then each single fault."""
        if self.faults:
            return self.faults
        return ((), *((f,) for f in FAULTS))


def configurations(space: Space) -> Iterator[Scenario]:
    """Every scenario of the space, policies outermost, in a deterministic order."""
    for policy in space.policies:
        for arch, hvs in ARCH_HYPERVISORS.items():
            if space.arches and arch not in space.arches:
                continue
            for hv in hvs:
                if space.hypervisors and hv not in space.hypervisors:
                    continue
                sets = OPTIONAL_DRIVER_SETS[arch]
                if hv == "hyperv":
                    sets = (*sets, HYPERV_EXTRA)
                for drivers in sets:
                    for kdump in space.kdump:
                        for post in space.post_notifiers:
                            for faults in space.fault_sets():
                                yield Scenario(
                                    policy=policy, arch=arch, hypervisor=hv, kdump=kdump,
                                    params=(("crash_kexec_post_notifiers", post),),
                                    drivers=drivers, faults=faults, cpus=space.cpus,
                                )


def size(scn: Scenario) -> tuple[int, int, int, int]:
    """Order of 'smallest' configurations: fewest faults, fewest drivers, no boot
    parameter changed, kdump before no-kdump."""
    params = sum(1 for _, v in scn.params if v not in ("0", ""))
    return (len(scn.faults), len(scn.drivers), params, 0 if scn.kdump else 1)


assert all(d in DRIVERS for sets in OPTIONAL_DRIVER_SETS.values() for s in sets for d in s)
