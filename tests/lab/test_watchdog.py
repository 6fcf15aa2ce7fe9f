"""The lab's hardware watchdog (issue 16): scenario keys, QEMU argv, /init's inputs, the
first kernel's modules, the refusals, the QMP WATCHDOG observation and the model's prediction,
against the two real runs kept in tests/data (Debian 6.1.192 amd64, TCG)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from panicpath.lab.console import read_log
from panicpath.lab.events import KernelBooted, QmpEvent
from panicpath.lab.initramfs import FIRST_KERNEL_MODULES, has_watchdog_driver, module_entries
from panicpath.lab.kernels import KernelFiles, LabSetupError
from panicpath.lab.observation import Observation, compare, crash_kernel_death, observe
from panicpath.lab.predict import LAB_DUMP_WORK_MS, predict, to_model
from panicpath.lab.qemu import MACHINES, kernel_cmdline, machine_problems, qemu_command
from panicpath.lab.runner import refuse_missing_driver
from panicpath.lab.scenario import (
    ScenarioError,
    builtin_scenarios_dir,
    load_scenario,
    parse_scenario,
)

DATA = Path(__file__).resolve().parents[1] / "data"
P = Path("s.toml")
WDT = '[kernel]\nflavour = "amd64"\n[devices]\nwatchdog = "i6300esb"\nwatchdog_timeout = 14\n'


def _shipped(name: str) -> Path:
    return builtin_scenarios_dir() / f"{name}.toml"


def test_keys_parse_with_their_defaults() -> None:
    s = parse_scenario(WDT + "[crash_kernel]\ndump_delay_s = 30\n", P)
    assert (s.watchdog, s.watchdog_timeout_s, s.dump_delay_s) == ("i6300esb", 14, 30)
    fires = parse_scenario(WDT.replace("= 14", "= 10") + "[crash_kernel]\ndump_delay_s = 6\n", P)
    assert fires.watchdog_timeout_s == 10  # the dump ends 11..19 s after the panic
    plain = parse_scenario('name = "x"\n', P)
    assert (plain.watchdog, plain.watchdog_timeout_s, plain.dump_delay_s) == ("none", 30, 0)


@pytest.mark.parametrize(("text", "needle"), [
    (WDT + "[crash_kernel]\nloaded = false\n", "without a crash kernel"),
    ('faults = ["hanging-callback"]\n' + WDT, "with hanging-callback"),
    (WDT + '[[notifier]]\nname = "n"\nbehaviour = "lock"\n', "lock without a timeout"),
    (WDT.replace("= 14", "= 9"), "out of range"),
    (WDT.replace("= 14", "= 12"), "too close to the end of the dump"),  # it ends 5..13 s in
    (WDT + "[crash_kernel]\ndump_delay_s = 3\n", "at most 7 .it fires. or at least 17"),
    ('[devices]\nwatchdog = "softdog"\n', "is not known"),
    ("[crash_kernel]\ndump_delay_s = 50\n", "leaves the crash kernel no time"),
])
def test_refused_in_one_line(text: str, needle: str) -> None:
    with pytest.raises(ScenarioError, match=needle) as e:
        parse_scenario(text, P)
    assert "\n" not in str(e.value)


def test_argv_and_command_lines() -> None:
    s = parse_scenario(WDT + "[crash_kernel]\ndump_delay_s = 30\n", P)
    for wait in (False, True):  # in the snapshot's key too: /init arms it from the cmdline
        line = kernel_cmdline(s, False, wait=wait)
        assert "lab.watchdog=14" in line and "lab.dump_delay=30" in line
    cmd = qemu_command(s, Path("vmlinuz"), Path("initrd"), "x", None)
    at = cmd.index("i6300esb")
    assert cmd[at - 1:at + 3] == ["-device", "i6300esb", "-action", "watchdog=reset"]
    plain = parse_scenario('name = "x"\n', P)
    assert "i6300esb" not in qemu_command(plain, Path("v"), Path("i"), "x", None)
    assert "lab.watchdog" not in kernel_cmdline(plain, False)
    assert "lab.dump_delay" not in kernel_cmdline(plain, False)


def test_only_x86_64_has_the_device() -> None:
    s = dataclasses.replace(parse_scenario(WDT, P), pvpanic=False)
    assert machine_problems(s, MACHINES["x86_64"]) == []
    assert "no such watchdog device" in machine_problems(s, MACHINES["arm64"])[0]


def _kernel(root: Path, config: str, modules: list[str]) -> KernelFiles:
    k = KernelFiles("amd64", "6.1.0-57-amd64", root, "x86_64", "6.1")
    (root / "boot").mkdir(parents=True)
    k.config.write_text(config)
    for rel in modules:
        (k.modules / rel).parent.mkdir(parents=True, exist_ok=True)
        (k.modules / rel).write_bytes(rel.encode())
    return k


def test_first_kernel_modules_and_the_refusal(tmp_path: Path) -> None:
    """amd64 builds i6300esb.ko and the watchdog core as modules: both go to the first
    kernel's payload; the cloud config has neither, and a watchdog scenario on it is refused
    before anything boots."""
    mods = ["drivers/watchdog/watchdog.ko", "drivers/watchdog/i6300esb.ko"]
    amd64 = _kernel(tmp_path / "a", "CONFIG_WATCHDOG_CORE=m\nCONFIG_I6300ESB_WDT=m\n", mods)
    names = [e.name for e in module_entries(amd64, FIRST_KERNEL_MODULES)]
    assert names == ["lib/modules/6.1.0-57-amd64/watchdog.ko",
                     "lib/modules/6.1.0-57-amd64/i6300esb.ko"]
    cloud = _kernel(tmp_path / "c", "CONFIG_WATCHDOG_CORE=m\n# CONFIG_I6300ESB_WDT is not set\n",
                    [])
    assert module_entries(cloud, FIRST_KERNEL_MODULES) == []
    assert has_watchdog_driver(amd64) and not has_watchdog_driver(cloud)
    s = parse_scenario(WDT, P)
    refuse_missing_driver(s, amd64)
    refuse_missing_driver(parse_scenario('name = "x"\n', P), cloud)
    with pytest.raises(LabSetupError, match="CONFIG_I6300ESB_WDT is not set") as e:
        refuse_missing_driver(s, cloud)
    assert "\n" not in str(e.value) and 'use [kernel] flavour = "amd64"' in str(e.value)


def test_the_model_gets_the_driver_the_heartbeat_and_the_dump() -> None:
    scn = to_model(load_scenario(_shipped("watchdog_fires_during_slow_dump")))
    assert "i6300esb" in scn.drivers and ("i6300esb.heartbeat", "20") in scn.params
    assert scn.dump_copy_ms == 30_000 + LAB_DUMP_WORK_MS
    plain = to_model(load_scenario(_shipped("kdump_no_post_notifiers")))
    assert "i6300esb" not in plain.drivers


def test_qmp_watchdog_is_observed() -> None:
    evs = [KernelBooted("6.1.0-57-amd64", 1), QmpEvent("WATCHDOG", (("action", "reset"),))]
    assert observe(evs).watchdog_fired and observe(evs).crash_kernel_died
    assert crash_kernel_death(evs) == "watchdog reset (QMP WATCHDOG)"
    assert not observe(evs[:1]).watchdog_fired
    d = observe(evs).to_json()
    assert d["watchdog_fired"] is True and Observation.from_json(d) == observe(evs)
    old = {k: v for k, v in d.items() if k != "watchdog_fired"}  # a record from before
    assert Observation.from_json(old).watchdog_fired is False


@pytest.mark.parametrize(("scenario", "capture", "fired"), [
    ("watchdog_fires_during_slow_dump", "watchdog_fires_slow_dump", True),
    ("watchdog_dump_in_time", "watchdog_dump_in_time", False),
])
def test_model_agrees_with_the_real_run(scenario: str, capture: str, fired: bool) -> None:
    observed = observe(read_log(DATA / f"{capture}.log"))
    predicted = predict(load_scenario(_shipped(scenario)))
    assert compare(observed, predicted) == []
    assert observed.watchdog_fired is fired and predicted.watchdog_fired is fired
    assert observed.crash_kernel_booted
    assert observed.crash_kernel_died is fired and observed.vmcore_seen is not fired


def test_a_watchdog_the_model_misses_is_a_difference() -> None:
    observed = observe(read_log(DATA / "watchdog_fires_slow_dump.log"))
    lab = dataclasses.replace(load_scenario(_shipped("watchdog_fires_during_slow_dump")),
                              watchdog_timeout_s=60)
    fields = {d.field for d in compare(observed, predict(lab))}
    assert {"watchdog_fired", "crash_kernel_died", "vmcore_seen"} <= fields


def test_the_run_detail_names_the_watchdog(tmp_path: Path) -> None:
    from panicpath.lab.harness import GuestPlan, _Run

    run = _Run(GuestPlan(("qemu",), tmp_path / "qmp.sock", tmp_path / "console.log"), None)
    run.phase = "crash-kernel"
    run.events.append(QmpEvent("WATCHDOG", (("action", "reset"),)))
    run.exited(0)
    run.log.close()
    assert run.status == "crash-kernel-died"
    assert run.detail.endswith("; QMP WATCHDOG (action=reset): the watchdog device expired")
