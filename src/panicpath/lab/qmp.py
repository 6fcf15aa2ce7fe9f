"""QMP events as typed lab events, and what a pvpanic event means.

QEMU's pvpanic device (hw/misc/pvpanic.c, QEMU 7.2) turns the guest's write of
PVPANIC_PANICKED (bit 0) into the QMP event GUEST_PANICKED and of
PVPANIC_CRASH_LOADED (bit 1) into GUEST_CRASHLOADED. The guest side is
drivers/misc/pvpanic/pvpanic.c pvpanic_panic_notify() (Linux 6.1), a panic
notifier of priority INT_MAX that sends CRASH_LOADED when kexec_crash_loaded()
and PANICKED otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Literal

from panicpath.lab.events import Event, QmpEvent

PvpanicEvent = Literal["PANICKED", "CRASH_LOADED"]

_PVPANIC: dict[str, PvpanicEvent] = {
    "GUEST_PANICKED": "PANICKED",
    "GUEST_CRASHLOADED": "CRASH_LOADED",
}


def _render(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def qmp_event(name: str, data: Mapping[str, object] | None, t: float | None) -> QmpEvent:
    """A QmpEvent from an event name and its ``data`` member."""
    items = tuple(sorted((k, _render(v)) for k, v in (data or {}).items()))
    return QmpEvent(name, items, t)


def qmp_event_from_message(msg: Mapping[str, object], t: float | None) -> QmpEvent:
    """A QmpEvent from a whole QMP event message ``{"event": ..., "data": ...}``."""
    data = msg.get("data")
    return qmp_event(str(msg.get("event", "")), data if isinstance(data, Mapping) else None, t)


def pvpanic_event(events: Iterable[Event]) -> PvpanicEvent | None:
    """The first pvpanic event of a run, or None when the device sent nothing."""
    for e in events:
        if isinstance(e, QmpEvent) and e.name in _PVPANIC:
            return _PVPANIC[e.name]
    return None


def log_line(event: QmpEvent) -> str:
    """The text of a QMP event as written to a lab log (after the timestamp)."""
    data = {k: _maybe_json(v) for k, v in event.data}
    return f"QMP {event.name} {json.dumps(data, sort_keys=True)}"


def _maybe_json(value: str) -> object:
    try:
        return json.loads(value)
    except ValueError:
        return value
