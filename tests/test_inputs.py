"""The validation layer (panicpath.inputs): the seven cases of issue 14 as regressions, and
each door saying where a refused value came from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from panicpath.cli import main
from panicpath.engine import build, simulate
from panicpath.inputs import (
    InputError,
    check_fault,
    check_param_value,
    fault_arg_names,
)
from panicpath.model.scenario import Scenario


def invoke(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args))
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r.exit_code, r.stdout, r.stderr


def one_line_exit_2(*args: str) -> str:
    code, out, err = invoke(*args)
    assert code == 2, (code, out[-300:], err)
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in out + err
    return err.strip()


# --- issue 14's seven cases, each failing on the code before the layer -----------------

def test_a_cpu_the_machine_does_not_have_is_refused() -> None:
    """Was an IndexError traceback (run.machine.cpus[99])."""
    err = one_line_exit_2("run", "--fault", "ipi-deaf-cpu=99")
    assert err.startswith("panicpath: error: --fault ipi-deaf-cpu=99: CPU 99 does not exist")
    assert "valid: 1..1" in err


def test_a_negative_cpu_is_refused_not_the_last_cpu() -> None:
    """Was accepted: Python's cpus[-1] picked the last CPU."""
    err = one_line_exit_2("run", "--cpus", "4", "--fault", "ipi-deaf-cpu=-1")
    assert "'-1' is not a CPU id" in err and "1..3" in err


def test_a_callback_that_does_not_exist_is_refused() -> None:
    """Was accepted: ran as if no callback hung."""
    err = one_line_exit_2("run", "--driver", "pvpanic", "--fault", "hanging-callback=nonexistent")
    assert "no callback 'nonexistent' in this run" in err
    assert "pvpanic" in err.split("valid:")[1]


@pytest.mark.parametrize(("param", "problem"), [
    ("panic_print=zz", "not an integer"),
    ("crash_kexec_post_notifiers=maybe", "not a boolean"),
])
def test_a_non_numeric_value_of_a_numeric_parameter_is_refused(param: str, problem: str) -> None:
    """Were ValueError tracebacks from int(..., 0)."""
    err = one_line_exit_2("run", "--param", param)
    assert f"--param {param}: {problem}" in err


def test_a_value_outside_a_parameters_range_is_refused() -> None:
    """Was accepted: piccoli-levels read level 9 as 4."""
    err = one_line_exit_2("run", "--policy", "piccoli-levels", "--param",
                          "panic_notifiers_level=9")
    assert "9 is out of range; valid: an integer 0..4" in err


def test_a_lab_scenario_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    """Was a UnicodeDecodeError traceback."""
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'name = "ok"\ndescription = "caf\xe9"\n')
    err = one_line_exit_2("lab", "run", str(bad))
    assert f"{bad}:2: not UTF-8 text" in err


# --- the declarations ---------------------------------------------------------------------

@pytest.mark.parametrize(("name", "good", "bad"), [
    ("crash_kexec_post_notifiers", ["0", "1", "y", "N", "on", "OFF", "true"], ["2", "", "yep"]),
    ("panic_print", ["0", "0x7f", "0x10", "010", "+4"], ["0x80", "-1", "1_0", "4.0", " "]),
    ("panic", ["0", "-1", "2147483647", "-2147483648"], ["2147483648", "ten"]),
    ("panic_notifiers_level", ["0", "4", "0x3"], ["5", "-1"]),
    ("hyperv_record_panic_msg", ["0", "1"], ["2", "y"]),
    ("ipmi_msghandler.panic_op", ["none", "event", "string"], ["Event", ""]),
])
def test_parameter_values_follow_their_declaration(name: str, good: list[str],
                                                   bad: list[str]) -> None:
    for v in good:
        check_param_value(name, v)
    for v in bad:
        with pytest.raises(InputError):
            check_param_value(name, v)


def test_octal_is_read_as_the_kernel_reads_it() -> None:
    """kstrtoul base 0: a leading 0 is octal, so panic_print=010 is bit 0x8."""
    scn = Scenario(params=(("panic_print", "010"),))
    assert scn.int_param("panic_print", 0) == 8


def test_filter_names_are_bounded_and_must_be_callbacks() -> None:
    names = frozenset({"pvpanic", "bcm-vk"})
    check_param_value("panic_notifier_filter", "pvpanic,bcm-vk", names)
    check_param_value("panic_notifier_filter", "", names)
    with pytest.raises(InputError, match="no callback named 'pvpanik'"):
        check_param_value("panic_notifier_filter", "pvpanic,pvpanik", names)
    with pytest.raises(InputError, match="17 names"):
        check_param_value("panic_notifier_filter", ",".join(["pvpanic"] * 17), names)


def test_fault_arguments_by_kind() -> None:
    check_fault("ipi-deaf-cpu=3", 4)
    check_fault("slow-host=50000", 2)
    for spec, cpus, needle in (("ipi-deaf-cpu=0", 2, "is the panic CPU"),
                               ("ipi-deaf-cpu=4", 4, "does not exist"),
                               ("concurrent-panic=x", 2, "not a CPU id"),
                               ("slow-host=0", 2, "not a latency"),
                               ("slow-host=-5", 2, "not a latency"),
                               ("nmi-context=1", 2, "takes no argument"),
                               ("hanging-callback=", 2, "empty argument"),
                               ("ipi-deaf-cpu", 1, "needs at least 2 CPUs")):
        with pytest.raises(InputError, match=needle):
            check_fault(spec, cpus)


def test_names_a_fault_may_take_are_those_of_the_run() -> None:
    run = build(Scenario(drivers=("pvpanic", "bcm-vk")))
    assert "pvpanic" in fault_arg_names(run, "callback")
    assert "pvpanic_lock" in fault_arg_names(run, "lock")
    assert fault_arg_names(run, "device")[-1] == "pcie-dma"
    assert "bcm-vk" in fault_arg_names(run, "device")
    with pytest.raises(InputError, match="no lock 'pvpanic_lock'"):
        simulate(Scenario(faults=("lock-held-by-stopped-cpu=pvpanic_lock",)))
    with pytest.raises(InputError, match="no device 'nvme0'"):
        simulate(Scenario(faults=("dma-active=nvme0",)))
    with pytest.raises(InputError, match="no notifier 'ramoops'"):  # a dumper, not a notifier
        simulate(Scenario(drivers=("ramoops",), faults=("corrupted-notifier-list=ramoops",)))
    r = simulate(Scenario(drivers=("pvpanic",), params=(("crash_kexec_post_notifiers", "1"),),
                          faults=("corrupted-notifier-list=pvpanic",)))
    assert "pvpanic" in r.ran_callbacks and r.end == "hang"


def test_a_proposals_parameter_is_refused_on_other_policies() -> None:
    with pytest.raises(InputError, match=r"policy linux-6\.1 has no panic_notifiers_level"):
        simulate(Scenario(params=(("panic_notifiers_level", "2"),)))
    simulate(Scenario(policy="mladek-2", params=(("panic_notifiers_level", "2"),)))


# --- the doors: where the value came from ---------------------------------------------

def test_scenario_file_errors_name_the_line_of_the_value(tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_text('policy = "linux-6.1"\ncpus = 3\nfaults = [\n  "slow-host",\n'
                 '  "concurrent-panic=3",\n]\n[params]\npanic = 0\n')
    err = one_line_exit_2("run", str(f))
    assert err.startswith(f"panicpath: error: {f}:5: fault 'concurrent-panic=3'")
    f.write_text('policy = "linux-6.1"\n[params]\npanic = 0\npanic_print = "0x100"\n')
    err = one_line_exit_2("run", str(f))
    assert f"{f}:4: param 'panic_print=0x100': 256 is out of range" in err


def test_space_file_values_are_checked_before_anything_runs(tmp_path: Path) -> None:
    f = tmp_path / "space.toml"
    f.write_text('policies = ["linux-6.1"]\nfaults = [[], ["ipi-deaf-cpu=2"]]\n')
    err = one_line_exit_2("compare", "--space", str(f))
    assert f"{f}:2: fault 'ipi-deaf-cpu=2': CPU 2 does not exist" in err
    f.write_text('policies = ["linux-6.1"]\n[params]\npanic = ["0", "soon"]\n')
    err = one_line_exit_2("compare", "--space", str(f))
    assert f"{f}:3: param 'panic=soon': not an integer" in err


def test_a_space_param_of_a_proposal_applies_to_that_proposal_only(tmp_path: Path) -> None:
    f = tmp_path / "space.toml"
    f.write_text('policies = ["linux-6.1", "piccoli-levels"]\narches = ["x86_64"]\n'
                 'hypervisors = ["none"]\nfaults = "none"\npolicy_params = false\n'
                 '[params]\npanic_notifiers_level = [0, 3]\n')
    code, out, err = invoke("compare", "--space", str(f), "--json", "--workers", "1")
    assert code == 0, err
    results = json.loads(out)["results"]
    levels = {(r["policy"], json.dumps(r["config"]).count("panic_notifiers_level"))
              for r in results}
    assert ("linux-6.1", 0) in levels and ("piccoli-levels", 1) in levels
    assert ("linux-6.1", 1) not in levels


def test_replay_refuses_a_trace_with_bad_values(tmp_path: Path) -> None:
    trace = tmp_path / "cx.json"
    code, _, err = invoke("check", "--policy", "linux-3.16", "--property", "vmcore-complete",
                          "--arch", "x86_64", "--trace-out", str(trace))
    assert code == 12, err
    doc = json.loads(trace.read_text())
    assert invoke("replay", str(trace))[0] == 0
    for key, value, needle in (("cpus", "2", "scenario.cpus must be int"),
                               ("faults", ["ipi-deaf-cpu=5"], "CPU 5 does not exist"),
                               ("params", [["panic_print", "x"]], "not an integer"),
                               ("policy", "linux-9", "'linux-9' is no built-in policy")):
        bad = json.loads(json.dumps(doc))
        bad["#meta"]["scenario"][key] = value
        trace.write_text(json.dumps(bad))
        assert needle in one_line_exit_2("replay", str(trace))
    bad = json.loads(json.dumps(doc))
    bad["#meta"]["property"] = "vmcore-happy"
    trace.write_text(json.dumps(bad))
    assert "unknown property" in one_line_exit_2("replay", str(trace))


def test_from_scan_refuses_a_document_of_the_wrong_shape(tmp_path: Path) -> None:
    f = tmp_path / "scan.json"
    f.write_text(json.dumps({"callbacks": [{"callback": "x", "list": "panic_notifier_list",
                                            "file": "a.c", "line": "7"}]}))
    assert "needs file (a string) and line (an integer)" in one_line_exit_2(
        "run", "--from-scan", str(f))


def test_click_usage_errors_are_one_line_too() -> None:
    err = one_line_exit_2("check", "--policy", "linux-6.1", "--property", "vmcore-captured",
                          "--max-faults", "9")
    assert "'--max-faults': 9 is not in the range" in err and "panicpath check --help" in err


def test_a_placement_of_a_callback_that_exists_nowhere_is_refused() -> None:
    """Every door (scenario and space files, --tree's placements, an ITF trace) ends in
    Scenario.overrides; a misspelt name moved nothing, silently."""
    from panicpath.inputs import ScenarioError

    with pytest.raises(ScenarioError, match="placement of 'pvpanik': no such callback; "
                                            "valid: bcm-vk") as e:
        build(Scenario(overrides=(("pvpanic", "kmsg_dumper", 0), ("pvpanik", "kmsg_dumper", 0))))
    assert e.value.at == ("placement", 1, "callback")
    build(Scenario(drivers=("pvpanic",), overrides=(("pvpanic", "kmsg_dumper", 0),)))


@pytest.mark.parametrize("spec", ["ipi-deaf-cpu=\uff11", "concurrent-panic=\u0661",
                                  "slow-host=\uff15\uff10"])
def test_fault_numbers_are_ascii_digits(spec: str) -> None:
    """str.isdecimal() takes any script's digits (and int() reads them): a fullwidth 1 was
    CPU 1 for the model, and a string no C code or kernel parameter reads."""
    with pytest.raises(InputError, match="is not a"):
        check_fault(spec, 2)
    assert "is not a" in one_line_exit_2("run", "--fault", spec)


@pytest.mark.parametrize("args", [["run", "/dev/zero"], ["replay", "/dev/zero"],
                                  ["run", "--from-scan", "/dev/zero"],
                                  ["compare", "--space", "/dev/urandom"],
                                  ["run", "--policy-file", "/dev/zero"],
                                  ["run", "--tree", "/dev/zero"], ["scan", "/dev/zero"]])
def test_an_endless_device_as_an_input_file_is_one_line(args: list[str]) -> None:
    """These read /dev/zero for ever (memory) or hung in tarfile.is_tarfile."""
    err = one_line_exit_2(*args)
    assert "more than 64 MiB" in err or "not a directory or a regular file" in err


def test_an_out_of_range_int_parameter_says_the_range() -> None:
    """`panic` is a C int: the message said "valid: an int", which 99999999999 is."""
    err = one_line_exit_2("run", "--param", "panic=99999999999")
    assert "valid: a C int -2147483648..2147483647" in err


@pytest.mark.parametrize(("args", "text"), [
    (["run", "{f}"], "cpus = " + "[" * 5000 + "]" * 5000),
    (["compare", "--space", "{f}"], "a = " + "{b=" * 3000 + "1" + "}" * 3000),
    (["run", "--policy-file", "{f}"], "name = " + "[" * 5000 + "]" * 5000),
    (["replay", "{f}"], "[" * 100_000 + "]" * 100_000),
    (["run", "--from-scan", "{f}"], "[" * 100_000 + "]" * 100_000),
])
def test_an_input_nested_too_deeply_is_one_line(tmp_path: Path, args: list[str],
                                                text: str) -> None:
    """The TOML and JSON parsers recurse per level: a RecursionError traceback each."""
    f = tmp_path / "deep"
    f.write_text(text)
    err = one_line_exit_2(*[a.format(f=f) for a in args])
    assert "nested too deeply" in err and str(f) in err
