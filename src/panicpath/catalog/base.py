"""A catalog driver: the callbacks a real driver registers, and what it sets up at boot."""

from __future__ import annotations

from dataclasses import dataclass

from panicpath.model.callback import Callback, parse_effect, parse_need

BOOT_EFFECTS = (
    "force-post-notifiers",
    "vmbus-connect",
    "dma-device",
    "arm-cpu-watchdogs",
    "arm-bmc-watchdog",
    "arm-hw-watchdog",
    "snp-iommu",
)
"""What a driver does at boot that the panic path later meets:
force-post-notifiers (sets crash_kexec_post_notifiers), vmbus-connect (VMbus is up),
dma-device:NAME (a DMA-capable device exists), arm-cpu-watchdogs (per-CPU watchdogs
running), arm-bmc-watchdog (IPMI watchdog running, 10 s), arm-hw-watchdog:NAME (watchdog device
NAME kept alive by a userspace daemon, timeout the boot parameter NAME.heartbeat),
snp-iommu (IOMMU in SNP mode)."""


@dataclass(frozen=True)
class Driver:
    """A driver (or arch/platform code) in the catalog.

    `archs`/`hypervisors` restrict where it exists (None: anywhere). `platform`
    marks code that is always there on a matching machine (the platform's own,
    not an optional driver). `since` is the first kernel (major, minor) with this
    registration in the form modelled; `requires` names drivers it depends on.
    """

    name: str
    callbacks: tuple[Callback, ...]
    boot: tuple[str, ...] = ()
    archs: tuple[str, ...] | None = None
    hypervisors: tuple[str, ...] | None = None
    platform: bool = False
    since: tuple[int, int] = (2, 6)
    requires: tuple[str, ...] = ()
    doc: str = ""
    older: tuple[Driver, ...] = ()
    """Earlier forms of the same driver (each with its own `since`), newest first: a kernel
    older than `since` gets the newest older form it has."""

    def for_version(self, version: tuple[int, int]) -> Driver | None:
        """The form of this driver in kernel `version`, or None if it did not exist yet."""
        if version >= self.since:
            return self
        for old in self.older:
            if version >= old.since:
                return old
        return None

    def fits(self, arch: str, hypervisor: str) -> bool:
        """Whether this driver can exist on that machine."""
        return (self.archs is None or arch in self.archs) and (
            self.hypervisors is None or hypervisor in self.hypervisors
        )


def cb(
    name: str,
    list_: str,
    priority: int = 0,
    *,
    needs: tuple[str, ...] = (),
    effects: tuple[str, ...] = (),
    order: int = 0,
    max_reason: str = "UNDEF",
    forces_post_notifiers: bool = False,
    risky: tuple[str, ...] = (),
    sources: tuple[str, ...] = (),
    doc: str = "",
) -> Callback:
    """Shorthand to declare a catalog callback with parsed needs and effects."""
    return Callback(
        name=name,
        list=list_,
        priority=priority,
        needs=tuple(parse_need(n) for n in needs),
        effects=tuple(parse_effect(e) for e in effects),
        order=order,
        max_reason=max_reason,
        forces_post_notifiers=forces_post_notifiers,
        risky=risky,
        sources=sources,
        doc=doc,
    )
