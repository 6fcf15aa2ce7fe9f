"""`compare --baseline BASE`: what a proposal fixes and what it breaks against its base.

Both policies run over the same configurations (`compare`'s space). Configurations are
paired by machine (architecture, hypervisor, drivers, crash kernel, boot parameters, CPUs,
faults); per property, a configuration is **fixed** when the property fails (applies and
does not hold) under the base and does not fail under the proposal, and **broken** the
other way round. The smallest of each (fewest faults, then fewest drivers, then fewest
boot parameters changed, kdump first: check.space.size) is shown with the trace that
explains it: the base's for a fix (what went wrong), the proposal's for a break.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from panicpath.check.compare import Comparison, Row, row_json
from panicpath.check.space import size
from panicpath.model.scenario import Scenario

MEASURE_KEYS = ("max-callbacks-before-handover", "max-risky-operations-before-handover")


def machine_key(s: Scenario) -> tuple[object, ...]:
    """What pairs a base configuration with the proposal's: everything but the policy, the
    user callbacks and the placements (a tree's own drivers and where it registers the
    catalog's belong to the change under review)."""
    return (s.arch, s.hypervisor, s.kdump, s.params, s.drivers, s.faults, s.cpus,
            s.host_panic_action)


def fails(row: Row, prop: str) -> bool:
    """The property applies and does not hold."""
    return row.applicable[prop] and not row.properties[prop]


@dataclass
class Change:
    """One property: the configurations fixed and broken, as (base row, proposal row)."""

    prop: str
    fixed: list[tuple[Row, Row]] = field(default_factory=list)
    broken: list[tuple[Row, Row]] = field(default_factory=list)

    @staticmethod
    def _smallest(pairs: list[tuple[Row, Row]]) -> tuple[Row, Row] | None:
        best = None
        for pair in pairs:  # enumeration order breaks ties
            if best is None or size(pair[1].scenario) < size(best[1].scenario):
                best = pair
        return best

    @property
    def smallest_fix(self) -> tuple[Row, Row] | None:
        return self._smallest(self.fixed)

    @property
    def smallest_break(self) -> tuple[Row, Row] | None:
        return self._smallest(self.broken)


@dataclass
class Review:
    """A proposal against its base over the paired configurations."""

    baseline: str
    proposal: str
    paired: int
    changes: dict[str, Change]
    measures: dict[str, dict[str, int]]
    unpaired: int = 0

    def buys_and_costs(self) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
        """(property, configurations fixed) and (property, configurations broken), most
        first: what the proposal buys and what it costs, at a glance."""
        buys = sorted(((p, len(c.fixed)) for p, c in self.changes.items() if c.fixed),
                      key=lambda t: -t[1])
        costs = sorted(((p, len(c.broken)) for p, c in self.changes.items() if c.broken),
                       key=lambda t: -t[1])
        return buys, costs

    @property
    def fixes(self) -> int:
        return sum(len(c.fixed) for c in self.changes.values())

    @property
    def breaks(self) -> int:
        return sum(len(c.broken) for c in self.changes.values())

    def to_json(self) -> dict[str, Any]:
        """The `review` key of `compare --baseline --json`."""
        props: dict[str, Any] = {}
        for prop, c in self.changes.items():
            props[prop] = {
                "fixes": len(c.fixed), "breaks": len(c.broken),
                "fixed": [_config(p) for _, p in c.fixed],
                "broken": [_config(p) for _, p in c.broken],
                "smallest_fix": _example(c.smallest_fix, prop, "baseline"),
                "smallest_break": _example(c.smallest_break, prop, "proposal"),
            }
        return {"baseline": self.baseline, "proposal": self.proposal,
                "configurations": self.paired, "unpaired": self.unpaired,
                "fixes": self.fixes, "breaks": self.breaks,
                "measures": self.measures, "properties": props}


def _config(row: Row) -> dict[str, Any]:
    doc = row_json(row)
    return {"config": {k: v for k, v in dict(doc["config"]).items()  # type: ignore[call-overload]
                       if k not in ("user_callbacks", "placements")},
            "faults": doc["faults"]}


def _example(pair: tuple[Row, Row] | None, prop: str, explain: str) -> dict[str, Any] | None:
    if pair is None:
        return None
    from panicpath.report.terminal import describe_scenario, why

    base, prop_row = pair
    out: dict[str, Any] = {**_config(prop_row),
                           "description": describe_scenario(prop_row.scenario)}
    for label, row in (("baseline", base), ("proposal", prop_row)):
        r = row.result
        out[label] = {"holds": not fails(row, prop), "end": r.end,
                      "why": why(r, prop) if fails(row, prop) else f"ended {r.end}"}
    out["explained_by"] = explain
    out["trace"] = [e.to_json() for e in (base if explain == "baseline" else prop_row)
                    .result.trace]
    return out


def review(cmp: Comparison, baseline: str, proposal: str) -> Review:
    """Pair the two policies' rows of `cmp` and collect, per property, what changed."""
    base_rows = {machine_key(r.scenario): r for r in cmp.rows if r.scenario.policy == baseline}
    changes = {p: Change(p) for p in cmp.properties}
    paired = unpaired = 0
    for row in cmp.rows:
        if row.scenario.policy != proposal:
            continue
        base = base_rows.get(machine_key(row.scenario))
        if base is None:
            unpaired += 1
            continue
        paired += 1
        for prop in cmp.properties:
            b, p = fails(base, prop), fails(row, prop)
            if b and not p:
                changes[prop].fixed.append((base, row))
            elif p and not b:
                changes[prop].broken.append((base, row))
    measures = {k: {"baseline": cmp.measures.get(baseline, {}).get(k, 0),
                    "proposal": cmp.measures.get(proposal, {}).get(k, 0)} for k in MEASURE_KEYS}
    return Review(baseline, proposal, paired, changes, measures, unpaired)
