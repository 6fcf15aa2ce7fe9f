"""The fast explorer: the checker's question over tuple states, one kernel step at a time.

`explore(q)` answers what `search.check(q)` answers -- can property X fail for policy P on
the question's machines under up to N faults -- for the subset `promela.py` exports
(kernel-version policies; anything else is refused with `ExportError`, one line). Each
configuration is compiled once (`fast_compile.compile_config`) from the same inputs as the
Promela export into a boot state and a flattened step list; a state is a tuple of ints
(its own fingerprint) with a program counter into that list.

The search, per configuration, layer by layer in the number of faults (as
`search.search_config`): layer 0 is the booted machine; each state of layer n is
followed breadth-first through panic(), step by step, until the path ends; the property
(`promela.PROPERTY_EXPR`, translated) is evaluated on each final state; the next layer
applies one more fault of an unused kind (the template's adversary). An op whose
condition on crash_kexec_post_notifiers is false is passed over in one transition, and a
path that has ended goes straight to its final state (no kernel step runs after it).
`parents` maps each distinct state to the one it was first reached from (the seen set and
the parent links in one dict per configuration), so a counterexample is rebuilt, not
stored. A configuration stops at the first layer with a violation; the counterexample
kept is the one with the fewest faults, then fewest drivers, then the shortest path, then
the earliest configuration (the checker breaks the last ties by its trace length, so the
two may show different machines, always with the same number of faults).

The fault-choice bookkeeping (PC -1, USED) is cleared when panic() starts, so machines
reached by different fault sets that are equal from then on are explored once.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

from panicpath.check.fast_compile import (
    ENDED,
    FIELD_NAMES,
    G_POST,
    HANGV,
    MODE,
    PC,
    POST_SNAP,
    USED,
    Cfg,
    ExportError,
    PropertyFn,
    State,
    check_subset,
    compile_config,
    property_fn,
)
from panicpath.check.search import Node, Question, Verdict, fingerprint
from panicpath.engine import build, execute
from panicpath.model.scenario import Scenario


@dataclass
class FastVerdict:
    """The fast explorer's answer with TLC-style statistics; `path` is the counterexample as
    (what led to the state, the state) from the booted machine to the final state."""

    question: Question
    holds: bool
    config: Scenario | None = None
    faults: tuple[str, ...] = ()
    path: tuple[tuple[str, State], ...] = ()
    generated: int = 0
    distinct: int = 0
    depth: int = 0
    seconds: float = 0.0
    configurations: int = 0

    @property
    def states_per_second(self) -> float:
        return self.distinct / self.seconds if self.seconds > 0 else 0.0


Parents = dict[State, State | None]
assert (PC, USED) == (0, 1)  # _search builds "panic() starts" states as (0, 0, *rest)


def _search(k: Cfg, max_faults: int, prop: PropertyFn,
            parents: Parents) -> tuple[int, int, int, list[tuple[int, State]]]:
    """Search one configuration into `parents` (its seen set and parent links); returns
    (states generated, deepest step, faults, violations found as (depth, final state)): all
    violations of the first layer that has any, and the number of faults of that layer.
    A state is inserted with one hash (`setdefault`): it was new when the parent returned is
    the state just expanded (each state is expanded once, and in the fault phase, where one
    state has many children, the dict's size tells instead)."""
    root = k.root
    parents[root] = None
    generated = 1
    deepest = 0
    progs = ([e[1:] for e in k.programs[0]], [e[1:] for e in k.programs[1]])
    ends = (len(progs[0]), len(progs[1]))
    faults = k.faults
    add = parents.setdefault
    layer = [root]
    found: list[tuple[int, State]] = []
    for nf in range(max_faults + 1):
        frontier: list[State] = []
        for fs in layer:
            t = (0, 0, *fs[2:])  # PC 0, USED cleared: panic() starts
            generated += 1
            if add(t, fs) is fs:
                frontier.append(t)
        depth = nf + 1
        while frontier:
            nxt: list[State] = []
            append = nxt.append
            for st in frontier:
                pc = st[0]
                hv = st[HANGV]
                end = ends[hv]
                if pc == end:
                    if not prop(st, k):
                        found.append((depth, st))
                    continue
                fn, arg, guard, after = progs[hv][pc]
                if guard and (guard == G_POST) != (st[POST_SNAP] == 1):
                    t = (after, *st[1:])  # the op's condition is false: it does not run
                else:
                    s = list(st)
                    s[0] = pc + 1
                    fn(s, k, arg)
                    if s[ENDED]:
                        s[0] = end  # the path has ended: panic() runs no further step
                    t = tuple(s)
                generated += 1
                if add(t, st) is st:  # new: `st` is expanded once, so no older link is to it
                    append(t)
            frontier = nxt
            depth += 1
        deepest = max(deepest, depth - 1)
        if found:
            return generated, deepest, nf, found
        if nf == max_faults:
            break
        nxt_layer: list[State] = []
        for fs in layer:
            used = fs[USED]
            for _, bit, apply in faults:
                if used & bit:
                    continue
                s = list(fs)
                apply(s)
                s[USED] = used | bit
                t = tuple(s)
                generated += 1
                n = len(parents)
                add(t, fs)
                if len(parents) != n:
                    nxt_layer.append(t)
        layer = nxt_layer
    return generated, deepest, 0, found


def explore(q: Question) -> FastVerdict:
    """Answer `q` (see the module docstring); ExportError outside the supported subset."""
    t0 = time.perf_counter()
    policy, configs = check_subset(q)
    prop = property_fn(q.prop)
    v = FastVerdict(question=q, holds=True, configurations=len(configs))
    best: tuple[tuple[int, int, int, int], State, Cfg, Parents] | None = None
    for i, scn in enumerate(configs):
        k = compile_config(i, scn, policy, q)
        parents: Parents = {}
        gen, deepest, nf, found = _search(k, q.max_faults, prop, parents)
        v.generated += gen
        v.distinct += len(parents)
        v.depth = max(v.depth, deepest)
        if found:
            depth, st = min(found, key=lambda f: f[0])
            rank = (nf, len(scn.drivers), depth, i)
            if best is None or rank < best[0]:
                best = (rank, st, k, parents)
    if best is not None:
        v.holds = False
        v.config = best[2].scenario
        v.path = rebuild(best[1], best[3], best[2])
        v.faults = tuple(label.removeprefix("fault ") for label, _ in v.path
                         if label.startswith("fault "))
    v.seconds = time.perf_counter() - t0
    return v


def rebuild(final: State, parents: dict[State, State | None],
            k: Cfg) -> tuple[tuple[str, State], ...]:
    """The path from the booted machine to `final` through the parent links, each state with
    the transition that produced it (the fault applied, or the step of panic())."""
    chain = [final]
    while (p := parents[chain[-1]]) is not None:
        chain.append(p)
    chain.reverse()
    out: list[tuple[str, State]] = [("booted machine", chain[0])]
    for prev, cur in itertools.pairwise(chain):
        if cur[PC] == -1:
            label = "fault ?"
            for name, bit, apply in k.faults:
                s = list(prev)
                apply(s)
                s[USED] = prev[USED] | bit
                if tuple(s) == cur:
                    label = f"fault {name}"
                    break
        elif prev[PC] == -1:
            label = "panic() starts"
        else:
            label, _, _, guard, _ = k.programs[prev[HANGV]][prev[PC]]
            if guard and (guard == G_POST) != (prev[POST_SNAP] == 1):
                label += " (not run: condition false)"
        out.append((label, cur))
    return tuple(out)


def field_name(i: int) -> str:
    """The name of state field `i` (the template's variable, or mode[c])."""
    return FIELD_NAMES[i] if i < MODE else f"mode[{i - MODE}]"


def changes(prev: State, cur: State) -> dict[str, int]:
    """The fields that differ between two states, by name."""
    return {field_name(i): b for i, (a, b) in enumerate(zip(prev, cur, strict=True)) if a != b}


def format_path(v: FastVerdict) -> list[str]:
    """The counterexample as numbered states with only the variables that changed."""
    lines: list[str] = []
    prev: State | None = None
    for n, (label, st) in enumerate(v.path, start=1):
        shown = changes(prev, st) if prev is not None else {
            field_name(i): x for i, x in enumerate(st)}
        shown.pop("pc", None)
        body = ", ".join(f"{name}={val}" for name, val in shown.items())
        lines.append(f"State {n}: {label}" + (f"  [{body}]" if body else ""))
        prev = st
    return lines


class EnginesDisagree(RuntimeError):
    """The object engine does not fail the property on the fast explorer's counterexample."""


def to_verdict(fv: FastVerdict) -> Verdict:
    """The fast answer as a `search.Verdict` (for the CLI's output, `--json` and ITF): the
    counterexample is the fast one's configuration and faults run by the object engine
    (`engine.build` / `execute`), so `--trace-out` files replay as the checker's do. Raises
    EnginesDisagree when that run does not violate the property."""
    v = Verdict(question=fv.question, holds=fv.holds, generated=fv.generated,
                distinct=fv.distinct, depth=fv.depth, seconds=fv.seconds)
    v.exercised = {"steps": set(), "callbacks": set(), "faults": set()}
    if fv.config is None:
        return v
    result = execute(build(fv.config.with_(faults=fv.faults)))
    prop = fv.question.prop
    if not (result.applicable[prop] and not result.properties[prop]):
        raise EnginesDisagree(f"the object engine does not fail {prop} on the fast explorer's "
                              f"counterexample ({fv.config.arch} hv={fv.config.hypervisor} "
                              f"drivers={','.join(fv.config.drivers) or '-'} "
                              f"faults={','.join(fv.faults) or '-'})")
    nodes: list[Node] = []
    for i in range(len(fv.faults) + 1):
        fp = fingerprint(fv.config, fv.faults[:i])
        nodes.append(Node(fv.config, fv.faults[:i], fp, nodes[-1].fingerprint if nodes else None))
    v.counterexample = result
    v.path = tuple(nodes)
    return v


__all__ = ["EnginesDisagree", "ExportError", "FastVerdict", "changes", "explore", "format_path",
           "rebuild", "to_verdict"]
