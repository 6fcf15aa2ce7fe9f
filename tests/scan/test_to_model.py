"""Scanned features become the model's needs and effects."""

from __future__ import annotations

from panicpath.scan import ScanResult, scan_result_to_json, scan_to_user_callbacks


def test_fixture_callbacks_to_model(fixture_scan: ScanResult) -> None:
    users = {u["name"]: u for u in scan_to_user_callbacks(scan_result_to_json(fixture_scan))}
    assert users["ft_panic"] == {
        "name": "ft_panic",
        "list": "panic_notifier_list",
        "priority": 1,
        "needs": ["host", "mutex:ft_mutex", "lock:ft_lock", "ipi"],  # in line order
        "effects": ["hypercall", "alloc", "print:ft: notifying", "notify-stop", "spin:1000"],
        "source": "features.c:58",
    }
    assert users["sb_panic_notify"]["needs"] == ["trylock:sb_lock"]
    assert users["sb_panic_notify"]["effects"] == ["mmio"]
    assert users["km_dump"]["list"] == "kmsg_dumper"
    assert users["km_dump"]["needs"] == ["mutex:km_mutex"]
    assert users["cr_stop_watchdogs"]["list"] == "crash_shutdown"
    assert users["lp_opaque_cb"]["priority"] == 0  # unresolved expression


def test_duplicate_names_are_made_unique() -> None:
    scan = {"callbacks": [
        {"list": "panic_notifier_list", "file": "a.c", "line": 1, "callback": "dup",
         "priority": 0, "priority_expr": "", "features": []},
        {"list": "panic_notifier_list", "file": "b.c", "line": 2, "callback": "dup",
         "priority": 5, "priority_expr": "5", "features": [
             {"kind": "spin", "line": 3, "detail": "0.5 ms: udelay(500)"},
             {"kind": "vmbus", "line": 4, "detail": "vmbus_sendpacket(x)"},
             {"kind": "spin", "line": 5, "detail": "? ms: mdelay(n)"}]},
        {"list": "kmsg_dumper", "file": "c.c", "line": 1, "callback": "",
         "priority": None, "priority_expr": "", "features": []},
    ]}
    users = scan_to_user_callbacks(scan)
    assert [u["name"] for u in users] == ["dup@a.c", "dup@b.c"]
    assert users[1]["needs"] == ["vmbus"]
    assert users[1]["effects"] == []  # 0.5 ms rounds below the 1 ms unit, unknown spin skipped
