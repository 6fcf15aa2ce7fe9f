"""Counterexamples as ITF (Informal Trace Format, Apalache ADR-015, also read by TLC >= 1.8
and Quint), and replay against the current model.

Every state carries every variable (the machine's flat snapshot). `None` is not an ITF
value; it is written as the variant `{"tag": "None", "value": {"#tup": []}}`, as Quint
writes an empty Option. `#meta.scenario` holds what is needed to re-run the
counterexample.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from panicpath.check.search import Verdict, iter_states
from panicpath.engine import build, execute
from panicpath.model.scenario import Scenario

NONE = {"tag": "None", "value": {"#tup": []}}


def _value(v: object) -> object:
    if v is None:
        return NONE
    if isinstance(v, bool | str):
        return v
    if isinstance(v, int):
        return v if abs(v) < 2**53 else {"#bigint": str(v)}
    if isinstance(v, list | tuple):
        return [_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _value(x) for k, x in v.items()}
    return str(v)


def scenario_meta(s: Scenario) -> dict[str, object]:
    """The scenario as JSON, enough to rebuild it (user callbacks are not serialised)."""
    return {"policy": s.policy, "arch": s.arch, "hypervisor": s.hypervisor, "kdump": s.kdump,
            "params": [list(p) for p in s.params], "drivers": list(s.drivers),
            "faults": list(s.faults), "cpus": s.cpus, "host_panic_action": s.host_panic_action}


def _is_str(v: object) -> bool:
    return isinstance(v, str)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _strings(v: object) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _pairs(v: object) -> bool:
    return isinstance(v, list) and all(isinstance(p, list) and len(p) == 2 and _strings(p)
                                       for p in v)


META_FIELDS: tuple[tuple[str, str, Callable[[object], bool], object], ...] = (
    ("policy", "string", _is_str, None), ("arch", "string", _is_str, None),
    ("hypervisor", "string", _is_str, None),
    ("kdump", "boolean", lambda v: isinstance(v, bool), None),
    ("params", "list of [name, value] string pairs", _pairs, None),
    ("drivers", "list of strings", _strings, None),
    ("faults", "list of strings", _strings, None), ("cpus", "integer", _is_int, None),
    ("host_panic_action", "string", _is_str, "shutdown"))
"""The fields of ``#meta.scenario``: JSON type in words, its check, the default (None:
required). scenario_from_meta checks them; docs/inputs.md lists them."""


def scenario_from_meta(d: dict[str, Any]) -> Scenario:
    """Inverse of scenario_meta. A field of the wrong type (META_FIELDS) is TypeError, a
    missing one KeyError (names and values are then checked by engine.validate)."""
    if not isinstance(d, dict):
        raise TypeError("#meta.scenario must be an object")
    v: dict[str, Any] = {}
    for key, text, ok, default in META_FIELDS:
        value = d[key] if default is None else d.get(key, default)
        if not ok(value):
            raise TypeError(f"scenario.{key} must be {text}, got {value!r}")
        v[key] = value
    return Scenario(policy=v["policy"], arch=v["arch"], hypervisor=v["hypervisor"],
                    kdump=v["kdump"], params=tuple((k, x) for k, x in v["params"]),
                    drivers=tuple(v["drivers"]), faults=tuple(v["faults"]), cpus=v["cpus"],
                    host_panic_action=v["host_panic_action"])


def full_states(scn: Scenario) -> list[tuple[str, dict[str, object]]]:
    """Every state of a run with all variables: the booted machine, then after each trace line."""
    run = build(scn)
    booted = len(run.trace)
    run.snapshots = []
    first = run.machine.snapshot()
    execute(run)
    states = [("boot, faults applied", first)]
    states += [(f"{e.event} on CPU {e.cpu} [{e.source}]", snap)
               for e, snap in zip(run.trace[booted:], run.snapshots, strict=True)]
    return states


def to_itf(v: Verdict) -> dict[str, object]:
    """The counterexample of a violated verdict as an ITF document."""
    assert v.counterexample is not None
    scn = v.counterexample.scenario
    states = full_states(scn)
    names = sorted({k for _, s in states for k in s})
    return {
        "#meta": {
            "format": "ITF",
            "format-description": "https://apalache-mc.org/docs/adr/015adr-trace.html",
            "source": "panicpath check",
            "description": f"{scn.policy} violates {v.question.prop}",
            "property": v.question.prop,
            "scenario": scenario_meta(scn),
            "steps": [label for label, _ in states],
        },
        "vars": names,
        "states": [{"#meta": {"index": i, "step": label},
                    **{k: _value(s.get(k)) for k in names}}
                   for i, (label, s) in enumerate(states)],
    }


def write_itf(v: Verdict, path: str | Path) -> None:
    """Write the counterexample to `path`."""
    Path(path).write_text(json.dumps(to_itf(v), indent=1) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class Replay:
    """Result of replaying an ITF trace against the current model."""

    same: bool
    still_violated: bool
    message: str


def replay(doc: dict[str, Any], user_callbacks: tuple[Any, ...] = (),
           overrides: tuple[tuple[str, str, int], ...] = ()) -> Replay:
    """Re-run the trace's scenario; say whether the property still fails and the states match.
    `user_callbacks` are registered besides the scenario's (a `--tree`'s scanned callbacks,
    which the trace names but does not hold)."""
    meta = doc["#meta"]
    scn = scenario_from_meta(meta["scenario"])
    if user_callbacks or overrides:
        scn = scn.with_(user_callbacks=(*scn.user_callbacks, *user_callbacks),
                        overrides=(*scn.overrides, *overrides))
    prop = meta["property"]
    from panicpath.engine import simulate

    result = simulate(scn)
    violated = result.applicable[prop] and not result.properties[prop]
    states = full_states(scn)
    names = doc["vars"]
    if len(states) != len(doc["states"]):
        return Replay(False, violated, f"trace length differs: recorded {len(doc['states'])} "
                      f"states, the model now gives {len(states)}")
    for i, ((label, snap), rec) in enumerate(zip(states, doc["states"], strict=True)):
        for k in names:
            if _value(snap.get(k)) != rec.get(k):
                return Replay(False, violated, f"state {i} ({label}): {k} was "
                              f"{rec.get(k)!r}, now {_value(snap.get(k))!r}")
    if not violated:
        return Replay(False, False, f"{prop} now holds on this scenario")
    return Replay(True, True, f"still violates {prop} the same way ({len(states)} states)")


def format_states(v: Verdict) -> list[str]:
    """Numbered states with only the changed variables, for the terminal."""
    lines = []
    for i, label, changed in iter_states(v):
        lines.append(f"State {i}: {label}")
        for k, val in changed.items():
            lines.append(f"    {k} = {val!r}")
    return lines
