"""The checker: breadth-first search over the adversary's choices, minimal counterexamples.

The panic path itself is deterministic once the machine is set up; what is not
determined is the machine it meets. The checker's states are the machine *at the
moment of the panic*: a configuration (architecture, hypervisor, drivers, crash kernel,
boot parameters) plus the faults the adversary has applied to it (which CPU is deaf to
IPIs, which lock a soon-stopped CPU holds, which callback hangs, whether the host is
slow, ...). A transition applies one more fault. Each state is fingerprinted by its
flat snapshot and deduplicated; parent links rebuild the path to it. The property is
evaluated by executing the policy from that state. Breadth-first order makes the
first violation found one with the fewest faults; ties are broken by fewest drivers,
then the shortest panic trace.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from panicpath.check.space import ARCH_HYPERVISORS, OPTIONAL_DRIVER_SETS
from panicpath.engine import RunResult, build, execute
from panicpath.faults import FAULTS, HANGING_NOTIFIER
from panicpath.model.run import Run
from panicpath.model.scenario import DEFAULT_DUMP_COPY_MS, Scenario

CPU_FAULTS = ("ipi-deaf-cpu", "concurrent-panic")
HOST_WITHIN_TIMEOUT_MS = 50_000


@dataclass(frozen=True)
class Question:
    """What to check: can `prop` fail for `policy` on these machines with up to
    `max_faults` faults?"""

    policy: str
    prop: str
    arches: tuple[str, ...] = ()
    hypervisors: tuple[str, ...] = ()
    kdump: tuple[bool, ...] = (True,)
    post_notifiers: tuple[str, ...] = ("0", "1")
    max_faults: int = 1
    cpus: int = 2
    driver_sets: tuple[tuple[str, ...], ...] | None = None
    user_callbacks: tuple[object, ...] = ()
    fault_names: tuple[str, ...] = ()
    params: tuple[tuple[str, str], ...] = ()
    """Boot parameters every machine gets besides crash_kexec_post_notifiers (e.g.
    ``("crashkernel", "64M")``)."""
    capture_needs_mib: tuple[int, int] = (0, 0)
    """What the crash kernel needs of the reservation (Scenario.capture_needs_mib)."""
    dump_copy_ms: int = DEFAULT_DUMP_COPY_MS
    """How long the capture kernel's dump takes (Scenario.dump_copy_ms)."""
    overrides: tuple[tuple[str, str, int], ...] = ()
    """Placements of catalog callbacks (Scenario.overrides): a `--tree`'s drivers' forms."""
    machine_callbacks: tuple[tuple[str, str, object], ...] = ()
    """(arch, hypervisor, callback): registered only on that machine ("" any): a `--tree`'s
    scanned callbacks (scan/tree_model.py)."""


@dataclass(frozen=True)
class Node:
    """One explored state: the configuration and the faults applied, in order."""

    config: Scenario
    faults: tuple[str, ...]
    fingerprint: str
    parent: str | None


@dataclass
class Verdict:
    """Outcome of a search, with TLC-style statistics."""

    question: Question
    holds: bool
    counterexample: RunResult | None = None
    path: tuple[Node, ...] = ()
    generated: int = 0
    distinct: int = 0
    depth: int = 0
    seconds: float = 0.0
    exercised: dict[str, set[str]] = field(default_factory=dict)

    @property
    def states_per_second(self) -> float:
        return self.distinct / self.seconds if self.seconds > 0 else 0.0


def configurations(q: Question) -> list[Scenario]:
    """The machines of the question, in a fixed order."""
    out = []
    for arch, hvs in ARCH_HYPERVISORS.items():
        if q.arches and arch not in q.arches:
            continue
        for hv in hvs:
            if q.hypervisors and hv not in q.hypervisors:
                continue
            sets = q.driver_sets if q.driver_sets is not None else OPTIONAL_DRIVER_SETS[arch]
            if q.driver_sets is None and hv == "hyperv":
                sets = (*sets, ("hyperv-fb",))
            for drivers in sets:
                for kdump in q.kdump:
                    for post in q.post_notifiers:
                        out.append(Scenario(policy=q.policy, arch=arch, hypervisor=hv,
                                            kdump=kdump, drivers=drivers, cpus=q.cpus,
                                            params=(("crash_kexec_post_notifiers", post),
                                                    *q.params),
                                            capture_needs_mib=q.capture_needs_mib,
                                            dump_copy_ms=q.dump_copy_ms,
                                            overrides=q.overrides,
                                            user_callbacks=(*q.user_callbacks, *(  # type: ignore[arg-type]
                                                cb for a, h, cb in q.machine_callbacks
                                                if a in ("", arch) and h in ("", hv)))))
    return out


def fault_alphabet(config: Scenario, names: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Every fault the adversary may apply to this machine, arguments expanded: each lock a
    registered callback takes, each registered callback that may hang (and an extra
    hanging notifier), each other CPU."""
    run = build(config)
    callbacks = [*run.notifiers, *run.dumpers, *run.crash_shutdown,
                 *(cb for lst in run.extra_lists.values() for cb in lst)]
    locks = sorted({n.arg for cb in callbacks for n in cb.needs
                    if n.kind in ("lock", "trylock", "mutex")} | set(run.machine.locks))
    out: list[str] = []
    for name in sorted(FAULTS):
        if names and name not in names:
            continue
        if name == "lock-held-by-stopped-cpu":
            out += [f"{name}={lock}" for lock in locks]
        elif name == "hanging-callback":
            out += [name] + [f"{name}={cb.name}" for cb in callbacks]
        elif name == "slow-host":
            # The host answers late but before vmbus_wait_for_unload's 100 s timeout (an Azure
            # host flushing its disk cache, ~50 s: drivers/hv/channel_mgmt.c comment), or after it.
            out += [f"{name}={HOST_WITHIN_TIMEOUT_MS}", name]
        elif name in CPU_FAULTS:
            if config.cpus >= 2:
                out += [name] if config.cpus == 2 else [f"{name}={c}"
                                                         for c in range(1, config.cpus)]
        else:
            out.append(name)
    return tuple(out)


def fingerprint(config: Scenario, faults: Iterable[str]) -> str:
    """Hash of the machine at the panic: the booted state with the faults applied."""
    return _fingerprint_run(config, build(config.with_(faults=tuple(faults))))


def _fingerprint_run(config: Scenario, run: Run) -> str:
    """`fingerprint` of a run already built (and not yet executed). The key is the repr of
    plain values (str, int, bool, None, lists and tuples of them) in a fixed order, so it is
    the same in every process."""
    snap = run.machine.snapshot()
    key = (config.arch, config.hypervisor, config.kdump, config.params, config.drivers,
           sorted(snap.items()), sorted(run.hanging), [c.name for c in run.notifiers])
    return hashlib.blake2b(repr(key).encode(), digest_size=12).hexdigest()


def _violates(result: RunResult, prop: str) -> bool:
    return result.applicable[prop] and not result.properties[prop]


def _rank(node: Node, result: RunResult) -> tuple[int, int, int]:
    return (len(node.faults), len(node.config.drivers), len(result.trace))


@dataclass
class ConfigOutcome:
    """What searching one configuration found."""

    index: int
    best: tuple[Node, ...] | None
    result: RunResult | None
    generated: int
    distinct: int
    depth: int
    exercised: dict[str, set[str]]


def search_config(index: int, config: Scenario, q: Question) -> ConfigOutcome:
    """BFS over fault sets for one configuration; stops at the first depth with a violation
    and returns the minimal one found at that depth."""
    alphabet = fault_alphabet(config, q.fault_names)
    root_run = build(config.with_(faults=()))
    root = Node(config, (), _fingerprint_run(config, root_run), None)
    seen: dict[str, Node] = {root.fingerprint: root}
    frontier: list[tuple[Node, Run]] = [(root, root_run)]
    generated = 1
    depth = 0
    exercised: dict[str, set[str]] = {"steps": set(), "callbacks": set(), "faults": set()}
    best: tuple[Node, RunResult] | None = None
    while frontier:
        for node, run in frontier:
            result = execute(run)
            exercised["steps"].update(e.event for e in result.trace if e.kind in ("step", "arch"))
            exercised["callbacks"].update(result.ran_callbacks)
            exercised["faults"].update(f.partition("=")[0] for f in node.faults)
            if _violates(result, q.prop) and (best is None or _rank(node, result) < _rank(*best)):
                best = (node, result)
        if best is not None or depth >= q.max_faults:
            break
        nxt: list[tuple[Node, Run]] = []
        for node, _ in frontier:
            used = {f.partition("=")[0] for f in node.faults}
            for f in alphabet:
                if f.partition("=")[0] in used:
                    continue
                faults = (*node.faults, f)
                generated += 1
                child_run = build(config.with_(faults=faults))
                fp = _fingerprint_run(config, child_run)
                if fp in seen:
                    continue
                child = Node(config, faults, fp, node.fingerprint)
                seen[fp] = child
                nxt.append((child, child_run))
        frontier = nxt
        depth += 1
    path: tuple[Node, ...] | None = None
    if best is not None:
        chain = [best[0]]
        while chain[-1].parent is not None:
            chain.append(seen[chain[-1].parent])
        path = tuple(reversed(chain))
    return ConfigOutcome(index, path, best[1] if best else None, generated, len(seen),
                         depth, exercised)


def _search_star(args: tuple[int, Scenario, Question]) -> ConfigOutcome:
    return search_config(*args)


def _search_chunk(jobs: list[tuple[int, Scenario, Question]]) -> list[ConfigOutcome]:
    return [search_config(*j) for j in jobs]


def check(q: Question, workers: int = 1,
          on_config: Callable[[int, int], None] | None = None,
          ray: str | None = None) -> Verdict:
    """Search every configuration; the verdict, counterexample and counts do not depend on
    `workers` or `ray` (results are merged in configuration order). With `ray` (an address,
    or cluster.LOCAL), the chunks a process pool would get are Ray tasks instead.
    `on_config(done, total)` is called as configurations finish (for a progress bar)."""
    t0 = time.perf_counter()
    configs = configurations(q)
    jobs = [(i, c, q) for i, c in enumerate(configs)]
    outcomes: list[ConfigOutcome] = []
    size = max(1, len(jobs) // 16)
    if ray is not None:
        from panicpath.check.cluster import map_chunks, session

        with session(ray):
            chunks = [jobs[i:i + size] for i in range(0, len(jobs), size)]
            for got in map_chunks(_search_chunk, chunks):
                for o in got:
                    outcomes.append(o)
                    if on_config is not None:
                        on_config(len(outcomes), len(jobs))
    elif workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for o in pool.map(_search_star, jobs, chunksize=size):
                outcomes.append(o)
                if on_config is not None:
                    on_config(len(outcomes), len(jobs))
    else:
        for j in jobs:
            outcomes.append(search_config(*j))
            if on_config is not None:
                on_config(len(outcomes), len(jobs))
    v = Verdict(question=q, holds=True)
    v.exercised = {"steps": set(), "callbacks": set(), "faults": set()}
    best: tuple[tuple[int, int, int, int], ConfigOutcome] | None = None
    for o in sorted(outcomes, key=lambda o: o.index):
        v.generated += o.generated
        v.distinct += o.distinct
        v.depth = max(v.depth, o.depth)
        for k, s in o.exercised.items():
            v.exercised[k] |= s
        if o.best is not None and o.result is not None:
            rank = (*_rank(o.best[-1], o.result), o.index)
            if best is None or rank < best[0]:
                best = (rank, o)
    if best is not None:
        v.holds = False
        v.counterexample = best[1].result
        v.path = best[1].best or ()
    v.seconds = time.perf_counter() - t0
    return v


def unexercised(v: Verdict, q: Question) -> dict[str, list[str]]:
    """Callbacks, steps and faults the search never exercised (SPIN's 'unreached')."""
    from panicpath.model.steps import STEPS

    all_callbacks: set[str] = set()
    for c in configurations(q):
        run = build(c)
        all_callbacks |= {cb.name for cb in (*run.notifiers, *run.dumpers, *run.crash_shutdown)}
    step_names = {"panic", "__crash_kexec", "kmsg_dump", "atomic_notifier_call_chain",
                  "panic_print_sys_info", "console_flush_on_panic"}
    del STEPS
    faults = set(q.fault_names or FAULTS)
    return {
        "callbacks": sorted(all_callbacks - v.exercised["callbacks"] - {HANGING_NOTIFIER}),
        "steps": sorted(step_names - v.exercised["steps"]),
        "faults": sorted(faults - v.exercised["faults"]),
    }


def applies_anywhere(q: Question) -> bool:
    """Whether `q.prop` applies in at least one state the search explores (a configuration
    of the question with up to `q.max_faults` faults of distinct kinds). When it applies
    nowhere the verdict "holds" is vacuous: `check` reports it as not applicable, as `run`
    and `compare` report such a property (null, n/a). Stops at the first state where it
    applies, so it costs one run in the usual case; engine-independent (object engine)."""
    for config in configurations(q):
        alphabet = fault_alphabet(config, q.fault_names)
        frontier: list[tuple[str, ...]] = [()]
        for depth in range(q.max_faults + 1):
            for faults in frontier:
                if execute(build(config.with_(faults=faults))).applicable[q.prop]:
                    return True
            if depth == q.max_faults:
                break
            frontier = [(*faults, f) for faults in frontier for f in alphabet
                        if f.partition("=")[0] not in {x.partition("=")[0] for x in faults}
                        and (not faults or alphabet.index(f) > alphabet.index(faults[-1]))]
    return False


def iter_states(v: Verdict) -> Iterator[tuple[int, str, dict[str, object]]]:
    """The counterexample as numbered states: the faults applied, then each panic step."""
    if v.counterexample is None:
        return
    scn = v.counterexample.scenario
    run = build(scn.with_(faults=()))
    prev = run.machine.snapshot()
    yield 1, "initial configuration", prev
    for i, node in enumerate(v.path[1:], start=2):
        snap = build(scn.with_(faults=node.faults)).machine.snapshot()
        yield i, f"fault {node.faults[-1]}", {k: val for k, val in snap.items()
                                               if prev.get(k) != val}
        prev = snap
    replay = build(scn)
    booted = len(replay.trace)
    replay.snapshots = []
    execute(replay)
    start = len(v.path) + 1
    for j, (ev, snap) in enumerate(zip(replay.trace[booted:], replay.snapshots, strict=True)):
        changed = {k: val for k, val in snap.items() if prev.get(k) != val}
        prev = snap
        yield start + j, f"{ev.event} on CPU {ev.cpu} [{ev.source}]: {ev.effect}", changed
