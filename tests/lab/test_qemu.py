"""Kernel and QEMU command lines built from scenarios."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from panicpath.lab.initramfs import ensure_initrds
from panicpath.lab.kernels import ensure_kernel
from panicpath.lab.qemu import (
    MACHINES,
    kernel_cmdline,
    machine_problems,
    qemu_command,
    ramoops_address,
    tcg_thread_mode,
)
from panicpath.lab.scenario import parse_scenario


def test_nmi_ramoops_cmdline() -> None:
    s = parse_scenario('name = "x"\n[boot]\ncrash_kexec_post_notifiers = true\n'
                       'panic_print = 6\n[devices]\nramoops = true\n[trigger]\nkind = "nmi"\n',
                       Path("x.toml"))
    params = kernel_cmdline(s, probe=False).split()
    assert ramoops_address(s) == 0x3F000000
    for p in ("console=ttyS0", "crashkernel=256M", "crash_kexec_post_notifiers",
              "panic_print=0x6", "unknown_nmi_panic", "memmap=1M$0x3f000000", "lab.kdump=1",
              "lab.ramoops=1", "lab.ramoops_addr=0x3f000000", "lab.probe=0", "lab.trigger=nmi",
              "panic=0"):
        assert p in params
    assert "lab.wait=1" not in params


def test_no_crash_kernel_no_crashkernel_reservation() -> None:
    s = parse_scenario('name = "x"\n[crash_kernel]\nloaded = false\n[boot]\nextra = ["quiet"]\n',
                       Path("x.toml"))
    params = kernel_cmdline(s, probe=True).split()
    assert not any(p.startswith("crashkernel=") for p in params)
    assert {"lab.kdump=0", "lab.probe=1", "quiet"} <= set(params)
    assert "crash_kexec_post_notifiers" not in params and "unknown_nmi_panic" not in params


def test_snapshot_cmdline_leaves_run_time_settings_to_the_console() -> None:
    s = parse_scenario('name = "x"\n[boot]\ncrash_kexec_post_notifiers = true\npanic = 5\n'
                       'panic_print = 6\nextra = ["quiet"]\n[devices]\nramoops = true\n'
                       '[trigger]\nkind = "nmi"\n', Path("x.toml"))
    params = kernel_cmdline(s, probe=True, wait=True).split()
    # boot-only: in the snapshot (and its key)
    assert {"crashkernel=256M", "memmap=1M$0x3f000000", "quiet", "lab.kdump=1",
            "lab.ramoops=1", "lab.wait=1"} <= set(params)
    # writable at run time: sent after the restore, so absent here
    assert not [p for p in params if p.startswith(("panic", "crash_kexec", "unknown_nmi",
                                                   "lab.probe", "lab.trigger"))]


def test_qemu_command_tcg_qmp_wait_and_panic_action() -> None:
    s = parse_scenario('name = "x"\n[machine]\ncpus = 3\nmemory_mib = 2048\n'
                       'panic_action = "none"\n[devices]\npvpanic = false\n', Path("x.toml"))
    cmd = qemu_command(s, Path("/k"), Path("/i"), "console=ttyS0", Path("run/q.sock"))
    joined = " ".join(cmd)
    assert "-accel tcg,thread=multi" in joined and "-no-reboot" in joined
    assert "-m 2048" in joined and "-smp 3" in joined
    assert "-action panic=none" in joined
    assert "-qmp unix:run/q.sock,server=on,wait=on" in joined
    assert "pvpanic" not in joined
    assert cmd[cmd.index("-append") + 1] == "console=ttyS0"


def test_tcg_threads_per_vcpu_only_while_the_host_has_a_core_for_each() -> None:
    """Side-by-side guests whose vCPUs outnumber the host's cores run one TCG thread each."""
    assert tcg_thread_mode(guests=1, cpus=2, host_cpus=2) == "multi"
    assert tcg_thread_mode(guests=2, cpus=2, host_cpus=2) == "single"
    assert tcg_thread_mode(guests=2, cpus=2, host_cpus=4) == "multi"
    assert tcg_thread_mode(guests=1, cpus=4, host_cpus=2) == "single"
    s = parse_scenario('name = "x"\n', Path("x.toml"))
    cmd = qemu_command(s, Path("/k"), Path("/i"), "", None, "single")
    assert cmd[cmd.index("-accel") + 1] == "tcg,thread=single"
    with pytest.raises(ValueError, match="multi or single"):
        qemu_command(s, Path("/k"), Path("/i"), "", None, "many")


def test_x86_64_argv_is_the_one_the_lab_always_used() -> None:
    s = parse_scenario('name = "x"\n', Path("x.toml"))
    assert qemu_command(s, Path("/k"), Path("/i"), "c", None) == [
        "qemu-system-x86_64", "-machine", "pc", "-accel", "tcg,thread=multi", "-cpu", "max",
        "-m", "1024", "-smp", "2", "-nodefaults", "-display", "none", "-no-reboot",
        "-serial", "stdio", "-monitor", "none", "-kernel", "/k", "-initrd", "/i",
        "-append", "c", "-action", "panic=shutdown", "-device", "pvpanic"]
    assert qemu_command(s, Path("/k"), Path("/i"), "c", None, machine=MACHINES["x86_64"]) == \
        qemu_command(s, Path("/k"), Path("/i"), "c", None)
    assert kernel_cmdline(s, probe=False).startswith("console=ttyS0 ")


def test_arm64_and_ppc64el_machines() -> None:
    s = parse_scenario('name = "x"\n[devices]\npvpanic = false\n', Path("x.toml"))
    arm = qemu_command(s, Path("/k"), Path("/i"), "c", None, machine=MACHINES["arm64"])
    assert arm[:7] == ["qemu-system-aarch64", "-machine", "virt", "-accel", "tcg,thread=multi",
                       "-cpu", "max,pauth=off"]
    ppc = qemu_command(s, Path("/k"), Path("/i"), "c", None, machine=MACHINES["ppc64el"])
    assert ppc[:3] == ["qemu-system-ppc64", "-machine", "pseries"]
    assert "-device" not in arm + ppc
    assert kernel_cmdline(s, probe=False, machine=MACHINES["arm64"]).split()[0] == \
        "console=ttyAMA0"
    assert kernel_cmdline(s, probe=False, machine=MACHINES["ppc64el"]).split()[0] == \
        "console=hvc0"


def test_scenarios_needing_what_a_machine_lacks_are_refused() -> None:
    default = parse_scenario('name = "x"\n', Path("x.toml"))       # pvpanic on by default
    nmi = parse_scenario('name = "x"\n[devices]\npvpanic = false\nramoops = true\n'
                         '[trigger]\nkind = "nmi"\n', Path("x.toml"))
    assert machine_problems(default, MACHINES["x86_64"]) == []
    assert machine_problems(nmi, MACHINES["x86_64"]) == []
    assert machine_problems(default, MACHINES["arm64"]) == [
        "[devices] pvpanic: arm64 has no pvpanic device or driver"]
    assert [p.split(":")[0] for p in machine_problems(nmi, MACHINES["arm64"])] == [
        '[trigger] kind = "nmi"', "[devices] ramoops"]
    assert [p.split(":")[0] for p in machine_problems(nmi, MACHINES["ppc64el"])] == [
        "[devices] ramoops"]                          # pseries takes an NMI: a system reset
    plain = parse_scenario('name = "x"\n[devices]\npvpanic = false\n[trigger]\nkind = "nmi"\n',
                           Path("x.toml"))
    assert "unknown_nmi_panic" in kernel_cmdline(plain, probe=False).split()
    assert "unknown_nmi_panic" not in kernel_cmdline(plain, False, machine=MACHINES["ppc64el"])
    with pytest.raises(ValueError, match=r"arm64 cannot run this scenario: \[devices\] pvpanic"):
        qemu_command(default, Path("/k"), Path("/i"), "c", None, machine=MACHINES["arm64"])


@pytest.mark.qemu
@pytest.mark.parametrize(("arch", "flavour", "reserve", "reserved", "handover"), [
    ("arm64", "cloud-arm64", "96M", "crashkernel reserved:", "Starting crashdump kernel..."),
    ("ppc64el", "powerpc64le", "128M", "Reserving 128MB of memory at 512MB for crashkernel",
     "I'm in purgatory"),
])
def test_6_1_boots_loads_a_crash_kernel_and_kexecs_on_sysrq(
        arch: str, flavour: str, reserve: str, reserved: str, handover: str) -> None:
    """Debian's arm64 and ppc64el 6.1 kernels with the lab's initramfs (busybox and kexec
    of the guest's arch from the private archive) under their QEMU machine: /init loads
    the crash kernel, sysrq panics, the panic hands over to it (arch/arm64/kernel/
    machine_kexec.c; arch/powerpc/kexec/core_64.c default_machine_kexec(), whose
    purgatory prints; 6.1). QEMU then ends with 0: the crash kernel's /init powers off
    (or, had it failed, its reboot under -no-reboot: the shipped /init gives the crash
    kernel console=ttyS0, so its own console is not seen on these machines yet)."""
    kernel = ensure_kernel(flavour, release="6.1", arch=arch)
    initrds = ensure_initrds(kernel)
    s = parse_scenario(f'name = "x"\n[crash_kernel]\nreserve = "{reserve}"\n[devices]\n'
                       'pvpanic = false\n', Path("x.toml"))
    machine = MACHINES[arch]
    cmd = qemu_command(s, kernel.vmlinuz, initrds.first,
                       kernel_cmdline(s, probe=False, machine=machine), None, machine=machine)
    proc = subprocess.run(cmd, capture_output=True, timeout=240, check=False)
    out = proc.stdout.decode(errors="replace")
    assert proc.returncode == 0, out[-2000:]
    assert reserved in out and f"console={machine.console}" in out
    assert "kexec_crash_loaded=1" in out
    assert "Kernel panic - not syncing: sysrq triggered crash" in out
    assert handover in out
