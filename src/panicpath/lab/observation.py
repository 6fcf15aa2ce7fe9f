"""What a lab run showed, as one JSON-able record, and the differ against a prediction.

An ``Observation`` holds only facts that both a real kernel run and a model
trace can state, under the same names: callbacks by the names the scenario
gives them, ``"dump-kernel-offset"`` for the x86 notifier that prints
``Kernel Offset:`` (arch/x86/kernel/setup.c dump_kernel_offset(), priority 0,
Linux 6.1), ``"pvpanic"`` and ``"ramoops"`` for those drivers, kmsg dumpers by
name.

Two callbacks print nothing on the console: pvpanic (its effect is a QMP event,
and the host cannot order a QMP event against console lines: the captures in
tests/data show GUEST_CRASHLOADED after the probe at 200, after the one at 0
and after the one at -200 in three runs of the same scenario, although
drivers/misc/pvpanic/pvpanic.c registers it at INT_MAX) and ramoops (it writes
to its memory region; seen through ``panic_text_in_pstore``). ``compare``
therefore leaves the names in ``SILENT_CALLBACKS`` out of the ordered callback
list on both sides; the predicted side may list them or not.

``callbacks`` come from the first kernel's console; when the console shows none
(a panic from NMI context defers printk, kernel/printk/printk_safe.c, and kexec
happens before the flush) they come from the pstore record the crash kernel
reads back, which is the kernel's own log order.

``faults_armed`` names the scenario's faults the probe module said it put in place
(``LABPANIC fault NAME ...``, panicpath.lab.probe), sorted; ``hung`` is the lab's
observation of a hang: the kernel panicked and then reached neither the crash
kernel nor the end of panic() within the panic phase timeout (the harness's
``NoProgress`` event), which the model states as ``path-bounded`` false.
``stop_needed_nmi``: x86 smp_send_stop() had to send NMIs because a CPU ignored the
REBOOT_VECTOR IPI for 1 s (``Shutting down cpus with NMI``), e.g. a CPU with
interrupts off.

The vmcore read back (panicpath.lab.vmcore): ``vmcore_cpus_saved`` is the number of
``NT_PRSTATUS`` notes in the crash kernel's /proc/vmcore (one per CPU whose registers
were saved, kernel/kexec_core.c crash_save_cpu()) and ``vmcore_regs_present`` says, per
note in file order, whether its register set is not all zero, and ``vmcore_pids`` its
``pr_pid`` (the task that CPU ran, 0 for its idle task; not compared: the model has no
tasks); all None/() when the headers were not read back. ``vmcore_page_changed``: the
dma-active page read twice from /proc/vmcore 3 s apart differed (memory written after the crash point: the
model's ``vmcore-intact`` false); None when it was not read. ``crash_kernel_died``: the
crash kernel booted (its banner) and never reported ``CRASH-KERNEL-DONE``;
``crash_kernel_death`` says how (its panic message, a reset, no progress);
``crash_kernel_loaded``: what ``kexec -p`` left in /sys/kernel/kexec_crash_loaded (None
when /init did not run it). ``watchdog_fired``: QEMU sent QMP ``WATCHDOG`` (a watchdog
device expired: hw/watchdog/watchdog.c watchdog_perform_action(), QEMU 7.2), the model's
``watchdog-reset`` end. Fields that
are None on either side are not compared: a side that cannot state them says nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Literal, cast

from panicpath.lab.events import (
    CrashKernelLoaded,
    Event,
    FaultArmed,
    KernelBooted,
    KernelOffsetPrinted,
    KmsgDumped,
    LabMark,
    NoProgress,
    PanicEnded,
    PanicPrintOutput,
    PanicStarted,
    ProbeNotifierRan,
    QmpEvent,
    StopFailed,
    StopNmiSent,
    VmcoreHeadersRead,
    VmcorePageRead,
    VmcoreSeen,
)
from panicpath.lab.qmp import PvpanicEvent, pvpanic_event
from panicpath.lab.vmcore import VmcoreError, VmcoreHeaders, parse_headers

CallbackKind = Literal["notifier", "kmsg_dumper"]

KERNEL_OFFSET = "dump-kernel-offset"
PVPANIC = "pvpanic"
RAMOOPS = "ramoops"
SILENT_CALLBACKS = frozenset({PVPANIC, RAMOOPS})


@dataclass(frozen=True)
class CallbackRun:
    """One callback that ran in the panic path. ``None`` = not known on this side
    (compare() then does not compare that attribute)."""

    name: str
    kind: CallbackKind = "notifier"
    priority: int | None = None
    cpu: int | None = None
    kexec_crash_loaded: bool | None = None


@dataclass(frozen=True)
class Observation:
    """The observable outcome of one panic, real or predicted."""

    callbacks: tuple[CallbackRun, ...] = ()
    kernel_offset_printed: bool = False
    panic_print_seen: bool = False
    kmsg_dump_reasons: tuple[str, ...] = ()
    crash_kernel_booted: bool = False
    vmcore_seen: bool = False
    vmcore_size: int | None = None
    pvpanic_event: PvpanicEvent | None = None
    panic_text_on_console: bool = False
    panic_text_in_pstore: bool = False
    end_of_panic_reached: bool = False
    faults_armed: tuple[str, ...] = ()
    hung: bool = False
    stop_needed_nmi: bool = False
    cpus_not_stopped: str | None = None
    """The CPU list of arm64's "SMP: failed to stop secondary CPUs" (None: not printed)."""
    vmcore_cpus_saved: int | None = None
    vmcore_regs_present: tuple[bool, ...] = ()
    vmcore_pids: tuple[int, ...] = field(default=(), compare=False)
    """Informational: the PIDs differ from run to run (a restored guest's shell is not the
    booted one's), so two observations of one scenario are equal whatever they are."""
    vmcore_page_changed: bool | None = None
    crash_kernel_died: bool = False
    crash_kernel_death: str | None = field(default=None, compare=False)
    crash_kernel_loaded: bool | None = None
    watchdog_fired: bool = False

    def to_json(self) -> dict[str, object]:
        """A JSON-able dict (callbacks as a list of dicts)."""
        d = asdict(self)
        d["callbacks"] = [asdict(c) for c in self.callbacks]
        d["kmsg_dump_reasons"] = list(self.kmsg_dump_reasons)
        d["faults_armed"] = list(self.faults_armed)
        d["vmcore_regs_present"] = list(self.vmcore_regs_present)
        d["vmcore_pids"] = list(self.vmcore_pids)
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> Observation:
        """Inverse of to_json."""
        raw = dict(d)
        cbs = cast(list[dict[str, object]], raw.pop("callbacks", []))
        reasons = cast(list[str], raw.pop("kmsg_dump_reasons", []))
        faults = cast(list[str], raw.pop("faults_armed", []))
        regs = cast(list[bool], raw.pop("vmcore_regs_present", []))
        pids = cast(list[int], raw.pop("vmcore_pids", []))
        callbacks = tuple(CallbackRun(**c) for c in cbs)  # type: ignore[arg-type]
        return cls(callbacks=callbacks, kmsg_dump_reasons=tuple(reasons),
                   faults_armed=tuple(faults), vmcore_regs_present=tuple(regs),
                   vmcore_pids=tuple(pids), **raw)  # type: ignore[arg-type]


def _callback(ev: Event) -> CallbackRun | None:
    if isinstance(ev, ProbeNotifierRan):
        return CallbackRun(ev.name, "notifier", ev.priority, ev.cpu, ev.kexec_crash_loaded)
    if isinstance(ev, KernelOffsetPrinted):
        return CallbackRun(KERNEL_OFFSET, "notifier", 0)
    if isinstance(ev, KmsgDumped):
        return CallbackRun(ev.name, "kmsg_dumper")
    return None


def _source(e: Event) -> str:
    return getattr(e, "source", "console")


def vmcore_headers(events: Iterable[Event]) -> VmcoreHeaders | None:
    """The parsed vmcore headers the crash kernel sent, or None (not sent, or not
    intact: a VmcoreHeadersRead with an error)."""
    for e in events:
        if isinstance(e, VmcoreHeadersRead) and not e.error:
            try:
                return parse_headers(e.data)
            except VmcoreError:
                return None
    return None


def page_changed(events: Iterable[Event]) -> bool | None:
    """Whether the two reads of the dma-active page differ (None: not read twice)."""
    reads = {e.read: e.digest for e in events
             if isinstance(e, VmcorePageRead) and (e.offset is not None or e.via == "devmem")}
    if 1 not in reads or 2 not in reads:
        return None
    return reads[1] != reads[2]


def crash_kernel_death(events: Iterable[Event]) -> str | None:
    """How a crash kernel that booted failed to report (None: it reported, or never
    booted): its own panic message, no progress, or the reset that ended QEMU."""
    evs = list(events)
    if not any(isinstance(e, KernelBooted) and e.boot >= 1 for e in evs):
        return None
    if any(isinstance(e, LabMark) and e.name == "CRASH-KERNEL-DONE" and e.boot >= 1
           for e in evs):
        return None
    panics = [e.message for e in evs if isinstance(e, PanicStarted) and e.boot >= 1
              and e.source == "console"]
    if panics:
        return f"panic: {panics[0]}"
    stalled = [e for e in evs if isinstance(e, NoProgress) and e.phase == "crash-kernel"]
    if stalled:
        return f"no progress for {stalled[0].timeout_s:g} s"
    if watchdog_fired(evs):
        return "watchdog reset (QMP WATCHDOG)"
    return "reset or QEMU exit without a panic message"


def watchdog_fired(events: Iterable[Event]) -> bool:
    """Whether a watchdog device expired: QEMU's QMP WATCHDOG event."""
    return any(isinstance(e, QmpEvent) and e.name == "WATCHDOG" for e in events)


def observe(events: Iterable[Event]) -> Observation:
    """The Observation of a run from its events (console, pstore and QMP)."""
    evs = list(events)
    console = [e for e in evs if getattr(e, "boot", 0) == 0 and _source(e) == "console"]
    pstore = [e for e in evs if _source(e) == "pstore"]
    chosen = console if any(_callback(e) for e in console) else pstore
    sizes = [e.size for e in evs if isinstance(e, VmcoreSeen)]
    # the first kernel's panic path (its console, or its log read back from pstore): a
    # crash kernel that panics prints the same lines again (its own Kernel Offset notifier)
    first = [e for e in evs if getattr(e, "boot", 0) == 0 or _source(e) == "pstore"]
    headers = vmcore_headers(evs)
    death = crash_kernel_death(evs)
    loads = [e.loaded for e in evs if isinstance(e, CrashKernelLoaded) and e.boot == 0]
    return Observation(
        callbacks=tuple(c for e in chosen if (c := _callback(e)) is not None),
        kernel_offset_printed=any(isinstance(e, KernelOffsetPrinted) for e in first),
        panic_print_seen=any(isinstance(e, PanicPrintOutput) for e in first),
        kmsg_dump_reasons=tuple(e.reason for e in chosen if isinstance(e, KmsgDumped)),
        crash_kernel_booted=any(isinstance(e, KernelBooted) and e.boot >= 1 for e in evs),
        vmcore_seen=bool(sizes),
        vmcore_size=sizes[0] if sizes else None,
        pvpanic_event=pvpanic_event(evs),
        panic_text_on_console=any(isinstance(e, PanicStarted) for e in console),
        panic_text_in_pstore=any(isinstance(e, PanicStarted) for e in pstore),
        end_of_panic_reached=any(isinstance(e, PanicEnded) for e in first),
        faults_armed=tuple(sorted({e.fault for e in evs
                                   if isinstance(e, FaultArmed) and e.boot == 0})),
        hung=any(isinstance(e, NoProgress) and e.phase == "panic" for e in evs),
        stop_needed_nmi=any(isinstance(e, StopNmiSent) for e in chosen),
        cpus_not_stopped=next((e.cpus for e in console if isinstance(e, StopFailed)), None),
        vmcore_cpus_saved=None if headers is None else headers.cpus_saved,
        vmcore_regs_present=() if headers is None else tuple(
            p.has_registers for p in headers.prstatus),
        vmcore_pids=() if headers is None else tuple(p.pid for p in headers.prstatus),
        vmcore_page_changed=page_changed(evs),
        crash_kernel_died=death is not None,
        crash_kernel_death=death,
        crash_kernel_loaded=loads[0] if loads else None,
        watchdog_fired=watchdog_fired(evs),
    )


@dataclass(frozen=True)
class Difference:
    """One way the kernel and the model disagree."""

    field: str
    observed: object
    predicted: object
    note: str = ""

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    def __str__(self) -> str:
        text = f"{self.field}: kernel {self.observed!r}, model {self.predicted!r}"
        return f"{text} ({self.note})" if self.note else text


_SCALARS = (
    "kernel_offset_printed", "panic_print_seen", "kmsg_dump_reasons", "crash_kernel_booted",
    "vmcore_seen", "pvpanic_event", "panic_text_on_console", "panic_text_in_pstore",
    "end_of_panic_reached", "faults_armed", "hung", "stop_needed_nmi", "cpus_not_stopped",
    "crash_kernel_died", "watchdog_fired",
)
_KNOWN_ONLY = ("vmcore_cpus_saved", "vmcore_regs_present", "vmcore_page_changed",
               "crash_kernel_loaded")
"""Compared only when both sides state them (None / () is 'not read' on that side)."""


def _ordered(callbacks: Iterable[CallbackRun]) -> list[CallbackRun]:
    return [c for c in callbacks if c.name not in SILENT_CALLBACKS]


def _sequence_note(obs: list[str], pred: list[str]) -> str:
    missing = [n for n in pred if n not in obs]
    extra = [n for n in obs if n not in pred]
    parts = []
    if missing:
        parts.append("not run by the kernel: " + ", ".join(missing))
    if extra:
        parts.append("not predicted: " + ", ".join(extra))
    return "; ".join(parts) or "same callbacks, different order"


def compare(observed: Observation, predicted: Observation) -> list[Difference]:
    """Every disagreement between a real run and a prediction (empty = agree)."""
    diffs: list[Difference] = []
    obs_cb, pred_cb = _ordered(observed.callbacks), _ordered(predicted.callbacks)
    obs_names = [f"{c.kind}:{c.name}" for c in obs_cb]
    pred_names = [f"{c.kind}:{c.name}" for c in pred_cb]
    if obs_names != pred_names:
        diffs.append(Difference("callbacks", [c.name for c in obs_cb],
                                [c.name for c in pred_cb], _sequence_note(obs_names, pred_names)))
    else:
        for o, p in zip(obs_cb, pred_cb, strict=True):
            for attr in ("priority", "cpu", "kexec_crash_loaded"):
                ov, pv = getattr(o, attr), getattr(p, attr)
                if ov is not None and pv is not None and ov != pv:
                    diffs.append(Difference(f"callbacks[{o.name}].{attr}", ov, pv))
    for name in _SCALARS:
        ov, pv = getattr(observed, name), getattr(predicted, name)
        if ov != pv:
            diffs.append(Difference(name, list(ov) if isinstance(ov, tuple) else ov,
                                    list(pv) if isinstance(pv, tuple) else pv))
    for name in _KNOWN_ONLY:
        ov, pv = getattr(observed, name), getattr(predicted, name)
        if ov not in (None, ()) and pv not in (None, ()) and ov != pv:
            diffs.append(Difference(name, list(ov) if isinstance(ov, tuple) else ov,
                                    list(pv) if isinstance(pv, tuple) else pv))
    if (predicted.vmcore_size is not None and observed.vmcore_size is not None
            and predicted.vmcore_size != observed.vmcore_size):
        diffs.append(Difference("vmcore_size", observed.vmcore_size, predicted.vmcore_size))
    return diffs
