"""`compare`: aggregation, JSON shape, worker-count independence, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from panicpath.check.compare import compare, row_json
from panicpath.check.space import Space
from panicpath.cli import main
from panicpath.properties import PROPERTIES

SMALL = Space(policies=("linux-6.1", "piccoli-levels"), arches=("arm64",),
              hypervisors=("hyperv",), kdump=(True,))


def test_cells_count_what_the_rows_say() -> None:
    cmp = compare(SMALL, workers=1)
    for (pol, prop), cell in cmp.cells.items():
        rows = [r for r in cmp.rows if r.scenario.policy == pol and r.applicable[prop]]
        assert cell.held == sum(r.properties[prop] for r in rows)
        assert cell.failed == len(rows) - cell.held
        if cell.failed:
            assert cell.smallest is not None and not cell.smallest.properties[prop]


def test_workers_do_not_change_the_result() -> None:
    """Parallel evaluation folds rows back in enumeration order."""
    space = Space(policies=("linux-6.1", "mladek-4"), arches=("x86_64", "arm64"))
    one = compare(space, workers=1).to_json()
    two = compare(space, workers=2).to_json()
    assert json.dumps(one) == json.dumps(two)
    assert len(one["results"]) > 1000  # type: ignore[arg-type]


def test_row_result_reproduces_the_row() -> None:
    """The trace of a row is recomputed on demand and agrees with what was aggregated."""
    cmp = compare(SMALL, workers=1)
    row = next(r for r in cmp.rows if r.failed)
    assert row.result.properties == row.properties
    assert row_json(row)["before_handover"] == list(row.before)


def test_json_shape_from_the_cli(tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_text('policies = ["linux-6.1", "piccoli-levels"]\narches = ["arm64"]\n'
                 'hypervisors = ["hyperv"]\nkdump = [true]\n')
    r = CliRunner().invoke(main, ["compare", "--space", str(f), "--json", "--workers", "1"])
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert {"policies", "properties", "results"} <= set(doc)
    assert doc["policies"] == ["linux-6.1", "piccoli-levels"]
    assert doc["properties"] == list(PROPERTIES)
    row = doc["results"][0]
    assert {"policy", "config", "faults", "properties", "measures"} <= set(row)
    assert set(row["properties"]) == set(PROPERTIES)
    assert all(isinstance(v, bool) or (v is None and k in row["not_applicable"])
               for k, v in row["properties"].items())
    assert "callbacks-before-handover" in row["measures"]
    levels = [x for x in doc["results"] if x["policy"] == "piccoli-levels" and not x["faults"]
              and x["config"]["params"].get("panic_notifiers_level") == "4"]
    assert levels and not any(x["properties"]["dump-target-reachable"] for x in levels)


def test_terminal_matrix_names_smallest_failures(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["compare", "--policy", "piccoli-levels", "--arch", "arm64",
                                  "--hypervisor", "hyperv", "--no-faults", "--workers", "1"])
    assert r.exit_code == 0
    assert "piccoli-levels" in r.stdout
    assert "piccoli-levels dump-target-reachable: piccoli-levels arm64 hv=hyperv kdump" in \
        r.stdout.replace("\n", " ")


def test_bad_space_file_exits_2_with_one_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text('arches = ["vax"]\n')
    r = CliRunner().invoke(main, ["compare", "--space", str(f)])
    assert r.exit_code == 2
    assert r.stderr.count("\n") == 1 and "unknown arch 'vax'" in r.stderr


def test_html_flag_writes_one_file_with_all_rows(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    r = CliRunner().invoke(main, ["compare", "--policy", "mladek-4", "--arch", "s390",
                                  "--html", str(out), "--json", "--workers", "1"])
    assert r.exit_code == 0, r.stderr
    n = len(json.loads(r.stdout)["results"])
    blob = out.read_text().split('type="application/json">', 1)[1].split("</script>", 1)[0]
    assert len(json.loads(blob)["rows"]) == n


def test_a_selection_of_no_machine_is_refused(tmp_path: Path) -> None:
    """s390 runs under no hypervisor: `--arch s390 --hypervisor hyperv` printed an all-n/a
    matrix and exit 0, as did a space whose driver_sets leave nothing."""
    for args in (["--arch", "s390", "--hypervisor", "hyperv"],
                 ["--arch", "powerpc", "--hypervisor", "xen", "--hypervisor", "kvm"]):
        r = CliRunner().invoke(main, ["compare", "--policy", "linux-3.11", "--no-faults",
                                      *args])
        assert r.exit_code == 2 and len(r.stderr.splitlines()) == 1, r.output
        assert "selects no configuration" in r.stderr and "s390 under none" in r.stderr
    space = tmp_path / "s.toml"
    space.write_text('driver_sets = {s390 = []}\n')
    r = CliRunner().invoke(main, ["compare", "--policy", "linux-3.11", "--no-faults", "--arch",
                                  "s390", "--space", str(space)])
    assert r.exit_code == 2 and f"--space {space} selects no configuration" in r.stderr
    assert "driver_sets leave none" in r.stderr
