"""One scenario end to end: supply the kernel, build the guest, run it, observe.

``prepare`` does everything that does not need QEMU (kernel download, initrds,
probe module, command lines) and returns a ``Prepared`` run; ``run_prepared``
boots it; ``run_scenario`` does both. Set-up problems raise ``LabSetupError``
with the command that fixes them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from panicpath.lab.harness import GuestPlan, GuestResult, OnEvent, run_guest
from panicpath.lab.initramfs import ensure_initrds, first_initrd
from panicpath.lab.kernels import LabSetupError, cache_dir, ensure_kernel
from panicpath.lab.observation import Observation, observe
from panicpath.lab.probe import build_probe
from panicpath.lab.qemu import QEMU, kernel_cmdline, qemu_command
from panicpath.lab.scenario import LabScenario


@dataclass(frozen=True)
class Prepared:
    """A scenario ready to boot: its QEMU argv and where its files go."""

    scenario: LabScenario
    cmd: tuple[str, ...]
    run_dir: Path
    qmp_socket: Path

    @property
    def log_path(self) -> Path:
        return self.run_dir / "console.log"

    def plan(self, send_on_ready: str | None = None) -> GuestPlan:
        s = self.scenario
        return GuestPlan(self.cmd, self.qmp_socket, self.log_path, s.timeouts,
                         expect_crash_kernel=s.crash_kernel, inject_nmi=s.trigger == "nmi",
                         send_on_ready=send_on_ready)


@dataclass(frozen=True)
class LabRun:
    """The outcome of one scenario run."""

    scenario: LabScenario
    result: GuestResult
    observation: Observation


def require_qemu() -> None:
    """Fail with the install command when QEMU is missing."""
    if shutil.which(QEMU) is None:
        raise LabSetupError(f"{QEMU} not found; run: apt-get install qemu-system-x86")


def default_run_dir(scenario: LabScenario) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return cache_dir() / "runs" / f"{scenario.name}-{stamp}-{os.getpid()}-{time.monotonic_ns()}"


def prepare(scenario: LabScenario, run_dir: Path | None = None, wait: bool = False) -> Prepared:
    """Supply and build everything a scenario needs (no QEMU started)."""
    require_qemu()
    kernel = ensure_kernel(scenario.flavour)
    initrds = ensure_initrds(kernel)
    probe = build_probe(scenario, kernel) if scenario.has_probe else None
    rdir = run_dir or default_run_dir(scenario)
    rdir.mkdir(parents=True, exist_ok=True)
    initrd = first_initrd(initrds, probe, rdir)
    cmdline = kernel_cmdline(scenario, probe is not None, wait=wait)
    # unix socket paths are limited to 108 bytes: keep the socket short, in /tmp
    sock = Path(tempfile.mkdtemp(prefix="ppl-")) / "qmp.sock"
    cmd = qemu_command(scenario, kernel.vmlinuz, initrd, cmdline, sock)
    return Prepared(scenario, tuple(cmd), rdir, sock)


async def run_prepared_async(prep: Prepared, on_event: OnEvent | None = None) -> LabRun:
    """Boot a prepared scenario and observe it."""
    try:
        result = await run_guest(prep.plan(), on_event)
    finally:
        shutil.rmtree(prep.qmp_socket.parent, ignore_errors=True)
    return LabRun(prep.scenario, result, observe(result.events))


def run_scenario(scenario: LabScenario, run_dir: Path | None = None,
                 on_event: OnEvent | None = None) -> LabRun:
    """Prepare and run one scenario (blocking)."""
    return asyncio.run(run_prepared_async(prepare(scenario, run_dir), on_event))
