"""docs/inputs.md lists the policy file's keys, steps and features from the declarations
the policy-file reader uses."""

from __future__ import annotations

import pytest

from panicpath.model.steps import STEPS
from panicpath.policies.base import FEATURES
from panicpath.policies.policy_file import PLACEMENT_KEYS, POLICY_KEYS, PROGRAM_KEYS
from panicpath.report.inputs import render_inputs


def test_every_policy_file_key_step_and_feature_is_listed() -> None:
    text = render_inputs()
    section = text[text.index("## Policy files"):text.index("## Lab scenario files")]
    for name in (*POLICY_KEYS, *PROGRAM_KEYS, *PLACEMENT_KEYS, *STEPS, *FEATURES):
        assert f"| `{name}` |" in section, name
    assert "--policy-file" in text and "--dump" in text


def test_a_new_feature_changes_the_document(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read off the declaration the reader checks against, not written beside it."""
    monkeypatch.setitem(FEATURES, "nmi_safe_stop", "a feature of tomorrow's kernel")
    assert "| `nmi_safe_stop` | a feature of tomorrow's kernel |" in render_inputs()
