"""panicpath.lab.matrix: the cells of a matrix, why a cell does not apply, the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from panicpath.lab import cli
from panicpath.lab.matrix import Cell, not_applicable, plan, write_report
from panicpath.lab.scenario import builtin_scenarios_dir, load_scenario, parse_scenario
from tests.report import chromium

CARRIED = frozenset({("6.1", "x86_64"), ("6.1", "arm64"), ("6.12", "x86_64")})


def test_plan_crosses_scenarios_releases_and_arches_in_order() -> None:
    a = parse_scenario('name = "a"\n[devices]\npvpanic = false\n', Path("a.toml"))
    b = parse_scenario('name = "b"\n[trigger]\nkind = "nmi"\n', Path("b.toml"))
    cells = plan([a, b], ["6.1", "6.12"], ["x86_64", "arm64"], CARRIED)
    assert [(s.name, s.release, s.arch) for s, _ in cells] == [
        (n, r, x) for n in "ab" for r in ("6.1", "6.12") for x in ("x86_64", "arm64")]
    why = {(s.name, s.release, s.arch): reason for s, reason in cells}
    assert why[("a", "6.1", "x86_64")] == "" and why[("a", "6.1", "arm64")] == ""
    assert why[("a", "6.12", "arm64")] == "the archive carries no 6.12 kernel for arm64"
    assert "inject-nmi does not panic arm64" in why[("b", "6.1", "arm64")]
    assert "pvpanic" in why[("b", "6.1", "arm64")]
    assert why[("b", "6.12", "x86_64")] == ""


def test_a_cell_moves_the_scenario_to_its_kernel() -> None:
    sc = load_scenario(builtin_scenarios_dir() / "kdump_no_post_notifiers.toml")
    (moved, reason), = plan([sc], ["6.12"], ["x86_64"], CARRIED)
    assert (moved.release, moved.arch, moved.flavour, reason) == ("6.12", "x86_64",
                                                                    sc.flavour, "")
    assert not_applicable(moved, frozenset()) != ""


def _cells() -> list[Cell]:
    return [Cell("kdump", "6.1", "x86_64"),
            Cell("kdump", "6.1", "arm64", "[devices] pvpanic: arm64 has no pvpanic device"),
            Cell("nmi", "6.1", "x86_64"),
            Cell("nmi", "6.1", "arm64", "QMP inject-nmi does not panic arm64")]


def test_report_json_keeps_every_cell_and_its_reason(tmp_path: Path) -> None:
    js, html = write_report(_cells(), tmp_path)
    doc = json.loads(js.read_text())
    assert [(d["scenario"], d["arch"], d["status"]) for d in doc] == [
        ("kdump", "x86_64", "planned"), ("kdump", "arm64", "n/a"),
        ("nmi", "x86_64", "planned"), ("nmi", "arm64", "n/a")]
    assert doc[1]["reason"].startswith("[devices] pvpanic")
    assert html.exists()


@pytest.mark.chromium
def test_matrix_page_in_chromium(tmp_path: Path) -> None:
    """The page as a browser builds it: one row per scenario, one column per kernel, each
    cell a link to its drill-down, which names the reason."""
    _, html = write_report(_cells(), tmp_path, tmp_path / "m.html")
    page = chromium.load(html)
    assert page.console == ()
    assert page.dom.count('data-status="n/a"') == 2
    assert 'href="#nmi-6.1-arm64"' in page.dom and 'id="nmi-6.1-arm64"' in page.dom
    assert "Not applicable: QMP inject-nmi does not panic arm64" in page.dom
    assert "0 agree, 0 differ, 2 not applicable, of 4 cells" in page.dom


def test_matrix_command_refuses_bad_lists_in_one_line(tmp_path: Path) -> None:
    d = builtin_scenarios_dir()
    for args, needle in ((["--releases", "6.1,latest"], "'latest' is not a kernel series"),
                         (["--arches", "x86_64,sparc"], "unknown arch 'sparc'"),
                         (["--releases", ","], "empty")):
        r = CliRunner().invoke(cli.lab_group, ["matrix", str(d), "--dry-run", *args])
        assert r.exit_code == 2 and needle in r.stderr and len(r.stderr.splitlines()) == 1
    r = CliRunner().invoke(cli.lab_group, ["matrix", str(tmp_path), "--dry-run"])
    assert r.exit_code == 2 and "no *.toml scenario files" in r.stderr
