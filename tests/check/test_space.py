"""The configuration space: what the default covers, TOML narrowing/widening, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from panicpath.check.space import Space, SpaceError, configurations, load_space
from panicpath.faults import FAULTS
from panicpath.policies import POLICIES


def test_default_space_covers_the_seed_situations() -> None:
    """Every proposal and kernel; Hyper-V with hyperv_fb on both arm64 and x86_64 (seeds 001,
    004); bcm_vk on arm64 (002); Octeon (003); fadump (000); every level of the series and
    the filter; every single fault."""
    scns = list(configurations(Space(policies=tuple(POLICIES))))
    assert {s.policy for s in scns} == set(POLICIES)
    assert {(s.arch, "hyperv-fb" in s.drivers) for s in scns if s.hypervisor == "hyperv"} == {
        ("x86_64", True), ("x86_64", False), ("arm64", True), ("arm64", False)}
    assert any(s.arch == "arm64" and "bcm-vk" in s.drivers for s in scns)
    assert any(s.arch == "mips-octeon" for s in scns)
    assert any("fadump" in s.drivers for s in scns)
    levels = {s.param("panic_notifiers_level") for s in scns if s.policy == "piccoli-levels"}
    assert levels == {"0", "1", "2", "3", "4"}
    assert {s.param("panic_notifiers_level") for s in scns if s.policy == "linux-6.1"} == {None}
    assert any(s.param("panic_notifier_filter") for s in scns if s.policy == "piccoli-filter")
    assert {f for s in scns for f in s.faults} == set(FAULTS)


def test_toml_narrows(tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_text('policies = ["linux-6.1", "mladek-4"]\narches = ["arm64"]\n'
                 'hypervisors = ["hyperv"]\nkdump = [true]\nfaults = "none"\n'
                 '[driver_sets]\narm64 = [[]]\n')
    scns = list(configurations(load_space(f)))
    assert len(scns) == 2 * 2 * 2  # policies x post_notifiers x hyperv_record_panic_msg
    assert {s.arch for s in scns} == {"arm64"} and all(not s.faults for s in scns)


def test_toml_widens_with_params_callbacks_and_placements(tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_text('policies = ["piccoli-levels", "linux-6.1"]\narches = ["x86_64"]\n'
                 'hypervisors = ["none"]\nfaults = [[], ["slow-host", "dma-active"]]\n'
                 'policy_params = false\n'
                 '[params]\npanic_print = ["0", "0x40"]\n'
                 '[[callback]]\nname = "mine"\npriority = 5\neffects = ["print:hi"]\n'
                 '[[placement]]\ncallback = "mine"\nlist = "panic_hypervisor_list"\n'
                 'priority = 7\n')
    scns = list(configurations(load_space(f)))
    assert {s.param("panic_print") for s in scns} == {"0", "0x40"}
    assert ("slow-host", "dma-active") in {s.faults for s in scns}
    assert all(s.user_callbacks[0].name == "mine" for s in scns)
    levels = {s.policy: s.overrides for s in scns}
    assert levels["piccoli-levels"] == (("mine", "panic_hypervisor_list", 7),)
    assert levels["linux-6.1"] == ()


@pytest.mark.parametrize(("text", "line", "needle"), [
    ('arches = ["vax"]', 2, "unknown arch 'vax'; valid: x86_64"),
    ('nope = 1', 2, "unknown key 'nope'"),
    ('faults = [["bogus"]]', 2, "unknown fault 'bogus'"),
    ('[params]\nfoo = ["1"]', 3, "unknown boot parameter 'foo'"),
    ('[[placement]]\ncallback = "pvpanic"\nlist = "nolist"', 4, "unknown list 'nolist'"),
    ('[[placement]]\ncallback = "pvpanik"\nlist = "kmsg_dumper"', 3,
     "no callback 'pvpanik' to place; valid: bcm-vk"),
    ('[[placement]]\ncallback = "pvpanic"\nlist = "kmsg_dumper"\nprio = 1', 5,
     "unknown key 'prio'; valid: callback, list, priority"),
    ('[[callback]]\nname = "a"\n[[callback]]\nname = "a"', 5, "name 'a' is given to another"),
    ('[[callback]]\nname = "a"\neffects = ["hang:5"]', 4, "hang takes no argument"),
    ('cpus = 3\n[params]\npanic = [0]\npanic_print = [0, "0x100"]', 5, "256 is out of range"),
    ('kdump = "yes"', 2, "kdump must be a list"),
    ('policies = [', 2, "fix the TOML syntax"),
])
def test_bad_space_file_one_clear_line(tmp_path: Path, text: str, line: int,
                                       needle: str) -> None:
    """One line: the file, the line of the offending key or value, what is valid."""
    f = tmp_path / "bad.toml"
    f.write_text("\n" + text + "\n")
    with pytest.raises(SpaceError) as e:
        load_space(f)
    msg = str(e.value)
    assert needle in msg and msg.startswith(f"{f}:{line}: ") and "\n" not in msg
