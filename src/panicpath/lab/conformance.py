"""Kernel against model: the prediction for a scenario, when a model is available.

The model side is ``panicpath.lab.predict.predict(scenario) -> Observation``
(written against the panicpath model). This module only finds it and puts both
sides and their differences in one record, so that the lab works (observation
only) before or without a model.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from panicpath.lab.observation import Difference, Observation, compare
from panicpath.lab.scenario import LabScenario

Predictor = Callable[[LabScenario], Observation]


def find_predictor() -> Predictor | None:
    """``panicpath.lab.predict.predict`` if that module exists and imports."""
    try:
        module = importlib.import_module("panicpath.lab.predict")
    except ImportError:
        return None
    fn = getattr(module, "predict", None)
    return fn if callable(fn) else None


@dataclass(frozen=True)
class Conformance:
    """Both sides of one scenario and how they differ."""

    scenario: str
    observed: Observation
    predicted: Observation | None
    differences: tuple[Difference, ...]
    predicted_with: dict[str, object] | None = None
    """``{"policy", "arch", "drivers"}`` of the model run behind `predicted`."""

    @property
    def agree(self) -> bool | None:
        """True/False when a prediction exists, None otherwise."""
        return None if self.predicted is None else not self.differences

    def to_json(self) -> dict[str, object]:
        """``{"scenario", "observed", "predicted", "agree", "differences"}``."""
        return {
            "scenario": self.scenario,
            "observed": self.observed.to_json(),
            "predicted": None if self.predicted is None else self.predicted.to_json(),
            "agree": self.agree,
            "differences": [d.to_json() for d in self.differences],
            "predicted_with": self.predicted_with,
        }


def conformance(scenario: LabScenario, observed: Observation,
                predictor: Predictor | None) -> Conformance:
    """Compare a run with the model's prediction (if there is a model)."""
    if predictor is None:
        return Conformance(scenario.name, observed, None, ())
    predicted = predictor(scenario)
    with_ = getattr(importlib.import_module(predictor.__module__), "predicted_with", None)
    return Conformance(scenario.name, observed, predicted, tuple(compare(observed, predicted)),
                       with_(scenario) if callable(with_) else None)
