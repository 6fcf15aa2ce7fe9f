"""Scenario files: defaults, registration order, and one-line errors with line numbers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from panicpath.lab.scenario import (
    NotifierProbe,
    ScenarioError,
    builtin_scenarios_dir,
    load_scenario,
    parse_scenario,
    with_kernel,
)

P = Path("s.toml")


def test_defaults_are_the_cloud_kernel_with_a_crash_kernel() -> None:
    s = parse_scenario('name = "x"\n', P)
    assert (s.flavour, s.crash_kernel, s.crashkernel_size, s.post_notifiers) == (
        "cloud-amd64", True, "256M", False)
    assert (s.trigger, s.cpus, s.memory_mib, s.panic_action, s.pvpanic, s.ramoops) == (
        "sysrq", 2, 1024, "shutdown", True, False)
    assert not s.has_probe


def test_notifiers_keep_file_order_as_registration_order() -> None:
    s = parse_scenario(
        'name = "x"\n[[notifier]]\nname = "b"\npriority = 0\n'
        '[[notifier]]\nname = "a"\npriority = 0\nbehaviour = "spin"\nspin_ms = 5\n'
        '[[kmsg_dumper]]\nname = "d"\n', P)
    assert s.notifiers == (NotifierProbe("b", 0), NotifierProbe("a", 0, "spin", 5))
    assert [d.name for d in s.dumpers] == ["d"]
    assert s.has_probe


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ('name = "x"\n[kernel]\nflavour = "rt-amd64"\n', 3, "valid: cloud-amd64, amd64"),
        ('name = "x"\n[boot]\npanic_print = "all"\n', 3, "integer from 0 to 127"),
        ('name = "x"\n[trigger]\nkind = "oops"\n', 3, "valid: sysrq, nmi"),
        ('name = "x"\n[machine]\npanic_action = "poweroff"\n', 3,
         "shutdown, pause, none, exit-failure"),
        ('name = "x"\n[devices]\npvpanic = true\nhpet = 1\n', 4, "valid: pvpanic, ramoops"),
        ('name = "x"\n[[notifier]]\nname = "a"\n[[notifier]]\nname = "b"\nbehaviour = "sleep"\n',
         6, "return, stop, spin, lock"),
        ('name = "x"\n[[notifier]]\nname = "Bad-Name"\n', 3, "C identifier"),
        ('name = "x"\n[[notifier]]\nname = "a"\nbehaviour = "spin"\n', 4, "spin_ms"),
        ('name = "x"\n[machine]\ncpus = 1\n[[notifier]]\nname = "a"\nbehaviour = "lock"\n', 3,
         "cpus >= 2"),
        ('name = "x"\n[machine]\nmemory_mib = 384\n', 3, "at least 512"),
        ('name = "x"\n[boot\n', 2, "not valid TOML"),
        ('name = "x"\ncolour = 1\n', 2, "unknown key 'colour'"),
    ],
)
def test_errors_name_file_line_problem_and_valid_values(text: str, line: int,
                                                       fragment: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(text, P)
    msg = str(exc.value)
    assert msg.startswith(f"s.toml:{line}: ")
    assert fragment in msg
    assert "\n" not in msg


def test_duplicate_probe_names_are_refused() -> None:
    with pytest.raises(ScenarioError, match="used twice"):
        parse_scenario('name = "x"\n[[notifier]]\nname = "a"\n[[kmsg_dumper]]\nname = "a"\n', P)


def test_missing_file_is_one_line() -> None:
    with pytest.raises(ScenarioError, match=r"^nope\.toml: cannot read"):
        load_scenario(Path("nope.toml"))


def test_builtin_scenarios_all_load() -> None:
    names = sorted(load_scenario(p).name for p in builtin_scenarios_dir().glob("*.toml"))
    assert names == ["concurrent_panic_post_notifiers", "crashkernel_dies_in_reservation",
                     "crashkernel_too_small_to_load",
                     "dma_active_vmcore_intact", "hanging_callback_kdump_first",
                     "hanging_callback_post_notifiers", "ipi_deaf_cpu_no_kdump",
                     "ipi_deaf_cpu_post_notifiers", "kdump_no_post_notifiers", "kdump_post_notifiers_order",
                     "lock_held_by_stopped_cpu_post_notifiers", "nmi_ramoops",
                     "no_kdump_panic_none", "portable_concurrent_panic_post",
                     "portable_corrupted_list_kdump_first", "portable_corrupted_list_post",
                     "portable_hanging_callback_post",
                     "portable_ipi_deaf_cpu_kdump", "portable_ipi_deaf_dma_post",
                     "portable_kdump_first", "portable_lock_held_post",
                     "portable_no_kdump", "portable_no_kdump_host_runs_on",
                     "portable_post_notifiers_order", "watchdog_dump_in_time",
                     "watchdog_fires_during_slow_dump"]


def test_faults_are_the_models_names_with_arguments() -> None:
    s = parse_scenario('name = "x"\nfaults = ["ipi-deaf-cpu=1", "hanging-callback=a", '
                       '"dma-active"]\n[[notifier]]\nname = "a"\n', P)
    assert s.faults == ("ipi-deaf-cpu=1", "hanging-callback=a", "dma-active")
    assert parse_scenario('name = "x"\nfaults = ["concurrent-panic"]\n', P).has_probe
    nmi = parse_scenario('name = "x"\nfaults = ["nmi-context"]\n[trigger]\nkind = "nmi"\n', P)
    assert nmi.faults == ("nmi-context",) and not nmi.has_probe


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ('name = "x"\nfaults = ["ipi-deaf"]\n', 2, "fault 'ipi-deaf': unknown fault 'ipi-deaf'; valid: "
         "ipi-deaf-cpu, lock-held-by-stopped-cpu, corrupted-notifier-list"),
        ('name = "x"\n\nfaults = ["slow-host"]\n', 3, "no hypervisor interface"),
        ('name = "x"\nfaults = ["nmi-context"]\n', 2, 'set [trigger] kind = "nmi"'),
        ('name = "x"\nfaults = ["ipi-deaf-cpu"]\n[machine]\ncpus = 1\n', 2,
         "needs at least 2 CPUs"),
        ('name = "x"\nfaults = ["concurrent-panic=0"]\n', 2, "CPU 0 is the panic CPU; valid: 1..1"),
        ('name = "x"\nfaults = ["ipi-deaf-cpu=two"]\n', 2, "'two' is not a CPU id"),
        ('name = "x"\nfaults = ["hanging-callback=pvpanic"]\n', 2, "its own [[notifier]]"),
        ('name = "x"\nfaults = ["lock-held-by-stopped-cpu=vmbus"]\n', 2, "probe_lock"),
        ('name = "x"\nfaults = ["dma-active=bcm-vk"]\n', 2, "no such device"),
        ('name = "x"\nfaults = ["corrupted-notifier-list"]\n', 2, "add one"),
        ('name = "x"\nfaults = "ipi-deaf-cpu"\n', 2, "a list of strings"),
    ],
)
def test_faults_the_guest_cannot_have_are_refused_in_one_line(text: str, line: int,
                                                              fragment: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(text, P)
    msg = str(exc.value)
    assert msg.startswith(f"s.toml:{line}: ") and fragment in msg and "\n" not in msg


def test_kernel_release_and_arch_default_and_parse() -> None:
    """[kernel] release and arch (issue 15): defaults 6.1 on x86_64; each arch's first
    flavour is its default; a flavour of another arch is refused."""
    d = parse_scenario('name = "x"\n', P)
    assert (d.release, d.arch, d.flavour) == ("6.1", "x86_64", "cloud-amd64")
    a = parse_scenario('name = "x"\n[kernel]\nrelease = "6.12"\narch = "arm64"\n', P)
    assert (a.release, a.arch, a.flavour) == ("6.12", "arm64", "cloud-arm64")
    p = parse_scenario('name = "x"\n[kernel]\narch = "ppc64el"\n', P)
    assert p.flavour == "powerpc64le"
    for text, fragment in (('[kernel]\narch = "arm64"\nflavour = "amd64"', "not a flavour of arm64"),
                           ('[kernel]\nrelease = "6"', "is not a series"),
                           ('[kernel]\nrelease = 6.1', "is not a series"),
                           ('[kernel]\narch = "riscv64"', "is not known")):
        with pytest.raises(ScenarioError, match=re.escape(fragment)) as exc:
            parse_scenario(f'name = "x"\n{text}\n', P)
        assert str(exc.value).startswith("s.toml:")


def test_with_kernel_overrides_release_and_arch() -> None:
    sc = parse_scenario('name = "x"\n[kernel]\nflavour = "amd64"\n', P)
    moved = with_kernel(sc, "6.12", "arm64")
    assert (moved.release, moved.arch, moved.flavour) == ("6.12", "arm64", "cloud-arm64")
    assert with_kernel(sc, "5.10").flavour == "amd64"
    with pytest.raises(ScenarioError, match="--release: 'latest' is not a kernel series"):
        with_kernel(sc, "latest")


# --- bad input, by class: each refused in one line naming the file, the line, what is valid

@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        # keys written as inline tables and dotted keys have lines too
        ('name = "x"\nkernel = {release = "x"}\n', 2, "kernel.release = 'x' is not a series"),
        ('name = "x"\nkernel.release = "7"\n', 2, "kernel.release = '7' is not a series"),
        ('name = "x"\nx.y = 1\n', 2, "unknown key 'x'"),
        ('name = "x"\n[kernel.sub]\na = 1\n', 2, "unknown key 'sub' in [kernel]"),
        # the second use of a probe name, wherever it is
        ('name = "x"\n[[notifier]]\nname = "a"\n[[kmsg_dumper]]\nname = "b"\n'
         '[[kmsg_dumper]]\nname = "a"\n', 7, "probe name 'a' is used twice"),
        # a duplicate key, at the end of the document (tomllib gives no line there)
        ('name = "x"\nname = "y"', 2, "not valid TOML"),
        # a reservation too small for the machine, the machine's size not written
        ('name = "x"\n[crash_kernel]\nreserve = "1G"\n', 3, "at least 1280"),
    ],
)
def test_errors_name_the_line_however_the_key_is_written(text: str, line: int,
                                                         fragment: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(text, P)
    msg = str(exc.value)
    assert msg.startswith(f"s.toml:{line}: ") and fragment in msg and "\n" not in msg


@pytest.mark.parametrize("name", ["a/b", "../../etc", "a b", 'say "hi"', "x\ny", "", "-x",
                                  "é", "a" * 65, "x\n"])
def test_a_name_that_cannot_name_a_run_directory_or_go_into_c_is_refused(name: str) -> None:
    """The name names run directories (runs/NAME-..., OUT/NAME) and is written into the
    probe's C source: a path separator, `..`, a quote or a newline used to pass."""
    import json

    with pytest.raises(ScenarioError, match="is not usable; valid: letters, digits") as exc:
        parse_scenario(f"name = {json.dumps(name)}\n", P)
    assert str(exc.value).startswith("s.toml:1: ")
    assert parse_scenario('name = "ok-1.2_b+c"\n', P).name == "ok-1.2_b+c"


def test_a_default_name_from_an_unusable_file_stem_says_to_set_name() -> None:
    with pytest.raises(ScenarioError, match="the file's stem 'my run', the default name"):
        parse_scenario("", Path("my run.toml"))
    assert parse_scenario("", Path("my_run.toml")).name == "my_run"


@pytest.mark.parametrize("reserve", ["0M", "0G", "7937M", "8G", "99999999999999999999G", "１M",
                                     "64M\n", "64m", "64"])
def test_a_reservation_outside_what_a_machine_can_hold_is_refused_by_its_key(
        reserve: str) -> None:
    """Was refused by the model's crashkernel= check in the prediction, without a line and
    by the wrong name (or, with a fullwidth digit, passed verbatim to the kernel)."""
    import json

    with pytest.raises(ScenarioError) as exc:
        parse_scenario(f'name = "x"\n[crash_kernel]\nloaded = false\n'
                       f'reserve = {json.dumps(reserve)}\n', P)
    assert str(exc.value).startswith("s.toml:4: crash_kernel.reserve = ")
    assert "1M to 7936M" in str(exc.value)


@pytest.mark.parametrize(("extra", "fragment"), [
    ("panic=5", "set by boot.panic"),
    ("crashkernel=128M", "set by crash_kernel.reserve"),
    ("crash-kexec-post-notifiers", "set by boot.crash_kexec_post_notifiers"),
    ("panic_print=0x7f", "set by boot.panic_print"),
    ("unknown_nmi_panic", 'set by trigger.kind = "nmi"'),
    ("i6300esb.heartbeat=5", "set by devices.watchdog_timeout"),
    ("console=tty0", "the lab's own"),
    ("lab.kdump=0", "the lab's own"),
    ("printk.always_kmsg_dump=1", "read by the model"),
])
def test_extra_parameters_that_a_key_sets_or_the_lab_owns_are_refused(extra: str,
                                                                       fragment: str) -> None:
    """The model predicts from the keys and never sees boot.extra, while the kernel takes the
    last value given: such an extra made the guest and the prediction differ silently."""
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(f'name = "x"\n[boot]\nextra = ["loglevel=7", "{extra}"]\n', P)
    msg = str(exc.value)
    assert msg.startswith(f"s.toml:3: boot.extra '{extra}'") and fragment in msg
    assert parse_scenario('name = "x"\n[boot]\nextra = ["loglevel=7", "quiet"]\n',
                          P).extra_params == ("loglevel=7", "quiet")


@pytest.mark.parametrize("extra", ['"a b"', '"a\\tb"', '"x\\n"', '""', '"é"', "1", '["x"]'])
def test_extra_parameters_are_printable_words(extra: str) -> None:
    with pytest.raises(ScenarioError, match=r"s\.toml:3: boot\.extra = .* is not a list of "
                                            r"kernel parameters"):
        parse_scenario(f'name = "x"\n[boot]\nextra = [{extra}]\n', P)


@pytest.mark.parametrize(("text", "fragment"), [
    ('[kernel]\nrelease = "6.1\\n"', "is not a series"),
    ('[[notifier]]\nname = "a\\n"', "is not usable"),
    ('faults = ["ipi-deaf-cpu=\\uff11"]', "is not a CPU id"),
])
def test_a_trailing_newline_or_a_non_ascii_digit_does_not_pass_a_pattern(text: str,
                                                                         fragment: str) -> None:
    """`$` matched before a final newline and `\\d`/isdecimal() took any script's digits:
    "6.1\\n" was a release, a fullwidth 1 a CPU id."""
    with pytest.raises(ScenarioError, match=re.escape(fragment)):
        parse_scenario(f'name = "x"\n{text}\n', P)
    with pytest.raises(ScenarioError, match=re.escape("--release: '6.1\\n' is not a kernel")):
        with_kernel(parse_scenario('name = "x"\n', P), "6.1\n")


def test_a_byte_order_mark_is_skipped(tmp_path: Path) -> None:
    f = tmp_path / "bom.toml"
    f.write_bytes(b'\xef\xbb\xbfname = "bom"\n[machine]\ncpus = 3\n')
    assert (load_scenario(f).name, load_scenario(f).cpus) == ("bom", 3)


def test_an_endless_device_is_refused_not_read_into_memory() -> None:
    with pytest.raises(ScenarioError, match=r"^/dev/zero: cannot read \(more than 64 MiB"):
        load_scenario(Path("/dev/zero"))


def test_a_scenario_nested_too_deeply_is_one_line() -> None:
    with pytest.raises(ScenarioError, match=r"^s\.toml:2: arrays or tables nested too deeply"):
        parse_scenario('name = "x"\nfaults = ' + "[" * 5000 + "]" * 5000 + "\n", P)
