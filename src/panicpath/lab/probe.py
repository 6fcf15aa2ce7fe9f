"""The probe module: C source generated from a scenario, built against the headers.

The module registers the scenario's panic notifiers on ``panic_notifier_list``
with ``atomic_notifier_chain_register`` in the scenario's order (Linux 6.1
kernel/notifier.c notifier_chain_register() keeps the chain sorted by priority,
equal priorities in registration order) and its kmsg dumpers with
``kmsg_dump_register`` (kernel/printk/printk.c). Every callback prints a
``LABPANIC`` marker that panicpath.lab.console parses. Behaviours: return
NOTIFY_STOP (kernel/notifier.c notifier_call_chain() stops walking the chain),
spin with ``mdelay``, or take a raw spinlock that a kthread bound to another
CPU took when /init armed the module (right before the trigger) and never released.

The scenario's faults (``faults = [...]``, the model's names, panicpath.faults)
are produced by the same module (``ProbeFaults``, docs/lab.md "Faults in the
guest"): a kthread bound to each CPU a fault acts on (the model's victim, the
first CPU after the panic CPU 0, unless the fault names one) writes a page from
load time, and takes ``probe_lock``, disables interrupts (``ipi-deaf-cpu``) or
calls ``panic()`` (``concurrent-panic``) once ``/init`` arms the module right
before the trigger; ``hanging-callback`` is a notifier that never returns;
``corrupted-notifier-list`` points a notifier block's ``next`` at unmapped
memory. Each prints ``LABPANIC fault NAME ...`` when in place.

Built modules are stripped of debug information and cached by (kernel release,
source hash).
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import jinja2
from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile

from panicpath.lab.archive import DEB_ARCHES
from panicpath.lab.hosttools import ensure_host_tools
from panicpath.lab.kernels import KernelFiles, LabSetupError, cache_dir
from panicpath.lab.scenario import LabScenario

MODULE_NAME = "panicpath_probe"
_TEMPLATES = Path(__file__).resolve().parent / "templates"
#: Part of the cache key: bumped when the build steps change (2: debug info stripped; 3:
#: .init sections removed but the arch placeholders of ARCH_INIT_SECTIONS; 4: arm64 fixed;
#: 5: removed on INIT_FREE_BY_IPI arches only; 6: built without ftrace's entry flags).
_BUILD_VERSION = "6\n"


#: The CPU a fault acts on when it names none: the model's victim, the first CPU that
#: is not the panic CPU (panicpath.faults._victim); /init triggers on CPU 0.
VICTIM_CPU = 1
#: The extra notifier of ``hanging-callback`` without an argument (panicpath.faults).
HANGING_NOTIFIER = "hanging-notifier"
#: Faults that act right before the trigger, once /init writes the "arm" parameter. The
#: lock holder takes probe_lock then too: a CPU spinning with preemption off from load
#: time stalled insmod on ppc64el (7.2 every run, 6.1 sometimes: docs/lab.md).
ARMED_FAULTS = ("ipi-deaf-cpu", "concurrent-panic", "lock-held-by-stopped-cpu")


@dataclass(frozen=True)
class ProbeFaults:
    """What the probe module does for a scenario's faults (CPU ids as the guest numbers
    them; None = not asked)."""

    lock_cpu: int | None = None
    deaf_cpu: int | None = None
    concurrent_cpu: int | None = None
    dma_cpu: int | None = None
    hanging: tuple[str, ...] = ()
    """Scenario notifiers that hang; "" for the extra ``hanging-notifier``."""
    corrupt: str | None = None
    """The notifier whose ``next`` points at unmapped memory."""

    @property
    def extra_hanging(self) -> bool:
        return "" in self.hanging

    @property
    def victim_cpus(self) -> tuple[int, ...]:
        """One kthread per CPU that a fault acts on."""
        cpus = (self.lock_cpu, self.deaf_cpu, self.concurrent_cpu, self.dma_cpu)
        return tuple(sorted({c for c in cpus if c is not None}))

    @property
    def any_victim(self) -> bool:
        return bool(self.victim_cpus)

    @property
    def acks(self) -> int:
        """Victims that must act before ``arm`` returns (the lock holder takes the lock)."""
        return sum(c is not None for c in (self.deaf_cpu, self.concurrent_cpu, self.lock_cpu))

    @property
    def needs_arm(self) -> bool:
        return self.acks > 0


def _cpu(arg: str) -> int:
    return int(arg) if arg else VICTIM_CPU


def probe_faults(scenario: LabScenario) -> ProbeFaults:
    """The probe's share of a scenario's faults (``nmi-context`` is the NMI trigger)."""
    got: dict[str, str] = {}
    hanging: list[str] = []
    for item in scenario.faults:
        name, _, arg = item.partition("=")
        if name == "hanging-callback":
            hanging.append(arg)
        got[name] = arg
    lock = "lock-held-by-stopped-cpu" in got or any(
        n.behaviour == "lock" for n in scenario.notifiers)
    return ProbeFaults(
        lock_cpu=VICTIM_CPU if lock else None,
        deaf_cpu=_cpu(got["ipi-deaf-cpu"]) if "ipi-deaf-cpu" in got else None,
        concurrent_cpu=_cpu(got["concurrent-panic"]) if "concurrent-panic" in got else None,
        dma_cpu=VICTIM_CPU if "dma-active" in got else None,
        hanging=tuple(dict.fromkeys(hanging)),
        corrupt=(scenario.notifiers[0].name if "corrupted-notifier-list" in got
                 and scenario.notifiers else None),
    )


PLAIN_STOP: dict[str, str] = {
    "x86_64": "native_stop_other_cpus",
    "arm64": "smp_send_stop",
    "ppc64el": "smp_send_stop",
}
"""The function panic() reaches for the stop without post notifiers (kernel/panic.c
panic_other_cpus_shutdown() -> smp_send_stop(), 6.1): x86's smp_send_stop() is an inline
of smp_ops.stop_other_cpus (arch/x86/include/asm/smp.h), native_stop_other_cpus() in
arch/x86/kernel/smp.c; arm64's and powerpc's are functions of their smp.c. The
concurrent-panic fault holds the winner there too (templates/probe.c.j2)."""


def render_probe(scenario: LabScenario) -> str:
    """The probe module's C source for a scenario."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    faults = probe_faults(scenario)
    return env.get_template("probe.c.j2").render(
        scenario=scenario.name,
        notifiers=scenario.notifiers,
        dumpers=scenario.dumpers,
        uses_lock=faults.lock_cpu is not None,
        f=faults,
        plain_stop=PLAIN_STOP[scenario.arch],
    )


TOOLCHAINS = {"x86_64": ("x86_64-linux-gnu", "gcc-12"),
              "arm64": ("aarch64-linux-gnu", "gcc-aarch64-linux-gnu"),
              "ppc64el": ("powerpc64le-linux-gnu", "gcc-powerpc64le-linux-gnu")}
"""GNU type and Debian package of the gcc 12 that builds the probe for each guest arch."""
BUILD_OVERRIDES = ("CONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT=", "CONFIG_DEBUG_INFO_BTF_MODULES=")
"""Config symbols unset on make's command line for the probe's build (Kbuild then takes
its fallback): CONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT says the kernel's compiler has
-fmin-function-alignment (gcc 14; the 6.12 top Makefile adds it, else -falign-functions=
CONFIG_FUNCTION_ALIGNMENT, which the host's gcc 12 has); CONFIG_DEBUG_INFO_BTF_MODULES
makes scripts/Makefile.modfinal (6.12, 7.x) run pahole for the module's BTF, which only BPF
reads and which the probe, stripped of debug information, would not keep anyway."""


KBUILD_EXTRA = "ccflags-remove-y += $(CC_FLAGS_FTRACE)\n"
"""The probe's Kbuild line beside obj-m: no ftrace entry code in its functions
(CC_FLAGS_FTRACE, removed per module by ccflags-remove-y, scripts/Makefile.lib). ppc64el
7.2 is built with gcc 14 and -fpatchable-function-entry; the host's gcc 12 then emits a
``.localentry`` that binutils refuses ("not a valid power of 2"). Nothing traces the
probe's own functions; its kprobes are on the kernel's."""


ARCH_INIT_SECTIONS = frozenset({".init.plt"})
"""Init sections an arch's module linker script adds to every module, which must stay:
arm64's ``.init.plt`` (arch/arm64/include/asm/module.lds.h, one placeholder byte; the loader
refuses a module without it, "module PLT section(s) missing", and sizes it at load:
arch/arm64/kernel/module-plts.c module_frob_arch_sections(), 6.1). arm64 then frees an init
area anyway, but flushes kernel TLBs by broadcast TLBI, without an IPI
(arch/arm64/include/asm/tlbflush.h flush_tlb_kernel_range(), 6.1)."""


INIT_FREE_BY_IPI = frozenset({"x86_64", "ppc64el"})
"""Guest arches whose kernel-TLB flush after freeing a module's init area waits for every
CPU through an IPI (x86: flush_tlb_kernel_range() -> on_each_cpu(), arch/x86/mm/tlb.c;
powerpc radix without GTSE: IPIs, arch/powerpc/mm/book3s64/radix_tlb.c, 6.1): the probe's
init sections are removed there. arm64 flushes by broadcast TLBI and needs no other CPU,
and arm64 7.3's loader refuses the module without them ("invalid module format", the
lab matrix of 2026-12-02): left as built."""


def init_sections(ko: Path) -> list[str]:
    """The allocated ``.init*`` sections of a module other than ARCH_INIT_SECTIONS: what
    the kernel frees once its init returned, through a TLB flush on every CPU
    (templates/probe.c.j2, above probe_init), which an ipi-deaf-cpu victim would never
    answer on x86. build_probe() removes them (the probe has no __init code; only
    module_init()'s 8-byte anchor of init_module is there)."""
    with ko.open("rb") as f:
        return [s.name for s in ELFFile(f).iter_sections()
                if s.name.startswith(".init") and s["sh_flags"] & SH_FLAGS.SHF_ALLOC
                and s.name not in ARCH_INIT_SECTIONS]


def build_probe(scenario: LabScenario, kernel: KernelFiles, cache: Path | None = None) -> Path:
    """The probe ``.ko`` for a scenario, built once per source and kernel.

    Built with the host's gcc 12 for the guest's arch against the kernel's headers and the
    host's linux-kbuild of that series. The headers' .kernelvariables name the compiler
    the kernel was built with (gcc-14 for 6.12) and, for a foreign arch, take the
    cross prefix from DEB_HOST_GNU_TYPE, so both are given on make's command line (Debian
    sets DEBIAN_KERNEL_NO_CC_VERSION_CHECK, so another gcc is accepted).

    Builds on one host take turns (a lock file in the probe cache): the guests of a Ray
    node are prepared side by side (lab/cluster.py), and two scenarios may share a probe's
    source, or a kernel's patched build tools."""
    source = render_probe(scenario)
    digest = hashlib.sha256((_BUILD_VERSION + source).encode()).hexdigest()[:16]
    out_dir = (cache or cache_dir()) / "probes" / kernel.release / digest
    ko = out_dir / f"{MODULE_NAME}.ko"
    if ko.exists():
        return ko
    out_dir.parent.parent.mkdir(parents=True, exist_ok=True)
    with (out_dir.parent.parent / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ko.exists():  # built while this one waited
            return ko
        return _build(source, digest, kernel, ko, cache)


def _build(source: str, digest: str, kernel: KernelFiles, ko: Path, cache: Path | None
           ) -> Path:
    """Build the probe of `source` into `ko` (build_probe holds the lock)."""
    out_dir = ko.parent
    gnu, pkg = TOOLCHAINS[kernel.arch]
    cc = f"{gnu}-gcc-12"
    for tool, need in (("make", "make"), (cc, pkg)):
        if shutil.which(tool) is None:
            raise LabSetupError(f"{tool} not found (needed to build the probe module for "
                                f"{kernel.arch}); run: apt-get install {need}")
    ensure_host_tools(kernel, cache=cache)
    work = out_dir.with_name(digest + ".build")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    (work / f"{MODULE_NAME}.c").write_text(source)
    (work / "Makefile").write_text(f"obj-m := {MODULE_NAME}.o\n{KBUILD_EXTRA}")
    proc = subprocess.run(
        ["make", "-s", "-C", str(kernel.build), f"M={work}", f"CC={cc}",
         f"DEB_HOST_ARCH={DEB_ARCHES[kernel.arch]}", f"DEB_HOST_GNU_TYPE={gnu}",
         *BUILD_OVERRIDES, "modules"],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0 or not (work / f"{MODULE_NAME}.ko").exists():
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise LabSetupError(f"probe module build failed in {work}: {tail}; "
                            f"run: apt-get install {pkg} make")
    # Without debug information the module is ~8 KiB instead of ~130 KiB: smaller
    # initrds, and a short transfer over the console to a restored guest.
    subprocess.run([f"{gnu}-strip", "--strip-debug", str(work / f"{MODULE_NAME}.ko")],
                   capture_output=True, check=False)
    built = work / f"{MODULE_NAME}.ko"
    removed = init_sections(built) if kernel.arch in INIT_FREE_BY_IPI else []
    if removed:
        subprocess.run([f"{gnu}-objcopy",
                        *(f"--remove-section={n}" for n in removed),
                        *(f"--remove-section=.rela{n}" for n in removed), str(built)],
                       capture_output=True, check=False)
    inits = init_sections(built) if kernel.arch in INIT_FREE_BY_IPI else []
    if inits:
        raise LabSetupError(f"probe module in {work} has init sections "
                            f"({', '.join(inits)}): freeing them after load needs every "
                            f"CPU, which an armed fault may have stopped answering")
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(work / f"{MODULE_NAME}.ko", ko.with_suffix(".tmp"))
    ko.with_suffix(".tmp").rename(ko)
    shutil.rmtree(work, ignore_errors=True)
    return ko
