"""The command line: JSON shapes, vocabularies, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from panicpath.cli import main
from panicpath.faults import FAULTS
from panicpath.properties import PROPERTIES


def invoke(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_run_json_has_trace_and_properties() -> None:
    code, out, _ = invoke("run", "--policy", "linux-6.1", "--arch", "x86_64", "--kdump",
                          "--param", "crash_kexec_post_notifiers=1", "--driver", "pvpanic",
                          "--json")
    assert code == 0
    doc = json.loads(out)
    events = [e["event"] for e in doc["trace"]]
    assert events.index("pvpanic") < events.index("__crash_kexec")
    assert all({"event", "kind", "source"} <= set(e) for e in doc["trace"])
    assert set(doc["properties"]) == set(PROPERTIES)
    assert doc["properties"]["vmcore-captured"] is True
    assert doc["measures"]["callbacks-before-kdump"] == 2


def test_run_human_output_shows_steps_and_sources() -> None:
    code, out, _ = invoke("run", "--hypervisor", "hyperv", "--arch", "arm64")
    assert code == 0
    assert "hyperv-vmbus-unload" in out and "drivers/hv/vmbus_drv.c" in out


@pytest.mark.parametrize("cmd", ["policies", "drivers", "faults", "properties"])
def test_vocabulary_json(cmd: str) -> None:
    code, out, _ = invoke(cmd, "--json")
    assert code == 0
    names = {row["name"] for row in json.loads(out)[cmd]}
    expected = {"policies": {"linux-3.15", "linux-3.16", "linux-4.9", "linux-6.1",
                             "linux-mainline"},
                "drivers": {"hyperv-vmbus-unload", "hyperv-report-panic", "hyperv-kmsg-dump",
                            "hyperv-crash-shutdown", "hyperv-fb", "bcm-vk", "pvpanic",
                            "dump-kernel-offset", "ipmi-panic-event", "ramoops",
                            "octeon-watchdog", "fadump", "kvm-crash-shutdown", "sev-snp"},
                "faults": set(FAULTS),
                "properties": set(PROPERTIES) | {"callbacks-before-kdump",
                                                 "risky-operations-before-kdump"}}[cmd]
    assert expected <= names


@pytest.mark.parametrize(("args", "needle"), [
    (["run", "--policy", "linux-9.9"], "unknown policy 'linux-9.9'; valid: linux-3.11"),
    (["run", "--driver", "nvidia"], "unknown driver 'nvidia'; valid: hyperv-vmbus-unload"),
    (["run", "--fault", "cosmic-ray"], "unknown fault 'cosmic-ray'; valid: ipi-deaf-cpu"),
    (["run", "--arch", "sparc"], "unknown arch 'sparc'"),
    (["run", "--param", "crash_kexec_post_notifiers"], "expected NAME=VALUE"),
    (["run", "--param", "nosuch=1"], "unknown boot parameter 'nosuch'"),
    (["run", "--fault", "ipi-deaf-cpu", "--cpus", "1"], "needs at least 2 CPUs"),
    (["compare", "--policy", "nope"], "unknown policy 'nope'"),
])
def test_bad_input_is_one_line_exit_2(args: list[str], needle: str) -> None:
    code, out, err = invoke(*args)
    assert code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err + out


def test_bad_scenario_file_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('policy = "linux-6.1"\narch = "x86_64"\n[params]\nfoo = = 1\n')
    code, _, err = invoke("run", str(bad))
    assert code == 2 and f"{bad}:4: Invalid value (column 7)" in err
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('policy = "linux-6.1"\ndrivers = ["pvpanic", "nvidia"]\n')
    code, _, err = invoke("run", str(unknown))
    assert code == 2 and f"{unknown}:2:" in err and "unknown driver 'nvidia'" in err
    badcb = tmp_path / "cb.toml"
    badcb.write_text('[[callback]]\nname = "x"\nneeds = ["telepathy"]\n')
    code, _, err = invoke("run", str(badcb))
    assert code == 2 and "unknown need 'telepathy'" in err


def test_scenario_file_with_user_callback(tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_text('''
policy = "linux-6.1"
hypervisor = "hyperv"
[params]
crash_kexec_post_notifiers = 1
[[callback]]
name = "late-vmbus-user"
priority = "INT_MIN"
needs = ["vmbus"]
effects = ["print:hello"]
''')
    code, out, _ = invoke("run", str(f), "--json")
    assert code == 0
    assert "late-vmbus-user" in json.loads(out)["failed_callbacks"]


def test_no_traceback_from_the_installed_command() -> None:
    """The console script itself (not the test runner) prints one line for bad input."""
    p = subprocess.run([sys.executable, "-m", "panicpath", "run", "--policy", "x"],
                       capture_output=True, text=True, check=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr


def test_run_from_scan_turns_scanned_callbacks_into_model_callbacks(tmp_path: Path) -> None:
    """Issue 6 'into the model': a scanned callback that takes a mutex deadlocks the panic
    path when another CPU holds that mutex and is then stopped."""
    fixtures = Path(__file__).parent / "data" / "scan"
    code, out, _ = invoke("scan", str(fixtures), "--json")
    assert code == 0
    scan = tmp_path / "scan.json"
    scan.write_text(out)
    def run_json(*extra: str) -> dict[str, object]:
        code, out, _ = invoke("run", "--from-scan", str(scan), "--bare", "--json", *extra)
        assert code == 0
        doc = json.loads(out)
        assert isinstance(doc, dict)
        return doc

    post = ("--param", "crash_kexec_post_notifiers=1")
    assert run_json()["end"] == "capture-kernel"
    ipi = run_json(*post)
    assert ipi["end"] == "hang" and "IPI" in str(ipi["end_reason"])
    assert run_json(*post, "--cpus", "1")["end"] == "capture-kernel"
    locked = run_json(*post, "--fault", "lock-held-by-stopped-cpu", "--fault", "ipi-deaf-cpu")
    assert locked["end"] == "hang" and "deadlock" in str(locked["end_reason"])
    code, _, err = invoke("run", "--from-scan", str(tmp_path / "missing.json"))
    assert code == 2 and "missing.json" in err


def test_every_subcommand_resolves() -> None:
    from panicpath.cli import SUBCOMMANDS

    ctx = click.Context(main)
    for name in SUBCOMMANDS:
        assert isinstance(main.get_command(ctx, name), click.Command), name


def test_scan_does_not_import_the_model() -> None:
    code = ("import sys\nfrom panicpath.cli import main\n"
            "try:\n    main(['scan', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith(('panicpath.model', "
            "'panicpath.engine', 'panicpath.check', 'panicpath.lab'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_a_property_that_does_not_apply_is_null_in_json() -> None:
    """Issue 16: `run --no-kdump --json` said "vmcore-captured": true while listing it as
    not applicable; now it is null there, and so in compare's rows."""
    code, out, _ = invoke("run", "--no-kdump", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["properties"]["vmcore-captured"] is None
    assert "vmcore-captured" in doc["not_applicable"]
    assert doc["properties"]["path-bounded"] is True
    assert all((v is None) == (k in doc["not_applicable"]) for k, v in doc["properties"].items())
    code, out, _ = invoke("compare", "--policy", "linux-6.1", "--arch", "x86_64",
                          "--no-faults", "--json")
    assert code in (0, 12)
    rows = json.loads(out)["results"]
    assert any(r["properties"]["vmcore-captured"] is None for r in rows if not r["config"]["kdump"])
    assert all((v is None) == (k in r["not_applicable"])
               for r in rows for k, v in r["properties"].items())
