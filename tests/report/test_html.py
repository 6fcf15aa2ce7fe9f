"""The static HTML report: one file, no network, every user string escaped; checked in a
real headless Chromium (marked `chromium`; runs wherever /usr/bin/chromium exists, which
scripts/install-deps.sh installs for CI)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from panicpath.check.compare import Comparison, compare
from panicpath.check.space import Space
from panicpath.model.callback import Callback, Effect
from panicpath.report.html import render_html, write_html
from tests.report import chromium

EVIL = '<script>alert("x")</script>&amp;'
SPACE = Space(policies=("linux-6.1", "piccoli-levels"), arches=("arm64", "x86_64"),
              hypervisors=("hyperv",), kdump=(True,),
              faults=((), ("slow-host",)),
              user_callbacks=(Callback(name=EVIL, list="panic_notifier_list", priority=3,
                                       order=100, effects=(Effect("print", EVIL),)),))


@pytest.fixture(scope="module")
def cmp() -> Comparison:
    return compare(SPACE, workers=1)


@pytest.fixture(scope="module")
def report(cmp: Comparison, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html") / "report.html"
    write_html(cmp, out)
    return out


def test_single_file_no_external_resources(report: Path) -> None:
    html = report.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:|//)""", html)
    assert "<link" not in html and "@import" not in html
    assert "default-src 'none'" in html


def test_user_strings_are_never_markup(report: Path) -> None:
    """A callback named `<script>...` (from a user's TOML) appears only escaped: the page
    holds exactly its own two script elements."""
    html = report.read_text()
    assert "<script>alert" not in html
    assert html.count("<script") == 2
    assert "\\u003cscript\\u003ealert" in html


def test_embedded_rows_match_the_comparison(cmp: Comparison) -> None:
    html = render_html(cmp)
    blob = html.split('<script id="data" type="application/json">', 1)[1].split("</script>", 1)[0]
    doc = json.loads(blob)
    assert len(doc["rows"]) == len(cmp.rows)
    failing = [r for r in doc["rows"] if r[9] is not None]
    assert len(failing) == sum(1 for r in cmp.rows if r.failed)
    sources = {doc["strings"][e[5]] for r in failing for e in r[9]}
    assert any("drivers/hv/" in s for s in sources)


@pytest.mark.chromium
def test_chromium_detects_console_errors_in_a_control_page(tmp_path: Path) -> None:
    """The harness itself: a page that throws is reported (so silence below means something)."""
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>null.x;</script></body></html>")
    page = chromium.load(bad)
    assert any("Uncaught TypeError" in line for line in page.console)


@pytest.mark.chromium
def test_chromium_loads_the_report(report: Path, cmp: Comparison, tmp_path: Path) -> None:
    """No console message, as many result rows as the JSON, the evil name shown as text,
    and a screenshot."""
    page = chromium.load(report)
    assert page.console == ()
    assert f'data-rows="{len(cmp.to_json()["results"])}"' in page.dom  # type: ignore[arg-type]
    assert len(re.findall(r'<tr class="result[ "]', page.dom)) == len(cmp.rows)
    assert 'data-errors="0"' in page.dom
    assert "&lt;script&gt;alert(\"x\")&lt;/script&gt;&amp;amp;" in page.dom
    assert "<script>alert" not in page.dom
    shot = tmp_path / "shot.png"
    chromium.screenshot(report, shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5000


@pytest.mark.chromium
def test_chromium_drill_down_shows_the_trace_with_sources(report: Path, cmp: Comparison) -> None:
    """Opening a failing row (#rN) builds its trace table: every step with its citation."""
    i = next(i for i, r in enumerate(cmp.rows)
             if r.scenario.policy == "piccoli-levels" and "dump-target-reachable" in r.failed)
    page = chromium.load(report, f"r{i}")
    assert page.console == ()
    trace = page.dom.split('class="trace-row"', 1)[1].split("</table>", 1)[0]
    assert "capture-kernel" in trace and "kdump capture kernel (makedumpfile)" in trace
    assert "kernel/panic.c" in trace
