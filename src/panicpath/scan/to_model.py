"""Turn scanned callbacks into the model's user-callback dicts.

Each scanned callback becomes ``{"name", "list", "priority", "needs", "effects",
"source"}``; its needs and effects follow from its risk features (the mapping
is documented in docs/scan.md):

=============  ===================================================
feature kind   becomes
=============  ===================================================
lock           need ``lock:NAME`` (spins forever if the lock is held)
trylock        need ``trylock:NAME`` (skips its work if held)
mutex          need ``mutex:NAME`` (sleeping lock: a bug in panic context)
ipi            need ``ipi`` (sends IPIs and waits for other CPUs)
vmbus          need ``vmbus`` (needs the Hyper-V VMbus connection)
host/poll/wait need ``host`` (waits for a host, firmware or device to answer)
hypercall      effect ``hypercall``
spin           effect ``spin:MS`` (sum of the constant busy waits, >= 1 ms)
mmio           effect ``mmio``
alloc          effect ``alloc``
print          effect ``print:TEXT``
notify-stop    effect ``notify-stop``
sleep, msr     not mapped (reported by the scanner only)
=============  ===================================================
"""

from __future__ import annotations

from collections import Counter
from typing import Any

_LISTS = frozenset({"panic_notifier_list", "kmsg_dumper", "crash_shutdown"})
_NEED_BY_KIND = {"ipi": "ipi", "vmbus": "vmbus", "host": "host", "poll": "host", "wait": "host"}
_EFFECT_BY_KIND = {"hypercall": "hypercall", "mmio": "mmio", "alloc": "alloc",
                   "notify-stop": "notify-stop"}


def _spin_ms(detail: str) -> float | None:
    head, sep, _ = detail.partition(" ms:")
    if not sep or head == "?":
        return None
    try:
        return float(head)
    except ValueError:
        return None


def features_to_needs_effects(features: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Model needs and effects implied by a callback's scanned features."""
    needs: list[str] = []
    effects: list[str] = []
    spin_total = 0.0
    for feat in features:
        kind = str(feat["kind"])
        detail = str(feat["detail"])
        if kind in ("lock", "trylock", "mutex"):
            needs.append(f"{kind}:{detail.partition(': ')[0]}")
        elif kind in _NEED_BY_KIND:
            needs.append(_NEED_BY_KIND[kind])
        elif kind in _EFFECT_BY_KIND:
            effects.append(_EFFECT_BY_KIND[kind])
        elif kind == "print":
            effects.append(f"print:{detail.split(' [in ', 1)[0]}")
        elif kind == "spin":
            spin_total += _spin_ms(detail) or 0.0
    if spin_total >= 1:
        effects.append(f"spin:{round(spin_total)}")
    return list(dict.fromkeys(needs)), list(dict.fromkeys(effects))


def scan_to_user_callbacks(scan_json: dict[str, Any]) -> list[dict[str, Any]]:
    """User-callback dicts (the model's TOML contract) for every resolved scanned callback."""
    entries = [c for c in scan_json.get("callbacks", [])
               if c.get("callback") and c.get("list") in _LISTS]
    names = Counter(str(c["callback"]) for c in entries)
    out: list[dict[str, Any]] = []
    for cb in entries:
        needs, effects = features_to_needs_effects(list(cb.get("features", [])))
        name = str(cb["callback"])
        if names[name] > 1:
            name = f"{name}@{cb['file']}"
        priority = cb.get("priority")
        out.append({
            "name": name,
            "list": cb["list"],
            "priority": int(priority) if isinstance(priority, int) else 0,
            "needs": needs,
            "effects": effects,
            "source": f"{cb['file']}:{cb['line']}",
        })
    return out
