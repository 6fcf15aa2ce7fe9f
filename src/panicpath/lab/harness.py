"""Run one QEMU guest through the phases of a panic cycle, watching console and QMP.

QEMU is started with its serial console on stdout and QMP on a unix socket with
``wait=on``: the guest does not start until the harness is connected (through
the ``qemu.qmp`` package), so no QMP event is missed. Console lines and QMP
events are timestamped on the host, written to the log as they arrive, parsed
into events (panicpath.lab.console) and drive a small phase machine:

``boot``  QEMU start -> ``LABMARK FIRST-KERNEL-INIT``
``load``  -> ``LABMARK READY`` (pvpanic, ramoops, crash kernel, probe loaded);
          an NMI trigger is injected here (QMP ``inject-nmi``). A guest booted
          for a snapshot stops on the way at ``LABMARK WAITING``: the harness
          may ``savevm`` there (HMP through QMP), then sends the run-time
          settings and the probe (``GuestPlan.go_lines``, panicpath.lab.snapshot)
``panic`` -> the crash kernel's ``Linux version`` banner, or the end of the
          panic (``end Kernel panic``, QEMU's panic action stopping the VM)
``crash-kernel`` -> ``LABMARK CRASH-KERNEL-DONE``; at ``LABMARK CRASH-KERNEL-UP`` the
          harness sends ``PAGE 0xADDR``, the dma-active page the probe printed
          (``LABPANIC fault dma-active ... phys=``), for /init to read from
          /proc/vmcore twice (templates/init.sh ``vmcore_page``); nothing when the
          run has no such page (/init then waits 0.3 s, as without a harness)

A guest restored from a snapshot (``GuestPlan.restored_from``) starts at the
snapshot point: once QMP answers ``query-status`` with ``running`` (``-loadvm`` is
done), the console lines of the boot the snapshot was taken in are replayed into
the log (with times before 0) and the parser, so that the run's events are those
of a booted run, and the ``WAITING`` mark they end with sends ``go_lines``.

Each phase has its own timeout. When the panic phase times out after the kernel
panicked (``Kernel panic``, or QMP GUEST_PANICKED/GUEST_CRASHLOADED), the run
ends as ``hung``, an outcome like ``complete`` (``GuestResult.ok``): a
``NoProgress`` event records it for the observation (panicpath.lab.observation
``hung``), to be compared with the model's ``path-bounded``. A crash kernel that booted
(its ``Linux version`` banner) and then never reported (``CRASH-KERNEL-DONE``) because
it panicked, reset the machine (QEMU's ``-no-reboot`` makes that an exit) or stopped
making progress within the crash-kernel timeout ends the run as ``crash-kernel-died``,
also an outcome (``GuestResult.ok``): the crash kernel's own fate is an observation
(panicpath.lab.observation ``crash_kernel_died``), not a harness failure. Whatever
happens (success, timeout, QEMU dying, an exception, cancellation) the QEMU process is
killed by its own pid before ``run_guest`` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
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
    FaultArmed,
    KernelBooted,
    LabMark,
    NoProgress,
    PanicEnded,
    PanicStarted,
    QmpEvent,
)
from panicpath.lab.qmp import log_line, qmp_event_from_message
from panicpath.lab.scenario import PhaseTimeouts
from panicpath.lab.snapshot import SNAPSHOT_TAG, ConsoleLines

Phase = Literal["boot", "load", "panic", "crash-kernel", "done"]
Status = Literal["complete", "hung", "crash-kernel-died", "timeout", "qemu-exited",
                 "no-crash-kernel", "setup-failed"]
SnapshotOutcome = Literal["none", "saved", "save-failed", "restored", "restore-failed"]

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
    go_lines: tuple[str, ...] = ()
    save_snapshot: bool = False
    restored_from: ConsoleLines | None = None


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
    snapshot: SnapshotOutcome = "none"
    pre_snapshot: ConsoleLines = ()

    @property
    def ok(self) -> bool:
        """The run produced an observation: it completed, the panicked kernel hung, or
        the crash kernel booted and died."""
        return self.status in ("complete", "hung", "crash-kernel-died")

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
        self.snapshot: SnapshotOutcome = "none" if plan.restored_from is None else (
            "restore-failed")
        self.lines: list[tuple[float, str]] | None = [] if plan.save_snapshot else None
        self.pre_snapshot: ConsoleLines = ()
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
        elif self.phase == "load" and isinstance(ev, LabMark) and ev.name == "WAITING":
            action = "waiting"
        elif self.phase == "load" and isinstance(ev, LabMark) and ev.name == "PROBE-CORRUPT":
            self.enter("done", LINGER_S)
            self.finish("setup-failed", "the probe module sent over the console arrived "
                                        "corrupt (md5 mismatch)")
            self.linger_until = time.monotonic()
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
            ev.name == "CRASH-KERNEL-UP"
        ):
            action = "crash-up"
        elif self.phase == "crash-kernel" and isinstance(ev, LabMark) and (
            ev.name == "CRASH-KERNEL-DONE"
        ):
            self.enter("done", 5.0)
            self.finish("complete", "the crash kernel booted and reported")
        return action

    def expects_crash_kernel(self) -> bool:
        """Whether a crash kernel should follow the panic: the scenario loads one and
        ``kexec -p`` did not fail. A failed load (e.g. a reservation too small for the
        image, lab/reservation.py) is the kernel's answer, seen
        as ``LABINFO kexec -p rc=N kexec_crash_loaded=0`` and compared with the model's
        (observation ``crash_kernel_loaded``), not a run that failed."""
        return self.plan.expect_crash_kernel and not any(
            isinstance(e, CrashKernelLoaded) and not e.loaded for e in self.events)

    def _panic_over(self, why: str) -> None:
        self.enter("done", LINGER_S)
        if not self.expects_crash_kernel() and self.plan.expect_crash_kernel:
            self.finish("complete", f"{why}; kexec -p had failed to load the crash kernel")
        elif self.plan.expect_crash_kernel:
            self.finish("no-crash-kernel", f"{why} without booting the crash kernel")
        else:
            self.finish("complete", why)
        self.linger_until = time.monotonic() + LINGER_S

    def timed_out(self, pid: int) -> None:
        """The current phase's timeout expired: a hang when the kernel had panicked and
        was in the panic phase, a harness timeout otherwise."""
        if self.status is not None:
            return
        limit = self.plan.timeouts.panic
        if self.phase == "crash-kernel":
            limit = self.plan.timeouts.crash_kernel
            t = round(self.now(), 3)
            self.write(t, f"# NO-PROGRESS in phase crash-kernel for {limit:g} s")
            self.handle(NoProgress("crash-kernel", limit, max(self.parser.boot, 0), t), pid)
            self.finish("crash-kernel-died", "the crash kernel booted and then made no "
                        f"progress within the crash-kernel phase timeout ({limit:g} s)"
                        f"{self._crash_panic()}")
        elif self.phase == "panic" and self.panic_started:
            t = round(self.now(), 3)
            self.write(t, f"# NO-PROGRESS in phase panic for {limit:g} s after the panic")
            self.handle(NoProgress("panic", limit, max(self.parser.boot, 0), t), pid)
            self.finish("hung", f"the kernel panicked and then made no progress within the "
                                f"panic phase timeout ({limit:g} s)")
        else:
            self.finish("timeout", f"no progress within the {self.phase} phase timeout")

    def exited(self, rc: int | None) -> None:
        """QEMU's output ended (it exited)."""
        if self.status is not None:
            return
        if self.phase == "crash-kernel":
            self.finish("crash-kernel-died", f"the crash kernel booted and then QEMU exited "
                        f"(rc={rc}: a reset, with -no-reboot){self._crash_panic()}"
                        f"{self._watchdog()}")
        elif self.phase == "panic" and self.panic_started:
            if self.plan.expect_crash_kernel and not self.expects_crash_kernel():
                self.finish("complete", f"QEMU exited (rc={rc}) after the panic; kexec -p had "
                            "failed to load the crash kernel")
            elif self.plan.expect_crash_kernel and self._host_powered_off():
                self.finish("complete", f"QEMU exited (rc={rc}) after the panic: its own "
                            "panic action (GUEST_PANICKED action=poweroff) ended the guest "
                            "before a crash kernel could boot")
            elif self.plan.expect_crash_kernel:
                self.finish("no-crash-kernel",
                            f"QEMU exited (rc={rc}) after the panic without booting the crash "
                            "kernel")
            else:
                self.finish("complete", f"QEMU exited (rc={rc}) after the panic")
        else:
            self.finish("qemu-exited", f"QEMU exited (rc={rc}) during phase {self.phase}")


    def _host_powered_off(self) -> bool:
        """Whether the guest told the host it panicked and QEMU's ``-action panic=``
        (shutdown or exit-failure) was to power it off: QEMU 7.2 softmmu/runstate.c
        qemu_system_guest_panicked() sends GUEST_PANICKED with action ``poweroff`` and
        then requests the shutdown. The host ended the run, as the model's
        ``host_panic_action`` says it does: an outcome, not a harness failure."""
        return any(isinstance(e, QmpEvent) and e.name == "GUEST_PANICKED"
                   and e.get("action") == "poweroff" for e in self.events)

    def _crash_panic(self) -> str:
        """``: it panicked: MSG`` when the crash kernel printed a panic, else empty."""
        msgs = [e.message for e in self.events if isinstance(e, PanicStarted) and e.boot >= 1]
        return f"; it panicked: {msgs[0]}" if msgs else ""

    def _watchdog(self) -> str:
        """``; QMP WATCHDOG (action=A): ...`` when a watchdog device expired (QEMU's
        hw/watchdog/watchdog.c watchdog_perform_action() sends it before its action)."""
        fired = [e for e in self.events if isinstance(e, QmpEvent) and e.name == "WATCHDOG"]
        return (f"; QMP WATCHDOG (action={fired[0].get('action')}): the watchdog device "
                "expired" if fired else "")

    def dma_page(self) -> str | None:
        """The physical address the probe printed for its dma-active page, if any."""
        for e in self.events:
            if isinstance(e, FaultArmed) and e.fault == "dma-active" and e.boot == 0:
                return e.get("phys")
        return None


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
    console_r, console_w = _console_pipe()
    try:
        proc = await asyncio.create_subprocess_exec(
            *plan.cmd, stdin=asyncio.subprocess.PIPE, stdout=console_w,
            stderr=asyncio.subprocess.STDOUT,
        )
    except BaseException:
        os.close(console_r)
        raise
    finally:
        os.close(console_w)
    console = asyncio.StreamReader()
    transport, _ = await asyncio.get_running_loop().connect_read_pipe(
        lambda: _BatchedConsole(console), os.fdopen(console_r, "rb", buffering=0))
    queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
    tasks: list[asyncio.Task[None]] = []
    qmp: QMPClient | None = None
    try:
        tasks.append(asyncio.create_task(_read_console(console, queue)))
        try:
            qmp = await _connect_qmp(proc, plan.qmp_socket, plan.timeouts.boot)
        except ConnectionError as e:
            last = await _last_words(run, queue, LINGER_S)
            run.finish("qemu-exited", str(e) + (f"; QEMU said: {last}" if last else ""))
        else:
            tasks.append(asyncio.create_task(_read_qmp(qmp, queue)))
            if plan.restored_from is not None:
                await _restored(run, proc, qmp)
            await _loop(run, proc, qmp, queue)
    finally:
        for task in tasks:
            task.cancel()
        if qmp is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(qmp.disconnect(), 2)
        rc = await _reap(proc)
        transport.close()
        with contextlib.suppress(FileNotFoundError):
            plan.qmp_socket.unlink()
        run.finish("qemu-exited", f"harness stopped in phase {run.phase}")
        run.write(run.now(), f"# END status={run.status} phase={run.phase} rc={rc} "
                             f"detail={run.detail}")
        run.log.close()
    assert run.status is not None
    return GuestResult(run.status, run.phase, run.detail, plan.log_path, tuple(run.events), rc,
                       round(run.now(), 3), tuple(run.phase_ends), proc.pid, run.snapshot,
                       run.pre_snapshot)


async def _reap(proc: asyncio.subprocess.Process) -> int | None:
    """Kill QEMU by its own pid if it still runs, and wait for it."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, 9)
    try:
        return await asyncio.wait_for(proc.wait(), 10)
    except TimeoutError:
        return None


#: Size of the pipe QEMU writes the serial console to (Linux's default
#: /proc/sys/fs/pipe-max-size), so that a whole cycle's console fits. With the
#: default 64 KiB, a harness running two guests on two busy cores can read too
#: late; QEMU's serial backend then finds the pipe full and keeps THRE clear,
#: and the guest's 8250 console write polls LSR (drivers/tty/serial/8250/
#: 8250_port.c wait_for_xmitr, 6.1), burning guest CPU that a bare QEMU writing
#: to a file never burns. docs/lab.md has what this changed in the pair figures.
CONSOLE_PIPE_BYTES = 1 << 20


def _console_pipe() -> tuple[int, int]:
    """(read end, write end) of the console pipe, enlarged where the kernel allows."""
    r, w = os.pipe()
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, CONSOLE_PIPE_BYTES)
    return r, w


#: How long the harness leaves QEMU's console pipe unread after each read. QEMU's
#: 16550 model writes the console one byte per write(2) (hw/char/serial.c
#: serial_xmit, 7.2), so a reader that wakes whenever data is there wakes about
#: once per 50 bytes (1,076 reads and 3,718 event-loop turns in one booted cycle,
#: cProfile), and each wake-up costs harness CPU that two guests on two cores
#: need. Pausing makes it one read per interval (112 per cycle); the 1 MiB pipe
#: holds far more than QEMU writes in it, and lines are timestamped at most this
#: much later (phase timeouts are seconds). 0 turns the pause off.
CONSOLE_BATCH_S = 0.02


class _BatchedConsole(asyncio.StreamReaderProtocol):
    """A StreamReader's protocol that, after each chunk, stops watching the pipe
    for CONSOLE_BATCH_S (the stream's own flow control is left alone)."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        super().__init__(reader)
        self._pipe: asyncio.ReadTransport | None = None
        self._held = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert isinstance(transport, asyncio.ReadTransport)
        self._pipe = transport

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        pipe = self._pipe
        if CONSOLE_BATCH_S > 0 and pipe is not None and not self._held and pipe.is_reading():
            self._held = True
            pipe.pause_reading()
            asyncio.get_running_loop().call_later(CONSOLE_BATCH_S, self._release)

    def _release(self) -> None:
        self._held = False
        pipe = self._pipe
        if pipe is not None and not pipe.is_closing():
            pipe.resume_reading()


async def _read_console(console: asyncio.StreamReader,
                        queue: asyncio.Queue[tuple[str, object]]) -> None:
    while True:
        raw = await console.readline()
        if not raw:
            await queue.put(("eof", None))
            return
        await queue.put(("line", raw.decode("utf-8", "replace").rstrip("\r\n")))


async def _read_qmp(qmp: QMPClient, queue: asyncio.Queue[tuple[str, object]]) -> None:
    while True:
        msg = await qmp.events.get()
        await queue.put(("qmp", msg))


async def _last_words(run: _Run, queue: asyncio.Queue[tuple[str, object]],
                      limit: float) -> str:
    """Log what a QEMU that never served QMP printed before it exited (its error,
    e.g. a ``-loadvm`` that failed) and return the last line."""
    last = ""
    deadline = time.monotonic() + limit
    while (left := deadline - time.monotonic()) > 0:
        try:
            kind, payload = await asyncio.wait_for(queue.get(), left)
        except TimeoutError:
            break
        if kind != "line":
            break
        last = str(payload)
        run.write(run.now(), last)
    return last


async def _loop(run: _Run, proc: asyncio.subprocess.Process, qmp: QMPClient,
                queue: asyncio.Queue[tuple[str, object]]) -> None:
    while True:
        if run.linger_until is not None and time.monotonic() >= run.linger_until:
            return
        stop = run.linger_until if run.linger_until is not None else run.deadline
        left = stop - time.monotonic()
        if left <= 0:
            run.timed_out(proc.pid)
            return
        try:  # lines come in batches (CONSOLE_BATCH_S): take those already queued
            kind, payload = queue.get_nowait()
        except asyncio.QueueEmpty:
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
            if run.lines is not None:
                run.lines.append((round(t, 3), text))
            events = run.parser.feed(text, round(t, 3))
        else:
            assert isinstance(payload, Mapping)
            qev = qmp_event_from_message(payload, round(t, 3))
            run.write(t, log_line(qev))
            events = [qev]
        await _dispatch(run, proc, qmp, events)


async def _dispatch(run: _Run, proc: asyncio.subprocess.Process, qmp: QMPClient,
                    events: Sequence[Event]) -> None:
    for ev in events:
        action = run.handle(ev, proc.pid)
        if action == "ready":
            await _on_ready(run, qmp)
        elif action == "crash-up":
            await _on_crash_up(run, proc)
        elif action == "waiting":
            await _on_waiting(run, proc, qmp)


async def _restored(run: _Run, proc: asyncio.subprocess.Process, qmp: QMPClient) -> None:
    """Check that ``-loadvm`` resumed the guest, then replay the snapshot's boot.
    On failure the run ends after QEMU's last words (LINGER_S) are logged."""
    try:
        status = await asyncio.wait_for(qmp.execute("query-status"), run.plan.timeouts.boot)
    except Exception as e:  # QEMU exited while restoring, or QMP failed
        status = f"no answer ({type(e).__name__}: {e})"
    if not isinstance(status, Mapping) or status.get("status") != "running":
        run.finish("qemu-exited", f"restoring the snapshot failed: query-status {status}")
        run.linger_until = time.monotonic() + LINGER_S
        return
    run.snapshot = "restored"
    lines = run.plan.restored_from or ()
    t_snap = lines[-1][0] if lines else 0.0
    run.write(run.now(), f"# restored from a snapshot in {run.now():.3f} s; the "
                         f"{len(lines)} lines below with times <= 0 are the boot it was taken in")
    for t, text in lines:
        tr = round(t - t_snap, 3)
        run.write(tr, text)
        await _dispatch(run, proc, qmp, run.parser.feed(text, tr))


async def _on_waiting(run: _Run, proc: asyncio.subprocess.Process, qmp: QMPClient) -> None:
    """At the snapshot point: savevm if asked, then send the run-time settings."""
    if run.plan.save_snapshot:
        run.pre_snapshot = tuple(run.lines or ())
        run.lines = None
        t0 = time.monotonic()
        try:
            reply = await qmp.execute("human-monitor-command",
                                      {"command-line": f"savevm {SNAPSHOT_TAG}"})
        except Exception as e:  # an HMP error comes back as text; this is QMP failing
            reply = str(e)
        text = str(reply).strip()
        run.snapshot = "save-failed" if text else "saved"
        run.write(run.now(), f"# savevm {SNAPSHOT_TAG}: {text or 'ok'} "
                             f"({time.monotonic() - t0:.3f} s)")
        status = await qmp.execute("query-status")
        if isinstance(status, Mapping) and status.get("status") != "running":
            await qmp.execute("cont")
    if proc.stdin is not None and run.plan.go_lines:
        proc.stdin.write("".join(line + "\n" for line in run.plan.go_lines).encode())
        await proc.stdin.drain()
        run.write(run.now(), f"# sent {run.plan.go_lines[0]} (+{len(run.plan.go_lines) - 1} "
                             "lines of probe module)")


async def _on_crash_up(run: _Run, proc: asyncio.subprocess.Process) -> None:
    """The crash kernel's /init is up: send it the dma-active page to read back."""
    phys = run.dma_page()
    if phys is not None and proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.write(f"PAGE {phys}\n".encode())
            await proc.stdin.drain()
        run.write(run.now(), f"# sent PAGE {phys}")


async def _on_ready(run: _Run, qmp: QMPClient) -> None:
    if run.plan.inject_nmi:
        run.write(run.now(), "QMP-SEND inject-nmi")
        await qmp.execute("inject-nmi")
