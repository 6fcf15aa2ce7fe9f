"""Many scenarios, several QEMU guests at once, one conformance report.

Preparation (kernel supply, probe builds) runs first and in order, since it
shares caches; the guests then run ``jobs`` at a time, restored from snapshots
when ``snapshot`` is set (panicpath.lab.runner). The report is written
as ``campaign.json`` and a single static ``campaign.html``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2

from panicpath.lab.conformance import Conformance, Predictor, conformance
from panicpath.lab.runner import LabRun, prepare, run_prepared_async
from panicpath.lab.scenario import LabScenario


@dataclass(frozen=True)
class CampaignEntry:
    """One scenario of a campaign: its run and its comparison."""

    run: LabRun
    conformance: Conformance

    def to_json(self) -> dict[str, object]:
        r = self.run.result
        return {
            **self.conformance.to_json(),
            "status": r.status,
            "phase": r.phase,
            "detail": r.detail,
            "log": str(r.log_path),
            "duration_s": r.duration,
            "snapshot": r.snapshot,
        }


async def _run_all(scenarios: Sequence[LabScenario], jobs: int, out_dir: Path,
                   predictor: Predictor | None, done: Callable[[CampaignEntry], None],
                   snapshot: bool, tcg_threads: str) -> list[CampaignEntry]:
    side_by_side = min(jobs, len(scenarios))
    prepared = [prepare(s, out_dir / s.name, snapshot, guests=side_by_side,
                        tcg_threads=tcg_threads) for s in scenarios]
    sem = asyncio.Semaphore(jobs)

    async def one(i: int) -> CampaignEntry:
        async with sem:
            run = await run_prepared_async(prepared[i])
        entry = CampaignEntry(run, conformance(run.scenario, run.observation, predictor))
        done(entry)
        return entry

    return list(await asyncio.gather(*(one(i) for i in range(len(prepared)))))


def run_campaign(scenarios: Sequence[LabScenario], jobs: int, out_dir: Path,
                 predictor: Predictor | None,
                 done: Callable[[CampaignEntry], None] = lambda e: None,
                 snapshot: bool = True, tcg_threads: str = "auto") -> list[CampaignEntry]:
    """Run every scenario (``jobs`` guests at a time); entries in scenario order."""
    return asyncio.run(_run_all(scenarios, max(1, jobs), out_dir, predictor, done, snapshot,
                                tcg_threads))


_HTML = jinja2.Template("""<!doctype html>
<html><head><meta charset="utf-8"><title>panicpath lab campaign</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}
.agree{background:#dfd}.differ{background:#fdd}.none{background:#eee}</style></head>
<body><h1>panicpath lab: kernel vs model</h1>
<table><tr><th>scenario</th><th>run</th><th>agree</th><th>callbacks (kernel)</th>
<th>crash kernel</th><th>pvpanic</th><th>differences</th></tr>
{% for e in entries %}<tr class="{{ 'none' if e.agree is none else ('agree' if e.agree
else 'differ') }}"><td>{{ e.scenario }}</td><td>{{ e.status }} ({{ e.phase }}, {{ e.duration_s
}} s{{ ', snapshot ' ~ e.snapshot if e.snapshot != 'none' }})</td><td>{{ e.agree
}}</td><td>{{ e.observed.callbacks | map(attribute='name') | join(', ')
}}</td><td>{{ e.observed.crash_kernel_booted }}</td><td>{{ e.observed.pvpanic_event
}}</td><td>{% for d in e.differences %}{{ d.field }}: kernel {{ d.observed }}, model {{
d.predicted }}<br>{% endfor %}</td></tr>
{% endfor %}</table></body></html>
""", autoescape=True)


def write_report(entries: Sequence[CampaignEntry], out_dir: Path) -> tuple[Path, Path]:
    """Write campaign.json and campaign.html; returns their paths."""
    return write_docs([e.to_json() for e in entries], out_dir)


OK_STATUSES = ("complete", "hung", "crash-kernel-died")
"""Run statuses that produced an observation (harness.GuestResult.ok), as the report names
them: what a campaign read back from its JSON (--resume) judges its entries by."""


def entry_failed(doc: Mapping[str, object]) -> bool:
    """Whether a campaign entry (its JSON) makes the command exit 1: its run produced no
    observation, or the kernel and the model differ."""
    return doc["status"] not in OK_STATUSES or doc["agree"] is False


def write_docs(data: Sequence[Mapping[str, object]], out_dir: Path) -> tuple[Path, Path]:
    """Write campaign.json and campaign.html from the entries' JSON (some maybe read back
    by --resume); returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    js, html = out_dir / "campaign.json", out_dir / "campaign.html"
    js.write_text(json.dumps(data, indent=2) + "\n")
    html.write_text(_HTML.render(entries=data))
    return js, html
