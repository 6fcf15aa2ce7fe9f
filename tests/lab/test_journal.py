"""The growing report and `--resume DIR` (panicpath.lab.journal), without QEMU: what counts
as done, in which order results land, that a key counts once, and the command's answers
to a report it cannot read."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest
from click.testing import CliRunner

from panicpath.lab import cli
from panicpath.lab.campaign import OK_STATUSES, entry_failed
from panicpath.lab.harness import GuestResult, Status
from panicpath.lab.journal import Journal, ResumeError, campaign_key, matrix_key, read_done
from panicpath.lab.scenario import builtin_scenarios_dir


def entry(name: str, status: str = "complete", agree: bool | None = True
          ) -> dict[str, object]:
    """A campaign entry as campaign.json holds it (what the report page reads)."""
    return {"scenario": name, "observed": {"callbacks": [{"name": "high"}],
                                           "crash_kernel_booted": False,
                                           "pvpanic_event": None},
            "predicted": None, "agree": agree, "differences": [], "predicted_with": None,
            "status": status, "phase": "done", "detail": "", "log": f"x/{name}/console.log",
            "duration_s": 1.5, "snapshot": "restored"}


def test_results_land_in_plan_order_and_a_key_counts_once(tmp_path: Path) -> None:
    path = tmp_path / "out" / "campaign.json"
    j = Journal(path, ["a", "b", "c"], {"b": entry("b")})
    assert not path.exists()  # nothing written before the command can run
    j.write()
    assert json.loads(path.read_text()) == [entry("b")]
    assert j.add("c", entry("c"))
    assert not j.add("c", entry("c", "timeout"))  # a second result of c: dropped
    assert not j.add("b", entry("b", "timeout"))  # b was done before
    assert j.add("a", entry("a"))
    assert json.loads(path.read_text()) == [entry("a"), entry("b"), entry("c")]
    assert [p.name for p in path.parent.iterdir()] == ["campaign.json"]  # no temporary left


def test_read_done_keeps_planned_keys_and_the_first_of_each(tmp_path: Path) -> None:
    first, second = entry("a"), entry("a", "timeout")
    (tmp_path / "campaign.json").write_text(json.dumps([first, entry("gone"), second]))
    assert read_done(tmp_path, "campaign.json", campaign_key, ["a", "b"]) == {"a": first}
    cell = {"scenario": "s", "release": "6.1", "arch": "arm64", "status": "n/a"}
    (tmp_path / "matrix.json").write_text(json.dumps([cell]))
    assert read_done(tmp_path, "matrix.json", matrix_key, [("s", "6.1", "arm64")]) == {
        ("s", "6.1", "arm64"): cell}
    assert read_done(tmp_path, "matrix.json", matrix_key, [("s", "6.1", "x86_64")]) == {}


@pytest.mark.parametrize(("content", "needle"), [
    (None, "no campaign.json there"),
    ("{not json", "cannot be read"),
    ('{"scenario": "a"}', "not a list of results"),
    ('[{"name": "a"}]', "item 0 is not a result"),
    ('[["a"]]', "item 0 is not a result"),
])
def test_an_unreadable_report_is_a_resume_error(tmp_path: Path, content: str | None,
                                                 needle: str) -> None:
    if content is not None:
        (tmp_path / "campaign.json").write_text(content)
    with pytest.raises(ResumeError, match=needle):
        read_done(tmp_path, "campaign.json", campaign_key, ["a"])
    with pytest.raises(ResumeError, match="not a directory"):
        read_done(tmp_path / "missing", "campaign.json", campaign_key, ["a"])


def test_ok_statuses_are_the_harness_s() -> None:
    """A resumed entry is judged by its status as the harness judges a run."""
    for status in typing.get_args(Status):
        r = GuestResult(status, "done", "", Path("log"), (), 0, 0.0, (), 0)
        assert (status in OK_STATUSES) == r.ok
    assert not entry_failed(entry("a"))
    assert not entry_failed(entry("a", agree=None))
    assert entry_failed(entry("a", agree=False))
    assert entry_failed(entry("a", status="timeout"))


def _scenarios(tmp_path: Path, names: list[str]) -> Path:
    d = tmp_path / "scenarios"
    d.mkdir()
    for n in names:
        (d / f"{n}.toml").write_text((builtin_scenarios_dir() / f"{n}.toml").read_text())
    return d


def test_a_finished_campaign_resumed_runs_nothing(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    """Everything done: no guest runs, the report is rewritten as it was (and its page), and
    the exit code judges the entries read back (one differs: exit 1)."""
    names = ["no_kdump_panic_none", "portable_no_kdump"]
    d = _scenarios(tmp_path, names)
    out = tmp_path / "done"
    out.mkdir()
    docs = [entry(names[0]), entry(names[1], agree=False)]
    (out / "campaign.json").write_text(json.dumps(docs))

    def no_run(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a guest ran")

    monkeypatch.setattr(cli, "run_campaign", no_run)
    r = CliRunner().invoke(cli.lab_group, ["campaign", str(d), "--resume", str(out)])
    assert r.exit_code == 1, r.output
    assert json.loads((out / "campaign.json").read_text()) == docs
    assert "portable_no_kdump" in (out / "campaign.html").read_text()
    assert "DIFFER" in r.stdout


def test_resume_runs_only_the_rest(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The scenarios the report lacks, and only those, go to the runner; the report keeps
    what it held and gains what ran, in the directory's order."""
    names = ["no_kdump_panic_none", "portable_kdump_first", "portable_no_kdump"]
    d = _scenarios(tmp_path, names)
    out = tmp_path / "half"
    out.mkdir()
    (out / "campaign.json").write_text(json.dumps([entry(names[2])]))
    ran: list[str] = []

    class Fake:
        def __init__(self, name: str) -> None:
            self.run = type("R", (), {"scenario": type("S", (), {"name": name})})()

        def to_json(self) -> dict[str, object]:
            return entry(self.run.scenario.name)

    def fake_campaign(scenarios: list[typing.Any], jobs: int, out_dir: Path, predictor: object,
                      done: typing.Callable[[typing.Any], None], *_rest: object) -> None:
        for sc in scenarios:
            ran.append(sc.name)
            done(Fake(sc.name))
            done(Fake(sc.name))  # a result twice: counted once

    monkeypatch.setattr(cli, "run_campaign", fake_campaign)
    r = CliRunner().invoke(cli.lab_group, ["campaign", str(d), "--resume", str(out)])
    assert r.exit_code == 0, r.output
    assert ran == names[:2]
    assert [e["scenario"] for e in json.loads((out / "campaign.json").read_text())] == names


@pytest.mark.parametrize("command", [["campaign"], ["matrix", "--releases", "6.1"]])
def test_resume_of_a_directory_without_a_report_is_one_line(command: list[str],
                                                            tmp_path: Path) -> None:
    d = _scenarios(tmp_path, ["portable_no_kdump"])
    r = CliRunner().invoke(cli.lab_group, [command[0], str(d), *command[1:], "--resume",
                                           str(tmp_path)])
    assert r.exit_code == 2
    assert len(r.stderr.splitlines()) == 1
    assert ".json there" in r.stderr and str(tmp_path) in r.stderr


def test_two_scenarios_of_one_name_are_refused(tmp_path: Path) -> None:
    d = _scenarios(tmp_path, ["portable_no_kdump"])
    (d / "again.toml").write_text((d / "portable_no_kdump.toml").read_text())
    r = CliRunner().invoke(cli.lab_group, ["campaign", str(d), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and len(r.stderr.splitlines()) == 1
    assert "'portable_no_kdump'" in r.stderr and "again.toml" in r.stderr



def test_a_matrix_resumed_runs_only_the_cells_it_lacks(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    """matrix.json holds one cell: the runner gets the other cells of the plan (those that
    do not apply with their reason), and the report has every cell once, in plan order."""
    from panicpath.lab.matrix import Cell

    d = _scenarios(tmp_path, ["no_kdump_panic_none", "portable_no_kdump"])
    out = tmp_path / "m"
    out.mkdir()
    held = {"scenario": "no_kdump_panic_none", "release": "6.1", "arch": "x86_64",
            "status": "agree"}
    (out / "matrix.json").write_text(json.dumps([held]))
    ran: list[tuple[str, str, bool]] = []

    def fake_matrix(cells: list[typing.Any], jobs: int, out_dir: Path, predictor: object,
                    done: typing.Callable[[Cell], None], *_rest: object) -> None:
        for sc, reason in cells:
            ran.append((sc.name, sc.release, bool(reason)))
            done(Cell(sc.name, sc.release, sc.arch, reason or "not run here"))

    monkeypatch.setattr("panicpath.lab.matrix.run_matrix", fake_matrix)
    r = CliRunner().invoke(cli.lab_group, ["matrix", str(d), "--releases", "6.1,9.9",
                                           "--resume", str(out), "--json"])
    assert r.exit_code == 0, r.output
    assert ran == [("no_kdump_panic_none", "9.9", True), ("portable_no_kdump", "6.1", False),
                   ("portable_no_kdump", "9.9", True)]
    cells = json.loads((out / "matrix.json").read_text())
    assert cells[0] == held and len(cells) == 4
    assert [(c["scenario"], c["release"]) for c in cells] == [
        ("no_kdump_panic_none", "6.1"), ("no_kdump_panic_none", "9.9"),
        ("portable_no_kdump", "6.1"), ("portable_no_kdump", "9.9")]
    assert json.loads(r.stdout) == cells
