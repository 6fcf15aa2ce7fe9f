"""Every scenario on every (release, arch) cell it applies to: the lab across kernels.

A cell is a scenario moved to one kernel series and architecture (scenario.with_kernel).
It does not apply when the archive carries no such kernel, when the scenario asks for
what that machine cannot do (qemu.machine_problems: an NMI trigger off x86_64, pvpanic
where Debian's kernel has no driver), or when preparing it fails for a reason that is the
cell's, not the harness's (a LabSetupError or ScenarioError from runner.prepare); each
such cell keeps its reason. The cells that apply are prepared in order (they share caches),
then run ``jobs`` guests at a time; each is compared with the model predicting that
kernel (panicpath.lab.predict).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2

from panicpath.lab.archive import LabSetupError
from panicpath.lab.campaign import CampaignEntry
from panicpath.lab.conformance import Predictor, conformance
from panicpath.lab.qemu import MACHINES, machine_problems
from panicpath.lab.runner import Prepared, prepare, run_prepared_async
from panicpath.lab.scenario import ARCHES, LabScenario, ScenarioError, with_kernel


@dataclass(frozen=True)
class Cell:
    """One scenario on one kernel: whether it applies (and why not), and its result."""

    scenario: str
    release: str
    arch: str
    reason: str = ""
    """Why the cell does not apply (empty: it applies)."""
    entry: CampaignEntry | None = None

    @property
    def status(self) -> str:
        """n/a, agree, differ, or the run's failure status."""
        if self.reason:
            return "n/a"
        if self.entry is None:
            return "planned"
        if not self.entry.run.result.ok:
            return self.entry.run.result.status
        return {None: "no model", True: "agree", False: "differ"}[self.entry.conformance.agree]

    def to_json(self) -> dict[str, object]:
        doc: dict[str, object] = {"scenario": self.scenario, "release": self.release,
                                  "arch": self.arch}
        if self.entry is not None:
            doc.update(self.entry.to_json())
            doc["run_status"] = doc.pop("status")
        doc["status"] = self.status
        if self.reason:
            doc["reason"] = self.reason
        return doc


def not_applicable(sc: LabScenario, carried: frozenset[tuple[str, str]]) -> str:
    """Why `sc` (already moved to its cell's kernel) cannot run, known before anything is
    downloaded: the archive does not carry that kernel, or the machine lacks what the
    scenario needs (qemu.machine_problems: an NMI trigger off x86_64, pvpanic or ramoops
    where the arch has none). Empty when nothing is known against it."""
    if (sc.release, sc.arch) not in carried:
        return f"the archive carries no {sc.release} kernel for {sc.arch}"
    return "; ".join(machine_problems(sc, MACHINES[sc.arch]))


def plan(scenarios: Sequence[LabScenario], releases: Sequence[str], arches: Sequence[str],
         carried: frozenset[tuple[str, str]]) -> list[tuple[LabScenario, str]]:
    """Every (scenario, release, arch) cell in scenario, release, arch order, each with the
    reason it does not apply (empty when it does)."""
    out = []
    for sc in scenarios:
        for release in releases:
            for arch in arches:
                moved = with_kernel(sc, release, arch)
                out.append((moved, not_applicable(moved, carried)))
    return out


def _cell(sc: LabScenario, reason: str = "", entry: CampaignEntry | None = None) -> Cell:
    return Cell(sc.name, sc.release, sc.arch, reason, entry)


async def _run_cells(cells: list[tuple[LabScenario, str]], jobs: int, out_dir: Path,
                     predictor: Predictor | None, done: Callable[[Cell], None],
                     snapshot: bool, tcg_threads: str) -> list[Cell]:
    results: list[Cell | None] = [None] * len(cells)
    ready: list[tuple[int, Prepared]] = []
    runnable = sum(1 for _, reason in cells if not reason)
    for i, (sc, reason) in enumerate(cells):
        if not reason:
            try:
                ready.append((i, prepare(sc, out_dir / f"{sc.name}-{sc.release}-{sc.arch}",
                                         snapshot, guests=min(jobs, runnable),
                                         tcg_threads=tcg_threads)))
                continue
            except (LabSetupError, ScenarioError) as e:
                reason = str(e)
        results[i] = _cell(sc, reason)
        done(results[i])  # type: ignore[arg-type]
    sem = asyncio.Semaphore(jobs)

    async def one(i: int, prep: Prepared) -> None:
        async with sem:
            run = await run_prepared_async(prep)
        entry = CampaignEntry(run, conformance(run.scenario, run.observation, predictor))
        results[i] = _cell(run.scenario, "", entry)
        done(results[i])  # type: ignore[arg-type]

    await asyncio.gather(*(one(i, p) for i, p in ready))
    return [c for c in results if c is not None]


def run_matrix(cells: list[tuple[LabScenario, str]], jobs: int, out_dir: Path,
               predictor: Predictor | None, done: Callable[[Cell], None] = lambda c: None,
               snapshot: bool = True, tcg_threads: str = "auto") -> list[Cell]:
    """Run every applicable cell (``jobs`` guests at a time); cells in plan order."""
    return asyncio.run(_run_cells(cells, max(1, jobs), out_dir, predictor, done, snapshot,
                                  tcg_threads))


_HTML = jinja2.Environment(
    loader=jinja2.PackageLoader("panicpath.lab", "templates"), autoescape=True,
).get_template("matrix.html.j2")


def write_report(cells: Sequence[Cell], out_dir: Path,
                 html_path: Path | None = None) -> tuple[Path, Path]:
    """Write matrix.json and the HTML page (matrix.html, or `html_path`)."""
    return write_docs([c.to_json() for c in cells], out_dir, html_path)


def write_docs(data: Sequence[Mapping[str, object]], out_dir: Path,
               html_path: Path | None = None) -> tuple[Path, Path]:
    """`write_report` from the cells' JSON (some maybe read back by --resume)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    js = out_dir / "matrix.json"
    js.write_text(json.dumps(list(data), indent=2) + "\n")
    html = html_path or out_dir / "matrix.html"
    scenarios = list(dict.fromkeys(str(d["scenario"]) for d in data))
    columns = list(dict.fromkeys((str(d["release"]), str(d["arch"])) for d in data))
    by_key = {(str(d["scenario"]), str(d["release"]), str(d["arch"])): d for d in data}
    counts = {s: sum(1 for d in data if d["status"] == s) for s in ("agree", "differ", "n/a")}
    html.write_text(_HTML.render(scenarios=scenarios, columns=columns, cells=by_key,
                                 counts=counts, total=len(data)))
    return js, html


__all__ = ["ARCHES", "Cell", "not_applicable", "plan", "run_matrix", "write_docs",
           "write_report"]
