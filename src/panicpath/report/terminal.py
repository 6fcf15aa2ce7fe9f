"""Terminal rendering with rich: a run's trace, vocabularies, the compare matrix."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from panicpath.check.compare import Comparison
from panicpath.check.review import Review
from panicpath.engine import RunResult
from panicpath.model.run import HANG_MS
from panicpath.model.scenario import Scenario


def describe(r: RunResult) -> str:
    """One-line description of a configuration."""
    return describe_scenario(r.scenario)


def describe_scenario(s: Scenario) -> str:
    """One-line description of a scenario."""
    params = " ".join(f"{k}={v}" for k, v in s.params
                      if v not in ("0", "") or k == "panic_notifiers_level")
    bits = [s.policy, s.arch, f"hv={s.hypervisor}", "kdump" if s.kdump else "no-kdump"]
    if params:
        bits.append(params)
    extra = [d for d in s.drivers]
    if extra:
        bits.append("drivers=" + ",".join(extra))
    if s.faults:
        bits.append("faults=" + ",".join(s.faults))
    return " ".join(bits)


def _t(ms: int) -> str:
    return "never" if ms >= HANG_MS else f"{ms / 1000:.3f}s"


def render_run(r: RunResult, console: Console) -> None:
    """The trace step by step (time, CPU, step, effect, source), then the properties."""
    console.print(Text(describe(r), style="bold"))
    t = Table(show_header=True, header_style="bold", expand=False)
    for col in ("time", "cpu", "step", "kind", "effect", "source"):
        t.add_column(col, overflow="fold")
    for e in r.trace:
        style = "red" if e.kind == "hang" or "FAILED" in e.effect else None
        t.add_row(_t(e.t_ms), str(e.cpu), e.event, e.kind, e.effect, e.source, style=style)
    console.print(t)
    console.print(f"ended: [bold]{r.end}[/bold] ({r.end_reason})")
    p = Table(show_header=True, header_style="bold")
    p.add_column("property")
    p.add_column("holds")
    for name, ok in r.properties.items():
        if not r.applicable[name]:
            p.add_row(name, "[dim]n/a[/dim]")
        else:
            p.add_row(name, "[green]yes[/green]" if ok else "[red]NO[/red]")
    for name, v in r.measures.items():
        p.add_row(name, str(v))
    console.print(p)


def render_comparison(cmp: Comparison, console: Console) -> None:
    """Policy x property matrix of held/total over applicable configurations, then the
    smallest failing configuration of each failing cell."""
    t = Table(title="panicpath compare: configurations holding / applicable", header_style="bold")
    t.add_column("policy")
    short = {p: p.replace("vmcore-", "vmcore\n").replace("-", "-\n", 1) for p in cmp.properties}
    for p in cmp.properties:
        t.add_column(short[p], justify="right")
    t.add_column("max callbacks\nbefore handover", justify="right")
    t.add_column("max risky ops\nbefore handover", justify="right")
    for pol in cmp.policies:
        row = [pol]
        for prop in cmp.properties:
            cell = cmp.cells.get((pol, prop))
            if cell is None:
                row.append("[dim]n/a[/dim]")
                continue
            total = cell.held + cell.failed
            style = "green" if cell.failed == 0 else "red"
            row.append(f"[{style}]{cell.held}/{total}[/{style}]")
        meas = cmp.measures.get(pol, {})
        row.append(str(meas.get("max-callbacks-before-handover", 0)))
        row.append(str(meas.get("max-risky-operations-before-handover", 0)))
        t.add_row(*row)
    console.print(t)
    console.print(Text("Smallest failing configuration per policy and property:", style="bold"))
    for pol in cmp.policies:
        for prop in cmp.properties:
            cell = cmp.cells.get((pol, prop))
            if cell is None or cell.smallest is None:
                continue
            r = cell.smallest.result
            because = why(r, prop)
            console.print(f"  [red]{pol}[/red] {prop}: {describe(r)}  [dim]-> {because}[/dim]",
                          highlight=False)


WHY_KEYWORDS: dict[str, tuple[str, ...]] = {
    "vmcore-complete": ("NOT saved", "did not answer", "parked"),
    "vmcore-intact": ("memory changing",),
    "host-informed": ("FAILED", "skipped", "no return", "hang"),
    "fb-shows-panic": ("FAILED",),
    "console-shows-panic": ("NMI", "deferred"),
}
"""Which trace lines explain a failure of each property best (report wording only)."""


def why(r: RunResult, prop: str) -> str:
    """The trace line that best explains a failure: one matching the property's keywords,
    else the last hang / failed / capture line, else how the path ended."""
    for e in r.trace:
        if any(k in e.effect for k in WHY_KEYWORDS.get(prop, ())):
            return f"{e.event}: {e.effect}"
    for e in reversed(r.trace):
        if e.kind in ("hang", "capture") or "FAILED" in e.effect:
            return f"{e.event}: {e.effect}"
    return f"ended {r.end}: {r.end_reason}"


def render_review(rv: Review, console: Console) -> None:
    """`compare --baseline`: per property, how many configurations the proposal fixes and
    breaks against the base, then the smallest of each with the trace that explains it."""
    t = Table(title=f"review: {rv.proposal} against {rv.baseline} ({rv.paired} configurations"
                    " paired)", header_style="bold")
    for col in ("property", "fixes", "breaks", "smallest fix", "smallest break"):
        t.add_column(col, justify="right" if col in ("fixes", "breaks") else "left",
                     overflow="fold")
    for prop, c in rv.changes.items():
        if not c.fixed and not c.broken:
            continue
        fx, br = c.smallest_fix, c.smallest_break
        t.add_row(prop, f"[green]+{len(c.fixed)}[/green]" if c.fixed else "0",
                  f"[red]-{len(c.broken)}[/red]" if c.broken else "0",
                  _machine(fx[1].scenario) if fx else "-",
                  _machine(br[1].scenario) if br else "-")
    for k, v in rv.measures.items():
        t.add_row(k, "", "", f"{rv.baseline}: {v['baseline']}", f"{rv.proposal}: {v['proposal']}")
    console.print(t)
    buys, costs = rv.buys_and_costs()
    console.print(f"[green]buys[/green]: {', '.join(f'{p} +{n}' for p, n in buys) or 'nothing'}"
                  f"; [red]costs[/red]: {', '.join(f'{p} -{n}' for p, n in costs) or 'nothing'}"
                  f" (configurations, of {rv.paired})", highlight=False)
    if not rv.fixes and not rv.breaks:
        console.print(f"{rv.proposal} fixes and breaks nothing against {rv.baseline} here.")
    for prop, c in rv.changes.items():
        for label, pair, side in (("fixes", c.smallest_fix, 0), ("breaks", c.smallest_break, 1)):
            if pair is None:
                continue
            row = pair[side]
            r = row.result
            style = "green" if label == "fixes" else "red"
            console.print(f"[{style}]{rv.proposal} {label} {prop}[/{style}] "
                          f"({len(c.fixed if label == 'fixes' else c.broken)}), smallest: "
                          f"{_machine(row.scenario)}", highlight=False)
            console.print(f"  {rv.baseline if side == 0 else rv.proposal} fails it: "
                          f"{why(r, prop)}", highlight=False, markup=False)
            other = pair[1 - side].result
            console.print(f"  {rv.proposal if side == 0 else rv.baseline} holds it: ended "
                          f"{other.end}", highlight=False, markup=False)
            for e in r.trace:
                console.print(f"    {_t(e.t_ms):>8} cpu{e.cpu} {e.event}: {e.effect}",
                              highlight=False, markup=False, style="dim")


def _machine(s: Scenario) -> str:
    """describe_scenario without the policy."""
    return describe_scenario(s).partition(" ")[2]
