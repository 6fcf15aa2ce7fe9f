"""The checker: minimal counterexamples, determinism across workers, agreement with brute
force, ITF traces and replay, exit codes."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from panicpath.check.itf import replay, to_itf
from panicpath.check.search import Question, check, configurations, fault_alphabet
from panicpath.cli import main
from panicpath.engine import simulate
from panicpath.model.callback import Callback, parse_effect, parse_need

X86_BARE = {"arches": ("x86_64",), "hypervisors": ("none",), "driver_sets": ((),)}


def test_two_faults_needed_together_and_the_counterexample_is_minimal() -> None:
    """lab nmi_panic.log: a panic from NMI context prints nothing until
    console_flush_on_panic; without kdump the flush comes at the end of panic(), so the
    message only stays off the console if something also stops panic() before the flush
    (a corrupted notifier list, seed 000). One fault is not enough; two are."""
    base = {"policy": "linux-6.1", "prop": "console-shows-panic", "kdump": (False,),
            "post_notifiers": ("0",), **X86_BARE}
    assert check(Question(max_faults=1, **base)).holds  # type: ignore[arg-type]
    v = check(Question(max_faults=2, **base))  # type: ignore[arg-type]
    assert not v.holds and v.counterexample is not None
    faults = v.counterexample.scenario.faults
    assert len(faults) == 2 and "nmi-context" in faults
    assert len(v.path) == 3


def test_concurrent_panic_on_arm64_loses_registers_with_one_fault() -> None:
    """kernel-facts section 2: on arm64 a CPU that loses the panic race parks offline
    (local_cpu_stop) and crash_smp_send_stop never saves its registers; on x86 the NMI
    shootdown still reaches it."""
    q = dict(policy="linux-6.1", prop="vmcore-complete", hypervisors=("none",),
             driver_sets=((),), fault_names=("concurrent-panic",), max_faults=2)
    arm = check(Question(arches=("arm64",), **q))  # type: ignore[arg-type]
    assert not arm.holds and arm.counterexample is not None
    assert arm.counterexample.scenario.faults == ("concurrent-panic",)
    assert check(Question(arches=("x86_64",), **q)).holds  # type: ignore[arg-type]


def test_workers_give_the_same_answer() -> None:
    q = Question(policy="linux-6.1", prop="vmcore-intact", max_faults=2,
                 arches=("x86_64", "arm64"))
    one, two = check(q, workers=1), check(q, workers=2)
    assert (one.holds, one.distinct, one.generated) == (two.holds, two.distinct, two.generated)
    assert one.counterexample is not None and two.counterexample is not None
    assert one.counterexample.to_json() == two.counterexample.to_json()


def _user(i: int, prio: int, need: str, effect: str) -> Callback:
    return Callback(name=f"u{i}", list="panic_notifier_list", priority=prio, order=100 + i,
                    needs=(parse_need(need),) if need else (),
                    effects=(parse_effect(effect),))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(-3, 3), st.sampled_from(["", "lock:a", "trylock:a", "ipi",
                                                              "vmbus", "host"]),
                          st.sampled_from(["print:x", "spin:20000", "notify-stop",
                                           "stop-dma:bcm-vk"])),
                min_size=1, max_size=3),
       st.sampled_from(["path-bounded", "vmcore-captured", "vmcore-intact"]),
       st.sampled_from(["0", "1"]))
def test_checker_agrees_with_brute_force(spec: list[tuple[int, str, str]], prop: str,
                                         post: str) -> None:
    """Random small models: the BFS (with state deduplication) and an enumeration of every
    fault subset reach the same verdict and the same minimal number of faults."""
    users = tuple(_user(i, p, n, e) for i, (p, n, e) in enumerate(spec))
    q = Question(policy="linux-6.1", prop=prop, max_faults=2, post_notifiers=(post,),
                 user_callbacks=users, **X86_BARE)  # type: ignore[arg-type]
    v = check(q)
    (config,) = configurations(q)
    alphabet = fault_alphabet(config)
    smallest = None
    for k in range(3):
        for combo in itertools.combinations(alphabet, k):
            if len({f.partition("=")[0] for f in combo}) < k:
                continue
            r = simulate(config.with_(faults=combo))
            if r.applicable[prop] and not r.properties[prop]:
                smallest = k
                break
        if smallest is not None:
            break
    assert v.holds == (smallest is None)
    if smallest is not None:
        assert v.counterexample is not None
        assert len(v.counterexample.scenario.faults) == smallest


def test_itf_trace_replays_and_detects_a_changed_trace(tmp_path: Path) -> None:
    v = check(Question(policy="linux-6.1", prop="dump-target-reachable", arches=("arm64",),
                       hypervisors=("hyperv",), max_faults=1))
    doc = to_itf(v)
    assert doc["#meta"]["format"] == "ITF"  # type: ignore[index]
    assert all("#meta" in s for s in doc["states"])  # type: ignore[attr-defined]
    assert replay(json.loads(json.dumps(doc))).same
    doc["states"][-1]["vmbus"] = "connected"  # type: ignore[index]
    r = replay(doc)
    assert not r.same and "vmbus" in r.message


def test_exit_codes_and_trace_out(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cx.itf.json"
    r = runner.invoke(main, ["check", "--policy", "linux-6.1", "--property",
                             "dump-target-reachable", "--arch", "arm64", "--hypervisor",
                             "hyperv", "--trace-out", str(out)])
    assert r.exit_code == 12 and "VIOLATED" in r.stdout and "distinct states" in r.stdout
    assert runner.invoke(main, ["replay", str(out)]).exit_code == 0
    held = runner.invoke(main, ["check", "--policy", "linux-6.1", "--property",
                                "vmcore-complete", "--arch", "s390", "--max-faults", "2"])
    assert held.exit_code == 0, held.stdout
    bad = runner.invoke(main, ["check", "--policy", "nope", "--property", "vmcore-captured"])
    assert bad.exit_code == 2 and "unknown policy" in bad.stderr
    js = runner.invoke(main, ["check", "--policy", "linux-3.16", "--property",
                              "vmcore-complete", "--arch", "x86_64", "--json"])
    doc = json.loads(js.stdout)
    assert doc["holds"] is False and doc["counterexample"]["#meta"]["format"] == "ITF"


def test_a_property_that_applies_nowhere_is_reported_as_not_applicable() -> None:
    """`fb-shows-panic` needs a framebuffer driver (none on s390, none before 5.6): `holds`
    was `true` there, vacuously; both engines now say it does not apply, as `run --json`
    (null) and `compare` (n/a) do. Where it applies somewhere, `holds` is the verdict."""
    from panicpath.check.search import applies_anywhere

    nowhere = Question(policy="linux-3.11", prop="fb-shows-panic", arches=("s390",),
                       max_faults=1)
    assert check(nowhere).holds and not applies_anywhere(nowhere)
    somewhere = Question(policy="linux-6.1", prop="fb-shows-panic", arches=("x86_64",),
                         hypervisors=("hyperv",), max_faults=0)
    assert applies_anywhere(somewhere)
    for engine in ("object", "fast"):
        args = ["check", "--policy", "linux-3.11", "--property", "fb-shows-panic", "--arch",
                "s390", "--engine", engine]
        r = CliRunner().invoke(main, [*args, "--json"])
        assert r.exit_code == 0, r.output
        doc = json.loads(r.stdout)
        assert (doc["holds"], doc["applicable"]) == (None, False)
        text = CliRunner().invoke(main, args)
        assert text.exit_code == 0 and "does not apply to any configuration" in text.stdout
        r = CliRunner().invoke(main, ["check", "--policy", "linux-4.9", "--property",
                                      "vmcore-complete", "--arch", "s390", "--engine", engine,
                                      "--json"])
        assert r.exit_code == 0 and json.loads(r.stdout)["holds"] is True
        assert json.loads(r.stdout)["applicable"] is True


def test_a_question_of_no_machine_is_refused() -> None:
    """`check` (and `export promela`) on --arch s390 --hypervisor hyperv searched nothing
    and said `holds`."""
    for command in (["check"], ["export", "promela"]):
        r = CliRunner().invoke(main, [*command, "--policy", "linux-6.1", "--property",
                                      "vmcore-captured", "--arch", "s390", "--hypervisor",
                                      "hyperv"])
        assert r.exit_code == 2 and len(r.stderr.splitlines()) == 1, r.output
        assert "--arch s390 --hypervisor hyperv selects no configuration" in r.stderr
        assert "arm64 under none, kvm, hyperv" in r.stderr
