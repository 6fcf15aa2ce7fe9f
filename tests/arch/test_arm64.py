"""arch/arm64: ordinary stop IPIs, self-stop goes offline, no crash-shutdown hook."""

from __future__ import annotations

from panicpath.arch.arm64 import STOP_WAIT_MS, Arm64
from panicpath.engine import build
from panicpath.model.scenario import Scenario
from panicpath.model.state import CpuMode


def test_irqs_off_cpu_is_not_stopped_and_keeps_running() -> None:
    """arch/arm64/kernel/smp.c crash_smp_send_stop (6.1): an ordinary IPI; a CPU with
    interrupts masked never answers; after 1 s the panic CPU gives up."""
    run = build(Scenario(arch="arm64", faults=("ipi-deaf-cpu",)))
    Arm64().crash_smp_send_stop(run)
    cpu = run.machine.cpus[1]
    assert cpu.mode is CpuMode.SPINNING_IRQS_OFF and not cpu.regs_saved
    assert run.machine.now_ms == STOP_WAIT_MS


def test_crash_stop_saves_registers_of_running_cpus() -> None:
    run = build(Scenario(arch="arm64", cpus=4))
    Arm64().crash_smp_send_stop(run)
    assert all(c.regs_saved for c in run.machine.cpus[1:])


def test_self_stopped_cpu_goes_offline_and_is_never_signalled() -> None:
    """panic_smp_self_stop -> local_cpu_stop marks the CPU offline; crash_smp_send_stop only
    signals online CPUs, so its registers are lost (kernel-facts section 2)."""
    run = build(Scenario(arch="arm64"))
    cpu = run.machine.cpus[1]
    Arm64().panic_smp_self_stop(run, cpu)
    Arm64().crash_smp_send_stop(run)
    assert not cpu.online and not cpu.regs_saved


def test_no_crash_shutdown_hook_on_arm64() -> None:
    assert not Arm64.has_crash_shutdown_hook


def test_a_cpu_deaf_to_the_stop_ipi_is_named_after_the_wait() -> None:
    """arch/arm64/kernel/smp.c (6.1): after 1 s, pr_warn("SMP: failed to stop secondary CPUs
    %*pbl") with the CPUs it signalled; nothing when every CPU stopped."""
    from panicpath.arch.arm64 import FAILED_TO_STOP, cpulist
    from panicpath.engine import simulate
    from panicpath.model.scenario import Scenario

    deaf = simulate(Scenario(arch="arm64", cpus=4, faults=("ipi-deaf-cpu=2",)))
    assert f"{FAILED_TO_STOP} 1-3" in deaf.console
    assert not any(FAILED_TO_STOP in line for line in simulate(Scenario(arch="arm64")).console)
    assert (cpulist([1]), cpulist([1, 2, 3]), cpulist([1, 3, 4])) == ("1", "1-3", "1,3-4")


def _failed_line(stop: str, cpus: int, deaf: int, release: tuple[int, int] | None) -> str:
    from panicpath.arch.arm64 import FAILED_TO_STOP

    run = build(Scenario(arch="arm64", cpus=cpus, faults=(f"ipi-deaf-cpu={deaf}",),
                         kernel_version=release))
    getattr(Arm64(), stop)(run)
    lines = [line for line in run.machine.log if line.startswith(FAILED_TO_STOP)]
    assert len(lines) == 1, lines
    return lines[0][len(FAILED_TO_STOP):].strip()


def test_the_failed_to_stop_warning_names_the_cpus_each_release_prints() -> None:
    """arch/arm64/kernel/smp.c 6.1.192: smp_send_stop() prints cpu_online_mask after its
    wait, the panic CPU included (the lab's arm64 6.1 ipi-deaf run without kdump printed
    "SMP: failed to stop secondary CPUs 0-1"); crash_smp_send_stop() prints the CPUs it
    signalled ("1-2" with CPU 2 deaf, seen on arm64 6.1 as well). From v6.10
    (fdfa588124b6) both print the other CPUs still online."""
    assert _failed_line("smp_send_stop", 2, 1, None) == "0-1"
    assert _failed_line("smp_send_stop", 3, 2, None) == "0,2"
    assert _failed_line("crash_smp_send_stop", 3, 2, None) == "1-2"
    assert _failed_line("smp_send_stop", 3, 2, (6, 12)) == "2"
    assert _failed_line("crash_smp_send_stop", 3, 2, (7, 3)) == "2"
