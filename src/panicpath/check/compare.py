"""`panicpath compare`: every policy over a configuration space, aggregated per property."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from panicpath.check.space import Space, configurations, size
from panicpath.engine import RunResult, simulate
from panicpath.model.scenario import Scenario
from panicpath.properties import PROPERTIES


@dataclass
class Cell:
    """One policy x property: how many applicable configurations hold / fail, and the
    smallest failing one."""

    held: int = 0
    failed: int = 0
    smallest: RunResult | None = None


@dataclass
class Comparison:
    """All results, and the per-policy, per-property aggregation."""

    policies: tuple[str, ...]
    properties: tuple[str, ...]
    results: list[RunResult] = field(default_factory=list)
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    measures: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """The `compare --json` document."""
        return {
            "policies": list(self.policies),
            "properties": list(self.properties),
            "results": [config_json(r) for r in self.results],
        }


def config_json(r: RunResult) -> dict[str, object]:
    """One result row of `compare --json`."""
    s = r.scenario
    return {
        "policy": s.policy,
        "config": {"arch": s.arch, "hypervisor": s.hypervisor, "kdump": s.kdump,
                   "params": dict(s.params), "drivers": list(r.drivers), "cpus": s.cpus},
        "faults": list(s.faults),
        "properties": r.properties,
        "not_applicable": sorted(k for k, v in r.applicable.items() if not v),
        "measures": r.measures,
        "end": r.end,
    }


def compare(space: Space, on_result: Callable[[RunResult], None] | None = None,
            scenarios: Iterable[Scenario] | None = None) -> Comparison:
    """Simulate every configuration and aggregate."""
    cmp = Comparison(policies=space.policies, properties=tuple(PROPERTIES))
    for scn in scenarios if scenarios is not None else configurations(space):
        r = simulate(scn)
        cmp.results.append(r)
        add(cmp, r)
        if on_result is not None:
            on_result(r)
    return cmp


def add(cmp: Comparison, r: RunResult) -> None:
    """Fold one result into the aggregation."""
    pol = r.scenario.policy
    for prop, ok in r.properties.items():
        if not r.applicable[prop]:
            continue
        cell = cmp.cells.setdefault((pol, prop), Cell())
        if ok:
            cell.held += 1
        else:
            cell.failed += 1
            if cell.smallest is None or size(r.scenario) < size(cell.smallest.scenario):
                cell.smallest = r
    meas = cmp.measures.setdefault(pol, {"max-callbacks-before-kdump": 0,
                                         "max-risky-operations-before-kdump": 0})
    if r.scenario.kdump:
        meas["max-callbacks-before-kdump"] = max(meas["max-callbacks-before-kdump"],
                                                 r.measures["callbacks-before-kdump"])
        meas["max-risky-operations-before-kdump"] = max(
            meas["max-risky-operations-before-kdump"], r.measures["risky-operations-before-kdump"])


def count(space: Space) -> int:
    """How many configurations the space holds (for the progress bar)."""
    return sum(1 for _ in configurations(space))
