"""The fast explorer (tuple states, one kernel step at a time) answers what the checker answers.

Its mechanics are a third implementation (after engine.py and the Promela template), so
these tests hold it to the checker's verdict and minimal fault count: on every seed claim
case (where SPIN agrees too, test_promela.py), on every kernel-version policy x property on
the default space, and on random small questions; its counterexamples are replayed on the
object engine; and a broken mechanic makes it disagree."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from panicpath.check import fast_compile
from panicpath.check.fast import (
    EnginesDisagree,
    ExportError,
    FastVerdict,
    explore,
    format_path,
    to_verdict,
)
from panicpath.check.fast_compile import (
    END_KIND,
    ENDED,
    PC,
    VMCORE,
    VMCORE_WRITES,
    property_fn,
    translate,
)
from panicpath.check.promela import PROPERTY_EXPR, promela
from panicpath.check.search import Question, Verdict, check
from panicpath.cli import main
from panicpath.engine import build, execute
from panicpath.model.callback import EFFECT_KINDS, KMSG_DUMP_REASONS, LISTS, Callback, Effect, Need
from panicpath.model.steps import PANIC_MSG
from panicpath.policies import POLICIES
from panicpath.properties import PROPERTIES
from tests.check.seed_cases import CASES, SeedCase

KERNELS = tuple(n for n, p in POLICIES.items()
                if not (p.steps or p.place is not None or p.setup is not None or p.lists))


def _bases(faults: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(f.partition("=")[0] for f in faults))


def _agree(v: FastVerdict, w: Verdict, what: str) -> None:
    assert v.holds == w.holds, f"{what}: fast says holds={v.holds}, checker {w.holds}"
    if not w.holds:
        assert w.counterexample is not None
        assert len(v.faults) == len(w.counterexample.scenario.faults), (
            f"{what}: fast needs {v.faults}, checker {w.counterexample.scenario.faults}")


def _replays(v: FastVerdict) -> None:
    """The fast counterexample, run by the object engine, fails the property too."""
    assert v.config is not None
    result = execute(build(v.config.with_(faults=v.faults)))
    prop = v.question.prop
    assert result.applicable[prop] and not result.properties[prop], (v.config, v.faults)


def test_the_supported_subset_is_the_promela_one() -> None:
    """Every policy, and a few out-of-range questions: refused by the fast explorer exactly
    when the Promela export refuses them."""
    assert set(KERNELS) >= {"linux-3.16", "linux-6.1", "linux-mainline", "biederman"}
    assert "mladek-2" not in KERNELS
    qs = [Question(policy=p, prop="vmcore-captured", arches=("x86_64",), hypervisors=("none",),
                   driver_sets=((),)) for p in POLICIES]
    qs += [Question(policy="linux-6.1", prop="vmcore-captured", cpus=1),
           Question(policy="linux-6.1", prop="vmcore-captured", max_faults=9),
           Question(policy="linux-6.1", prop="vmcore-captured", arches=("nope",))]
    for q in qs:
        refused = []
        for engine in (promela, explore):
            try:
                engine(q)
                refused.append(False)
            except ExportError:
                refused.append(True)
        assert refused[0] == refused[1], q


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_seed_case_same_verdict_and_minimal_faults(case: SeedCase) -> None:
    v = explore(case.question)
    _agree(v, check(case.question), case.id)
    if case.faults is None:
        assert v.holds, case.cite
        assert v.distinct > v.configurations  # panic() was stepped, not skipped
        return
    assert not v.holds, case.cite
    assert _bases(v.faults) == tuple(sorted(case.faults)), case.cite
    _replays(v)
    labels = [label for label, _ in v.path]
    assert labels[0] == "booted machine" and "panic() starts" in labels
    assert [label.removeprefix("fault ") for label in labels if label.startswith("fault ")] \
        == list(v.faults)
    final = v.path[-1][1]
    assert final[ENDED] and final[END_KIND] != 0 and final[PC] >= 0
    assert format_path(v)[0].startswith("State 1: booted machine")
    if case.faults:
        fewer = dataclasses.replace(case.question, max_faults=len(case.faults) - 1)
        assert explore(fewer).holds, f"{case.id}: fewer faults already fail"


@pytest.mark.parametrize("policy", KERNELS)
def test_every_property_on_the_default_space_agrees_with_the_checker(policy: str) -> None:
    """Every property, the default configurations with and without a crash kernel, up to one
    fault: same verdict, same number of faults in the counterexample."""
    for prop in PROPERTIES:
        q = Question(policy=policy, prop=prop, max_faults=1, kdump=(True, False))
        v = explore(q)
        _agree(v, check(q), f"{policy} {prop}")
        if not v.holds:
            _replays(v)
        assert v.generated >= v.distinct > 0


def test_two_faults_on_the_default_space() -> None:
    q = Question(policy="linux-6.1", prop="vmcore-captured", max_faults=2)
    _agree(explore(q), check(q), "linux-6.1 vmcore-captured <=2")


def test_a_broken_mechanic_makes_it_disagree(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison can fail: a notifier walk that ignores a corrupted list (the bug
    test_promela.py plants in the Promela export) turns the seed 000 violation into 'holds'."""
    case = next(c for c in CASES if c.id == "corrupted-list-with-post-notifiers")
    q = dataclasses.replace(case.question, fault_names=("corrupted-notifier-list",))
    assert not explore(q).holds

    def walk_ignoring_corruption(s: list[int], k: fast_compile.Cfg, a: int = 0) -> None:
        s[fast_compile.CB_STOP] = 0

    monkeypatch.setattr(fast_compile, "st_chain_entry", walk_ignoring_corruption)
    v = explore(q)
    assert v.holds and not check(q).holds


def test_proposals_with_their_own_steps_are_refused() -> None:
    with pytest.raises(ExportError, match="outside the fast explorer's subset"):
        explore(Question(policy="mladek-2", prop="vmcore-captured"))
    with pytest.raises(ExportError, match="unknown property"):
        explore(Question(policy="linux-6.1", prop="nope"))
    with pytest.raises(ExportError, match=r"2\.\.8 CPUs"):
        explore(Question(policy="linux-6.1", prop="vmcore-captured", cpus=9))


def test_properties_are_the_promela_expressions() -> None:
    assert set(PROPERTY_EXPR) == set(PROPERTIES)
    for prop in PROPERTIES:
        property_fn(prop)  # every expression translates
    assert translate("vmcore && !vmcore_writes") == f"s[{VMCORE}] and  not s[{VMCORE_WRITES}]"
    with pytest.raises(ExportError, match="unknown name"):
        translate("no_such_variable")


ARCH_HV = [("x86_64", "none"), ("x86_64", "kvm"), ("x86_64", "hyperv"), ("x86_64", "xen"),
           ("arm64", "none"), ("arm64", "hyperv"), ("powerpc", "none"), ("mips-octeon", "none"),
           ("s390", "none")]
DRIVER_SETS = [(), ("pvpanic", "ramoops"), ("bcm-vk",), ("ipmi-panic-event", "ipmi-watchdog"),
               ("fadump",), ("ramoops",), ("hyperv-fb",)]
FAULT_NAMES = ("concurrent-panic", "corrupted-notifier-list", "dma-active", "hanging-callback",
               "ipi-deaf-cpu", "lock-held-by-stopped-cpu", "nmi-context", "slow-host")


NEEDS = st.one_of(
    st.sampled_from([Need("vmbus"), Need("ipi"), Need("host"), Need("other-cpus-online"),
                     Need("no-crash-kernel")]),
    st.builds(Need, st.sampled_from(["lock", "trylock", "mutex"]),
              st.sampled_from(["lock-a", "lock-b", "pstore-buf"])),
    # a trylock retried for a while (Need.wait_ms): the time crosses the path bound or not
    st.builds(Need, st.just("trylock"), st.sampled_from(["lock-a", "pstore-buf"]),
              st.sampled_from([1, 500, 59_000, 61_000])))
EFFECTS = st.one_of(
    st.sampled_from([Effect(kind) for kind in EFFECT_KINDS
                     if kind not in ("spin", "print", "stop-dma", "kmsg-dump")]),
    st.builds(Effect, st.just("spin"), st.sampled_from(["10", "5000", "70000"])),
    st.builds(Effect, st.just("print"), st.sampled_from(["hello", f"{PANIC_MSG}: again"])),
    st.builds(Effect, st.just("stop-dma"), st.sampled_from(["pcie-dma", "bcm-vk"])))


@st.composite
def user_callbacks(draw: st.DrawFn) -> tuple[Callback, ...]:
    """1..3 callbacks with random lists, priorities, needs, effects and max_reason."""
    return tuple(
        Callback(name=f"user-{i}", list=draw(st.sampled_from(LISTS)),
                 priority=draw(st.integers(-2, 2)),
                 needs=tuple(draw(st.lists(NEEDS, max_size=2))),
                 effects=tuple(draw(st.lists(EFFECTS, min_size=1, max_size=3))),
                 order=100 + i, max_reason=draw(st.sampled_from(sorted(KMSG_DUMP_REASONS))))
        for i in range(draw(st.integers(1, 3))))


@st.composite
def questions(draw: st.DrawFn) -> Question:
    arch, hv = draw(st.sampled_from(ARCH_HV))
    drivers = draw(st.lists(st.sampled_from(DRIVER_SETS), min_size=1, max_size=2, unique=True))
    users = draw(st.one_of(st.just(()), user_callbacks()))
    return Question(policy=draw(st.sampled_from(KERNELS)),
                    prop=draw(st.sampled_from(sorted(PROPERTIES))),
                    arches=(arch,), hypervisors=(hv,), driver_sets=tuple(drivers),
                    kdump=draw(st.sampled_from([(True,), (False,), (True, False)])),
                    post_notifiers=draw(st.sampled_from([("0",), ("1",), ("0", "1")])),
                    max_faults=draw(st.integers(0, 2)), cpus=draw(st.integers(2, 4)),
                    user_callbacks=users,
                    fault_names=tuple(draw(st.lists(st.sampled_from(FAULT_NAMES), max_size=3,
                                                    unique=True))))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(questions())
def test_random_small_questions_agree_with_the_checker(q: Question) -> None:
    """Random machines, faults, CPUs and (half the time) random user callbacks, whose needs
    and effects exercise every mechanic in combinations the catalog does not have."""
    v = explore(q)
    _agree(v, check(q), repr(q))
    again = explore(q)  # deterministic: same counts, same counterexample
    assert (again.holds, again.distinct, again.generated, again.faults, again.path) == \
        (v.holds, v.distinct, v.generated, v.faults, v.path)
    if not v.holds:
        _replays(v)


def test_check_engine_fast_cli(tmp_path: Path) -> None:
    """`panicpath check --engine fast`: the checker's exit codes and output; the ITF trace it
    writes replays on the object engine; outside the subset, exit 2 with the reason."""
    trace = tmp_path / "cx.itf.json"
    args = ["check", "--policy", "linux-6.1", "--property", "dump-target-reachable", "--arch",
            "arm64", "--hypervisor", "hyperv", "--max-faults", "2"]
    r = CliRunner().invoke(main, [*args, "--engine", "fast", "--trace-out", str(trace)])
    assert r.exit_code == 12, r.output
    assert "VIOLATED" in r.output and "faults=slow-host" in r.output
    assert "notifier_chain: hyperv-vmbus-unload" in r.output
    assert CliRunner().invoke(main, ["replay", str(trace)]).exit_code == 0
    obj = CliRunner().invoke(main, args)
    assert obj.exit_code == 12 and "faults=slow-host" in obj.output
    ok = CliRunner().invoke(main, ["check", "--policy", "linux-4.9", "--property",
                                   "vmcore-complete", "--arch", "x86_64", "--hypervisor", "none",
                                   "--max-faults", "2", "--engine", "fast", "--json"])
    assert ok.exit_code == 0, ok.output
    doc = json.loads(ok.output)
    assert doc["engine"] == "fast" and doc["holds"] and doc["distinct_states"] > 100
    bad = CliRunner().invoke(main, ["check", "--policy", "mladek-2", "--property",
                                    "vmcore-captured", "--engine", "fast"])
    assert bad.exit_code == 2 and "outside the fast explorer's subset" in bad.output


def test_engines_disagreeing_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """A counterexample the object engine does not reproduce is an internal error (exit 1),
    never printed as a verdict."""
    case = next(c for c in CASES if c.id == "deaf-cpu-x86-nmi")  # holds on both engines

    def ignore_nmi(s: list[int], c: int) -> bool:
        return False  # an NMI reaches no CPU: the fast model now loses registers

    monkeypatch.setattr(fast_compile, "_answers_nmi", ignore_nmi)
    v = explore(case.question)
    assert not v.holds
    with pytest.raises(EnginesDisagree):
        to_verdict(v)
    r = CliRunner().invoke(main, ["check", "--policy", "linux-6.1", "--property",
                                  "vmcore-complete", "--arch", "x86_64", "--hypervisor", "none",
                                  "--fault", "ipi-deaf-cpu", "--max-faults", "2", "--engine",
                                  "fast"])
    assert r.exit_code == 1 and "EnginesDisagree" in r.output
