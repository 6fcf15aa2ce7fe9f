"""The scan result as JSON (the schema of issue 6) and back.

Public schema (``panicpath scan --json``)::

    {"tree": str,
     "callbacks": [{"list", "file", "line", "callback", "priority", "priority_expr",
                    "features": [{"kind", "line", "detail"}], "via", "max_reason"}],
     "post_notifiers_writers": [{"file", "line", "function", "condition", "value"}],
     "unregistrations": [{"list", "file", "line", "callback", "via"}]}

``via`` (the registering statement), ``max_reason`` (kmsg dumpers) and
``value`` (what a writer stores) extend the issue's keys; docs/scan.md says why.
The cache form adds ``errors`` and ``stats``.
"""

from __future__ import annotations

from typing import Any

from panicpath.scan.results import (
    Callback,
    Feature,
    PostNotifiersWriter,
    ScanError,
    ScanResult,
    ScanStats,
    Unregistration,
)


def scan_result_to_json(result: ScanResult) -> dict[str, Any]:
    """JSON-ready dict of a scan (callbacks in kernel run order, as in the result)."""
    return {
        "tree": result.tree,
        "callbacks": [_callback(cb) for cb in result.callbacks],
        "post_notifiers_writers": [
            {"file": w.file, "line": w.line, "function": w.function, "condition": w.condition,
             "value": w.value}
            for w in result.post_notifiers_writers
        ],
        "unregistrations": [
            {"list": u.list, "file": u.file, "line": u.line, "callback": u.callback, "via": u.via}
            for u in result.unregistrations
        ],
    }


def _callback(cb: Callback) -> dict[str, Any]:
    return {
        "list": cb.list,
        "file": cb.file,
        "line": cb.line,
        "callback": cb.callback,
        "priority": cb.priority,
        "priority_expr": cb.priority_expr,
        "features": [{"kind": f.kind, "line": f.line, "detail": f.detail} for f in cb.features],
        "via": cb.via,
        "max_reason": cb.max_reason,
    }


def to_cache_dict(result: ScanResult) -> dict[str, Any]:
    """Public JSON plus errors and stats (what the on-disk cache stores)."""
    data = scan_result_to_json(result)
    data["errors"] = [{"file": e.file, "message": e.message} for e in result.errors]
    data["stats"] = {"files_seen": result.stats.files_seen,
                     "files_parsed": result.stats.files_parsed,
                     "seconds": result.stats.seconds}
    return data


def from_cache_dict(data: dict[str, Any]) -> ScanResult:
    """Inverse of :func:`to_cache_dict` (also accepts the public JSON)."""
    callbacks = tuple(
        Callback(c["list"], c["file"], int(c["line"]), c["callback"], c["priority"],
                 c["priority_expr"],
                 tuple(Feature(f["kind"], int(f["line"]), f["detail"]) for f in c["features"]),
                 c.get("via", ""), c.get("max_reason"))
        for c in data["callbacks"])
    writers = tuple(PostNotifiersWriter(w["file"], int(w["line"]), w["function"],
                                        w["condition"], w.get("value", ""))
                    for w in data["post_notifiers_writers"])
    unregs = tuple(Unregistration(u["list"], u["file"], int(u["line"]), u["callback"],
                                  u.get("via", ""))
                   for u in data["unregistrations"])
    errors = tuple(ScanError(e["file"], e["message"]) for e in data.get("errors", []))
    stats_d = data.get("stats", {})
    stats = ScanStats(int(stats_d.get("files_seen", 0)), int(stats_d.get("files_parsed", 0)),
                      float(stats_d.get("seconds", 0.0)))
    return ScanResult(data["tree"], callbacks, writers, unregs, errors, stats)
