"""One scenario end to end: supply the kernel, build the guest, run it, observe.

``prepare`` does everything that does not need QEMU (kernel download, initrds,
probe module, command lines) and returns a ``Prepared`` run; ``run_prepared``
runs it; ``run_scenario`` does both. Set-up problems raise ``LabSetupError``
with the command that fixes them.

With ``snapshot=True`` (the default) a run restores the cached snapshot of its
key (panicpath.lab.snapshot) instead of booting; when there is none yet, the run
boots with ``lab.wait=1``, saves the snapshot at ``LABMARK WAITING`` and goes on,
and the image becomes the key's snapshot once its QEMU has exited. A snapshot
that fails to restore is dropped and the run boots and saves a new one.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from panicpath.lab.harness import GuestPlan, GuestResult, OnEvent, run_guest
from panicpath.lab.initramfs import ensure_initrds, first_initrd, has_watchdog_driver
from panicpath.lab.kernels import KernelFiles, LabSetupError, cache_dir, ensure_kernel
from panicpath.lab.observation import Observation, observe
from panicpath.lab.probe import build_probe
from panicpath.lab.qemu import (
    MACHINES,
    kernel_cmdline,
    machine_problems,
    qemu_command,
    resolve_tcg_threads,
)
from panicpath.lab.reservation import CaptureNeeds, measure_needs, needs_measurement, outcome_of
from panicpath.lab.scenario import LabScenario
from panicpath.lab.snapshot import (
    SnapshotStore,
    drive_args,
    go_lines,
    qemu_version,
    restore_args,
    runtime_settings,
    store_for,
)


@dataclass(frozen=True)
class SnapshotPlan:
    """How a prepared run uses a snapshot: the argv of a guest booted for one (without
    the image), the store of its key, and the lines that turn it into this scenario."""

    cmd: tuple[str, ...]
    store: SnapshotStore
    go_lines: tuple[str, ...]


@dataclass(frozen=True)
class Prepared:
    """A scenario ready to run: its QEMU argv (booting) and where its files go."""

    scenario: LabScenario
    cmd: tuple[str, ...]
    run_dir: Path
    qmp_socket: Path
    snapshot: SnapshotPlan | None = None

    @property
    def log_path(self) -> Path:
        return self.run_dir / "console.log"

    def plan(self) -> GuestPlan:
        """The plan of a booted run (no snapshot)."""
        s = self.scenario
        return GuestPlan(self.cmd, self.qmp_socket, self.log_path, s.timeouts,
                         expect_crash_kernel=s.crash_kernel, inject_nmi=s.trigger == "nmi")

    def restore_plan(self, image: Path) -> GuestPlan:
        """The plan of a run restored from the snapshot in ``image``."""
        assert self.snapshot is not None
        sp = self.snapshot
        return replace(self.plan(), cmd=(*sp.cmd, *restore_args(image)),
                       go_lines=sp.go_lines, restored_from=sp.store.boot_lines())

    def save_plan(self, image: Path) -> GuestPlan:
        """The plan of a run that boots, saves a snapshot into ``image`` and goes on."""
        assert self.snapshot is not None
        sp = self.snapshot
        return replace(self.plan(), cmd=(*sp.cmd, *drive_args(image)), go_lines=sp.go_lines,
                       save_snapshot=True)


@dataclass(frozen=True)
class LabRun:
    """The outcome of one scenario run."""

    scenario: LabScenario
    result: GuestResult
    observation: Observation


QEMU_PACKAGES = {"x86_64": "qemu-system-x86", "arm64": "qemu-system-arm",
                 "ppc64el": "qemu-system-ppc"}
"""The Debian package of each arch's QEMU (scripts/install-deps.sh installs all three)."""


def require_qemu(arch: str = "x86_64") -> None:
    """Fail with the install command when the arch's QEMU is missing."""
    qemu = MACHINES[arch].qemu
    if shutil.which(qemu) is None:
        raise LabSetupError(f"{qemu} not found; run: apt-get install {QEMU_PACKAGES[arch]}")


def refuse_unsupported(scenario: LabScenario) -> None:
    """Refuse, before any download, a scenario that needs what its machine lacks
    (qemu.machine_problems: pvpanic, an NMI trigger, memmap= for ramoops), in one line."""
    problems = machine_problems(scenario, MACHINES[scenario.arch])
    if problems:
        where = scenario.path or scenario.name
        raise LabSetupError(f"{where}: {scenario.arch} cannot run it: {'; '.join(problems)}")


def refuse_missing_driver(scenario: LabScenario, kernel: KernelFiles) -> None:
    """Refuse, before anything boots, a watchdog scenario whose kernel has no driver for it
    (its config: Debian's cloud flavours lack CONFIG_I6300ESB_WDT), in one line."""
    if scenario.watchdog != "none" and not has_watchdog_driver(kernel):
        where = scenario.path or scenario.name
        raise LabSetupError(f"{where}: [devices] watchdog = \"{scenario.watchdog}\": the "
                            f"{scenario.flavour} {scenario.release} kernel ({kernel.release}) "
                            "has no i6300esb driver (CONFIG_I6300ESB_WDT is not set); use "
                            "[kernel] flavour = \"amd64\"")


def default_run_dir(scenario: LabScenario) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return cache_dir() / "runs" / f"{scenario.name}-{stamp}-{os.getpid()}-{time.monotonic_ns()}"


def snapshots_usable() -> bool:
    """Whether this host can take snapshots (qemu-img creates the image)."""
    return shutil.which("qemu-img") is not None


def measure_capture_needs(scenario: LabScenario, tcg_threads: str = "auto",
                          progress: Callable[[str], None] | None = None) -> CaptureNeeds:
    """The scenario's kernel's crash-kernel needs (lab/reservation.py), measured now with
    real cycles (logs under ``CACHE/capture-needs/``) unless cached."""
    logs = cache_dir() / "capture-needs" / "runs"

    def cycle(sc: LabScenario) -> str:
        # a thread of its own: prepare() runs inside the event loop of `lab campaign` and
        # `lab matrix`, where run_scenario()'s asyncio.run() may not start another
        with ThreadPoolExecutor(1) as pool:
            run = pool.submit(run_scenario, sc,
                              logs / f"{sc.release}-{sc.arch}-{sc.flavour}" / sc.name,
                              snapshot=False, tcg_threads=tcg_threads, measure=False).result()
        o = run.observation
        return outcome_of(o.crash_kernel_loaded, o.crash_kernel_died, o.vmcore_seen,
                          run.result.ok, run.result.summary())

    kernel = ensure_kernel(scenario.flavour, release=scenario.release, arch=scenario.arch)
    return measure_needs(scenario, cycle, abi=kernel.release, progress=progress)


def prepare(scenario: LabScenario, run_dir: Path | None = None, snapshot: bool = True,
            cache: Path | None = None, guests: int = 1, tcg_threads: str = "auto",
            measure: bool = True) -> Prepared:
    """Supply and build everything a scenario needs (no QEMU started).

    ``snapshot``: restore (or take) a snapshot when the host can (qemu-img
    present); ``cache``: where snapshots are kept (default: the lab cache);
    ``guests``: how many guests will run side by side (picks the TCG thread
    mode, see qemu.tcg_thread_mode; snapshots are kept per mode); ``tcg_threads``:
    ``auto`` (that choice), ``multi`` or ``single``; ``measure``: measure the kernel's
    crash-kernel needs first when the scenario's reservation is small
    (reservation.needs_measurement), so that its prediction can use them."""
    refuse_unsupported(scenario)
    require_qemu(scenario.arch)
    kernel = ensure_kernel(scenario.flavour, release=scenario.release, arch=scenario.arch)
    refuse_missing_driver(scenario, kernel)
    if measure and needs_measurement(scenario):
        measure_capture_needs(scenario, tcg_threads)
    machine = MACHINES[scenario.arch]
    initrds = ensure_initrds(kernel)
    probe = build_probe(scenario, kernel) if scenario.has_probe else None
    rdir = run_dir or default_run_dir(scenario)
    rdir.mkdir(parents=True, exist_ok=True)
    initrd = first_initrd(initrds, probe, rdir)
    cmdline = kernel_cmdline(scenario, probe is not None, machine=machine)
    # unix socket paths are limited to 108 bytes: keep the socket short, in /tmp
    sock = Path(tempfile.mkdtemp(prefix="ppl-")) / "qmp.sock"
    threads = resolve_tcg_threads(tcg_threads, guests, scenario.cpus, os.cpu_count() or 1,
                                  scenario.arch)
    cmd = qemu_command(scenario, kernel.vmlinuz, initrd, cmdline, sock, threads, machine)
    plan = None
    if snapshot and snapshots_usable():
        snap_cmd = tuple(qemu_command(scenario, kernel.vmlinuz, initrds.first,
                                      kernel_cmdline(scenario, False, wait=True,
                                                     machine=machine), sock,
                                      threads, machine))
        lines = go_lines(runtime_settings(scenario), probe.read_bytes() if probe else None)
        plan = SnapshotPlan(snap_cmd, store_for(cache or cache_dir(), snap_cmd), lines)
    return Prepared(scenario, tuple(cmd), rdir, sock, plan)


async def _run_with_snapshot(prep: Prepared, on_event: OnEvent | None) -> GuestResult:
    sp = prep.snapshot
    assert sp is not None
    if sp.store.ready():
        with sp.store.slot() as image:
            result = await run_guest(prep.restore_plan(image), on_event)
        if result.snapshot != "restore-failed":
            return result
        sp.store.invalidate()
        failed = result.log_path.with_name("restore-failed.log")
        result.log_path.replace(failed)
    image = sp.store.new_image()
    try:
        result = await run_guest(prep.save_plan(image), on_event)
        if result.snapshot == "saved":
            sp.store.commit(image, result.pre_snapshot,
                            {"qemu": qemu_version(), "cmd": list(sp.cmd),
                             "scenario": prep.scenario.name})
    finally:
        image.unlink(missing_ok=True)
    return result


BOOT_RETRIES = 1
"""Boots of the first kernel tried again when one failed before its /init ran (a timeout
or QEMU's exit in the boot phase): nothing of the scenario has acted yet, and under
multi-threaded TCG a boot sometimes dies of the emulation, not of the kernel (6.12 x86_64:
"Oops: int3" in sched_clock_cpu while the boot patches its static keys, docs/lab.md)."""


def _trigger_lost(result: GuestResult) -> bool:
    """The guest said READY and then never panicked: a timeout in the panic phase
    (harness._Run.timed_out ends a panic phase that saw a panic as ``hung``). Restored
    from a snapshot, the state frozen in it can make the trigger wait for the faulted
    CPU: in one CI run every ipi-deaf-cpu
    scenario restored from one snapshot stalled after arming, with the RCU grace-period
    kthread's timer queued on the CPU that had turned its interrupts off ("rcu_preempt
    kthread timer wakeup didn't happen ... on cpu=1"), while booted runs and other
    snapshots never did (docs/lab.md)."""
    return result.status == "timeout" and result.phase == "panic"


async def run_prepared_async(prep: Prepared, on_event: OnEvent | None = None) -> LabRun:
    """Run a prepared scenario (restored from its snapshot or booted) and observe it. A
    boot that failed before /init is tried again (BOOT_RETRIES), and a restored run whose
    trigger never fired is run once more booted (:func:`_trigger_lost`); the failed log is
    kept beside the run's (``boot-failed-N.log``, ``trigger-lost.log``) and the result's
    detail names it."""
    try:
        failed: list[Path] = []
        booted = prep.snapshot is None
        while True:
            if booted:
                result = await run_guest(prep.plan(), on_event)
            else:
                result = await _run_with_snapshot(prep, on_event)
            if not booted and _trigger_lost(result) and not failed:
                booted = True
                name = "trigger-lost.log"
            elif result.ok or result.phase != "boot" or len(failed) >= BOOT_RETRIES:
                break
            else:
                name = f"boot-failed-{len(failed) + 1}.log"
            kept = result.log_path.with_name(name)
            result.log_path.replace(kept)
            failed.append(kept)
        if failed:
            result = replace(result, detail=f"{result.detail} (run again after: "
                             f"{', '.join(map(str, failed))})")
    finally:
        shutil.rmtree(prep.qmp_socket.parent, ignore_errors=True)
    return LabRun(prep.scenario, result, observe(result.events))


def run_scenario(scenario: LabScenario, run_dir: Path | None = None,
                 on_event: OnEvent | None = None, snapshot: bool = True,
                 tcg_threads: str = "auto", measure: bool = True) -> LabRun:
    """Prepare and run one scenario (blocking)."""
    prep = prepare(scenario, run_dir, snapshot, tcg_threads=tcg_threads, measure=measure)
    return asyncio.run(run_prepared_async(prep, on_event))
