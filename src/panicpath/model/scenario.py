"""A scenario: one configuration of the machine, one policy, the faults to inject."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from panicpath.model.callback import Callback
from panicpath.model.params import PARAMS, parse_c_int

HYPERVISORS = ("none", "kvm", "hyperv", "xen")

BOOT_PARAMS: dict[str, str] = {p.name: p.source for p in PARAMS.values()}
"""Boot parameters the model reads; anything else is refused with this list."""

DUMP_TARGETS = ("local-disk", "vmbus-storage", "network")
HOST_PANIC_ACTIONS = ("shutdown", "pause", "none")
DEFAULT_DUMP_COPY_MS = 20_000
"""Time for makedumpfile to copy /proc/vmcore to the target ([I] a modest guest)."""
"""QEMU `-action panic=` (QEMU 7.2 softmmu/runstate.c qemu_system_guest_panicked)."""


@dataclass(frozen=True)
class Scenario:
    """Everything a run depends on. Frozen and hashable, so results can be cached and compared.

    `drivers` adds catalog callbacks by name to the platform's own (those the
    architecture and hypervisor always register, unless `platform_drivers` is
    false). `faults` holds fault names, optionally ``name=argument``.
    """

    policy: str = "linux-6.1"
    arch: str = "x86_64"
    hypervisor: str = "none"
    kdump: bool = True
    params: tuple[tuple[str, str], ...] = ()
    drivers: tuple[str, ...] = ()
    faults: tuple[str, ...] = ()
    user_callbacks: tuple[Callback, ...] = ()
    cpus: int = 2
    platform_drivers: bool = True
    dump_target: str = ""
    host_panic_action: str = "shutdown"
    path_bound_ms: int = 60_000
    name: str = ""
    overrides: tuple[tuple[str, str, int], ...] = field(default=())
    """(callback, list, priority) placements that replace the catalog's, for proposals."""
    kernel_version: tuple[int, int] | None = None
    """The release whose catalog driver forms the machine registers (default: the policy's
    drivers_version). The lab sets the guest's release: a policy covers several releases
    (linux-5.0 runs 5.10, whose pvpanic already reports CRASH_LOADED, v5.6)."""

    capture_needs_mib: tuple[int, int] = (0, 0)
    """What the crash kernel needs of the ``crashkernel=`` reservation, in MiB: (for kexec to
    load the crash image into it, for the capture kernel to boot in it to its dump tool).
    They depend on the capture kernel and its initramfs, not on panic(); the lab measures
    them per kernel (lab/reservation.py). (0, 0): any reservation does (model/capture.py)."""

    dump_copy_ms: int = DEFAULT_DUMP_COPY_MS
    """How long the capture kernel's dump tool takes, from the moment it can write to the
    dump being complete (makedumpfile copying /proc/vmcore). Like capture_needs_mib it
    belongs to the capture kernel's environment, not to panic(); it decides whether a
    watchdog nobody stopped expires before the dump is done (model/capture.py). The lab
    sets it from its scenario's ``dump_delay_s`` (lab/predict.py)."""

    def param(self, name: str, default: str | None = None) -> str | None:
        """The last value given for boot parameter `name`."""
        value = default
        for k, v in self.params:
            if k == name:
                value = v
        return value

    def int_param(self, name: str, default: int) -> int:
        """A numeric boot parameter, parsed as its declaration says (model/params.py: the
        kernel's kstrtobool or kstrtoint); values are checked before a run starts
        (panicpath.inputs), so a bad one here is a ValueError."""
        raw = self.param(name)
        if raw is None:
            return default
        spec = PARAMS.get(name)
        return spec.parse(raw) if spec is not None else parse_c_int(raw.strip())

    @property
    def effective_dump_target(self) -> str:
        """Where the capture kernel writes the vmcore: a Hyper-V guest's disk is on VMbus storage."""
        if self.dump_target:
            return self.dump_target
        return "vmbus-storage" if self.hypervisor == "hyperv" else "local-disk"

    def with_(self, **changes: object) -> Scenario:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]
