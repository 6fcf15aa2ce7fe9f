"""Run one QEMU guest through the phases of a panic cycle, watching console and QMP.

QEMU is started with its serial console on stdout and QMP on a unix socket with
``wait=on``: the guest does not start until the harness is connected (through
the ``qemu.qmp`` package), so no QMP event is missed. Console lines and QMP
events are timestamped on the host, written to the log as they arrive, parsed
into events (panicpath.lab.console) and drive a small phase machine:

``boot``  QEMU start -> ``LABMARK FIRST-KERNEL-INIT``
``load``  -> ``LABMARK READY`` (pvpanic, ramoops, crash kernel, probe loaded);
          an NMI trigger is injected here (QMP ``inject-nmi``)
``panic`` -> the crash kernel's ``Linux version`` banner, or the end of the
          panic (``end Kernel panic``, QEMU's panic action stopping the VM)
``crash-kernel`` -> ``LABMARK CRASH-KERNEL-DONE``

Each phase has its own timeout. Whatever happens (success, timeout, QEMU
dying, an exception, cancellation) the QEMU process is killed by its own pid
before ``run_guest`` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from qemu.qmp import QMPClient

from panicpath.lab.console import ConsoleParser
from panicpath.lab.events import (
    CrashKernelLoaded,
    Event,
    KernelBooted,
    LabMark,
    PanicEnded,
    PanicStarted,
    QmpEvent,
)
from panicpath.lab.qmp import log_line, qmp_event_from_message
from panicpath.lab.scenario import PhaseTimeouts

Phase = Literal["boot", "load", "panic", "crash-kernel", "done"]
Status = Literal["complete", "timeout", "qemu-exited", "no-crash-kernel"]

#: Seconds to keep listening after the end of a run without a crash kernel,
#: for QMP events and console lines still in flight.
LINGER_S = 0.3


@dataclass(frozen=True)
class GuestPlan:
    """What to run and how to judge the phases."""

    cmd: tuple[str, ...]
    qmp_socket: Path
    log_path: Path
    timeouts: PhaseTimeouts = field(default_factory=PhaseTimeouts)
    expect_crash_kernel: bool = True
    inject_nmi: bool = False
    send_on_ready: str | None = None


@dataclass(frozen=True)
class GuestResult:
    """How a run ended: ``status`` in ``phase``, every event, the log path."""

    status: Status
    phase: Phase
    detail: str
    log_path: Path
    events: tuple[Event, ...]
    returncode: int | None
    duration: float
    phase_ends: tuple[tuple[str, float], ...]
    pid: int

    @property
    def ok(self) -> bool:
        return self.status == "complete"

    def summary(self) -> str:
        """One line: status, phase, detail, log."""
        return f"{self.status} in phase {self.phase}: {self.detail} (log: {self.log_path})"


OnEvent = Callable[[Event, int], None]


class _Run:
    """The state of one guest run (the phase machine and the log)."""

    def __init__(self, plan: GuestPlan, on_event: OnEvent | None) -> None:
        self.plan = plan
        self.on_event = on_event
        self.t0 = time.monotonic()
        self.phase: Phase = "boot"
        self.deadline = self.t0 + plan.timeouts.boot
        self.events: list[Event] = []
        self.phase_ends: list[tuple[str, float]] = []
        self.parser = ConsoleParser()
        self.status: Status | None = None
        self.detail = ""
        self.linger_until: float | None = None
        self.panic_started = False
        plan.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = plan.log_path.open("w", encoding="utf-8")
        self.log.write("# " + shlex.join(plan.cmd) + "\n")

    def now(self) -> float:
        return time.monotonic() - self.t0

    def write(self, t: float, text: str) -> None:
        self.log.write(f"[{t:8.3f}] {text}\n")
        self.log.flush()

    def enter(self, phase: Phase, timeout: float) -> None:
        self.phase_ends.append((self.phase, round(self.now(), 3)))
        self.phase = phase
        self.deadline = time.monotonic() + timeout

    def finish(self, status: Status, detail: str) -> None:
        if status == "no-crash-kernel" and any(
            isinstance(e, CrashKernelLoaded) and not e.loaded for e in self.events
        ):
            detail += " (kexec -p had failed to load it)"
        if self.status is None:
            self.status = status
            self.detail = detail

    def handle(self, ev: Event, pid: int) -> str | None:
        """Advance the phase machine; returns an action for the I/O loop."""
        self.events.append(ev)
        if self.on_event is not None:
            self.on_event(ev, pid)
        to = self.plan.timeouts
        action = None
        if isinstance(ev, PanicStarted) or (
            isinstance(ev, QmpEvent) and ev.name in ("GUEST_PANICKED", "GUEST_CRASHLOADED")
        ):
            self.panic_started = True
        if self.phase == "boot" and isinstance(ev, LabMark) and ev.name == "FIRST-KERNEL-INIT":
            self.enter("load", to.load)
        elif self.phase == "load" and isinstance(ev, LabMark) and ev.name == "READY":
            self.enter("panic", to.panic)
            action = "ready"
        elif self.phase == "panic" and isinstance(ev, KernelBooted) and ev.boot >= 1:
            self.enter("crash-kernel", to.crash_kernel)
        elif self.phase == "panic" and isinstance(ev, PanicEnded):
            self._panic_over("the panic ended (end Kernel panic)")
        elif (self.phase == "panic" and isinstance(ev, QmpEvent)
              and ev.name == "GUEST_PANICKED" and ev.get("action") == "pause"):
            self._panic_over("QEMU paused the guest at GUEST_PANICKED")
        elif self.phase == "crash-kernel" and isinstance(ev, LabMark) and (
            ev.name == "CRASH-KERNEL-DONE"
        ):
            self.enter("done", 5.0)
            self.finish("complete", "the crash kernel booted and reported")
        return action

    def _panic_over(self, why: str) -> None:
        self.enter("done", LINGER_S)
        if self.plan.expect_crash_kernel:
            self.finish("no-crash-kernel", f"{why} without booting the crash kernel")
        else:
            self.finish("complete", why)
        self.linger_until = time.monotonic() + LINGER_S

    def exited(self, rc: int | None) -> None:
        """QEMU's output ended (it exited)."""
        if self.status is not None:
            return
        if self.phase == "panic" and self.panic_started:
            if self.plan.expect_crash_kernel:
                self.finish("no-crash-kernel",
                            f"QEMU exited (rc={rc}) after the panic without booting the crash "
                            "kernel")
            else:
                self.finish("complete", f"QEMU exited (rc={rc}) after the panic")
        else:
            self.finish("qemu-exited", f"QEMU exited (rc={rc}) during phase {self.phase}")


async def _connect_qmp(proc: asyncio.subprocess.Process, sock: Path,
                       limit: float) -> QMPClient:
    """Connect to QEMU's QMP socket (it appears a few ms after exec)."""
    qmp = QMPClient("panicpath-lab")
    deadline = time.monotonic() + limit
    while True:
        if not sock.exists() and proc.returncode is None and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            continue
        try:
            await qmp.connect(str(sock))
            return qmp
        except Exception as e:  # QMP raises ConnectError/OSError while QEMU starts
            if proc.returncode is not None or time.monotonic() > deadline:
                raise ConnectionError(f"QMP connection to {sock} failed: {e}") from None
            await asyncio.sleep(0.02)


async def run_guest(plan: GuestPlan, on_event: OnEvent | None = None) -> GuestResult:
    """Run one guest to the end of its cycle (or the first failure)."""
    run = _Run(plan, on_event)
    plan.qmp_socket.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        plan.qmp_socket.unlink()
    proc = await asyncio.create_subprocess_exec(
        *plan.cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
    tasks: list[asyncio.Task[None]] = []
    qmp: QMPClient | None = None
    try:
        tasks.append(asyncio.create_task(_read_console(proc, queue)))
        try:
            qmp = await _connect_qmp(proc, plan.qmp_socket, plan.timeouts.boot)
        except ConnectionError as e:
            run.finish("qemu-exited", str(e))
        else:
            tasks.append(asyncio.create_task(_read_qmp(qmp, queue)))
            await _loop(run, proc, qmp, queue)
    finally:
        for task in tasks:
            task.cancel()
        if qmp is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(qmp.disconnect(), 2)
        rc = await _reap(proc)
        with contextlib.suppress(FileNotFoundError):
            plan.qmp_socket.unlink()
        run.finish("qemu-exited", f"harness stopped in phase {run.phase}")
        run.write(run.now(), f"# END status={run.status} phase={run.phase} rc={rc} "
                             f"detail={run.detail}")
        run.log.close()
    assert run.status is not None
    return GuestResult(run.status, run.phase, run.detail, plan.log_path, tuple(run.events), rc,
                       round(run.now(), 3), tuple(run.phase_ends), proc.pid)


async def _reap(proc: asyncio.subprocess.Process) -> int | None:
    """Kill QEMU by its own pid if it still runs, and wait for it."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, 9)
    try:
        return await asyncio.wait_for(proc.wait(), 10)
    except TimeoutError:
        return None


async def _read_console(proc: asyncio.subprocess.Process,
                        queue: asyncio.Queue[tuple[str, object]]) -> None:
    assert proc.stdout is not None
    while True:
        raw = await proc.stdout.readline()
        if not raw:
            await queue.put(("eof", None))
            return
        await queue.put(("line", raw.decode("utf-8", "replace").rstrip("\r\n")))


async def _read_qmp(qmp: QMPClient, queue: asyncio.Queue[tuple[str, object]]) -> None:
    while True:
        msg = await qmp.events.get()
        await queue.put(("qmp", msg))


async def _loop(run: _Run, proc: asyncio.subprocess.Process, qmp: QMPClient,
                queue: asyncio.Queue[tuple[str, object]]) -> None:
    pid = proc.pid
    while True:
        if run.linger_until is not None and time.monotonic() >= run.linger_until:
            return
        stop = run.linger_until if run.linger_until is not None else run.deadline
        left = stop - time.monotonic()
        if left <= 0:
            if run.status is None:
                run.finish("timeout", f"no progress within the {run.phase} phase timeout")
            return
        try:
            kind, payload = await asyncio.wait_for(queue.get(), left)
        except TimeoutError:
            continue
        t = run.now()
        if kind == "eof":
            rc = await _reap(proc)
            run.write(t, f"# QEMU exited rc={rc}")
            run.exited(rc)
            return
        events: Sequence[Event]
        if kind == "line":
            text = str(payload)
            run.write(t, text)
            events = run.parser.feed(text, round(t, 3))
        else:
            assert isinstance(payload, Mapping)
            qev = qmp_event_from_message(payload, round(t, 3))
            run.write(t, log_line(qev))
            events = [qev]
        for ev in events:
            if run.handle(ev, pid) == "ready":
                await _on_ready(run, proc, qmp)


async def _on_ready(run: _Run, proc: asyncio.subprocess.Process, qmp: QMPClient) -> None:
    if run.plan.send_on_ready is not None and proc.stdin is not None:
        proc.stdin.write(run.plan.send_on_ready.encode() + b"\n")
        await proc.stdin.drain()
    if run.plan.inject_nmi:
        run.write(run.now(), "QMP-SEND inject-nmi")
        await qmp.execute("inject-nmi")
