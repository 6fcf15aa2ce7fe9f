"""Helpers for the seed-claim tests: run a scenario, find trace lines."""

from __future__ import annotations

from typing import Any

from panicpath.engine import RunResult, simulate
from panicpath.model.scenario import Scenario

POST = (("crash_kexec_post_notifiers", "1"),)


def run(**kw: Any) -> RunResult:
    """Simulate a scenario given as Scenario keyword arguments."""
    return simulate(Scenario(**kw))


def events(r: RunResult, kind: str | None = None) -> list[str]:
    """Trace event names in order, optionally of one kind."""
    return [e.event for e in r.trace if kind is None or e.kind == kind]


def index(r: RunResult, event: str) -> int:
    """Position of the first trace line for `event` (ValueError if absent)."""
    return events(r).index(event)
