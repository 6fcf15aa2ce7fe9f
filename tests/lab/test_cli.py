"""``panicpath lab`` options reach the runner; bad values are refused by click."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from panicpath.lab import cli
from panicpath.lab.kernels import LabSetupError
from panicpath.lab.qemu import resolve_tcg_threads
from panicpath.lab.scenario import builtin_scenarios_dir

SCENARIO = builtin_scenarios_dir() / "kdump_post_notifiers_order.toml"


def test_resolve_tcg_threads() -> None:
    assert resolve_tcg_threads("auto", 2, 2, 2) == "single"
    assert resolve_tcg_threads("auto", 1, 2, 2) == "multi"
    assert resolve_tcg_threads("multi", 2, 2, 2) == "multi"
    assert resolve_tcg_threads("single", 1, 1, 8) == "single"
    # pseries' crash kernel crawls with one TCG thread (qemu.SINGLE_TCG_STALLS)
    assert resolve_tcg_threads("auto", 2, 2, 2, "ppc64el") == "multi"
    assert resolve_tcg_threads("single", 2, 2, 2, "ppc64el") == "single"
    with pytest.raises(ValueError, match="auto, multi, single"):
        resolve_tcg_threads("both", 1, 1, 1)


@pytest.mark.parametrize(("args", "expected"), [([], "auto"), (["--tcg-threads", "single"],
                                                                "single")])
def test_run_passes_tcg_threads(monkeypatch: pytest.MonkeyPatch, args: list[str],
                                expected: str) -> None:
    seen: dict[str, object] = {}

    def fake_run(*_args: object, **kwargs: object) -> None:
        seen.update(kwargs)
        raise LabSetupError("stop here")

    monkeypatch.setattr(cli, "run_scenario", fake_run)
    result = CliRunner().invoke(cli.lab_group, ["run", str(SCENARIO), *args])
    assert result.exit_code == 2 and "stop here" in result.output
    assert seen["tcg_threads"] == expected


def test_campaign_passes_tcg_threads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[object] = []

    def fake_campaign(*args: object, **_kwargs: object) -> None:
        seen.append(args[-1])
        raise LabSetupError("stop here")

    monkeypatch.setattr(cli, "run_campaign", fake_campaign)
    result = CliRunner().invoke(cli.lab_group, ["campaign", str(builtin_scenarios_dir()),
                                                "--tcg-threads", "multi", "--out",
                                                str(tmp_path)])
    assert result.exit_code == 2 and seen == ["multi"]


def test_bad_tcg_threads_value_is_refused() -> None:
    result = CliRunner().invoke(cli.lab_group, ["run", str(SCENARIO), "--tcg-threads", "many"])
    assert result.exit_code == 2 and "many" in result.output


def test_lab_kernels_lists_what_the_archive_carries() -> None:
    """`lab kernels --json` reads the archive through the private apt state (for real):
    bookworm's 6.1 on every arch, the other suites' series on x86_64, nothing invented."""
    import json

    r = CliRunner().invoke(cli.lab_group, ["kernels", "--json"])
    assert r.exit_code == 0, r.stderr
    rows = json.loads(r.stdout)["kernels"]
    seen = {(k["release"], k["arch"], k["flavour"]) for k in rows}
    for arch, flavour in (("x86_64", "cloud-amd64"), ("arm64", "cloud-arm64"),
                          ("ppc64el", "powerpc64le")):
        assert ("6.1", arch, flavour) in seen
    assert {"5.10", "6.1", "6.12"} <= {k["release"] for k in rows if k["arch"] == "x86_64"}
    six_one = next(k for k in rows if (k["release"], k["arch"]) == ("6.1", "x86_64"))
    assert six_one["suite"].startswith("bookworm") and six_one["abi"].startswith("6.1.0-")
    assert all(k["abi"].endswith(f"-{k['flavour']}") for k in rows)


@pytest.mark.parametrize(("args", "needle"), [
    (["--release", "9.9"], "release 9.9 is not in the archive for x86_64"),
    (["--release", "5.10", "--arch", "ppc64el"], "release 5.10 is not in the archive for ppc64el"),
    (["--release", "latest"], "'latest' is not a kernel series"),
    (["--arch", "riscv"], "'riscv' is not one of"),
])
def test_bad_kernel_choice_is_one_line_exit_2(args: list[str], needle: str) -> None:
    """Issue 15's bad input: an unknown release or arch, a release the archive does not
    carry for that arch (read through the private apt state, for real)."""
    from panicpath.cli import main

    path = str(builtin_scenarios_dir() / "portable_kdump_first.toml")
    r = CliRunner().invoke(main, ["lab", "run", path, *args])
    assert r.exit_code == 2 and needle in r.stderr and len(r.stderr.splitlines()) == 1


def test_a_device_or_trigger_the_machine_lacks_is_refused_before_any_download(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An NMI trigger, pvpanic or ramoops on arm64: refused up front, no kernel fetched."""
    import panicpath.lab.runner as runner

    def no_download(*a: object, **k: object) -> None:
        raise AssertionError("a kernel was fetched for a scenario that cannot run")

    monkeypatch.setattr(runner, "ensure_kernel", no_download)
    path = str(builtin_scenarios_dir() / "nmi_ramoops.toml")
    r = CliRunner().invoke(cli.lab_group, ["run", path, "--arch", "arm64"])
    assert r.exit_code == 2 and len(r.stderr.splitlines()) == 1
    assert "inject-nmi does not panic arm64" in r.stderr and "pvpanic" in r.stderr


def test_a_missing_cross_compiler_is_named_with_its_package(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe for an arm64 guest needs aarch64-linux-gnu-gcc-12: without it, one line
    naming the package (scripts/install-deps.sh installs it)."""
    import shutil

    from panicpath.lab import probe
    from panicpath.lab.kernels import KernelFiles
    from panicpath.lab.scenario import load_scenario

    real = shutil.which
    monkeypatch.setattr(probe.shutil, "which",
                        lambda t: None if t.startswith("aarch64") else real(t))
    sc = load_scenario(builtin_scenarios_dir() / "portable_kdump_first.toml")
    kernel = KernelFiles("cloud-arm64", "6.1.0-0-cloud-arm64", Path("/nonexistent"), "arm64")
    with pytest.raises(LabSetupError, match="apt-get install gcc-aarch64-linux-gnu"):
        probe.build_probe(sc, kernel, cache=Path("/nonexistent-cache"))


def test_dry_run_says_when_the_reservation_needs_are_not_measured(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A dry run boots nothing, so on a cache without the kernel's measured needs a small
    reservation is predicted as enough, and the output says so; a default one does not."""
    from panicpath.cli import main

    monkeypatch.setenv("PANICPATH_CACHE", str(tmp_path))
    small = builtin_scenarios_dir() / "crashkernel_dies_in_reservation.toml"
    out = CliRunner().invoke(main, ["lab", "run", str(small), "--dry-run"])
    assert out.exit_code == 0 and "note: crashkernel=64M is predicted as enough" in out.output
    assert "crash_kernel_died = False" in out.output
    out = CliRunner().invoke(main, ["lab", "run", str(SCENARIO), "--dry-run"])
    assert out.exit_code == 0 and "note:" not in out.output


def test_a_dry_run_refuses_what_the_machine_lacks_as_a_run_does() -> None:
    """`--dry-run` said `valid` (exit 0) for a scenario the run refuses before any download:
    an NMI trigger, pvpanic or ramoops on arm64."""
    from panicpath.cli import main

    path = str(builtin_scenarios_dir() / "nmi_ramoops.toml")
    r = CliRunner().invoke(main, ["lab", "run", path, "--arch", "arm64", "--dry-run"])
    assert r.exit_code == 2 and len(r.stderr.splitlines()) == 1, r.output
    assert "arm64 cannot run it" in r.stderr and "inject-nmi does not panic arm64" in r.stderr
    portable = str(builtin_scenarios_dir() / "portable_kdump_first.toml")
    assert CliRunner().invoke(main, ["lab", "run", portable, "--arch", "arm64",
                                     "--dry-run"]).exit_code == 0
