"""The second opinion: SPIN, on the Promela export of each seed-claim question, reaches the
checker's verdict (issue 5). spin and gcc are Debian packages installed by
scripts/install-deps.sh; these tests run SPIN for real."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner

from panicpath.check.promela import ExportError, SpinResult, parse_pan, promela, spin_verdict
from panicpath.check.search import Question, check
from panicpath.cli import main
from tests.check.seed_cases import CASES, SeedCase

pytestmark = pytest.mark.skipif(shutil.which("spin") is None or shutil.which("cc") is None,
                                reason="spin/gcc missing: run scripts/install-deps.sh")


@pytest.fixture(scope="module")
def spin_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SpinResult]:
    """SPIN on every case, two at a time (each is spin -a, a gcc build and pan)."""
    root = tmp_path_factory.mktemp("spin")

    def one(case: SeedCase) -> tuple[str, SpinResult]:
        return case.id, spin_verdict(case.question, root / case.id)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(one, CASES))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_spin_agrees_with_the_checker(case: SeedCase, spin_results: dict[str, SpinResult]) -> None:
    spin = spin_results[case.id]
    assert spin.holds == check(case.question).holds, case.cite
    assert spin.holds == (case.faults is None), case.cite
    assert spin.states > 0


def test_a_wrong_mechanic_in_the_export_makes_spin_disagree(tmp_path: Path) -> None:
    """The guard can fail: with the Promela notifier walk made to ignore a corrupted list
    (a bug of the kind the second opinion exists to catch), SPIN says the seed 000 case
    holds while the checker finds the counterexample."""
    case = next(c for c in CASES if c.id == "corrupted-list-with-post-notifiers")
    q = dataclasses.replace(case.question, fault_names=("corrupted-notifier-list",))
    text = promela(q)
    walk = ":: list_corrupt -> oops_console_unblank(); path_end(E_HANG)"
    assert walk in text
    (tmp_path / "model.pml").write_text(text.replace(walk, ":: false -> skip"), encoding="utf-8")
    subprocess.run(["spin", "-a", "model.pml"], cwd=tmp_path, check=True, capture_output=True)
    subprocess.run(["cc", "-O0", "-DSAFETY", "-DNOCLAIM", "-o", "pan", "pan.c"], cwd=tmp_path,
                   check=True, capture_output=True)
    out = subprocess.run(["./pan", "-m100000"], cwd=tmp_path, capture_output=True, text=True,
                         check=False)
    errors, _ = parse_pan(out.stdout)
    assert errors == 0 and not check(q).holds


def test_proposals_with_their_own_steps_are_refused() -> None:
    with pytest.raises(ExportError, match="outside the Promela subset"):
        promela(Question(policy="mladek-2", prop="vmcore-captured"))


def test_export_cli(tmp_path: Path) -> None:
    out = tmp_path / "m.pml"
    r = CliRunner().invoke(main, ["export", "promela", "--policy", "linux-3.16", "--property",
                                  "vmcore-complete", "--arch", "x86_64", "--hypervisor", "none",
                                  "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "proctype" in out.read_text() or "init" in out.read_text()
    bad = CliRunner().invoke(main, ["export", "promela", "--policy", "mladek-2", "--property",
                                    "vmcore-captured"])
    assert bad.exit_code == 2
    unknown = CliRunner().invoke(main, ["export", "promela", "--policy", "nope", "--property",
                                        "vmcore-captured"])
    assert unknown.exit_code == 2 and "valid:" in unknown.output
    spin = CliRunner().invoke(main, ["export", "promela", "--policy", "linux-3.16", "--property",
                                     "vmcore-complete", "--arch", "x86_64", "--hypervisor",
                                     "none", "--spin"])
    assert spin.exit_code == 12 and "VIOLATED" in spin.output


def test_os_term_agrees_in_all_three_engines(tmp_path: Path) -> None:
    """An ibm,os-term notifier (GUEST_PANICKED whatever kdump says) last on the chain:
    without a crash kernel QEMU's default panic action powers the guest off before
    panic()'s kmsg_dump, so ramoops never stores the log; the object engine, the fast
    explorer and SPIN say so alike."""
    from panicpath.check.fast import explore
    from panicpath.check.search import Question, check
    from panicpath.model.callback import INT_MIN, Callback, Effect

    term = Callback(name="os-term", list="panic_notifier_list", priority=INT_MIN, order=300,
                    effects=(Effect("os-term"),))
    q = Question(policy="linux-6.1", prop="logs-persisted", arches=("powerpc",),
                 hypervisors=("none",), driver_sets=(("ramoops",),), kdump=(False,),
                 post_notifiers=("0",), max_faults=0, user_callbacks=(term,))
    assert not check(q).holds and not explore(q).holds
    assert not spin_verdict(q, tmp_path / "spin").holds


def test_pseries_dumps_before_os_term_in_the_object_engine_only() -> None:
    """pseries_panic() runs kmsg_dump(PANIC) before rtas_os_term (panic_flush_kmsg_end,
    v5.19): ramoops stores the log although QEMU then powers the guest off. The fast
    explorer and the Promela export refuse that effect in one line."""
    from panicpath.check.fast import explore
    from panicpath.check.search import Question, check

    q = Question(policy="linux-6.1", prop="logs-persisted", arches=("powerpc",),
                 hypervisors=("none",), driver_sets=(("pseries-os-term", "ramoops"),),
                 kdump=(False,), post_notifiers=("0",), max_faults=0)
    assert check(q).holds
    for engine in (explore, promela):
        with pytest.raises(ExportError, match="object engine only"):
            engine(q)
