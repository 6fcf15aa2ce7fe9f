"""Paths a command writes to are checked when the option is parsed, before any work: one
line, exit 2, never a traceback after the run (check --trace-out into a missing directory
was one)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from panicpath.cli import main
from panicpath.outputs import output_dir_problem, output_file_problem


def test_output_file_and_dir_problems(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    assert output_file_problem(tmp_path / "new.json") is None
    assert output_file_problem(f) is None
    assert output_file_problem(tmp_path) == "is a directory; valid: a file name"
    assert "no directory" in (output_file_problem(tmp_path / "no" / "x.json") or "")
    assert "is not a directory" in (output_file_problem(f / "x.json") or "")
    assert output_dir_problem(tmp_path / "a" / "b") is None
    assert output_dir_problem(tmp_path) is None
    assert f"{f} is a file" in (output_dir_problem(f) or "")
    assert f"{f} is a file" in (output_dir_problem(f / "sub" / "dir") or "")


@pytest.mark.parametrize("args", [
    ["check", "--policy", "linux-3.16", "--property", "vmcore-complete", "--arch", "x86_64",
     "--trace-out", "{missing}/cx.json"],
    ["check", "--policy", "linux-3.16", "--property", "vmcore-complete", "--arch", "x86_64",
     "--trace-out", "{file}/cx.json"],
    ["compare", "--policy", "linux-3.11", "--arch", "s390", "--no-faults", "--html",
     "{missing}/m.html"],
    ["export", "promela", "--policy", "linux-6.1", "--property", "vmcore-captured", "-o",
     "{missing}/m.pml"],
    ["policies", "--dump", "linux-6.1", "-o", "{file}/p.toml"],
    ["scan", "{tmp}", "--policy-out", "{missing}/p.toml"],
    ["lab", "run", "{lab}", "--dry-run", "--out", "{file}"],
    ["lab", "run", "{lab}", "--dry-run", "--out", "{file}/sub"],
    ["lab", "matrix", "{tmp}", "--dry-run", "--html", "{missing}/m.html"],
])
def test_an_output_that_cannot_be_written_is_refused_before_the_work(
        tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "s.toml").write_text('name = "s"\n')
    fill = {"missing": str(tmp_path / "missing"), "file": str(tmp_path / "file"),
            "tmp": str(tmp_path), "lab": str(tmp_path / "s.toml")}
    argv = [a.format(**fill) for a in args]
    r = CliRunner().invoke(main, argv)
    assert r.exit_code == 2, (argv, r.output)
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Invalid value for" in lines[0], r.stderr
    assert "Traceback" not in r.output
