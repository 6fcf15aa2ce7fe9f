"""`panicpath compare`: every policy over a configuration space, aggregated per property.

Each result keeps its trace only when some applicable property failed (the HTML report
drills down into those); passing results keep their properties and measures, which is
all the matrix and the JSON need, so the default space fits in memory.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace

from panicpath.catalog import DRIVERS
from panicpath.check.space import Space, configurations, size
from panicpath.engine import RunResult, simulate
from panicpath.faults import HANGING_NOTIFIER
from panicpath.model.callback import Callback
from panicpath.model.effects import RISKY_EFFECTS, RISKY_NEEDS
from panicpath.model.scenario import Scenario
from panicpath.policies import POLICIES
from panicpath.properties import PROPERTIES

NOT_CALLBACK_KINDS = frozenset({"step", "arch", "capture", "fault", "end", "hang"})
"""Trace kinds that are kernel steps, not a callback running (model/trace.py)."""


def risk_of(cb: Callback) -> tuple[str, ...]:
    """What makes a callback risky before kdump: its risky needs and effects (the same
    vocabulary as the engine's measure, model/effects.py) and its declared risks."""
    out = [str(n) for n in cb.needs if n.kind in RISKY_NEEDS]
    out += [str(e) for e in cb.effects if e.kind in RISKY_EFFECTS]
    return (*out, *cb.risky)


CATALOG: dict[str, Callback] = {c.name: c for d in DRIVERS.values() for o in (d, *d.older)
                                for c in o.callbacks}


def before_handover(r: RunResult) -> tuple[str, ...]:
    """The callbacks that ran before the jump to the capture kernel (machine_kexec), in
    order, wherever they ran: notifier lists, kmsg dumpers, helpers, crash-shutdown hooks.
    Empty when the path never handed over."""
    if r.end not in ("capture-kernel", "capture-failed", "watchdog-reset"):
        return ()
    out: list[str] = []
    for e in r.trace:
        if e.event == "machine_kexec":
            break
        if e.kind not in NOT_CALLBACK_KINDS and e.event not in out:
            out.append(e.event)
    return tuple(out)


def risky_before_handover(r: RunResult, names: Iterable[str]) -> tuple[str, ...]:
    """`callback:risk` for every risk of the named callbacks (catalog, the scenario's user
    callbacks, the hanging-callback fault's notifier)."""
    user = {c.name: c for c in r.scenario.user_callbacks}
    out: list[str] = []
    for n in names:
        cb = user.get(n) or CATALOG.get(n)
        if cb is not None:
            out += [f"{n}:{k}" for k in risk_of(cb)]
        elif n == HANGING_NOTIFIER:
            out.append(f"{n}:hang")
    return tuple(out)


@dataclass
class Cell:
    """One policy x property: how many applicable configurations hold / fail, and the
    smallest failing one."""

    held: int = 0
    failed: int = 0
    smallest: RunResult | None = None


@dataclass
class Row:
    """One result of `compare`: the run, and what ran before the handover."""

    result: RunResult
    before: tuple[str, ...]
    risky: tuple[str, ...]

    @property
    def failed(self) -> tuple[str, ...]:
        """Applicable properties that do not hold."""
        r = self.result
        return tuple(p for p, ok in r.properties.items() if r.applicable[p] and not ok)


@dataclass
class Comparison:
    """All results, and the per-policy, per-property aggregation."""

    policies: tuple[str, ...]
    properties: tuple[str, ...]
    rows: list[Row] = field(default_factory=list)
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    measures: dict[str, dict[str, int]] = field(default_factory=dict)
    before: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per policy: how many kdump configurations ran each callback before the handover."""

    @property
    def results(self) -> list[RunResult]:
        """The runs, in enumeration order."""
        return [row.result for row in self.rows]

    def to_json(self) -> dict[str, object]:
        """The `compare --json` document."""
        return {
            "policies": list(self.policies),
            "properties": list(self.properties),
            "results": [row_json(row) for row in self.rows],
        }


def config_json(r: RunResult) -> dict[str, object]:
    """One result row of `compare --json` (kept for callers of the earlier name)."""
    return row_json(Row(r, before_handover(r), ()))


def row_json(row: Row) -> dict[str, object]:
    """One result row: policy, config, faults, properties (name -> bool; a property that
    does not apply counts as holding and is also listed in not_applicable), measures."""
    r = row.result
    s = r.scenario
    return {
        "policy": s.policy,
        "config": {"arch": s.arch, "hypervisor": s.hypervisor, "kdump": s.kdump,
                   "params": dict(s.params), "optional_drivers": list(s.drivers),
                   "drivers": list(r.drivers), "cpus": s.cpus,
                   "user_callbacks": [c.name for c in s.user_callbacks],
                   "placements": [list(o) for o in s.overrides]},
        "faults": list(s.faults),
        "properties": r.properties,
        "not_applicable": sorted(k for k, v in r.applicable.items() if not v),
        "measures": {**r.measures, "callbacks-before-handover": len(row.before),
                     "risky-operations-before-handover": len(row.risky)},
        "before_handover": list(row.before),
        "end": r.end,
    }


def evaluate(scn: Scenario) -> Row:
    """Simulate one configuration; keep its trace only if a property failed."""
    r = simulate(scn)
    before = before_handover(r)
    row = Row(r, before, risky_before_handover(r, before))
    if not row.failed:
        row.result = replace(r, trace=(), console=())
    return row


def _evaluate_chunk(chunk: list[Scenario]) -> list[Row]:
    return [evaluate(scn) for scn in chunk]


CHUNK = 400
"""Configurations per task sent to a worker process."""


def default_workers() -> int:
    """One worker per CPU this process may use (the benchmark machine has 2)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def _rows(scenarios: Iterable[Scenario], workers: int) -> Iterator[Row]:
    if workers <= 1:
        yield from map(evaluate, scenarios)
        return
    items = list(scenarios)
    if len(items) < 2 * CHUNK:
        yield from map(evaluate, items)
        return
    chunks = [items[i:i + CHUNK] for i in range(0, len(items), CHUNK)]
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        for rows in pool.map(_evaluate_chunk, chunks):
            yield from rows


def compare(space: Space, on_result: Callable[[RunResult], None] | None = None,
            scenarios: Iterable[Scenario] | None = None,
            workers: int | None = None) -> Comparison:
    """Simulate every configuration (in `workers` processes; default: one per CPU) and
    aggregate in enumeration order, so the result does not depend on the worker count."""
    cmp = Comparison(policies=space.policies, properties=tuple(PROPERTIES))
    todo = scenarios if scenarios is not None else configurations(space)
    for row in _rows(todo, default_workers() if workers is None else workers):
        cmp.rows.append(row)
        add(cmp, row)
        if on_result is not None:
            on_result(row.result)
    return cmp


def add(cmp: Comparison, row: Row | RunResult) -> None:
    """Fold one result into the aggregation."""
    if isinstance(row, RunResult):
        row = Row(row, before_handover(row), ())
    r = row.result
    pol = r.scenario.policy
    for prop, ok in r.properties.items():
        if not r.applicable[prop]:
            continue
        cell = cmp.cells.setdefault((pol, prop), Cell())
        if ok:
            cell.held += 1
        else:
            cell.failed += 1
            if cell.smallest is None or _smaller(r, cell.smallest):
                cell.smallest = r
    meas = cmp.measures.setdefault(pol, {"max-callbacks-before-kdump": 0,
                                         "max-risky-operations-before-kdump": 0,
                                         "max-callbacks-before-handover": 0,
                                         "max-risky-operations-before-handover": 0})
    if r.scenario.kdump:
        for name, value in (("callbacks-before-kdump", r.measures["callbacks-before-kdump"]),
                            ("risky-operations-before-kdump",
                             r.measures["risky-operations-before-kdump"]),
                            ("callbacks-before-handover", len(row.before)),
                            ("risky-operations-before-handover", len(row.risky))):
            meas[f"max-{name}"] = max(meas[f"max-{name}"], value)
        seen = cmp.before.setdefault(pol, {})
        for n in row.before:
            seen[n] = seen.get(n, 0) + 1


def _smaller(a: RunResult, b: RunResult) -> bool:
    """Smallest configuration first; ties keep the earlier one (enumeration order)."""
    return size(a.scenario) < size(b.scenario)


def count(space: Space) -> int:
    """How many configurations the space holds (for the progress bar)."""
    return sum(1 for _ in configurations(space))


def default_space() -> Space:
    """Every policy over the default configuration space."""
    return Space(policies=tuple(POLICIES))
