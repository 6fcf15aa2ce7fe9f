"""Failure modes on a real QEMU: each reported as such, in time, with no process left."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from panicpath.lab.events import Event, LabMark
from panicpath.lab.harness import GuestPlan, run_guest
from panicpath.lab.kernels import KernelFiles
from panicpath.lab.runner import prepare, run_prepared_async, run_scenario
from panicpath.lab.scenario import PhaseTimeouts, parse_scenario

pytestmark = [pytest.mark.qemu, pytest.mark.timeout(120)]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_guest_hanging_in_a_notifier_is_a_hang_in_panic_phase(lab_kernel: KernelFiles,
                                                               tmp_path: Path) -> None:
    """A panic that stops making progress is an outcome (issue 16: 'a hang is an outcome'),
    reported after the panic phase timeout, with its log; QEMU is gone."""
    s = parse_scenario(
        'name = "hang"\n[boot]\ncrash_kexec_post_notifiers = true\n'
        '[[notifier]]\nname = "lk"\nbehaviour = "lock"\n[timeouts]\npanic = 6\n',
        Path("hang.toml"))
    prep = prepare(s, tmp_path)
    t0 = time.monotonic()
    run = asyncio.run(run_prepared_async(prep))
    r = run.result
    panic_entered = dict(r.phase_ends)["load"]
    assert (r.status, r.phase) == ("hung", "panic"), r.summary()
    assert r.ok and run.observation.hung
    assert 6 <= r.duration - panic_entered < 8
    assert time.monotonic() - t0 < 60
    assert str(tmp_path / "console.log") in r.summary()
    assert "LABPANIC notifier lk prio=0" in (tmp_path / "console.log").read_text()
    # lk (priority 0) was registered after the x86 offset notifier (priority 0, at boot)
    assert [c.name for c in run.observation.callbacks] == ["dump-kernel-offset", "lk"]
    assert not run.observation.crash_kernel_booted
    assert gone(r.pid)


def test_qemu_killed_mid_run_is_reported_in_its_phase(lab_kernel: KernelFiles,
                                                      tmp_path: Path) -> None:
    def kill_at_init(ev: Event, pid: int) -> None:
        if isinstance(ev, LabMark) and ev.name == "FIRST-KERNEL-INIT":
            os.kill(pid, 9)

    s = parse_scenario('name = "dies"\n', Path("dies.toml"))
    run = run_scenario(s, tmp_path, on_event=kill_at_init)
    r = run.result
    assert (r.status, r.phase, r.returncode) == ("qemu-exited", "load", -9), r.summary()
    assert r.log_path == tmp_path / "console.log" and r.log_path.exists()
    assert gone(r.pid)


def test_qemu_that_cannot_start_is_reported_in_boot_phase(tmp_path: Path) -> None:
    plan = GuestPlan(("qemu-system-x86_64", "-no-such-option"), tmp_path / "q.sock",
                     tmp_path / "log", PhaseTimeouts(boot=20))
    t0 = time.monotonic()
    r = asyncio.run(run_guest(plan))
    assert (r.status, r.phase) == ("qemu-exited", "boot")
    assert time.monotonic() - t0 < 10
    assert "-no-such-option" in (tmp_path / "log").read_text()
    assert gone(r.pid)


def test_kernel_that_never_reaches_the_crash_kernel(lab_kernel: KernelFiles,
                                                    tmp_path: Path) -> None:
    # 32M is too small for the lab's crash kernel and initrd: kexec -p fails to load it
    s = parse_scenario('name = "nockdump"\n[crash_kernel]\nreserve = "32M"\n',
                       Path("nockdump.toml"))
    # the harness alone: no measurement of the kernel's crash-kernel needs (lab/
    # reservation.py), which only the prediction uses (tests/lab/test_predict.py)
    run = run_scenario(s, tmp_path, measure=False)
    r = run.result
    # the kernel's answer to the reservation, compared with the model's, not a failed run
    assert (r.status, r.phase) == ("complete", "panic"), r.summary()
    assert "kexec -p had failed" in r.detail
    assert run.observation.pvpanic_event == "PANICKED"
    assert run.observation.crash_kernel_loaded is False
    assert not run.observation.crash_kernel_booted
    assert gone(r.pid)


def test_a_crash_kernel_that_dies_is_an_outcome(lab_kernel: KernelFiles,
                                                tmp_path: Path) -> None:
    """crashkernel=64M holds the image (kexec -p loads from 57M) but not the crash kernel's
    boot: it panics out of memory (docs/lab.md "The vmcore read back"), resets, and QEMU
    (-no-reboot) exits. The run is crash-kernel-died, with the why, and ok."""
    s = parse_scenario('name = "ck64"\n[crash_kernel]\nreserve = "64M"\n[devices]\n'
                       'pvpanic = false\n[timeouts]\ncrash_kernel = 30\n', Path("ck64.toml"))
    run = run_scenario(s, tmp_path, snapshot=False, measure=False)
    r, o = run.result, run.observation
    assert (r.status, r.phase) == ("crash-kernel-died", "crash-kernel"), r.summary()
    assert r.ok and "it panicked: System is deadlocked on memory" in r.detail
    assert o.crash_kernel_loaded and o.crash_kernel_booted and o.crash_kernel_died
    assert o.crash_kernel_death == "panic: System is deadlocked on memory"
    assert not o.vmcore_seen and o.vmcore_cpus_saved is None
    assert gone(r.pid)


@pytest.mark.timeout(30)
def test_console_pipe_is_read_in_batches_not_per_write(tmp_path: Path) -> None:
    """QEMU writes the console a byte per write(2); the harness must not wake for each.

    A child writes 360 bytes one write at a time over ~0.4 s into a real pipe read
    through ``_BatchedConsole``: every byte arrives, in order, then EOF, and the
    pipe is read about once per CONSOLE_BATCH_S (a reader that woke per write
    would read hundreds of times)."""
    from panicpath.lab import harness

    payload = b"".join(b"line %03d\n" % i for i in range(40))  # 360 bytes

    async def main() -> tuple[bytes, int, float]:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the writer: one byte per write, 1 ms apart
            os.close(r)
            for i in range(len(payload)):
                os.write(w, payload[i:i + 1])
                time.sleep(0.001)
            os._exit(0)
        os.close(w)
        reads = 0
        stream = asyncio.StreamReader()

        class Counting(harness._BatchedConsole):
            def data_received(self, data: bytes) -> None:
                nonlocal reads
                reads += 1
                super().data_received(data)

        t0 = time.monotonic()
        transport, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: Counting(stream), os.fdopen(r, "rb", buffering=0))
        got = await stream.read()  # to EOF
        took = time.monotonic() - t0
        transport.close()
        os.waitpid(pid, 0)
        return got, reads, took

    got, reads, took = asyncio.run(main())
    assert got == payload
    assert reads <= took / harness.CONSOLE_BATCH_S + 3, (reads, took)
    assert reads < len(payload) / 10


def test_crash_kernel_phase_timeout_is_a_death_not_a_harness_failure(tmp_path: Path) -> None:
    """The phase machine alone (no QEMU): a crash kernel that printed its banner and then
    nothing within the crash-kernel timeout ends the run as crash-kernel-died, with a
    NoProgress event the observation reads as the why."""
    from panicpath.lab.events import KernelBooted, NoProgress, PanicStarted
    from panicpath.lab.harness import _Run
    from panicpath.lab.observation import observe

    plan = GuestPlan(("true",), tmp_path / "q.sock", tmp_path / "log",
                     PhaseTimeouts(crash_kernel=7))
    run = _Run(plan, None)
    for ev in (LabMark("FIRST-KERNEL-INIT", 0), LabMark("READY", 0),
               PanicStarted("sysrq triggered crash", 0), KernelBooted("6.1", 1)):
        run.handle(ev, 0)
    assert run.phase == "crash-kernel"
    run.timed_out(0)
    run.log.close()
    assert run.status == "crash-kernel-died" and "7 s" in run.detail
    assert [e.phase for e in run.events if isinstance(e, NoProgress)] == ["crash-kernel"]
    o = observe(run.events)
    assert o.crash_kernel_died and o.crash_kernel_death == "no progress for 7 s"
    assert not o.hung


@pytest.mark.parametrize(("action", "status"), [("poweroff", "complete"),
                                                ("run", "no-crash-kernel"),
                                                (None, "no-crash-kernel")])
def test_qemu_ending_the_guest_by_its_panic_action_is_an_outcome(
        tmp_path: Path, action: str | None, status: str) -> None:
    """The phase machine alone: a kdump run whose guest told the host it panicked
    (pseries' os-term, pvpanic) and whose QEMU then powered it off by its own
    ``-action panic=shutdown`` (GUEST_PANICKED action=poweroff) ended as the model's
    host_panic_action says, before any crash kernel: ``complete``, compared. QEMU
    exiting after a panic it was not told of, or told with action=run, is still a run
    that lost its crash kernel."""
    from panicpath.lab.events import PanicStarted, QmpEvent
    from panicpath.lab.harness import _Run

    plan = GuestPlan(("true",), tmp_path / "q.sock", tmp_path / "log", PhaseTimeouts(),
                     expect_crash_kernel=True)
    run = _Run(plan, None)
    evs: list[Event] = [LabMark("FIRST-KERNEL-INIT", 0), LabMark("READY", 0),
                        PanicStarted("sysrq triggered crash", 0)]
    if action is not None:
        evs.append(QmpEvent("GUEST_PANICKED", (("action", action),)))
    for ev in evs:
        run.handle(ev, 0)
    run.exited(0)
    run.log.close()
    assert run.status == status, run.detail
