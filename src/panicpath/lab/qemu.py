"""The kernel command line and the QEMU command line of a scenario (pure functions).

Kernel parameters used (Linux 6.1): ``crashkernel=`` (kernel/crash_core.c
parse_crashkernel), ``crash_kexec_post_notifiers``, ``panic_print``, ``panic``
(kernel/panic.c core_params), ``unknown_nmi_panic`` (arch/x86/kernel/nmi.c
unknown_nmi_error() calls nmi_panic()), ``memmap=SIZE$ADDR`` to reserve the
ramoops region (arch/x86/kernel/e820.c parse_memmap_one). ``lab.*`` parameters
are read by the lab's /init.

QEMU (7.2): ``-accel tcg`` always (``/dev/kvm`` may exist and still fail), with
one host thread per vCPU (``thread=multi``) unless the guests that run side by
side have more vCPUs than the host has cores (:func:`tcg_thread_mode`),
``-device pvpanic`` (ISA, bound by pvpanic-mmio through ACPI QEMU0001),
``-action panic=…``, ``-no-reboot`` (a guest reset ends QEMU), QMP on a unix
socket with ``wait=on`` so the guest does not start before the harness listens.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from panicpath.lab.scenario import LabScenario

QEMU = "qemu-system-x86_64"
RAMOOPS_SIZE_MIB = 1


@dataclass(frozen=True)
class Machine:
    """How QEMU emulates one lab architecture, and what that machine offers a scenario.

    ``cpu``: arm64 uses ``max`` without pointer authentication: QEMU 7.2's ``max``
    emulates it with the architected QARMA5 cipher, which under TCG made Debian's 6.1
    arm64 kernel take 25-29 s for a boot -> panic -> kdump cycle that took 7 s with
    ``pauth=off`` (9 s with the cheaper ``pauth-impdef=on``, 6.3-6.5 s on a
    ``cortex-a72``, an ARMv8.0 CPU; docs/lab.md, "Other kernels and architectures").
    ``nmi``: how QMP ``inject-nmi`` reaches the guest, None when QEMU refuses it
    (arm64 ``virt``: "this feature or command is not currently supported", measured).
    ``unknown_nmi``: an NMI no handler claims panics the x86 kernel
    (``unknown_nmi_panic``); on pseries the NMI is a system reset of every CPU, which
    arch/powerpc/kernel/traps.c system_reset_exception() (6.1) sends to crash_kexec()
    straight away when a crash kernel is loaded (no panic(), no notifiers: measured,
    the first kernel printed nothing before purgatory), else to die() and nmi_panic().
    ``pvpanic``: the ``-device`` that a pvpanic driver binds (x86 ISA;
    Debian's arm64 and ppc64el kernels have no CONFIG_PVPANIC). ``memmap``: the kernel
    takes ``memmap=SIZE$ADDR`` to reserve the ramoops region (arch/x86/kernel/e820.c
    parse_memmap_one(), 6.1; no such parameter on arm64 or powerpc). ``watchdog``: the
    watchdog ``-device`` a scenario's ``[devices] watchdog`` may name (x86_64's ``pc``:
    QEMU's i6300esb, hw/watchdog/wdt_i6300esb.c; its expiry runs ``-action watchdog=``
    and sends QMP WATCHDOG); None where the lab has not set one up."""

    arch: str
    qemu: str
    machine: str
    cpu: str
    console: str
    nmi: str | None
    pvpanic: str | None
    memmap: bool
    watchdog: str | None = None


MACHINES = {
    "x86_64": Machine("x86_64", QEMU, "pc", "max", "ttyS0", nmi="unknown_nmi",
                      pvpanic="pvpanic",
                      memmap=True, watchdog="i6300esb"),
    "arm64": Machine("arm64", "qemu-system-aarch64", "virt", "max,pauth=off", "ttyAMA0",
                     nmi=None, pvpanic=None, memmap=False),
    "ppc64el": Machine("ppc64el", "qemu-system-ppc64", "pseries", "power9", "hvc0",
                       nmi="system-reset", pvpanic=None, memmap=False),
}
X86_64 = MACHINES["x86_64"]


def machine_problems(scenario: LabScenario, machine: Machine) -> list[str]:
    """What a scenario needs that the machine lacks, one phrase each (empty: none)."""
    out = []
    if scenario.pvpanic and machine.pvpanic is None:
        out.append(f"[devices] pvpanic: {machine.arch} has no pvpanic device or driver")
    if scenario.trigger == "nmi" and machine.nmi is None:
        out.append(f"[trigger] kind = \"nmi\": QMP inject-nmi does not panic {machine.arch} "
                   "(QEMU refuses it on this machine)")
    if scenario.ramoops and not machine.memmap:
        out.append(f"[devices] ramoops: {machine.arch}'s kernel has no memmap= to reserve it")
    if scenario.watchdog != "none" and machine.watchdog != scenario.watchdog:
        out.append(f"[devices] watchdog = \"{scenario.watchdog}\": the lab's {machine.arch} "
                   "machine has no such watchdog device")
    return out


def ramoops_address(scenario: LabScenario) -> int:
    """Physical address of the ramoops region: 16 MiB below the top of RAM."""
    return (scenario.memory_mib - 16) * 1024 * 1024


def kernel_cmdline(scenario: LabScenario, probe: bool, wait: bool = False,
                   machine: Machine = X86_64) -> str:
    """The first kernel's command line for a scenario.

    ``wait``: the command line of a guest meant for a snapshot (panicpath.lab.snapshot):
    ``/init`` stops at ``LABMARK WAITING`` and reads the run-time settings from the
    console, so the parameters a running kernel can change (post notifiers,
    panic_print, panic, unknown_nmi_panic), the trigger and the probe are left out."""
    params = [f"console={machine.console}"]
    if not wait:
        params.append(f"panic={scenario.panic_timeout}")
    if scenario.crash_kernel:
        params.append(f"crashkernel={scenario.crashkernel_size}")
    if not wait and scenario.post_notifiers:
        params.append("crash_kexec_post_notifiers")
    if not wait and scenario.panic_print:
        params.append(f"panic_print={scenario.panic_print:#x}")
    if not wait and scenario.trigger == "nmi" and machine.nmi == "unknown_nmi":
        params.append("unknown_nmi_panic")
    if scenario.ramoops:
        params.append(f"memmap={RAMOOPS_SIZE_MIB}M${ramoops_address(scenario):#x}")
    params += list(scenario.extra_params)
    params += [
        f"lab.kdump={int(scenario.crash_kernel)}",
        f"lab.pvpanic={int(scenario.pvpanic)}",
        f"lab.ramoops={int(scenario.ramoops)}",
        f"lab.ramoops_addr={ramoops_address(scenario):#x}",
    ]
    if scenario.watchdog != "none":
        params.append(f"lab.watchdog={scenario.watchdog_timeout_s}")
    if scenario.dump_delay_s:
        params.append(f"lab.dump_delay={scenario.dump_delay_s}")
    if wait:
        params.append("lab.wait=1")
    else:
        params += [f"lab.probe={int(probe)}", f"lab.trigger={scenario.trigger}"]
    return " ".join(params)


def tcg_thread_mode(guests: int, cpus: int, host_cpus: int) -> str:
    """``multi`` (a host thread per vCPU) or ``single`` (one thread runs every vCPU in turn).

    QEMU's ``-accel tcg,thread=`` (docs/devel/multi-thread-tcg.rst, 7.2). With
    more vCPU threads than host cores the threads of side-by-side guests take
    cores from each other: on the 2-core lab host, two 2-vCPU guests at once
    finished their boot -> panic -> kdump cycles in 9.7-10.5 s with ``multi``
    and 8.9-9.3 s with ``single``, while one guest alone took 8.2-9.6 s either
    way (docs/lab.md). The guest's SMP behaviour (IPIs, NMIs, CPUs stopped while
    holding locks) is the same in both modes; only the interleaving differs.
    """
    return "multi" if guests * cpus <= max(1, host_cpus) else "single"


#: QEMU's ``-accel tcg,thread=`` values, and those of ``--tcg-threads``
#: (``panicpath lab run`` / ``campaign``).
TCG_THREAD_MODES = ("multi", "single")
TCG_THREAD_CHOICES = ("auto", *TCG_THREAD_MODES)


SINGLE_TCG_STALLS = frozenset({"ppc64el"})
"""Machines whose crash kernel crawls under single-threaded TCG: on pseries the first
kernel's other CPU is left spinning (kexec_smp_wait, interrupts off) and, sharing the one
TCG thread round-robin, takes a whole slice each time the crash kernel's CPU leaves its
own at a hypercall, which its early hvc console makes for every character
(H_PUT_TERM_CHAR): one line per ~5.5 s, past every phase timeout. Measured: the same
kdump scenario reports in 18.5 s with a thread per vCPU, hangs with one (docs/lab.md)."""


def resolve_tcg_threads(choice: str, guests: int, cpus: int, host_cpus: int,
                        arch: str = "x86_64") -> str:
    """The mode for a ``--tcg-threads`` choice: ``auto`` picks :func:`tcg_thread_mode`,
    except ``multi`` on the machines of SINGLE_TCG_STALLS; ``multi``/``single`` force it
    (an interleaving-dependent hang, for instance, shows far more often with ``single``:
    docs/lab.md)."""
    if choice == "auto":
        if arch in SINGLE_TCG_STALLS:
            return "multi"
        return tcg_thread_mode(guests, cpus, host_cpus)
    if choice not in TCG_THREAD_CHOICES:
        raise ValueError(f"tcg threads must be one of {', '.join(TCG_THREAD_CHOICES)}, "
                         f"not {choice!r}")
    return choice


def qemu_command(
    scenario: LabScenario,
    vmlinuz: Path,
    initrd: Path,
    cmdline: str,
    qmp_socket: Path | None,
    tcg_threads: str = "multi",
    machine: Machine = X86_64,
) -> list[str]:
    """The QEMU argv for a scenario (console on stdio: the serial port, or pseries'
    hypervisor console, whose ``-serial`` backend QEMU connects to ``spapr-vty``)."""
    if tcg_threads not in TCG_THREAD_MODES:
        raise ValueError(f"tcg_threads must be multi or single, not {tcg_threads!r}")
    problems = machine_problems(scenario, machine)
    if problems:
        raise ValueError(f"{machine.arch} cannot run this scenario: {'; '.join(problems)}")
    cmd = [
        machine.qemu, "-machine", machine.machine, "-accel", f"tcg,thread={tcg_threads}",
        "-cpu", machine.cpu,
        "-m", str(scenario.memory_mib), "-smp", str(scenario.cpus),
        "-nodefaults", "-display", "none", "-no-reboot",
        "-serial", "stdio", "-monitor", "none",
        "-kernel", str(vmlinuz), "-initrd", str(initrd), "-append", cmdline,
        "-action", f"panic={scenario.panic_action}",
    ]
    if scenario.pvpanic and machine.pvpanic:
        cmd += ["-device", machine.pvpanic]
    if scenario.watchdog != "none":
        # the hardware's action, a reset; -no-reboot makes it QEMU's exit
        cmd += ["-device", scenario.watchdog, "-action", "watchdog=reset"]
    if qmp_socket is not None:
        cmd += ["-qmp", f"unix:{qmp_socket},server=on,wait=on"]
    return cmd
