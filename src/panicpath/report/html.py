"""`compare --html FILE`: one static HTML file, no network, no external script or style.

The matrix, the policies and every label are rendered by jinja2 with autoescaping. The
rows (one per configuration, as many as the JSON has) and the traces of failing rows are
embedded as one JSON document with every string interned once (a few MB for the default
space instead of tens), and an inline script builds the tables with `textContent` only,
so a string from a user's TOML (a callback named `<script>`) is always text, never markup.
"""

from __future__ import annotations

import json
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from panicpath.check.compare import Comparison, Row
from panicpath.check.review import Review
from panicpath.model.run import HANG_MS
from panicpath.policies import POLICIES
from panicpath.properties import PROPERTIES


class Strings:
    """A string table: each distinct string once, referenced by index."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.items: list[str] = []

    def __call__(self, s: str) -> int:
        i = self.index.get(s)
        if i is None:
            i = self.index[s] = len(self.items)
            self.items.append(s)
        return i


def _params(row: Row) -> str:
    return " ".join(f"{k}={v}" for k, v in row.scenario.params)


def _trace(row: Row, st: Strings) -> list[list[int]]:
    return [[e.t_ms if e.t_ms < HANG_MS else -1, e.cpu, st(e.event), st(e.kind), st(e.effect),
             st(e.source)] for e in row.result.trace]


def data_document(cmp: Comparison) -> dict[str, object]:
    """The embedded data: string table, properties, and per row [policy, arch, hypervisor,
    kdump, params, drivers, faults, failed properties, end, trace or null]."""
    st = Strings()
    props = list(cmp.properties)
    rows = []
    for row in cmp.rows:
        s = row.scenario
        failed = row.failed
        rows.append([
            cmp.policies.index(s.policy), st(s.arch), st(s.hypervisor), int(s.kdump),
            st(_params(row)), st(",".join(s.drivers)), st(",".join(s.faults)),
            [props.index(p) for p in failed], st(row.end),
            _trace(row, st) if failed else None,
            st(",".join(c.name for c in s.user_callbacks)),
        ])
    return {"strings": st.items, "properties": props, "policies": list(cmp.policies),
            "rows": rows}


def _script_json(doc: object) -> str:
    """JSON safe inside a <script> element: no '<', '>' or '&' survive as such."""
    text = json.dumps(doc, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def rate_colour(rate: float) -> str:
    """A cell's background on a red (0 %) - yellow - green (100 %) scale."""
    return f"hsl({round(120 * rate)}, 70%, 85%)"


def delta_text(points: float) -> tuple[str, str]:
    """(text, class) of a change in percentage points against the baseline."""
    if abs(points) < 0.05:
        return "±0", "same"
    return f"{points:+.1f}", "up" if points > 0 else "down"


def _rate(cmp: Comparison, pol: str, prop: str) -> float | None:
    cell = cmp.cells.get((pol, prop))
    if cell is None or cell.held + cell.failed == 0:
        return None
    return cell.held / (cell.held + cell.failed)


def _review_doc(cmp: Comparison, rv: Review) -> dict[str, object]:
    """The review section: per property with a change, counts, the smallest fix and break
    (the failing side's row, its why and trace)."""
    from panicpath.report.terminal import describe_scenario, why

    index = {id(r): i for i, r in enumerate(cmp.rows)}
    props = []
    for prop, c in rv.changes.items():
        if not c.fixed and not c.broken:
            continue
        examples = []
        for label, pair, side in (("fixes", c.smallest_fix, 0), ("breaks", c.smallest_break, 1)):
            if pair is None:
                continue
            row = pair[side]
            r = row.result
            examples.append({
                "label": label, "machine": describe_scenario(row.scenario).partition(" ")[2],
                "failing": row.scenario.policy, "why": why(r, prop), "row": index[id(row)],
                "other_end": pair[1 - side].result.end,
                "trace": [{"t": "never" if e.t_ms >= HANG_MS else f"{e.t_ms / 1000:.3f}s",
                           "cpu": e.cpu, "event": e.event, "effect": e.effect,
                           "source": e.source} for e in r.trace]})
        props.append({"name": prop, "fixes": len(c.fixed), "breaks": len(c.broken),
                      "examples": examples})
    buys, costs = rv.buys_and_costs()
    return {"baseline": rv.baseline, "proposal": rv.proposal, "paired": rv.paired,
            "buys": buys, "costs": costs,
            "fixes": rv.fixes, "breaks": rv.breaks, "properties": props,
            "measures": rv.measures}


def render_html(cmp: Comparison, review: Review | None = None) -> str:
    """The whole report as one HTML string; with a review (compare --baseline), each cell's
    change against the baseline beside it and the review's fixes and breaks."""
    env = Environment(loader=PackageLoader("panicpath.report", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    template = env.get_template("compare.html.j2")
    matrix = []
    for pol in cmp.policies:
        cells = []
        for prop in cmp.properties:
            cell = cmp.cells.get((pol, prop))
            rate = _rate(cmp, pol, prop)
            if cell is None or rate is None:
                cells.append({"text": "n/a", "cls": "na"})
                continue
            out = {"text": f"{cell.held}/{cell.held + cell.failed}",
                   "cls": "ok" if cell.failed == 0 else "bad",
                   "rate": f"{100 * rate:.1f}%", "rate_value": f"{rate:.4f}",
                   "colour": rate_colour(rate)}
            base = _rate(cmp, review.baseline, prop) if review is not None else None
            if review is not None and pol != review.baseline and base is not None:
                out["delta"], out["delta_cls"] = delta_text(100 * (rate - base))
            cells.append(out)
        meas = cmp.measures.get(pol, {})
        matrix.append({"policy": pol, "cells": cells,
                       "before": meas.get("max-callbacks-before-handover", 0),
                       "risky": meas.get("max-risky-operations-before-handover", 0)})
    counts = {p: 0 for p in cmp.policies}
    failing = {p: 0 for p in cmp.policies}
    for row in cmp.rows:
        counts[row.scenario.policy] += 1
        failing[row.scenario.policy] += bool(row.failed)
    policies = [{"name": p, "kind": POLICIES[p].kind, "title": POLICIES[p].title,
                 "sources": POLICIES[p].sources, "count": counts[p], "failing": failing[p],
                 "index": i} for i, p in enumerate(cmp.policies)]
    return template.render(matrix=matrix, properties=cmp.properties, policies=policies,
                           docs={p: PROPERTIES[p].doc for p in cmp.properties},
                           total=len(cmp.rows), data=_script_json(data_document(cmp)),
                           review=_review_doc(cmp, review) if review is not None else None)


def write_html(cmp: Comparison, path: str | Path, review: Review | None = None) -> None:
    """Write the report to `path`."""
    Path(path).write_text(render_html(cmp, review), encoding="utf-8")
