"""docs/answers.md is generated (`panicpath answers`) and must not be stale; its tables say
what the seeds' claims say (checked here, where the verdicts belong)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from panicpath.cli import main
from panicpath.report.answers import render_answers

ANSWERS = Path(__file__).resolve().parents[2] / "docs" / "answers.md"


@pytest.fixture(scope="module")
def generated() -> str:
    return render_answers()


def test_committed_answers_are_not_stale(generated: str) -> None:
    """Regenerate with `panicpath answers` when the model changes."""
    assert ANSWERS.read_text(encoding="utf-8") == generated


def _row(text: str, section: str, policy: str) -> list[str]:
    part = text.split(section, 1)[1].split("\n## ", 1)[0]
    line = next(ln for ln in part.splitlines() if ln.startswith(f"| {policy} |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_answers_agree_with_the_seeds(generated: str) -> None:
    """Seed 004 (Kelley): the series as posted leaves arm64 without its disk and puts
    hyperv_fb after kdump; seed 001 (Rutland): the capture kernel does the reset."""
    arm = _row(generated, "## 2.", "piccoli-levels")
    assert arm[1].startswith("0/")
    rut = _row(generated, "## 2.", "rutland-defer")
    assert rut[1] == "16/16" and "capture kernel" in rut[4]
    fb = _row(generated, "## 4.", "piccoli-levels")
    assert fb[1].startswith("panic_pre_reboot_list") and fb[2] != fb[3]
    bied = _row(generated, "## 3.", "biederman")
    assert "hyperv-vmbus-unload" not in bied[2]


def test_answers_check_command(tmp_path: Path, generated: str) -> None:
    stale = tmp_path / "answers.md"
    stale.write_text("old\n")
    r = CliRunner().invoke(main, ["answers", "--check", "--output", str(stale)])
    assert r.exit_code == 1 and "stale" in r.stderr
    stale.write_text(generated)
    r = CliRunner().invoke(main, ["answers", "--check", "--output", str(stale)])
    assert r.exit_code == 0
