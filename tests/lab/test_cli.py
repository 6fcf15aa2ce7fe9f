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
