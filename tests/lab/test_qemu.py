"""Kernel and QEMU command lines built from scenarios."""

from __future__ import annotations

from pathlib import Path

import pytest

from panicpath.lab.qemu import kernel_cmdline, qemu_command, ramoops_address, tcg_thread_mode
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
    cmd = qemu_command(s, Path("/k"), Path("/i"), "console=ttyS0", Path("/tmp/q.sock"))
    joined = " ".join(cmd)
    assert "-accel tcg,thread=multi" in joined and "-no-reboot" in joined
    assert "-m 2048" in joined and "-smp 3" in joined
    assert "-action panic=none" in joined
    assert "-qmp unix:/tmp/q.sock,server=on,wait=on" in joined
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
