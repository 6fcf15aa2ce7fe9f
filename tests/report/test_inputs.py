"""docs/inputs.md is generated from the declarations the validation uses, and kept fresh."""

from __future__ import annotations

from pathlib import Path

import pytest

from panicpath.check.space import SPACE_KEYS
from panicpath.faults import FAULTS
from panicpath.lab.scenario import LAB_FIELDS
from panicpath.model import params as params_mod
from panicpath.model.params import PARAMS, Param
from panicpath.report.inputs import render_inputs

DOC = Path(__file__).resolve().parents[2] / "docs" / "inputs.md"


def test_docs_inputs_is_up_to_date() -> None:
    """Fails when a declaration changed and `panicpath inputs` was not run."""
    assert DOC.read_text(encoding="utf-8") == render_inputs()


def test_every_declared_input_is_listed() -> None:
    text = render_inputs()
    for name in (*PARAMS, *FAULTS, *SPACE_KEYS, *LAB_FIELDS):
        assert f"`{name}`" in text, name
    for option in ("--max-faults", "--tcg-threads", "--space", "--from-scan", "--jobs"):
        assert option in text


def test_a_changed_range_changes_the_document(monkeypatch: pytest.MonkeyPatch) -> None:
    """The document is read off the declaration, not written beside it."""
    before = render_inputs()
    widened = dict(PARAMS)
    widened["panic_notifiers_level"] = Param("panic_notifiers_level", "int", "x", lo=0, hi=9)
    monkeypatch.setattr(params_mod, "PARAMS", widened)
    monkeypatch.setattr("panicpath.report.inputs.PARAMS", widened)
    after = render_inputs()
    assert "an integer 0..9" in after and "an integer 0..9" not in before
