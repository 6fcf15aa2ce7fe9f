"""The run context: one execution of a policy over a machine, and how a path ends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from panicpath.model.callback import Callback
from panicpath.model.scenario import Scenario
from panicpath.model.state import Machine
from panicpath.model.trace import TraceEvent

if TYPE_CHECKING:
    from panicpath.arch.base import Arch
    from panicpath.policies.base import Policy

HANG_MS = 10**12
"""Simulated time of a CPU that never comes back (a hang)."""


class PathEnd(Exception):
    """Raised by a step that ends the panic path (handover, reboot, hang, halt loop)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason


@dataclass
class Run:
    """Mutable context of one run: the scenario, the machine, the registered callbacks, the trace."""

    scenario: Scenario
    policy: Policy
    arch: Arch
    machine: Machine
    notifiers: tuple[Callback, ...] = ()
    dumpers: tuple[Callback, ...] = ()
    crash_shutdown: tuple[Callback, ...] = ()
    trace: list[TraceEvent] = field(default_factory=list)
    fault_args: dict[str, str] = field(default_factory=dict)
    hanging: frozenset[str] = frozenset()
    failed_callbacks: list[str] = field(default_factory=list)
    ran_callbacks: list[str] = field(default_factory=list)
    extra_lists: dict[str, tuple[Callback, ...]] = field(default_factory=dict)
    """Further ordered callback lists a proposal adds (e.g. a pre-kdump list)."""
    hooks: dict[str, Callable[[Run], None]] = field(default_factory=dict)
    drivers: tuple[str, ...] = ()
    """Catalog drivers present on the machine, in catalog order."""
    snapshots: list[dict[str, object]] | None = None
    """When a list, every trace line also records the machine's flat snapshot after it
    (used to print counterexamples as states with only the changed variables)."""
    dma_devices: frozenset[str] = frozenset()
    """Devices that a catalog driver declared DMA-capable at boot."""
    watchdogs_at_boot: bool = False

    def emit(self, event: str, kind: str, effect: str, source: str, cpu: int | None = None) -> None:
        """Append a trace line at the current simulated time."""
        m = self.machine
        if self.snapshots is not None:
            self.snapshots.append(m.snapshot())
        self.trace.append(
            TraceEvent(m.now_ms, (m.panic_cpu or 0) if cpu is None else cpu, event, kind, effect,
                       source)
        )

    def wait(self, ms: int) -> None:
        """Let simulated time pass on the panic CPU."""
        self.machine.now_ms += ms

    def printk(self, line: str) -> None:
        """printk(): the line enters the log buffer; it reaches the console now unless
        printk is deferred (NMI context: kernel/printk/printk_safe.c), in which case
        only a later console flush prints it."""
        m = self.machine
        m.log.append(line)
        if not m.console_deferred:
            m.console.append(line)
            m.console_ms.append(m.now_ms)

    def has(self, feature: str) -> bool:
        """Whether the policy's kernel has a feature (see Policy.features)."""
        return feature in self.policy.features

    def release(self) -> tuple[int, int]:
        """The kernel release the machine runs: the scenario's (the lab sets its guest's),
        else the policy's driver forms' (Policy.drivers_version). Arch code that changed
        without changing panic() reads it, as the catalog's driver forms do."""
        return self.scenario.kernel_version or self.policy.drivers_version

    def end(self, kind: str, reason: str) -> PathEnd:
        """Record how the path ended; the caller raises the returned exception."""
        self.machine.end = kind
        self.machine.end_reason = reason
        self.machine.end_ms = (self.machine.handover_ms if self.machine.handover_ms is not None
                               else self.machine.now_ms)
        return PathEnd(kind, reason)
