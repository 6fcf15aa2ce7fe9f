"""What a lab crash kernel needs of its ``crashkernel=`` reservation, measured on the kernel.

Two sizes decide a kdump run before panic() matters (docs/lab.md "The vmcore read back"):
the smallest reservation into which ``kexec -p`` loads the crash image (kexec-tools
places the kernel, the initramfs, purgatory and the ELF core header inside it, or fails
with "Could not find a free area of memory", kexec/kexec.c locate_hole), and the smallest
in which the capture kernel then boots to /init and reads the vmcore (below it the OOM
killer finds nothing to kill and the kernel panics "System is deadlocked on memory",
mm/oom_kill.c out_of_memory, 6.1). Both depend on the guest's kernel image, its early
allocations and the lab's crash initramfs, so they are not written down: they are found
by bisection with real cycles of the guest (a panic with nothing else in it, at each
reservation tried) and cached per (release, arch, flavour, /init version). The model
takes them as ``Scenario.capture_needs_mib`` (model/capture.py) and the predictor sets
them (lab/predict.py); the run of any scenario whose reservation is below
``MEASURE_BELOW_MIB`` measures them first.

Outcomes per reservation are taken to be monotone (not loaded, then loads and dies, then
works, as the reservation grows); cycles that contradict that fail the calibration with
every reservation tried and its outcome.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from panicpath.lab.archive import LabSetupError, cache_dir
from panicpath.lab.initramfs import INIT_SCRIPT
from panicpath.lab.scenario import LabScenario, PhaseTimeouts, reserve_mib

MEASURE_BELOW_MIB = 256
"""Reservations from this size up are the lab's default (``reserve = "256M"``), with which
every shipped scenario's crash kernel works on every release and arch the lab carries
(docs/lab.md, the matrix); below it a run measures the kernel's needs first."""
NEEDS_VERSION = 1
"""Bumped when what a calibration cycle runs changes (invalidates cached measurements)."""

Outcome = str
"""``not-loaded`` | ``died`` | ``works`` for one reservation."""
OUTCOMES = ("not-loaded", "died", "works")


@dataclass(frozen=True)
class CaptureNeeds:
    """The measured sizes (MiB) and every cycle behind them."""

    release: str
    arch: str
    flavour: str
    load_mib: int
    """Smallest reservation into which kexec -p loaded the crash image."""
    boot_mib: int
    """Smallest reservation in which the capture kernel reached /init and read the vmcore."""
    abi: str = ""
    tried: tuple[tuple[int, str], ...] = field(default=())
    """(reservation MiB, outcome) of each calibration cycle, in the order run."""
    seconds: float = 0.0

    @property
    def mib(self) -> tuple[int, int]:
        """(load, boot): ``Scenario.capture_needs_mib``."""
        return self.load_mib, self.boot_mib


def needs_key(release: str, arch: str, flavour: str) -> str:
    """The cache file's name: the kernel by series, arch and flavour, and the version of the
    lab's /init (the crash initramfs) and of the calibration."""
    init = hashlib.sha256(INIT_SCRIPT.read_bytes()).hexdigest()[:12]
    return f"{release}-{arch}-{flavour}-{init}-v{NEEDS_VERSION}"


def _path(lab: LabScenario, cache: Path | None) -> Path:
    return (cache or cache_dir()) / "capture-needs" / (
        needs_key(lab.release, lab.arch, lab.flavour) + ".json")


def cached_needs(lab: LabScenario, cache: Path | None = None) -> CaptureNeeds | None:
    """The measurement for this scenario's kernel, if one was made (nothing is booted)."""
    path = _path(lab, cache)
    try:
        raw = json.loads(path.read_text())
        raw["tried"] = tuple(tuple(t) for t in raw["tried"])
        return CaptureNeeds(**raw)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def needs_measurement(lab: LabScenario) -> bool:
    """Whether a run of this scenario must know its kernel's needs first."""
    return lab.crash_kernel and reserve_mib(lab.crashkernel_size) < MEASURE_BELOW_MIB


def calibration_scenario(lab: LabScenario, mib: int) -> LabScenario:
    """The cycle run at one reservation: the scenario's kernel, a sysrq panic with no probe,
    no pvpanic or ramoops, kdump with ``crashkernel=MIBM``, 1 GiB, 2 CPUs."""
    return LabScenario(name=f"capture-needs-{mib}M", release=lab.release, arch=lab.arch,
                       flavour=lab.flavour, crash_kernel=True, crashkernel_size=f"{mib}M",
                       pvpanic=False, ramoops=False, cpus=2, memory_mib=1024,
                       timeouts=PhaseTimeouts(panic=30, crash_kernel=60))


Probe = Callable[[LabScenario], Outcome]
"""Runs one calibration cycle and says what happened."""


def bisect_needs(probe: Callable[[int], Outcome], hi: int = MEASURE_BELOW_MIB,
                 lo: int = 1) -> tuple[int, int, list[tuple[int, Outcome]]]:
    """(load, boot, tried): the two boundaries of a monotone outcome over reservations
    lo..hi MiB, each found by bisection, every cycle's result shared by both searches.
    ``hi`` must work (else LabSetupError)."""
    tried: list[tuple[int, Outcome]] = []
    seen: dict[int, Outcome] = {}

    def at(mib: int) -> Outcome:
        if mib not in seen:
            seen[mib] = probe(mib)
            tried.append((mib, seen[mib]))
        return seen[mib]

    if at(hi) != "works":
        raise LabSetupError(f"the crash kernel does not work even in crashkernel={hi}M "
                            f"({seen[hi]}): no calibration below it")
    def boundary(bad: int, good: int, is_good: Callable[[Outcome], bool]) -> int:
        """Smallest reservation in bad+1..good whose outcome is_good (bad is not, good is)."""
        while good - bad > 1:
            mid = (bad + good) // 2
            if is_good(at(mid)):
                good = mid
            else:
                bad = mid
        return good

    load = boundary(lo - 1, hi, lambda o: o != "not-loaded")
    boot = boundary(max(m for m, o in seen.items() if o != "works"),
                    min(m for m, o in seen.items() if o == "works"), lambda o: o == "works")
    expected = {m: "not-loaded" if m < load else "died" if m < boot else "works" for m in seen}
    if boot < load or expected != seen:
        raise LabSetupError("crash kernel outcomes are not monotone in the reservation: "
                            + ", ".join(f"{m}M {o}" for m, o in tried))
    return load, boot, tried


def outcome_of(crash_kernel_loaded: bool | None, died: bool, vmcore_seen: bool,
               ended_ok: bool, where: str) -> Outcome:
    """One calibration cycle's outcome from its observation."""
    if not ended_ok:
        raise LabSetupError(f"a calibration cycle failed: {where}")
    if crash_kernel_loaded is False:
        return "not-loaded"
    if vmcore_seen:
        return "works"
    if died or crash_kernel_loaded:
        return "died"
    raise LabSetupError(f"a calibration cycle neither loaded nor booted a crash kernel: {where}")


def measure_needs(lab: LabScenario, run_cycle: Probe, abi: str = "", cache: Path | None = None,
                  progress: Callable[[str], None] | None = None) -> CaptureNeeds:
    """The kernel's needs, from the cache or measured now (once per key: a lock file keeps
    two campaign jobs from measuring the same kernel twice)."""
    got = cached_needs(lab, cache)
    if got is not None:
        return got
    path = _path(lab, cache)
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.with_suffix(".lock")).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        got = cached_needs(lab, cache)
        if got is not None:
            return got
        start = time.monotonic()

        def probe(mib: int) -> Outcome:
            if progress is not None:
                progress(f"measuring {lab.release}/{lab.arch}/{lab.flavour} crash kernel: "
                         f"crashkernel={mib}M")
            return run_cycle(calibration_scenario(lab, mib))

        load, boot, tried = bisect_needs(probe)
        needs = CaptureNeeds(lab.release, lab.arch, lab.flavour, load, boot, abi,
                             tuple(tried), round(time.monotonic() - start, 1))
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(needs), indent=1) + "\n")
        tmp.rename(path)
        return needs
