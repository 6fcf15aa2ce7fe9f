"""A policy derived from a kernel tree's ``panic()``: the program read from source.

``derive_policy(TREE)`` parses ``kernel/panic.c`` with tree-sitter, takes ``panic()`` (or
``vpanic()`` when ``panic()`` only wraps it: kernel/panic.c of Debian's 6.12.118, 7.2.13 and
7.3.4) and walks its body in source order. Each call is one of:

- a **step** of the model (:data:`STEP_CALLS`, panicpath.model.steps.STEPS): ``__crash_kexec``
  → ``crash_kexec``, ``atomic_notifier_call_chain(&panic_notifier_list, ...)`` →
  ``notifier_chain``, ``kmsg_dump(KMSG_DUMP_PANIC)`` / ``kmsg_dump_desc`` → ``kmsg_dump``, ...;
  inside ``if (!_crash_kexec_post_notifiers)`` / ``if (_crash_kexec_post_notifiers)`` (or
  their ``else``) the step gets ``when = "!post"`` / ``"post"``, as the hand-written
  policies write it;
- a **helper** that is a step (:data:`HELPER_STEPS`): ``panic_other_cpus_shutdown(post)``
  (kernel/panic.c, 6.1.192 and later) is the model's step of that name when its body,
  read with its argument bound, takes the all-CPU backtrace and then calls
  ``smp_send_stop()`` without post notifiers and ``crash_smp_send_stop()`` with them;
  ``panic_print_sys_info(false)`` (v5.0 .. 6.12) and ``sys_info(panic_print)``
  (lib/sys_info.c, 7.x) are ``panic_print_sys_info`` when they print what panic_print
  selects. A helper whose body does not match (a patched tree) is walked instead, one
  call at a time; so is any other function of kernel/panic.c that the path calls (two
  levels at most: ``panic_other_cpus_shutdown`` → ``panic_trigger_all_cpu_backtrace``,
  7.x);
- **part** of a step (:data:`PARTS`): what the step's docstring models
  (``local_irq_disable``, the ``panic_cpu`` gate and ``console_verbose`` in
  ``panic_entry``; ``console_unblank``/``debug_locks_off`` in
  ``console_flush_on_panic``; ``mdelay``/``emergency_restart`` in ``panic_timeout``) or
  arithmetic on the message (``vscnprintf``, ``test_taint``);
- **unmodelled**: anything else, listed as ``NAME (file:line): why`` and never dropped.

A step met again right after itself (6.1's ``panic_print_sys_info(true)`` replay after
the console flush; 7.x's ``console_flush_on_panic(CONSOLE_REPLAY_ALL)``) is merged with it:
the model's flush prints everything pending and a second one finds nothing. Once the
``panic_timeout`` handling begins (the first ``if`` that reads ``panic_timeout``), the
model's ``panic_timeout`` step ends the run (reboot or halt loop), so every later call the
step does not model (the final ``console_flush_on_panic`` after "end Kernel panic",
``nbcon_atomic_flush_unsafe``, s390's ``disabled_wait``) is listed as unmodelled.

The version comes from the tree's top ``Makefile`` (VERSION, PATCHLEVEL, SUBLEVEL); the
features from what the tree defines (:func:`tree_features`), each with the file and line
that shows it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tree_sitter import Node

from panicpath.scan import cparse
from panicpath.scan.sources import ScanInputError

PANIC_C = "kernel/panic.c"
SYS_INFO_C = "lib/sys_info.c"
POST_VAR = "crash_kexec_post_notifiers"

STEP_CALLS: dict[str, str] = {
    "__crash_kexec": "crash_kexec",
    "crash_kexec": "crash_kexec",
    "smp_send_stop": "smp_send_stop",
    "crash_smp_send_stop": "crash_smp_send_stop",
    "atomic_notifier_call_chain": "notifier_chain",
    "kmsg_dump": "kmsg_dump",
    "kmsg_dump_desc": "kmsg_dump",
    "console_flush_on_panic": "console_flush_on_panic",
}
"""Calls that are a model step (model/steps.py): kernel/kexec_core.c __crash_kexec (v4.5+;
crash_kexec before), the two CPU stops, the panic notifier chain (its first argument must
be ``&panic_notifier_list``), kmsg_dump(KMSG_DUMP_PANIC) (``kmsg_dump_desc`` since 6.12)
and kernel/printk/printk.c console_flush_on_panic."""

HELPER_STEPS: dict[str, str] = {
    "panic_other_cpus_shutdown": "panic_other_cpus_shutdown",
    "panic_print_sys_info": "panic_print_sys_info",
    "sys_info": "panic_print_sys_info",
}
"""Helpers that are a step when their body (read with the call's arguments) matches it."""

PRINT_BITS: dict[str, int] = {
    "show_state": 0x1, "show_mem": 0x2, "sysrq_timer_list_show": 0x4,
    "debug_show_all_locks": 0x8, "ftrace_dump": 0x10,
}
"""What panic_print's bits print (kernel/panic.c panic_print_sys_info v5.0 .. 6.12,
lib/sys_info.c __sys_info 7.x) and model.steps.panic_print_sys_info reads."""
BACKTRACE = frozenset({"trigger_all_cpu_backtrace", "trigger_allbutcpu_cpu_backtrace"})
"""panic_print 0x40 (8d470a45d1a6, v5.18): the all-CPU NMI backtrace."""

PARTS: dict[str, str] = {
    **dict.fromkeys(("local_irq_disable", "preempt_disable_notrace", "preempt_disable",
                     "atomic_cmpxchg", "atomic_try_cmpxchg", "panic_try_start",
                     "panic_on_other_cpu", "panic_smp_self_stop", "spin_trylock",
                     "console_verbose"), "panic_entry"),
    **dict.fromkeys(("console_unblank", "debug_locks_off"), "console_flush_on_panic"),
    **dict.fromkeys(("touch_nmi_watchdog", "mdelay", "panic_blink", "emergency_restart",
                     "touch_softlockup_watchdog", "local_irq_enable", "cpu_relax"),
                    "panic_timeout"),
}
"""Calls a step models as part of itself (its docstring in model/steps.py): panic_entry's
irqs off and panic_cpu gate (atomic_cmpxchg v4.5+, panic_try_start 7.x; a CPU losing it
calls panic_smp_self_stop), console_flush_on_panic's console_unblank/debug_locks_off,
panic_timeout's delay loop and emergency_restart (kernel/reboot.c)."""

PURE = frozenset({
    "va_start", "va_end", "vscnprintf", "vsnprintf", "raw_smp_processor_id",
    "smp_processor_id", "test_taint", "atomic_read", "IS_ENABLED", "pr_emerg", "printk",
    "bust_spinlocks", "unlikely", "likely", "sizeof", "pr_warn", "pr_err", "pr_info",
    "va_copy", "cpu_online",
})
"""Calls that change nothing the model holds: the message's formatting and printing (each
step prints its own lines), reads of the taint mask and of panic_cpu, bust_spinlocks
(oops_in_progress for the console drivers' locks)."""

WHY: dict[str, str] = {
    "dump_stack": "the panic CPU's own backtrace (CONFIG_DEBUG_BUGVERBOSE); the model "
                  "prints the panic message only",
    "kgdb_panic": "kgdb/kdb entered before the CPUs are stopped "
                  "(kernel/debug/debug_core.c); the model has no debugger",
    "printk_safe_flush_on_panic": "copies the per-CPU NMI/safe printk buffers into the log "
                                  "(kernel/printk/printk_safe.c, up to v5.14); the model's "
                                  "log holds every line at once",
    "printk_legacy_allow_panic_sync": "legacy consoles print synchronously from here on "
                                      "(kernel/printk/printk.c, v6.12); the model's console "
                                      "has no legacy/nbcon hand-over",
    "panic_try_force_cpu": "panic_force_cpu= redirects the panic to another CPU "
                           "(kernel/panic.c, 7.x); the model panics on the CPU that "
                           "called panic()",
    "set_cpu_online": "the redirected CPU marks itself offline (panic_force_cpu=, 7.x)",
    "unblank_screen": "CONFIG_VT unblanks the virtual terminal (drivers/tty/vt/vt.c); the "
                      "model has no VT",
    "nbcon_atomic_flush_unsafe": "flushes nbcon consoles ignoring ownership "
                                 "(kernel/printk/nbcon.c)",
    "disabled_wait": "s390 stops the CPU in a disabled wait instead of the halt loop",
    "show_state_filter": "panic_print bit 0x80 (blocked tasks): not a bit the model's "
                         "panic_print_sys_info reads",
    "crash_cma_clear_pending_dma": "with crashkernel=SIZE,cma __crash_kexec waits "
                                   "CMA_DMA_TIMEOUT_SEC (10 s) for DMA into the CMA area "
                                   "before machine_kexec (kernel/crash_core.c, 7.x); the "
                                   "model's crash_kexec does not wait",
}
"""Why a call is unmodelled, for the calls the releases' panic paths make."""


CRASH_KEXEC_C = ("kernel/crash_core.c", "kernel/kexec_core.c")
CRASH_KEXEC_PARTS = frozenset({
    "kexec_trylock", "kexec_unlock", "mutex_trylock", "mutex_unlock", "crash_setup_regs",
    "crash_save_vmcoreinfo", "machine_crash_shutdown", "machine_kexec"})
"""What model.steps.crash_kexec models of __crash_kexec (kernel/kexec_core.c up to 6.6,
kernel/crash_core.c since): the kexec lock, crash_setup_regs, crash_save_vmcoreinfo,
machine_crash_shutdown (the architecture's, panicpath.arch) and machine_kexec."""


class DeriveError(ScanInputError):
    """The tree's panic() cannot give a policy; str() is one line."""


@dataclass(frozen=True)
class DerivedOp:
    """One op of the derived program and the call it was read from."""

    step: str
    when: str
    file: str
    line: int
    call: str


@dataclass(frozen=True)
class Unmodelled:
    """A call in the panic path the model has no step for."""

    name: str
    file: str
    line: int
    why: str

    def __str__(self) -> str:
        return f"{self.name} ({self.file}:{self.line}): {self.why}"


@dataclass(frozen=True)
class Derivation:
    """What ``derive_policy`` read from a tree."""

    tree: str
    release: str
    version: tuple[int, int]
    function: str
    line: int
    ops: tuple[DerivedOp, ...]
    features: tuple[tuple[str, str], ...]
    unmodelled: tuple[Unmodelled, ...]
    merged: tuple[str, ...] = ()
    facts: tuple[str, ...] = ()

    @property
    def program(self) -> tuple[tuple[str, str], ...]:
        """(step, when) pairs, as Policy.program holds them."""
        return tuple((o.step, o.when) for o in self.ops)

    def default_name(self) -> str:
        return f"scanned-{self.release}"

    def policy(self, name: str | None = None) -> Any:
        """The derived policy (panicpath.policies.base.Policy)."""
        from panicpath.policies import policy_for_release
        from panicpath.policies.base import Op, Policy

        try:
            base = policy_for_release(self.version).name
        except KeyError:
            base = ""
        where = f"{PANIC_C}:{self.line} {self.function}()"
        return Policy(
            name=name or self.default_name(),
            version=self.version,
            title=f"Linux {self.release}: {self.function}() read from {Path(self.tree).name}",
            program=tuple(Op(o.step, o.when) for o in self.ops),
            features=frozenset(f for f, _ in self.features),
            sources=(f"{where} (Linux {self.release}, derived by `panicpath scan "
                     "--policy-out`)",
                     *(f"{o.step}{' when ' + o.when if o.when else ''}: {o.file}:{o.line} "
                       f"{o.call}" for o in self.ops),
                     *(f"feature {f}: {w}" for f, w in self.features),
                     *self.facts),
            base=base,
            kind="kernel",
            unmodelled=tuple(str(u) for u in self.unmodelled),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "release": self.release,
            "version": f"{self.version[0]}.{self.version[1]}",
            "function": self.function,
            "file": PANIC_C,
            "line": self.line,
            "program": [{"step": o.step, "when": o.when, "file": o.file, "line": o.line,
                         "call": o.call} for o in self.ops],
            "features": [{"feature": f, "where": w} for f, w in self.features],
            "unmodelled": [{"name": u.name, "file": u.file, "line": u.line, "why": u.why}
                           for u in self.unmodelled],
            "merged": list(self.merged),
            "facts": list(self.facts),
        }


# --- the tree ------------------------------------------------------------------------------

def _read(root: Path, rel: str) -> bytes | None:
    p = root / rel
    try:
        return p.read_bytes() if p.is_file() else None
    except OSError:
        return None


def makefile_release(root: Path) -> tuple[str, tuple[int, int]]:
    """``VERSION.PATCHLEVEL.SUBLEVEL`` and (VERSION, PATCHLEVEL) of the tree's top Makefile."""
    data = _read(root, "Makefile")
    if data is None:
        raise DeriveError(f"{root}: no Makefile at the top: not a kernel tree (expected the "
                          "directory holding Makefile and kernel/panic.c)")
    text = data.decode("utf-8", "replace")
    vals = {k: v for k, v in re.findall(r"(?m)^(VERSION|PATCHLEVEL|SUBLEVEL)\s*=\s*(\d*)\s*$",
                                        text)}
    if not vals.get("VERSION") or not vals.get("PATCHLEVEL"):
        raise DeriveError(f"{root}/Makefile: no VERSION and PATCHLEVEL lines: not a kernel "
                          "tree's top Makefile")
    major, minor = int(vals["VERSION"]), int(vals["PATCHLEVEL"])
    if not (1 <= major <= 99 and 0 <= minor <= 999):
        raise DeriveError(f"{root}/Makefile: VERSION {major} PATCHLEVEL {minor} is not a "
                          "kernel release")
    release = f"{major}.{minor}" + (f".{vals['SUBLEVEL']}" if vals.get("SUBLEVEL") else "")
    return release, (major, minor)


_PREPROC_BLOCKS = ("preproc_ifdef", "preproc_if", "preproc_else", "preproc_elif")


def _functions(tree_root: Node) -> dict[str, Node]:
    """Function definitions at file level, inside ``#ifdef`` blocks too (the first of a
    name wins: the configured branch comes first in kernel sources)."""
    out: dict[str, Node] = {}
    stack = list(reversed(tree_root.named_children))
    while stack:
        fn = stack.pop()
        if fn.type in _PREPROC_BLOCKS:
            stack.extend(reversed(fn.named_children))
        elif fn.type == "function_definition" and fn.child_by_field_name("body") is not None:
            out.setdefault(cparse.function_name(fn), fn)
    return out


# --- the walk ------------------------------------------------------------------------------

Cond = str | bool | None
"""A condition's value: "post" / "!post" (on the snapshot), True / False (a constant
argument), None (anything else: both branches are walked)."""


def _negate(c: Cond) -> Cond:
    if c is None:
        return None
    if isinstance(c, bool):
        return not c
    return c[1:] if c.startswith("!") else "!" + c


def _combine(outer: str, inner: str) -> str | None:
    """``when`` inside ``outer`` of a branch on ``inner``; None: the branch cannot run."""
    if not outer or outer == inner:
        return inner
    return None


@dataclass
class _Scope:
    """Where the walk is: the file, bound parameters, the helper-step being read."""

    file: str
    env: dict[str, Cond]
    depth: int
    context: str = ""


@dataclass
class _Walker:
    files: dict[str, dict[str, Node]]
    post_vars: set[str] = field(default_factory=lambda: {POST_VAR})
    ops: list[DerivedOp] = field(default_factory=list)
    unmodelled: list[Unmodelled] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    parts: list[tuple[str, str, int]] = field(default_factory=list)
    in_timeout: bool = False
    entered: bool = False

    # statements

    def stmt(self, node: Node, when: str, scope: _Scope) -> bool:
        """Walk one statement; True when a ``return`` ended the function."""
        t = node.type
        if t in ("compound_statement", "preproc_ifdef", "preproc_if", "preproc_else",
                 "preproc_elif", "else_clause", "labeled_statement"):
            for ch in node.named_children:
                if ch.type in ("identifier", "comment", "preproc_defined", "statement_identifier"):
                    continue
                if node.type in ("preproc_if", "preproc_elif") and ch == node.child_by_field_name(
                        "condition"):
                    continue
                if self.stmt(ch, when, scope):
                    return True
            return False
        if t == "if_statement":
            return self._if(node, when, scope)
        if t == "declaration":
            self._declaration(node)
            self.calls(node, when, scope)
            return False
        if t == "return_statement":
            self.calls(node, when, scope)
            return True
        if t in ("for_statement", "while_statement", "do_statement"):
            body = node.child_by_field_name("body")
            for ch in node.named_children:
                if ch != body:
                    self.calls(ch, when, scope)
            if body is not None:
                self.stmt(body, when, scope)
            return False
        if t in ("comment", "preproc_call", "preproc_def", "preproc_function_def",
                 "preproc_include"):
            return False
        self.calls(node, when, scope)
        return False

    def _declaration(self, node: Node) -> None:
        """``bool _crash_kexec_post_notifiers = crash_kexec_post_notifiers;`` (v4.16+,
        panic() snapshots the parameter) makes the local a name of the snapshot."""
        for d in node.named_children:
            if d.type != "init_declarator":
                continue
            value = d.child_by_field_name("value")
            if value is not None and cparse.text(cparse.strip_expr(value)) in self.post_vars:
                self.post_vars.add(cparse.declarator_name(d.child_by_field_name("declarator")))

    def cond(self, expr: Node | None, scope: _Scope) -> Cond:
        if expr is None:
            return None
        e = expr
        while e.type == "parenthesized_expression" and e.named_child_count == 1:
            inner = e.named_children[0]
            if inner is None:
                break
            e = inner
        if e.type == "identifier":
            name = cparse.text(e)
            if name in scope.env:
                return scope.env[name]
            return "post" if name in self.post_vars else None
        if e.type in ("true", "false"):
            return e.type == "true"
        if e.type == "unary_expression" and cparse.text(e.child_by_field_name("operator")) == "!":
            return _negate(self.cond(e.child_by_field_name("argument"), scope))
        return None

    def _if(self, node: Node, when: str, scope: _Scope) -> bool:
        condition = node.child_by_field_name("condition")
        then = node.child_by_field_name("consequence")
        alt = node.child_by_field_name("alternative")
        c = self.cond(condition, scope)
        if c is None:
            if not self.in_timeout and condition is not None and any(
                    cparse.text(n) == "panic_timeout"
                    for n in cparse.walk(condition, frozenset({"identifier"}))):
                self.emit("panic_timeout", "", scope.file, cparse.line(node),
                          cparse.squash(f"if {cparse.text(condition)}"))
                self.in_timeout = True
            if condition is not None:
                self.calls(condition, when, scope)
            if then is not None:
                self.stmt(then, when, scope)
            if alt is not None:
                self.stmt(alt, when, scope)
            return False
        if isinstance(c, bool):
            branch = then if c else alt
            return branch is not None and self.stmt(branch, when, scope)
        # a return inside one branch does not end the walk: the other branch goes on
        inside = _combine(when, c)
        if inside is not None and then is not None:
            self.stmt(then, inside, scope)
        other = _combine(when, str(_negate(c)))
        if other is not None and alt is not None:
            self.stmt(alt, other, scope)
        return False

    # calls

    def calls(self, node: Node, when: str, scope: _Scope) -> None:
        for c in cparse.walk(node, frozenset({"call_expression"})):
            self.call(c, when, scope)

    def emit(self, step: str, when: str, file: str, line: int, call: str) -> None:
        if self.ops and self.ops[-1].step == step and self.ops[-1].when == when:
            prev = self.ops[-1]
            self.merged.append(f"{call} ({file}:{line}): merged with {step} at "
                               f"{prev.file}:{prev.line} (the model's step already did it)")
            return
        self.ops.append(DerivedOp(step, when, file, line, call))

    def unmod(self, name: str, file: str, line: int, why: str = "") -> None:
        self.unmodelled.append(Unmodelled(name, file, line, why or WHY.get(
            name, "no model step does what it does")))

    def call(self, c: Node, when: str, scope: _Scope) -> None:
        name = cparse.call_name(c)
        line = cparse.line(c)
        shown = cparse.squash(cparse.text(c))
        if len(shown) > 80:
            shown = shown[:77] + "..."
        args = [cparse.text(cparse.strip_expr(a)) for a in cparse.call_args(c)]
        if name in PURE or not name:
            return
        if self.in_timeout:
            if PARTS.get(name) == "panic_timeout":
                return
            why = WHY.get(name, "")
            self.unmod(name, scope.file, line, why + ("; " if why else "") + (
                "after panic_timeout's handling began: the model's panic_timeout step ends "
                "the run (reboot or halt loop) without it"))
            return
        if name in PRINT_BITS:
            if scope.context == "panic_print_sys_info":
                self.parts.append(("print", name, line))
            else:
                self.unmod(name, scope.file, line, "panic_print output outside "
                           "panic_print_sys_info")
            return
        if name in BACKTRACE:
            if scope.context in ("panic_other_cpus_shutdown", "panic_print_sys_info"):
                self.parts.append(("backtrace", name, line))
            else:
                self.unmod(name, scope.file, line, "an all-CPU backtrace outside "
                           "panic_other_cpus_shutdown and panic_print_sys_info")
            return
        if name in HELPER_STEPS and self._helper_step(c, name, when, scope, shown):
            return
        step = STEP_CALLS.get(name)
        if step == "notifier_chain" and (not args or args[0] != "panic_notifier_list"):
            step = None
        if step == "kmsg_dump" and (not args or args[0] != "KMSG_DUMP_PANIC"):
            step = None
        if step is not None:
            self.emit(step, when, scope.file, line, shown)
            return
        if name in PARTS:
            if PARTS[name] == "panic_entry" and not self.entered and scope.depth == 0:
                self.entered = True
                self.emit("panic_entry", "", scope.file, line, shown)
            return
        fn = self._defined(name, scope)
        if fn is not None and scope.depth < 2:
            self._helper(fn, c, name, when, scope)
            return
        self.unmod(name, scope.file, line)

    def _helper(self, fn: tuple[str, Node], c: Node, name: str, when: str,
                scope: _Scope) -> None:
        """Another function of panic.c: its steps and step parts are taken where it is
        called; a helper with none (7.x's panic_try_force_cpu) is one unmodelled call,
        not a list of its insides."""
        saved = (self.ops, self.unmodelled, self.merged, self.parts)
        self.ops, self.unmodelled, self.merged, self.parts = [], [], [], []
        timeout = self.in_timeout
        try:
            self._follow(fn, c, when, scope, scope.context)
            sub = (self.ops, self.unmodelled, self.merged, self.parts)
        finally:
            self.ops, self.unmodelled, self.merged, self.parts = saved
        if not sub[0] and not sub[3] and self.in_timeout == timeout:
            self.unmod(name, scope.file, cparse.line(c))
            return
        for o in sub[0]:
            self.emit(o.step, o.when, o.file, o.line, o.call)
        self.unmodelled += sub[1]
        self.merged += sub[2]
        self.parts += sub[3]

    def _defined(self, name: str, scope: _Scope) -> tuple[str, Node] | None:
        for file in (scope.file, PANIC_C, SYS_INFO_C):
            fn = self.files.get(file, {}).get(name)
            if fn is not None:
                return file, fn
        return None

    def _follow(self, fn: tuple[str, Node], c: Node, when: str, scope: _Scope,
                context: str) -> None:
        """Walk a helper's body with its parameters bound to the call's arguments."""
        file, node = fn
        params = cparse.function_params(node)
        env: dict[str, Cond] = {}
        for p, a in zip(params, cparse.call_args(c), strict=False):
            if p:
                env[p] = self.cond(a, scope)
        body = node.child_by_field_name("body")
        if body is not None:
            self.stmt(body, when, _Scope(file, env, scope.depth + 1, context))

    def _helper_step(self, c: Node, name: str, when: str, scope: _Scope, shown: str) -> bool:
        """A helper that is a model step: read its body; True when it matched the step and
        the op was emitted, False to treat the call like any other."""
        step = HELPER_STEPS[name]
        fn = self._defined(name, scope)
        line = cparse.line(c)
        if fn is None:
            if name == "sys_info":
                args = [cparse.text(cparse.strip_expr(a)) for a in cparse.call_args(c)]
                if args == ["panic_print"]:
                    self.emit(step, when, scope.file, line, shown + " (body not in the tree)")
                    return True
            return False
        saved = (self.ops, self.unmodelled, self.merged, self.parts)
        self.ops, self.unmodelled, self.merged, self.parts = [], [], [], []
        try:
            self._follow(fn, c, when, scope, step)
            sub = (self.ops, self.unmodelled, self.merged, self.parts)
        finally:
            self.ops, self.unmodelled, self.merged, self.parts = saved
        ops, unmodelled, merged, parts = sub
        if step == "panic_other_cpus_shutdown":
            kinds = [k for k, _, _ in parts]
            stops = sorted((o.step, o.when) for o in ops)
            ok = (set(kinds) <= {"backtrace"}
                  and stops == sorted([("smp_send_stop", _combine(when, "!post") or "-"),
                                       ("crash_smp_send_stop", _combine(when, "post") or "-")])
                  and all(ln <= min(o.line for o in ops) for _, _, ln in parts))
        else:
            # v5.0 .. 6.1: bit 0x20 replays the log with console_flush_on_panic(REPLAY_ALL)
            ok = (any(k == "print" for k, _, _ in parts)
                  and all(o.step == "console_flush_on_panic" for o in ops))
            merged = [*merged, *(f"{o.call} ({o.file}:{o.line}): panic_print 0x20 inside "
                                 f"{name}(): a replay of lines the console printed already"
                                 for o in ops)] if ok else merged
        if not ok:
            for kind, pname, pline in parts:
                self.unmod(pname, fn[0], pline, f"{kind} inside {name}(), which does not "
                           f"match the model's {step} step")
            for o in ops:
                self.emit(o.step, o.when, o.file, o.line, o.call)
            self.unmodelled += unmodelled
            self.merged += merged
            return True
        self.emit(step, when, scope.file, line, shown)
        has_shutdown = any(o.step == "panic_other_cpus_shutdown" for o in self.ops)
        for kind, pname, pline in parts:
            if step == "panic_print_sys_info" and kind == "backtrace" and has_shutdown:
                self.unmod(pname, fn[0], pline, "panic_print 0x40 again after the CPUs were "
                           "stopped (lib/sys_info.c __sys_info, 7.x); the model's "
                           "panic_print_sys_info takes it only without "
                           "panic_other_cpus_shutdown")
        self.unmodelled += unmodelled
        self.merged += merged
        return True


# --- features ------------------------------------------------------------------------------

def _grep(root: Path, rel: str, pattern: str) -> int | None:
    """The 1-based line of the first match of ``pattern`` in ``rel``, or None."""
    data = _read(root, rel)
    if data is None:
        return None
    m = re.search(pattern, data.decode("utf-8", "replace"), re.M)
    return None if m is None else data[:m.start()].count(b"\n") + 1


def _first(root: Path, rels: tuple[str, ...], pattern: str) -> str | None:
    for rel in rels:
        ln = _grep(root, rel, pattern)
        if ln is not None:
            return f"{rel}:{ln}"
    return None


CSS_DEF = r"^void\s+crash_smp_send_stop\s*\(\s*void\s*\)\s*$"
FEATURE_RULES: dict[str, Callable[[Path], str | None]] = {
    "post_notifiers_option": lambda r: _first(
        r, (PANIC_C,), r"^bool\s+crash_kexec_post_notifiers\b"),
    "crash_smp_send_stop": lambda r: _first(r, ("arch/x86/kernel/crash.c",), CSS_DEF),
    "mips_crash_smp_send_stop": lambda r: (
        _first(r, ("arch/mips/kernel/crash.c",), r"^\s*_crash_smp_send_stop\s*\(\s*\)\s*;")
        if _first(r, ("arch/mips/cavium-octeon/setup.c",), r"_crash_smp_send_stop\s*=")
        else None),
    "ppc_crash_smp_send_stop": lambda r: _first(
        r, ("arch/powerpc/kernel/smp.c", "arch/powerpc/kexec/crash.c"), CSS_DEF),
    "printk_nmi_deferred": lambda r: (
        _first(r, ("kernel/printk/printk_safe.c",), r"\bin_nmi\(\)|\bvprintk_nmi\b")
        if _first(r, ("kernel/printk/printk_safe.c",),
                  r"\b(?:vprintk_nmi|vprintk_deferred|is_printk_legacy_deferred|"
                  r"defer_console_output)\b") else None),
    "nbcon_console": lambda r: _first(
        r, ("drivers/tty/serial/8250/8250_core.c",), r"^\s*\.flags\s*=.*\bCON_NBCON\b"),
    "console_unblank_flush": lambda r: (
        None if _first(r, ("kernel/printk/printk.c",), r"\bfound_unblank\b")
        or not _first(r, ("kernel/printk/printk_safe.c",), r"\bvprintk_deferred\b")
        or _first(r, ("kernel/printk/printk_safe.c",), r"\bvprintk_nmi\b|\bsafe_print_seq\b")
        else _first(r, ("kernel/printk/printk.c",), r"^void\s+console_unblank\s*\(")),
}
"""How each feature of policies/base.py FEATURES shows in a tree (file:line of the first
match): crash_kexec_post_notifiers defined in kernel/panic.c (f06e5153f4ae, v3.16); x86's
own crash_smp_send_stop (arch/x86/kernel/crash.c, 0ee59413c967 v4.9); MIPS's
crash_smp_send_stop calling the ``_crash_smp_send_stop`` hook Octeon sets
(arch/mips/kernel/crash.c, arch/mips/cavium-octeon/setup.c, v4.9); powerpc's own
crash_smp_send_stop (arch/powerpc/kernel/smp.c, 219572d2fc41 v5.17, in Debian's 5.10.262 as
a stable backport); printk from NMI context deferred (kernel/printk/printk_safe.c:
vprintk_nmi up to v5.14, then in_nmi() -> vprintk_deferred / is_printk_legacy_deferred);
the 8250 console registered with CON_NBCON (drivers/tty/serial/8250/8250_core.c, 7.3);
console_unblank() (kernel/printk/printk.c) without 7b23a66db55e's ``found_unblank`` early
return (v6.6) in a tree whose printk_safe.c defers into the ring buffer (vprintk_deferred,
no per-CPU ``vprintk_nmi``/``safe_print_seq`` buffers: 93d102f094be, v5.15).
``panic_other_cpus_shutdown`` and ``vpanic`` come from the program itself."""


def tree_features(root: Path, ops: list[DerivedOp], function: str,
                  fn_line: int) -> tuple[list[tuple[str, str]], list[str], list[Unmodelled]]:
    """(features with where, facts for the sources, unmodelled arch mechanics)."""
    found: list[tuple[str, str]] = []
    for feat, rule in FEATURE_RULES.items():
        where = rule(root)
        if where is not None:
            found.append((feat, where))
    for o in ops:
        if o.step == "panic_other_cpus_shutdown":
            found.append(("panic_other_cpus_shutdown", f"{o.file}:{o.line}"))
            break
    if function == "vpanic":
        found.append(("vpanic", f"{PANIC_C}:{fn_line}"))
    facts: list[str] = []
    ppc = _first(root, ("arch/powerpc/kexec/crash.c", "arch/powerpc/kernel/crash.c"),
                 r"^int\s+crash_shutdown_register\s*\(")
    if ppc is not None:
        facts.append(f"powerpc crash_shutdown_register: {ppc} (the model's powerpc runs "
                     "the crash_shutdown list in machine_crash_shutdown)")
    unmodelled: list[Unmodelled] = []
    arm = _grep(root, "arch/arm64/kernel/smp.c", r"\bIPI_CPU_STOP_NMI\b")
    if arm is not None:
        unmodelled.append(Unmodelled(
            "IPI_CPU_STOP_NMI", "arch/arm64/kernel/smp.c", arm,
            "arm64's smp_send_stop/crash_smp_send_stop send the stop as a pseudo-NMI when "
            "the GIC allows it (irqchip.gicv3_pseudo_nmi=1; v6.7); the model's arm64 stops "
            "with ordinary IPIs, which a CPU spinning with interrupts masked ignores"))
    return found, facts, unmodelled


def crash_kexec_unmodelled(root: Path) -> list[Unmodelled]:
    """Calls of the tree's __crash_kexec that the model's crash_kexec step does not model."""
    for rel in CRASH_KEXEC_C:
        data = _read(root, rel)
        if data is None or b"__crash_kexec" not in data:
            continue
        fn = _functions(cparse.parse(data).root_node).get("__crash_kexec")
        body = fn.child_by_field_name("body") if fn is not None else None
        if body is None:
            continue
        return [Unmodelled(name, rel, cparse.line(c), WHY.get(name, "inside __crash_kexec; "
                                                              "the model's crash_kexec step "
                                                              "does not do it"))
                for c in cparse.walk(body, frozenset({"call_expression"}))
                if (name := cparse.call_name(c)) not in CRASH_KEXEC_PARTS | PURE]
    return []


# --- entry point ---------------------------------------------------------------------------

def derive_policy(tree: str | Path) -> Derivation:
    """Read ``tree``'s panic path; DeriveError (one line) when it is not a kernel tree, its
    panic.c does not parse or its panic() has no step the model knows."""
    root = Path(tree)
    if not root.is_dir():
        raise DeriveError(f"{root}: not a directory; --policy-out reads a kernel source "
                          "tree (unpack a tarball first, or use --source SERIES)")
    release, version = makefile_release(root)
    src = _read(root, PANIC_C)
    if src is None:
        raise DeriveError(f"{root}: no {PANIC_C}: not a kernel tree")
    parsed = cparse.parse(src)
    files = {PANIC_C: _functions(parsed.root_node)}
    sys_info = _read(root, SYS_INFO_C)
    if sys_info is not None:
        files[SYS_INFO_C] = _functions(cparse.parse(sys_info).root_node)
    fns = files[PANIC_C]
    panic = fns.get("panic")
    if panic is None:
        errs = cparse.error_nodes(parsed.root_node)
        if errs:
            raise DeriveError(f"{root}/{PANIC_C}:{cparse.line(errs[0])}: does not parse, and "
                              "no definition of panic() was found")
        raise DeriveError(f"{root}/{PANIC_C}: no definition of panic() found")
    root_fn, function = panic, "panic"
    vpanic = fns.get("vpanic")
    if vpanic is not None and any(cparse.call_name(c) == "vpanic" for c in cparse.walk(
            panic, frozenset({"call_expression"}))):
        root_fn, function = vpanic, "vpanic"
    body = root_fn.child_by_field_name("body")
    assert body is not None
    if body.has_error:
        errs = cparse.error_nodes(body)
        raise DeriveError(f"{root}/{PANIC_C}:{cparse.line(errs[0]) if errs else cparse.line(body)}"
                          f": {function}() does not parse")
    w = _Walker(files)
    w.stmt(body, "", _Scope(PANIC_C, {}, 0))
    steps = {o.step for o in w.ops}
    if not steps - {"panic_entry"}:
        raise DeriveError(f"{root}/{PANIC_C}:{cparse.line(root_fn)}: {function}() has no "
                          "recognisable step (no __crash_kexec, CPU stop, notifier chain, "
                          "kmsg_dump or console flush)")
    if w.ops and w.ops[0].step != "panic_entry":
        w.ops.insert(0, DerivedOp("panic_entry", "", PANIC_C, cparse.line(root_fn),
                                  f"{function}() entry"))
    if any(o.step == "crash_kexec" for o in w.ops):
        w.unmodelled += crash_kexec_unmodelled(root)
    features, facts, arch_unmodelled = tree_features(root, w.ops, function, cparse.line(root_fn))
    return Derivation(str(tree), release, version, function, cparse.line(root_fn),
                      tuple(w.ops), tuple(features), (*w.unmodelled, *arch_unmodelled),
                      tuple(w.merged), tuple(facts))
