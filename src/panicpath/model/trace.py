"""Trace records: what ran, on which CPU, when, with what effect, citing which source."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """One line of the trace.

    `event` is the kernel function (e.g. ``__crash_kexec``) or the catalog name of
    the callback (e.g. ``hyperv-vmbus-unload``); `kind` is one of ``step``,
    ``notifier``, ``kmsg_dumper``, ``crash_shutdown``, ``arch``, ``capture``,
    ``fault``, ``end``.
    """

    t_ms: int
    cpu: int
    event: str
    kind: str
    effect: str
    source: str

    def to_json(self) -> dict[str, object]:
        """The JSON shape `panicpath run --json` prints."""
        return {
            "t_ms": self.t_ms,
            "cpu": self.cpu,
            "event": self.event,
            "kind": self.kind,
            "effect": self.effect,
            "source": self.source,
        }
