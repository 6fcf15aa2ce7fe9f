"""Every seed claim about some fault or fault combination: the checker finds the
counterexample, with the fewest faults (none with one fault fewer), or proves the claim's
'fixed' side holds on the whole space (cases in seed_cases.py, each citing its seed)."""

from __future__ import annotations

import dataclasses

import pytest

from panicpath.check.search import check
from tests.check.seed_cases import CASES, SeedCase


def _names(faults: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(f.partition("=")[0] for f in faults))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_seed_claim_counterexample_is_minimal(case: SeedCase) -> None:
    v = check(case.question)
    if case.faults is None:
        assert v.holds, case.cite
        assert v.distinct > 1  # the faults were tried, not skipped
        return
    assert not v.holds and v.counterexample is not None, case.cite
    assert _names(v.counterexample.scenario.faults) == tuple(sorted(case.faults)), case.cite
    assert len(v.path) == len(case.faults) + 1  # root, then one state per fault
    if case.faults:
        fewer = dataclasses.replace(case.question, max_faults=len(case.faults) - 1)
        assert check(fewer).holds, f"{case.id}: fewer faults already fail"
