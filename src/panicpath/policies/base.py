"""A policy: the ordered program of panic() for one kernel version or one proposal."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from panicpath.model.callback import Callback
    from panicpath.model.run import Run

CONDITIONS = ("", "post", "!post")
"""When an op runs: always, only with crash_kexec_post_notifiers (as panic() snapshotted
it), only without."""

MAINLINE = (99, 0)


@dataclass(frozen=True)
class Op:
    """One step of the program, by name (panicpath.model.steps.STEPS or a policy's own)."""

    step: str
    when: str = ""


@dataclass(frozen=True)
class Policy:
    """A kernel version or a proposal.

    `features` names behaviours that appeared at some version and that steps or
    architectures test (`Run.has`). `version` decides which catalog callbacks exist
    (Driver.since). `steps` holds steps private to the policy. `place` may move a
    catalog callback (to another list or priority) for proposals that re-home
    drivers; `setup` may change the run before it starts (e.g. remove a parameter).
    """

    name: str
    version: tuple[int, int]
    title: str
    program: tuple[Op, ...]
    features: frozenset[str] = frozenset()
    sources: tuple[str, ...] = ()
    doc: str = ""
    base: str = ""
    kind: str = "kernel"
    steps: dict[str, Callable[[Run], None]] = field(default_factory=dict)
    place: Callable[[Callback, Run], Callback | None] | None = None
    setup: Callable[[Run], None] | None = None
    params: tuple[str, ...] = ()
