"""`panicpath compare`: every policy over a configuration space, aggregated per property.

A row keeps the configuration, its properties and measures, and the callbacks that ran
before the handover; that is all the matrix and the JSON need, it pickles cheaply from
worker processes, and the default space fits in memory. The full run (trace) of a row
is simulated again when a report needs it (the engine is deterministic).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

from panicpath.catalog import DRIVERS
from panicpath.check.space import Space, configurations, size
from panicpath.engine import RunResult, simulate
from panicpath.faults import HANGING_NOTIFIER
from panicpath.model.callback import Callback
from panicpath.model.effects import RISKY_EFFECTS, RISKY_NEEDS
from panicpath.model.scenario import Scenario
from panicpath.policies import POLICIES
from panicpath.properties import MEASURES, PROPERTIES

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
    smallest: Row | None = None


@dataclass
class Row:
    """One result of `compare`: the configuration, its properties and measures, and what ran
    before the handover. The full run (trace included) is recomputed on demand: the
    engine is deterministic, so `result` is the run that produced this row."""

    scenario: Scenario
    properties: dict[str, bool]
    applicable: dict[str, bool]
    measures: dict[str, int]
    end: str
    drivers: tuple[str, ...]
    before: tuple[str, ...]
    risky: tuple[str, ...]
    _result: RunResult | None = field(default=None, repr=False, compare=False)

    @property
    def failed(self) -> tuple[str, ...]:
        """Applicable properties that do not hold."""
        return tuple(p for p, ok in self.properties.items() if self.applicable[p] and not ok)

    @property
    def result(self) -> RunResult:
        """The full run, simulated again on first use."""
        if self._result is None:
            self._result = simulate(self.scenario)
        return self._result


@dataclass
class Comparison:
    """All results, and the per-policy, per-property aggregation."""

    policies: tuple[str, ...]
    properties: tuple[str, ...]
    rows: list[Row] = field(default_factory=list)
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    measures: dict[str, dict[str, int]] = field(default_factory=dict)
    before: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per policy: in how many kdump configurations each callback ran before the handover."""
    kdump_configs: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """The `compare --json` document."""
        return {
            "policies": list(self.policies),
            "properties": list(self.properties),
            "results": [row_json(row) for row in self.rows],
        }


def row_json(row: Row) -> dict[str, object]:
    """One result row: policy, config, faults, properties (name -> bool, or null for a
    property that does not apply to the configuration, which not_applicable lists too),
    measures."""
    s = row.scenario
    return {
        "policy": s.policy,
        "config": {"arch": s.arch, "hypervisor": s.hypervisor, "kdump": s.kdump,
                   "params": dict(s.params), "optional_drivers": list(s.drivers),
                   "drivers": list(row.drivers), "cpus": s.cpus,
                   "user_callbacks": [c.name for c in s.user_callbacks],
                   "placements": [list(o) for o in s.overrides]},
        "faults": list(s.faults),
        "properties": {k: v if row.applicable[k] else None for k, v in row.properties.items()},
        "not_applicable": sorted(k for k, v in row.applicable.items() if not v),
        "measures": {**row.measures, "callbacks-before-handover": len(row.before),
                     "risky-operations-before-handover": len(row.risky)},
        "before_handover": list(row.before),
        "end": row.end,
    }


Compact = tuple[tuple[bool, ...], tuple[bool, ...], tuple[int, ...], str, tuple[str, ...],
                tuple[str, ...], tuple[str, ...]]
"""What a worker sends back for one configuration (cheap to pickle)."""
_PROPS = tuple(PROPERTIES)
_MEASURES = MEASURES


def _compact(scn: Scenario) -> Compact:
    r = simulate(scn)
    before = before_handover(r)
    return (tuple(r.properties[p] for p in _PROPS), tuple(r.applicable[p] for p in _PROPS),
            tuple(r.measures[m] for m in _MEASURES), r.end, r.drivers, before,
            risky_before_handover(r, before))


def _row(scn: Scenario, c: Compact) -> Row:
    props, appl, meas, end, drivers, before, risky = c
    return Row(scn, dict(zip(_PROPS, props, strict=True)), dict(zip(_PROPS, appl, strict=True)),
               dict(zip(_MEASURES, meas, strict=True)), end, drivers, before, risky)


def evaluate(scn: Scenario) -> Row:
    """Simulate one configuration into a row."""
    return _row(scn, _compact(scn))


def _evaluate_chunk(chunk: list[Scenario]) -> list[Compact]:
    return [_compact(scn) for scn in chunk]


CHUNK = 500
"""Configurations per task sent to a worker process."""


def default_workers() -> int:
    """One worker per CPU this process may use (the benchmark machine has 2)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def _chunks(items: list[Scenario]) -> list[list[Scenario]]:
    return [items[i:i + CHUNK] for i in range(0, len(items), CHUNK)]


def _rows(scenarios: Iterable[Scenario], workers: int, ray: bool = False) -> Iterator[Row]:
    items = list(scenarios)
    if ray:
        from panicpath.check.cluster import map_chunks

        chunks = _chunks(items)
        for chunk, compacts in zip(chunks, map_chunks(_evaluate_chunk, chunks), strict=True):
            for scn, c in zip(chunk, compacts, strict=True):
                yield _row(scn, c)
        return
    if workers <= 1 or len(items) < 2 * CHUNK:
        yield from map(evaluate, items)
        return
    chunks = _chunks(items)
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        for chunk, compacts in zip(chunks, pool.map(_evaluate_chunk, chunks), strict=True):
            for scn, c in zip(chunk, compacts, strict=True):
                yield _row(scn, c)


def compare(space: Space, on_result: Callable[[Row], None] | None = None,
            scenarios: Iterable[Scenario] | None = None,
            workers: int | None = None, ray: str | None = None) -> Comparison:
    """Simulate every configuration (in `workers` processes; default: one per CPU; or, with
    `ray` (an address, or cluster.LOCAL), one Ray task per chunk of configurations) and
    aggregate in enumeration order, so the result does not depend on where it ran."""
    cmp = Comparison(policies=space.policies, properties=tuple(PROPERTIES))
    todo = scenarios if scenarios is not None else configurations(space)
    with _ray_session(ray):
        for row in _rows(todo, default_workers() if workers is None else workers,
                         ray is not None):
            cmp.rows.append(row)
            add(cmp, row)
            if on_result is not None:
                on_result(row)
    return cmp


def _ray_session(ray: str | None) -> AbstractContextManager[None]:
    if ray is None:
        return nullcontext()
    from panicpath.check.cluster import session

    return session(ray)


def add(cmp: Comparison, row: Row) -> None:
    """Fold one row into the aggregation."""
    pol = row.scenario.policy
    for prop, ok in row.properties.items():
        if not row.applicable[prop]:
            continue
        cell = cmp.cells.setdefault((pol, prop), Cell())
        if ok:
            cell.held += 1
        else:
            cell.failed += 1
            if cell.smallest is None or size(row.scenario) < size(cell.smallest.scenario):
                cell.smallest = row
    meas = cmp.measures.setdefault(pol, {"max-callbacks-before-kdump": 0,
                                         "max-risky-operations-before-kdump": 0,
                                         "max-callbacks-before-handover": 0,
                                         "max-risky-operations-before-handover": 0})
    if row.scenario.kdump:
        for name, value in (("callbacks-before-kdump", row.measures["callbacks-before-kdump"]),
                            ("risky-operations-before-kdump",
                             row.measures["risky-operations-before-kdump"]),
                            ("callbacks-before-handover", len(row.before)),
                            ("risky-operations-before-handover", len(row.risky))):
            meas[f"max-{name}"] = max(meas[f"max-{name}"], value)
        cmp.kdump_configs[pol] = cmp.kdump_configs.get(pol, 0) + 1
        seen = cmp.before.setdefault(pol, {})
        for n in row.before:
            seen[n] = seen.get(n, 0) + 1


def count(space: Space) -> int:
    """How many configurations the space holds (for the progress bar)."""
    return sum(1 for _ in configurations(space))


def default_space() -> Space:
    """Every policy over the default configuration space."""
    return Space(policies=tuple(POLICIES))
