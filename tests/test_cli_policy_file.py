"""The command line of policy files: `policies --dump`, `--policy-file` on run, check, compare
and export promela (docs/policy-files.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from panicpath.cli import main
from panicpath.policies import BUILTIN, POLICIES
from tests.policies.test_policy_file import DUMPABLE

SMALL = ["--arch", "x86_64", "--arch", "mips-octeon", "--hypervisor", "none", "--hypervisor",
         "hyperv", "--json", "--workers", "1"]
"""A small compare space: with faults, Hyper-V (forced post notifiers) and Octeon (its
watchdog hook)."""


def invoke(args: list[str]) -> Result:
    r = CliRunner().invoke(main, args, catch_exceptions=False)
    assert dict(BUILTIN) == POLICIES, "the command left its policy files registered"
    return r


def one_line_error(r: Result) -> str:
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def dump(name: str, tmp_path: Path, rename: str | None = None) -> Path:
    r = invoke(["policies", "--dump", name])
    assert r.exit_code == 0, r.stderr
    path = tmp_path / f"{rename or name}.toml"
    text = r.stdout if rename is None else r.stdout.replace(f'name = "{name}"',
                                                            f'name = "{rename}"')
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", DUMPABLE)
def test_compare_json_of_a_dumped_policy_is_the_builtins_byte_for_byte(
        name: str, tmp_path: Path) -> None:
    """Dumped, loaded back under its own name (it replaces the built-in) and under another
    (it can only be the file's): the same `compare --json` document."""
    builtin = invoke(["compare", "--policy", name, *SMALL])
    assert builtin.exit_code == 0, builtin.stderr
    same = invoke(["compare", "--policy", name, "--policy-file", str(dump(name, tmp_path)),
                   *SMALL])
    assert same.exit_code == 0 and same.stderr == ""  # equal to the built-in: no note
    assert same.stdout == builtin.stdout
    other = invoke(["compare", "--policy", "from-file", "--policy-file",
                    str(dump(name, tmp_path, rename="from-file")), *SMALL])
    assert other.exit_code == 0, other.stderr
    assert other.stdout.replace('"from-file"', f'"{name}"') == builtin.stdout
    assert len(json.loads(builtin.stdout)["results"]) > 100


def test_an_edited_dump_replaces_the_builtin_and_says_so(tmp_path: Path) -> None:
    """A built-in's name in a file means that policy, as the file says: kdump last
    regardless of crash_kexec_post_notifiers changes the verdicts, and stderr says the
    built-in was replaced."""
    path = dump("linux-6.1", tmp_path)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('{ step = "crash_kexec", when = "!post" },\n', "")
                    .replace('{ step = "crash_kexec", when = "post" }', '{ step = "crash_kexec" }'),
                    encoding="utf-8")
    builtin = invoke(["compare", "--policy", "linux-6.1", *SMALL])
    edited = invoke(["compare", "--policy", "linux-6.1", "--policy-file", str(path), *SMALL])
    assert edited.exit_code == 0
    assert f"{path}: policy 'linux-6.1' differs from the built-in" in edited.stderr
    assert edited.stdout != builtin.stdout


def test_compare_adds_the_file_to_the_policies_compared(tmp_path: Path) -> None:
    path = dump("linux-4.9", tmp_path, rename="my-4.9")
    r = invoke(["compare", "--policy", "linux-3.16", "--policy-file", str(path), *SMALL])
    assert json.loads(r.stdout)["policies"] == ["linux-3.16", "my-4.9"]
    r = invoke(["compare", "--policy", "my-4.9", "--policy-file", str(path), *SMALL])
    assert json.loads(r.stdout)["policies"] == ["my-4.9"]
    r = invoke(["compare", "--policy-file", str(path), "--no-faults", "--arch", "s390",
                "--json", "--workers", "1"])
    assert json.loads(r.stdout)["policies"] == [*BUILTIN, "my-4.9"]
    again = invoke(["compare", "--policy-file", str(path), "--policy-file", str(path), *SMALL])
    assert "already given by" in one_line_error(again)


def test_dump_writes_a_file_or_says_why_not(tmp_path: Path) -> None:
    out = tmp_path / "p.toml"
    r = invoke(["policies", "--dump", "linux-3.16", "-o", str(out)])
    assert r.exit_code == 0 and r.stdout == ""
    assert out.read_text(encoding="utf-8") == invoke(["policies", "--dump", "linux-3.16"]).stdout
    msg = one_line_error(invoke(["policies", "--dump", "piccoli-levels"]))
    assert "policy 'piccoli-levels' cannot be written as a policy file" in msg
    assert "linux-6.1" in msg  # what can be
    assert "unknown policy 'linux-9.9'" in one_line_error(invoke(["policies", "--dump",
                                                                  "linux-9.9"]))
    assert "goes with --dump" in one_line_error(invoke(["policies", "-o", str(out)]))
    assert "leave out --json" in one_line_error(invoke(["policies", "--dump", "linux-3.16",
                                                        "--json"]))
    assert f"{out} is not a directory" in one_line_error(invoke(
        ["policies", "--dump", "linux-3.16", "-o", str(out / "below-a-file")]))


def test_run_uses_the_file_policy(tmp_path: Path) -> None:
    path = dump("linux-3.16", tmp_path, rename="my-3.16")
    r = invoke(["run", "--policy-file", str(path), "--json"])
    assert json.loads(r.stdout)["scenario"]["policy"] == "my-3.16"
    builtin = invoke(["run", "--policy", "linux-3.16", "--json"])
    assert r.stdout.replace('"my-3.16"', '"linux-3.16"') == builtin.stdout
    assert "give one of them" in one_line_error(
        invoke(["run", "--policy", "linux-6.1", "--policy-file", str(path)]))
    assert invoke(["run", "--policy", "my-3.16", "--policy-file", str(path)]).exit_code == 0
    scenario = tmp_path / "s.toml"
    scenario.write_text('arch = "x86_64"\npolicy = "linux-6.1"\n', encoding="utf-8")
    msg = one_line_error(invoke(["run", str(scenario), "--policy-file", str(path)]))
    assert msg.startswith(f"panicpath: error: {scenario}:2: policy 'linux-6.1', but "
                          f"--policy-file {path} holds 'my-3.16'")
    scenario.write_text('arch = "x86_64"\n', encoding="utf-8")
    r = invoke(["run", str(scenario), "--policy-file", str(path), "--json"])
    assert json.loads(r.stdout)["scenario"]["policy"] == "my-3.16"


def test_a_bad_policy_file_is_one_line_with_file_and_line(tmp_path: Path) -> None:
    path = dump("linux-4.5", tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace('"kmsg_dump"', '"kmsg_dump_panic"'),
                    encoding="utf-8")
    line = next(i for i, ln in enumerate(path.read_text().splitlines(), 1)
                if "kmsg_dump_panic" in ln)
    for args in (["run"], ["compare", "--no-faults"],
                 ["check", "--property", "vmcore-captured"],
                 ["export", "promela", "--property", "vmcore-captured"]):
        msg = one_line_error(invoke([*args, "--policy-file", str(path)]))
        assert msg.startswith(f"panicpath: error: {path}:{line}: unknown step "
                              "'kmsg_dump_panic' in program; valid: panic_entry"), msg


def test_check_and_export_take_the_file_policy(tmp_path: Path) -> None:
    path = dump("linux-3.16", tmp_path, rename="my-3.16")
    q = ["--property", "vmcore-complete", "--arch", "x86_64", "--max-faults", "0"]
    for engine in ("object", "fast"):
        mine = invoke(["check", "--policy-file", str(path), *q, "--engine", engine, "--json"])
        builtin = invoke(["check", "--policy", "linux-3.16", *q, "--engine", engine, "--json"])
        assert mine.exit_code == builtin.exit_code == 12
        a, b = json.loads(mine.stdout), json.loads(builtin.stdout)
        for doc in (a, b):
            del doc["seconds"], doc["states_per_second"], doc["policy"]
        assert json.dumps(a).replace("my-3.16", "linux-3.16") == json.dumps(b)
    mine = invoke(["export", "promela", "--policy-file", str(path), *q])
    builtin = invoke(["export", "promela", "--policy", "linux-3.16", *q])
    assert mine.stdout.replace("my-3.16", "linux-3.16") == builtin.stdout
    msg = one_line_error(invoke(["check", "--property", "vmcore-complete"]))
    assert "Missing option '--policy' (or --policy-file FILE)" in msg


def test_replay_takes_the_file_the_trace_was_checked_with(tmp_path: Path) -> None:
    path = dump("linux-3.16", tmp_path, rename="my-3.16")
    trace = tmp_path / "cx.itf.json"
    r = invoke(["check", "--policy-file", str(path), "--property", "vmcore-complete", "--arch",
                "x86_64", "--trace-out", str(trace)])
    assert r.exit_code == 12 and json.loads(trace.read_text())["#meta"]["scenario"][
        "policy"] == "my-3.16"
    r = invoke(["replay", str(trace), "--policy-file", str(path)])
    assert r.exit_code == 0 and "still violates vmcore-complete" in r.stdout
    msg = one_line_error(invoke(["replay", str(trace)]))
    assert "'my-3.16' is no built-in policy" in msg and "replay --policy-file" in msg
    other = dump("linux-4.9", tmp_path)
    msg = one_line_error(invoke(["replay", str(trace), "--policy-file", str(other)]))
    assert "but --policy-file" in msg and "holds 'linux-4.9'" in msg
