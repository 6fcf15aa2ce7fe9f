"""Fault injections, composable: each changes the initial state or adds a misbehaving callback.

A fault never names an outcome; it sets up the condition the seeds argue about
and lets the steps meet it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from panicpath.model.callback import Callback, Effect
from panicpath.model.run import Run
from panicpath.model.state import CpuMode, Device

SLOW_HOST_MS = 180_000
"""Seed 001 (Vitaly Kuznetsov): the host once took *minutes* to answer CHANNELMSG_UNLOAD."""


@dataclass(frozen=True)
class Fault:
    """A fault by its fixed name: what it does, and which seed motivates it."""

    name: str
    doc: str
    apply: Callable[[Run, str], None]
    arg_help: str = ""
    needs_other_cpu: bool = False
    arg: str = ""
    """What `=ARG` may be (checked by panicpath.inputs before anything runs): "" (no
    argument), "cpu" (another CPU's id), "lock" (a lock the run's callbacks or steps take),
    "callback" (a registered callback's name), "ms" (milliseconds) or "device" (a
    DMA-capable device of the run)."""


def _victim(run: Run) -> int:
    """The CPU a fault acts on: the first CPU that is not the panic CPU."""
    return next(c.id for c in run.machine.other_cpus())


def _ipi_deaf(run: Run, arg: str) -> None:
    cpu = run.machine.cpus[int(arg) if arg else _victim(run)]
    cpu.mode = CpuMode.SPINNING_IRQS_OFF


def _lock_held(run: Run, arg: str) -> None:
    m = run.machine
    victim = _victim(run)
    if arg:
        names = {arg}
    else:
        names = {n.arg for cb in _all_callbacks(run) for n in cb.needs
                 if n.kind in ("lock", "trylock", "mutex")} | set(m.locks)
    for name in sorted(names):
        m.locks[name] = victim
        m.cpus[victim].locks_held.add(name)


def _all_callbacks(run: Run) -> list[Callback]:
    extra = [cb for lst in run.extra_lists.values() for cb in lst]
    return [*run.notifiers, *run.dumpers, *run.crash_shutdown, *extra]


def _corrupt(run: Run, arg: str) -> None:
    run.machine.notifier_list_corrupt = True
    run.machine.corrupt_next_of = arg


def _slow_host(run: Run, arg: str) -> None:
    run.machine.host.latency_ms = int(arg) if arg else SLOW_HOST_MS


def _dma_active(run: Run, arg: str) -> None:
    m = run.machine
    if arg:
        m.devices.setdefault(arg, Device(arg)).dma_active = True
        return
    dma = [d for d in m.devices.values() if d.name in run.dma_devices]
    if not dma:
        m.devices[ANONYMOUS_DMA] = Device(ANONYMOUS_DMA, dma_active=True)
    for d in dma:
        d.dma_active = True


def _concurrent(run: Run, arg: str) -> None:
    run.machine.cpus[int(arg) if arg else _victim(run)].mode = CpuMode.PANICKING


def _nmi_context(run: Run, arg: str) -> None:
    """The panic CPU is in NMI context. From v4.7 (cf9b1106c81c, printk_nmi) printk there
    only fills a buffer that a later flush prints; older kernels printed directly, and so
    do nbcon consoles (the 8250 serial console since 7.3: printk flushes them atomically,
    kernel/printk/printk.c vprintk_emit -> nbcon_atomic_flush_pending; linux_7_3.py)."""
    m = run.machine
    m.console_deferred = run.has("printk_nmi_deferred") and not run.has("nbcon_console")
    m.me.nmi_blocked = True


HANGING_NOTIFIER = "hanging-notifier"
ANONYMOUS_DMA = "pcie-dma"
"""The device `dma-active` makes busy on a machine without a DMA-capable catalog device."""


def _hanging(run: Run, arg: str) -> None:
    if arg:
        run.hanging = run.hanging | {arg}
        return
    from panicpath.model.notifier import chain_register

    bad = Callback(name=HANGING_NOTIFIER, list="panic_notifier_list", priority=0,
                   effects=(Effect("hang"),), order=1000,
                   sources=("fault: a notifier that never returns (seed 000, Piccoli (a))",))
    run.notifiers = chain_register(run.notifiers, bad)


FAULTS: dict[str, Fault] = {f.name: f for f in (
    Fault("ipi-deaf-cpu", "Another CPU spins with interrupts off: deaf to ordinary IPIs, "
          "not to NMIs (seed 001, Vitaly Kuznetsov; seed 003).", _ipi_deaf, "CPU id",
          needs_other_cpu=True, arg="cpu"),
    Fault("lock-held-by-stopped-cpu", "Another CPU holds a lock the panic path takes, and is "
          "then stopped (seed 004, Michael Kelley on hyperv_fb's ring-buffer spin lock). "
          "Without an argument: every lock the panic path takes (registered callbacks', "
          "panic_print's timer dump).", _lock_held,
          "lock name", needs_other_cpu=True, arg="lock"),
    Fault("corrupted-notifier-list", "The panic notifier list's pointers are corrupt "
          "(seed 000, Eric Biederman). Without an argument: the list head's next, so no "
          "callback runs; =CALLBACK: that callback's next, so the chain runs up to it.",
          _corrupt, "notifier callback name", arg="notifier"),
    Fault("slow-host", "The host takes minutes to answer (seed 001, CHANNELMSG_UNLOAD).",
          _slow_host, "milliseconds", arg="ms"),
    Fault("dma-active", "A device is still doing DMA into RAM at the panic (seed 002). "
          "Without an argument: every DMA-capable catalog device, else an anonymous PCIe one.",
          _dma_active, "device name", arg="device"),
    Fault("concurrent-panic", "Another CPU panics at the same time and loses the panic_cpu "
          "race (kernel/panic.c panic_smp_self_stop).", _concurrent, "CPU id",
          needs_other_cpu=True, arg="cpu"),
    Fault("nmi-context", "panic() is entered from NMI context (nmi_panic, unknown_nmi_panic): "
          "printk is deferred (lab: nmi_panic.log shows no panic text).", _nmi_context),
    Fault("hanging-callback", "A callback never returns. Without an argument: an extra notifier "
          "at priority 0 that hangs (seed 000: 'somebody eventually would slip a nonsense "
          "callback').", _hanging, "callback name", arg="callback"),
)}
