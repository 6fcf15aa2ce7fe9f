"""Find panic-path registrations, crash hooks and crash_kexec_post_notifiers writers in a unit.

What counts, per the 6.1 kernel:

- notifier registrations whose chain head is ``panic_notifier_list``
  (kernel/panic.c, called by panic() through atomic_notifier_call_chain),
  including through a macro alias of the head, a local variable holding it, or
  a wrapper function / function-like macro that passes its parameter on;
- ``kmsg_dump_register`` (kernel/printk/printk.c; dumpers run by kmsg_dump());
- ``crash_shutdown_register`` (arch/powerpc/kexec/crash.c, run by
  default_machine_crash_shutdown), assignments to ``machine_ops.crash_shutdown``
  and ``struct machine_ops`` initialisers (arch/x86/kernel/reboot.c
  machine_crash_shutdown), MIPS ``_machine_crash_shutdown``
  (arch/mips/kernel/machine_kexec.c), Hyper-V ``hv_setup_crash_handler``
  (called from hv_machine_crash_shutdown, arch/x86/kernel/cpu/mshyperv.c) and
  each architecture's ``machine_crash_shutdown`` definition (called by
  __crash_kexec, kernel/kexec_core.c);
- writes of ``crash_kexec_post_notifiers`` (read once by panic()) with the
  enclosing function and the conditions guarding the write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from tree_sitter import Node

from panicpath.scan import constexpr, cparse
from panicpath.scan.features import MAX_DEPTH, callback_features
from panicpath.scan.results import (
    CRASH_LIST,
    KMSG_LIST,
    PANIC_LIST,
    Callback,
    FileFindings,
    PostNotifiersWriter,
    Unregistration,
)
from panicpath.scan.unit import FunctionDef, MacroFunction, Unit

PANIC_HEAD = "panic_notifier_list"
POST_NOTIFIERS = "crash_kexec_post_notifiers"


@dataclass(frozen=True)
class Spec:
    """How a call registers something: which argument is the chain head, which the object."""

    list: str
    action: str  # "register" | "unregister"
    head: int | None  # argument index of a chain head that must be panic_notifier_list
    obj: int | None  # argument index of the block / dumper / function
    obj_kind: str  # "block" | "dumper" | "function"
    via: str
    fixed_obj: Node | None = None  # object registered by a wrapper that takes only the head


def _base_specs() -> dict[str, Spec]:
    specs: dict[str, Spec] = {}
    for flavour in ("atomic", "blocking", "raw", "srcu"):
        for action in ("register", "unregister"):
            name = f"{flavour}_notifier_chain_{action}"
            specs[name] = Spec(PANIC_LIST, action, 0, 1, "block", name)
    specs["atomic_notifier_chain_register_unique_prio"] = Spec(
        PANIC_LIST, "register", 0, 1, "block", "atomic_notifier_chain_register_unique_prio")
    for action in ("register", "unregister"):
        specs[f"kmsg_dump_{action}"] = Spec(KMSG_LIST, action, None, 0, "dumper",
                                            f"kmsg_dump_{action}")
        specs[f"crash_shutdown_{action}"] = Spec(CRASH_LIST, action, None, 0, "function",
                                                 f"crash_shutdown_{action}")
    specs["hv_setup_crash_handler"] = Spec(CRASH_LIST, "register", None, 0, "function",
                                           "hv_setup_crash_handler")
    return specs


BASE_SPECS = _base_specs()


def find_all(unit: Unit, with_features: bool = True, max_depth: int = MAX_DEPTH) -> FileFindings:
    """Everything in ``unit.main`` (the included headers only provide context)."""
    specs = dict(BASE_SPECS)
    specs.update(find_wrappers(unit, specs))
    callbacks: list[Callback] = []
    unregs: list[Unregistration] = []
    writers: list[PostNotifiersWriter] = []
    types = frozenset({"call_expression", "assignment_expression", "function_definition"})
    for node in unit.main.nodes.select(types):
        if node.type == "call_expression":
            _on_call(unit, specs, node, callbacks, unregs, writers)
        elif node.type == "assignment_expression":
            _on_assignment(unit, node, callbacks, writers)
        elif (cparse.function_name(node) == "machine_crash_shutdown"
              and cparse.enclosing_function(node) is None):
            callbacks.append(Callback(CRASH_LIST, unit.main.rel, cparse.line(node),
                                      "machine_crash_shutdown", None, "",
                                      via="definition, called by __crash_kexec"))
    callbacks.extend(_machine_ops_initialisers(unit))
    if with_features:
        callbacks = [
            replace(cb, features=callback_features(cb.callback, unit, max_depth, cb.line))
            if cb.callback else cb
            for cb in callbacks
        ]
    return FileFindings(tuple(callbacks), tuple(writers), tuple(unregs))


def find_wrappers(unit: Unit, specs: dict[str, Spec], rounds: int = 3) -> dict[str, Spec]:
    """Functions and function-like macros that pass a parameter on to a registration call.

    A wrapper's body spells the callee it passes on to, so only bodies that do
    are looked at (searched in place in their file's bytes; parameters are
    read only then).
    """
    found: dict[str, Spec] = {}
    data = {src.rel: src.data for src in unit.files}
    bodies: list[tuple[str, FunctionDef | MacroFunction, int, int]] = []
    for name, fdef in unit.functions.items():
        body = fdef.node.child_by_field_name("body")
        if body is not None and name not in BASE_SPECS:
            bodies.append((name, fdef, body.start_byte, body.end_byte))
    for name, macro in unit.macro_functions.items():
        if macro.params and name not in BASE_SPECS:
            bodies.append((name, macro, 0, len(macro.source)))
    for _ in range(rounds):
        known = {**specs, **found}
        spelled = re.compile(b"|".join(re.escape(k.encode()) for k in known)).search
        added = False
        for name, held, start, end in bodies:
            if name in found:
                continue
            raw = held.source if isinstance(held, MacroFunction) else data[held.rel]
            if not spelled(raw, start, end) or not held.params:
                continue  # a wrapper's body spells the callee it passes on to
            if isinstance(held, MacroFunction):
                node: Node | None = held.body
            else:
                node = held.node.child_by_field_name("body")
            spec = _wrapper_spec(unit, name, held.params, node, known) if node else None
            if spec is not None:
                found[name] = spec
                added = True
        if not added:
            break
    return found


def _wrapper_spec(unit: Unit, name: str, params: tuple[str, ...], body: Node,
                  known: dict[str, Spec]) -> Spec | None:
    for call in cparse.walk(body, frozenset({"call_expression"})):
        inner = known.get(cparse.call_name(call))
        if inner is None or cparse.call_name(call) == name:
            continue
        args = cparse.call_args(call)
        head_param: int | None = None
        if inner.head is not None:
            if inner.head >= len(args):
                continue
            head_param = _param_index(args[inner.head], params)
            if head_param is None and not is_panic_head(args[inner.head], unit, None):
                continue
        obj_param: int | None = None
        fixed = inner.fixed_obj
        if inner.obj is not None:
            if inner.obj >= len(args):
                continue
            obj_param = _param_index(args[inner.obj], params)
            fixed = None if obj_param is not None else args[inner.obj]
        if head_param is None and obj_param is None:
            continue
        return Spec(inner.list, inner.action, head_param, obj_param, inner.obj_kind,
                    f"{name}() -> {inner.via}", fixed)
    return None


def _param_index(arg: Node, params: tuple[str, ...]) -> int | None:
    stripped = cparse.strip_expr(arg)
    if stripped.type == "identifier" and cparse.text(stripped) in params:
        return params.index(cparse.text(stripped))
    return None


def is_panic_head(node: Node | None, unit: Unit, fn: Node | None, depth: int = 0) -> bool:
    """Whether an expression denotes ``panic_notifier_list`` (through macros and locals)."""
    if node is None or depth > 8:
        return False
    stripped = cparse.strip_expr(node)
    if stripped.type != "identifier":
        return False
    name = cparse.text(stripped)
    if name == PANIC_HEAD:
        return True
    if name in unit.env.macros:
        return is_panic_head(unit.env.macro_node(name), unit, fn, depth + 1)
    if fn is not None:
        return any(is_panic_head(value, unit, fn, depth + 1) for value in _local_values(fn, name))
    return False


def panic_head_macros(unit: Unit) -> list[str]:
    """Object-like macros of the unit that alias ``panic_notifier_list`` (see is_panic_head).

    Only macros whose body spells the head, or spells a macro that may alias
    it, are parsed and followed: headers define hundreds of macros and each
    body is a tree-sitter parse.
    """
    macros = unit.env.macros
    spelled = {PANIC_HEAD}
    maybe: set[str] = set()
    for _ in range(9):  # is_panic_head follows 8 macro levels
        more = {m for m, body in macros.items() if m not in maybe and body
                and any(name in body for name in spelled)}
        if not more:
            break
        maybe |= more
        spelled = more
    return [m for m in macros if m in maybe
            and is_panic_head(unit.env.macro_node(m), unit, None)]


def _local_values(fn: Node, name: str) -> list[Node]:
    values: list[Node] = []
    for node in cparse.walk(fn, frozenset({"init_declarator", "assignment_expression"})):
        if node.type == "init_declarator":
            if cparse.declarator_name(node.child_by_field_name("declarator")) == name:
                value = node.child_by_field_name("value")
                if value is not None:
                    values.append(value)
        elif cparse.text(node.child_by_field_name("left")) == name:
            value = node.child_by_field_name("right")
            if value is not None:
                values.append(value)
    return values


def _on_call(unit: Unit, specs: dict[str, Spec], call: Node, callbacks: list[Callback],
             unregs: list[Unregistration], writers: list[PostNotifiersWriter]) -> None:
    name = cparse.call_name(call)
    if name.endswith("param") or name.endswith("param_named"):
        _on_param(unit, call, name, cparse.call_args(call), writers)
        return
    spec = specs.get(name)
    if spec is None:
        return
    args = cparse.call_args(call)
    fn = cparse.enclosing_function(call)
    fn_params = tuple(cparse.function_params(fn)) if fn is not None else ()
    if spec.head is not None:
        if spec.head >= len(args) or _param_index(args[spec.head], fn_params) is not None:
            return
        if not is_panic_head(args[spec.head], unit, fn):
            return
    obj: Node | None = spec.fixed_obj
    if spec.obj is not None:
        if spec.obj >= len(args):
            return
        obj = args[spec.obj]
        if _param_index(obj, fn_params) is not None and fn is not None and \
                cparse.function_name(fn) in specs:
            return  # reported where the wrapper is called
    line = cparse.line(call)
    via = cparse.squash(cparse.text(call))
    if spec.via != name:
        via = f"{via} -> {spec.via.split(' -> ', 1)[-1]}"
    callback, priority, expr, max_reason = _resolve(unit, spec, obj, line)
    if spec.action == "register":
        callbacks.append(Callback(spec.list, unit.main.rel, line, callback, priority, expr,
                                  via=via, max_reason=max_reason))
    else:
        unregs.append(Unregistration(spec.list, unit.main.rel, line, callback, via))


def _resolve(unit: Unit, spec: Spec, obj: Node | None,
             line: int) -> tuple[str, int | None, str, str | None]:
    """Callback name, priority, priority text and max_reason for a registered object."""
    if obj is None:
        return "", None, "", None
    if spec.obj_kind == "function":
        return _function_key(obj, unit), None, "", None
    key = cparse.expr_key(obj)
    if key in unit.env.macros:
        key = cparse.expr_key(unit.env.macro_node(key) or obj) or key
    rel = unit.main.rel
    if spec.obj_kind == "dumper":
        dump = unit.fact_near(key, "dump", rel, line)
        reason = unit.fact_near(key, "max_reason", rel, line)
        max_reason = "unset"
        if reason is not None:
            max_reason = _value_text(reason.value, unit)
        return (_function_key(dump.value, unit) if dump else "", None, "", max_reason)
    call = unit.fact_near(key, "notifier_call", rel, line)
    prio = unit.fact_near(key, "priority", rel, line)
    callback = _function_key(call.value, unit) if call else ""
    if prio is None:
        return callback, (0 if call else None), "", None
    return (callback, constexpr.evaluate(prio.value, unit.env),
            cparse.squash(cparse.text(prio.value)), None)


def _value_text(node: Node, unit: Unit) -> str:
    expr = cparse.squash(cparse.text(node))
    value = constexpr.evaluate(node, unit.env)
    if value is None or expr == str(value):
        return expr
    return f"{expr} ({value})"


def _function_key(node: Node, unit: Unit) -> str:
    key = cparse.expr_key(node)
    if key in unit.env.macros:
        expanded = unit.env.macro_node(key)
        if expanded is not None and cparse.expr_key(expanded):
            return cparse.expr_key(expanded)
    return key


def _on_assignment(unit: Unit, node: Node, callbacks: list[Callback],
                   writers: list[PostNotifiersWriter]) -> None:
    left = node.child_by_field_name("left")
    right = node.child_by_field_name("right")
    if left is None or right is None:
        return
    target = "".join(cparse.text(left).split())
    if target in ("machine_ops.crash_shutdown", "_machine_crash_shutdown"):
        callbacks.append(Callback(CRASH_LIST, unit.main.rel, cparse.line(node),
                                  _function_key(right, unit), None, "",
                                  via=cparse.squash(cparse.text(node))))
    elif target == POST_NOTIFIERS:
        fn = cparse.enclosing_function(node)
        writers.append(PostNotifiersWriter(
            unit.main.rel, cparse.line(node), cparse.function_name(fn) if fn else "",
            guard_condition(node), cparse.squash(cparse.text(right))))


def _on_param(unit: Unit, call: Node, name: str, args: list[Node],
              writers: list[PostNotifiersWriter]) -> None:
    """``core_param(crash_kexec_post_notifiers, ...)``: writable from the command line / sysfs."""
    if name not in ("core_param", "module_param", "module_param_named") or not args:
        return
    variable = args[1] if name != "module_param" and len(args) > 1 else args[0]
    if cparse.text(variable) == POST_NOTIFIERS:
        writers.append(PostNotifiersWriter(
            unit.main.rel, cparse.line(call), "",
            f"boot parameter / sysfs ({cparse.squash(cparse.text(call))})", "user value"))


def guard_condition(node: Node) -> str:
    """Conditions under which ``node`` runs, outermost first, joined with ``&&``.

    Counts enclosing ``if``/``else`` branches and earlier ``if (C) return ...;``
    statements in enclosing blocks (which guard what follows with ``!C``).
    """
    levels: list[list[str]] = []
    cur = node
    while cur.parent is not None and cur.type != "function_definition":
        parent = cur.parent
        level: list[str] = []
        if parent.type == "if_statement":
            cond = parent.child_by_field_name("condition")
            if cur == parent.child_by_field_name("consequence"):
                level.append(_cond_text(cond))
            elif cur == parent.child_by_field_name("alternative"):
                level.append(_negate(cond))
        elif parent.type == "compound_statement":
            for sibling in parent.named_children:
                if sibling == cur:
                    break
                if _is_early_exit(sibling):
                    level.append(_negate(sibling.child_by_field_name("condition")))
        if level:
            levels.append(level)
        cur = parent
    return " && ".join(c for level in reversed(levels) for c in level if c)


def _is_early_exit(stmt: Node) -> bool:
    if stmt.type != "if_statement" or stmt.child_by_field_name("alternative") is not None:
        return False
    body = stmt.child_by_field_name("consequence")
    if body is not None and body.type == "compound_statement" and body.named_child_count == 1:
        body = body.named_children[0]
    return body is not None and body.type in ("return_statement", "goto_statement")


def _unparen(node: Node | None) -> Node | None:
    while node is not None and node.type == "parenthesized_expression" and \
            node.named_child_count == 1:
        node = node.named_children[0]
    return node


def _cond_text(node: Node | None) -> str:
    return cparse.squash(cparse.text(_unparen(node)))


def _negate(node: Node | None) -> str:
    inner = _unparen(node)
    if inner is None:
        return ""
    if inner.type == "unary_expression" and cparse.text(inner.child_by_field_name("operator")) \
            == "!":
        return _cond_text(inner.child_by_field_name("argument"))
    simple = inner.type in ("identifier", "field_expression", "call_expression")
    return "!" + _cond_text(inner) if simple else f"!({_cond_text(inner)})"


def _machine_ops_initialisers(unit: Unit) -> list[Callback]:
    out: list[Callback] = []
    for facts in unit.fields.values():
        for fact in facts.get("crash_shutdown", []):
            if fact.origin == "init" and fact.rel == unit.main.rel and \
                    "machine_ops" in fact.type_text:
                fn = _function_key(fact.value, unit)
                out.append(Callback(
                    CRASH_LIST, fact.rel, fact.line, fn, None, "",
                    via=f"{fact.type_text} {fact.decl_name} = {{ .crash_shutdown = {fn} }}"))
    return out
