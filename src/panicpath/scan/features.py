"""Risk features of a panic-path callback, found by walking its body.

The walk follows calls into functions defined in the same translation unit up
to a bounded depth and records, with the line, what makes a callback dangerous
when panic() (kernel/panic.c, 6.1) runs it with interrupts off, other CPUs
stopped (possibly while holding locks) and no scheduler: spinning locks, sleeping
locks, busy waits and polling loops, waits on other agents, IPIs, hypercalls,
MMIO/port writes, allocations and printk. A short table of well-known callees in
other files (each cited) covers the calls the scanner cannot follow.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from tree_sitter import Node

from panicpath.scan import constexpr, cparse
from panicpath.scan.results import Feature
from panicpath.scan.unit import FunctionDef, Unit

MAX_DEPTH = 3

_LOOP_TYPES = frozenset({"for_statement", "while_statement", "do_statement"})
_SLEEP = frozenset({"msleep", "msleep_interruptible", "ssleep", "usleep_range", "fsleep",
                    "schedule", "schedule_timeout", "schedule_timeout_interruptible",
                    "schedule_timeout_uninterruptible", "cond_resched", "might_sleep"})
_DELAY_US = {"mdelay": 1000.0, "udelay": 1.0, "ndelay": 0.001}
_WAIT_PREFIXES = ("wait_for_completion", "wait_event", "wait_on_bit", "flush_work",
                  "flush_workqueue", "flush_scheduled_work", "synchronize_rcu",
                  "synchronize_srcu", "synchronize_sched", "synchronize_net")
_IPI_PREFIXES = ("smp_call_function", "on_each_cpu", "send_IPI", "apic_send_IPI",
                 "arch_send_call_function")
_IPI = frozenset({"smp_send_stop", "crash_smp_send_stop", "trigger_all_cpu_backtrace",
                  "nmi_shootdown_cpus", "stop_machine", "stop_other_cpus",
                  "smp_send_reschedule", "kick_all_cpus_sync"})
_HYPERCALL = frozenset({"hv_set_register", "rtas_call", "rtas_call_unlocked", "plpar_hcall",
                        "plpar_hcall_norets", "plpar_hcall9", "kvm_hypercall0", "kvm_hypercall1",
                        "kvm_hypercall2", "kvm_hypercall3", "kvm_hypercall4", "vmcall",
                        "sclp_sync_request", "diag308", "__diag308"})
_HYPERCALL_PREFIXES = ("HYPERVISOR_", "opal_", "hv_do_", "plpar_")
_MMIO_PREFIXES = ("iowrite", "writeb", "writew", "writel", "writeq", "__raw_write",
                  "memcpy_toio", "memset_io", "out_8", "out_be", "out_le", "outb", "outw",
                  "outl", "outs")
_MSR_PREFIXES = ("wrmsr", "native_write_msr", "wrmsrl")
_ALLOC = frozenset({"kmalloc", "kzalloc", "kcalloc", "kmalloc_array", "krealloc", "kmemdup",
                    "kstrdup", "kasprintf", "vmalloc", "vzalloc", "kvmalloc", "kvzalloc",
                    "kmem_cache_alloc", "kmem_cache_zalloc", "alloc_pages", "__get_free_page",
                    "__get_free_pages", "get_zeroed_page", "devm_kzalloc", "devm_kmalloc",
                    "dma_alloc_coherent", "alloc_skb", "dev_alloc_skb", "kmalloc_node",
                    "kzalloc_node", "alloc_page"})
_PRINT_PREFIXES = ("pr_", "dev_emerg", "dev_alert", "dev_crit", "dev_err", "dev_warn",
                   "dev_notice", "dev_info", "dev_dbg", "netdev_err", "netdev_warn",
                   "netdev_info", "netdev_emerg")
_PRINT = frozenset({"printk", "printk_deferred", "early_printk", "vprintk", "printk_once",
                    "panic_print"})
_POLL_MARKERS = frozenset({"cpu_relax", "cpu_relax_lowlatency", "mdelay", "udelay", "ndelay",
                           "barrier"})
_READ_PREFIXES = ("readb", "readw", "readl", "readq", "ioread", "__raw_read", "inb", "inw",
                  "inl", "in_8", "in_be", "in_le")
_STOP_RETURNS = frozenset({"NOTIFY_STOP", "NOTIFY_BAD", "NOTIFY_STOP_MASK"})
_LOOP_MACRO_MARKERS = ("for_each", "_for_each", "list_for_each", "hlist_for_each")
#: Node types a callback's walk looks at (function_definition: a loop macro with a block,
#: as the grammar reads ``for_each_online_cpu(cpu) { ... }``).
WALKED = frozenset({*_LOOP_TYPES, "call_expression", "return_statement", "function_definition"})

#: Calls into other files whose panic-path behaviour the scanner cannot walk,
#: with the behaviour and where it is in the 6.1 tree.
KNOWN_CALLEES: dict[str, tuple[tuple[str, str], ...]] = {
    "vmbus_initiate_unload": (
        ("vmbus", "vmbus_initiate_unload(): posts CHANNELMSG_UNLOAD on the VMbus connection"),
        ("host", "vmbus_initiate_unload(): in crash mode polls up to 100 s (10000 x mdelay(10)) "
                 "for the host's UNLOAD response (drivers/hv/channel_mgmt.c "
                 "vmbus_wait_for_unload, 6.1)"),
    ),
    "hyperv_report_panic": (
        ("hypercall", "hyperv_report_panic(): writes the Hyper-V guest crash MSRs, informing "
                      "the host (arch/x86/hyperv/hv_init.c, 6.1)"),
    ),
    "xen_reboot": (
        ("hypercall", "xen_reboot(): HYPERVISOR_sched_op(SCHEDOP_shutdown) "
                      "(arch/x86/xen/enlighten.c, 6.1)"),
    ),
    "crash_fadump": (
        ("hypercall", "crash_fadump(): firmware-assisted dump, does not return when fadump is "
                      "registered (arch/powerpc/kernel/fadump.c, 6.1)"),
    ),
    "native_machine_crash_shutdown": (
        ("ipi", "native_machine_crash_shutdown(): crash_smp_send_stop() NMI shootdown, waits "
                "up to 1 s for the other CPUs (arch/x86/kernel/crash.c, reboot.c, 6.1)"),
    ),
    "default_machine_crash_shutdown": (
        ("ipi", "default_machine_crash_shutdown(): crash IPI to the other CPUs, waits up to "
                "10 s (arch/powerpc/kexec/crash.c or arch/mips/kernel/crash.c, 6.1)"),
    ),
}


def classify(name: str) -> str | None:
    """Feature kind of a call to ``name``, or None if the call is not risky by itself."""
    if name.endswith("_init") or "is_locked" in name or "unlock" in name:
        return None
    if "trylock" in name and ("spin" in name or name.startswith(("read_", "write_"))):
        return "trylock"
    if name.startswith(("mutex_", "rt_mutex_lock")) and "lock" in name:
        return "mutex"
    if name in ("down", "down_interruptible", "down_killable", "down_timeout", "down_read",
                "down_write", "down_trylock"):
        return "mutex"
    if (name.startswith(("spin_lock", "raw_spin_lock", "read_lock", "write_lock",
                         "arch_spin_lock", "_raw_spin_lock"))):
        return "lock"
    if name in _SLEEP:
        return "sleep"
    if name in _DELAY_US:
        return "spin"
    if name.startswith(_WAIT_PREFIXES):
        return "wait"
    if name in _IPI or name.startswith(_IPI_PREFIXES):
        return "ipi"
    if (name in _HYPERCALL or name.startswith(_HYPERCALL_PREFIXES)
            or "hypercall" in name.lower()):
        return "hypercall"
    if name.startswith("vmbus_") or name.startswith("hv_ringbuffer_"):
        return "vmbus"
    if name.startswith(_MMIO_PREFIXES):
        return "mmio"
    if name.startswith(_MSR_PREFIXES):
        return "msr"
    if name in _ALLOC:
        return "alloc"
    if name in _PRINT or name.startswith(_PRINT_PREFIXES):
        return "print"
    return None


@dataclass
class _Walk:
    unit: Unit
    max_depth: int
    found: list[Feature]
    visited: set[str]


def callback_features(name: str, unit: Unit, max_depth: int = MAX_DEPTH,
                      site_line: int = 0) -> tuple[Feature, ...]:
    """Features of the function ``name`` and of same-unit callees up to ``max_depth`` calls deep.

    A callback defined in another file gets only its :data:`KNOWN_CALLEES`
    entry, cited at ``site_line`` (where it is registered).
    """
    walk = _Walk(unit, max_depth, [], {name})
    fdef = unit.functions.get(name)
    if fdef is None:
        return tuple(Feature(kind, site_line, detail)
                     for kind, detail in KNOWN_CALLEES.get(name, ()))
    _walk_function(walk, name, fdef, 0, ())
    unique: dict[tuple[str, int, str], Feature] = {}
    for feat in walk.found:
        unique.setdefault((feat.kind, feat.line, feat.detail), feat)
    return tuple(sorted(unique.values(), key=lambda f: (f.line, f.kind, f.detail)))


def _walk_function(walk: _Walk, name: str, fdef: FunctionDef, depth: int,
                   loops: tuple[int | None, ...]) -> None:
    body = fdef.node.child_by_field_name("body")
    if body is None:
        return
    if body.start_byte in walk.unit.blanked and fdef.rel == walk.unit.main.rel:
        walk.unit.reached_blanked = True  # the slicing plan guessed wrong: parse it whole
        return
    where = "" if depth == 0 else f" [in {name}" + (
        "]" if fdef.rel == walk.unit.main.rel else f", {fdef.rel}]")
    # The nodes that matter, in source order (one query, in C); a node is inside the
    # loops still open on the stack when it starts.
    open_loops: list[tuple[int, int | None]] = []
    for node in cparse.walk(body, WALKED):
        while open_loops and node.start_byte >= open_loops[-1][0]:
            open_loops.pop()
        if node.type in _LOOP_TYPES or _is_loop_macro(node):
            count = _iterations(node, walk.unit.env) if node.type == "for_statement" else None
            if node.type in _LOOP_TYPES:
                _poll_feature(walk, node, count, where)
            open_loops.append((node.end_byte, count))
        elif node.type == "call_expression":
            ctx = (*loops, *(count for _end, count in open_loops))
            _call_features(walk, node, ctx, where, depth)
        elif node.type == "return_statement" and depth == 0:
            _return_feature(walk, node)


def _is_loop_macro(node: Node) -> bool:
    if node.type != "function_definition":
        return False
    name = cparse.text(node.child_by_field_name("type"))
    decl = cparse.text(node.child_by_field_name("declarator"))
    return any(m in name or decl.startswith(m) for m in _LOOP_MACRO_MARKERS)


def _call_features(walk: _Walk, call: Node, ctx: tuple[int | None, ...], where: str,
                   depth: int) -> None:
    name = cparse.call_name(call)
    line = cparse.line(call)
    fdef = walk.unit.functions.get(name)
    if fdef is None and name in KNOWN_CALLEES:
        for kkind, kdetail in KNOWN_CALLEES[name]:
            walk.found.append(Feature(kkind, line, kdetail + where))
        return
    kind = classify(name)
    if kind is not None:
        args = cparse.call_args(call)
        walk.found.append(Feature(kind, line, _detail(kind, name, args, ctx, walk.unit) + where))
    if fdef is not None and depth < walk.max_depth and name not in walk.visited:
        walk.visited.add(name)
        _walk_function(walk, name, fdef, depth + 1, ctx)


def _detail(kind: str, name: str, args: list[Node], ctx: tuple[int | None, ...],
            unit: Unit) -> str:
    first = cparse.squash(cparse.text(args[0])) if args else ""
    if kind in ("lock", "trylock", "mutex"):
        return f"{first.lstrip('&').strip() or '?'}: {name}()"
    if kind == "spin":
        return _spin_detail(name, args, first, ctx, unit)
    if kind == "print":
        message = _first_string(args)
        return message if message else f"{name}({first})"
    return f"{name}({first})" if first else f"{name}()"


def _spin_detail(name: str, args: list[Node], first: str, ctx: tuple[int | None, ...],
                 unit: Unit) -> str:
    value = constexpr.evaluate(args[0], unit.env) if args else None
    loops = " x ".join("?" if c is None else str(c) for c in ctx)
    suffix = f" x {loops} iterations" if ctx else ""
    if value is None or any(c is None for c in ctx):
        return f"? ms: {name}({first}){suffix}"
    total_us = value * _DELAY_US[name]
    for count in ctx:
        total_us *= count or 0
    return f"{_format_ms(total_us / 1000.0)} ms: {name}({first}){suffix}"


def _format_ms(ms: float) -> str:
    return str(int(ms)) if ms == int(ms) else f"{ms:.3f}".rstrip("0")


def _first_string(args: list[Node]) -> str:
    for arg in args:
        if arg.type in ("string_literal", "concatenated_string"):
            parts = [cparse.text(s) for s in cparse.walk(arg, frozenset({"string_content",
                                                                          "escape_sequence"}))]
            return "".join(parts).replace("\\n", "").strip()
    return ""


def _poll_feature(walk: _Walk, loop: Node, count: int | None, where: str) -> None:
    names = sorted({cparse.call_name(c) for c in cparse.walk(loop, frozenset({"call_expression"}))})
    markers = [n for n in names if n in _POLL_MARKERS or n.startswith(_READ_PREFIXES)
               or classify(n) == "hypercall"]
    if markers:
        bound = f"{count} iterations" if count is not None else "unbounded or unknown bound"
        walk.found.append(Feature("poll", cparse.line(loop),
                                  f"loop polling with {', '.join(markers)}() ({bound})" + where))


def _return_feature(walk: _Walk, node: Node) -> None:
    for ident in _identifiers(node):
        if ident in _STOP_RETURNS or ident == "notifier_from_errno":
            walk.found.append(Feature("notify-stop", cparse.line(node),
                                      cparse.squash(cparse.text(node)).rstrip(";")))
            return


def _identifiers(node: Node) -> Iterator[str]:
    for ident in cparse.walk(node, frozenset({"identifier"})):
        yield cparse.text(ident)


def _iterations(loop: Node, env: constexpr.Env) -> int | None:
    """Constant trip count of ``for (i = A; i < B; i++)``-shaped loops, else None."""
    init = loop.child_by_field_name("initializer")
    cond = loop.child_by_field_name("condition")
    update = loop.child_by_field_name("update")
    if init is None or cond is None or update is None or cond.type != "binary_expression":
        return None
    var, start = _loop_start(init, env)
    if var is None or start is None:
        return None
    left = cparse.text(cond.child_by_field_name("left"))
    op = cparse.text(cond.child_by_field_name("operator"))
    right = cond.child_by_field_name("right")
    if left != var:
        return None
    end = constexpr.evaluate(right, env)
    step = _loop_step(update, var)
    if end is None or step is None:
        return None
    if step > 0 and op in ("<", "!="):
        count = end - start
    elif step > 0 and op == "<=":
        count = end - start + 1
    elif step < 0 and op == ">":
        count = start - end
    elif step < 0 and op == ">=":
        count = start - end + 1
    else:
        return None
    return max(count, 0)


def _loop_start(init: Node, env: constexpr.Env) -> tuple[str | None, int | None]:
    if init.type == "assignment_expression":
        return (cparse.text(init.child_by_field_name("left")),
                constexpr.evaluate(init.child_by_field_name("right"), env))
    if init.type == "declaration":
        for child in init.named_children:
            if child.type == "init_declarator":
                return (cparse.declarator_name(child.child_by_field_name("declarator")),
                        constexpr.evaluate(child.child_by_field_name("value"), env))
    return None, None


def _loop_step(update: Node, var: str) -> int | None:
    if update.type == "update_expression":
        if cparse.text(update.child_by_field_name("argument")) != var:
            return None
        return 1 if "++" in cparse.text(update) else -1
    if update.type == "assignment_expression":
        op = cparse.text(update.child_by_field_name("operator"))
        if cparse.text(update.child_by_field_name("left")) == var and op in ("+=", "-="):
            return 1 if op == "+=" else -1
    return None
