"""What one translation unit knows: macros, enum constants, functions, struct field facts.

A unit is a .c (or .h) file plus the local headers it includes. The scanner
resolves notifier blocks through it: a block's ``.notifier_call`` / ``.priority``
(struct notifier_block, include/linux/notifier.h 6.1) and a dumper's ``.dump`` /
``.max_reason`` (struct kmsg_dumper, include/linux/kmsg_dump.h 6.1) come either
from a static initialiser or from assignments made at run time
(``par->hvfb_panic_nb.priority = INT_MIN + 10`` in
drivers/video/fbdev/hyperv_fb.c hvfb_probe, 6.1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, partial

from tree_sitter import Node, Tree

from panicpath.scan import constexpr, cparse

#: Struct fields whose values the scanner records.
TRACKED_FIELDS = frozenset({"notifier_call", "priority", "dump", "max_reason", "crash_shutdown"})

#: Positional layout of struct notifier_block (include/linux/notifier.h, 6.1).
_NOTIFIER_BLOCK_FIELDS = ("notifier_call", "next", "priority")


@dataclass(frozen=True)
class SourceFile:
    """One parsed file of a unit."""

    rel: str
    tree: Tree

    @cached_property
    def data(self) -> bytes:
        """The bytes the tree was parsed from (annotations blanked: cparse.normalize),
        at their offsets: the root node starts after leading blanks, which come back
        as spaces."""
        root = self.tree.root_node
        return b" " * root.start_byte + (root.text or b"")

    @cached_property
    def nodes(self) -> cparse.FileNodes:
        """Whole-file node lookups (one query per file)."""
        return cparse.FileNodes(self.tree)

    @cached_property
    def steps(self) -> tuple[_Step, ...]:
        """What this file adds to a unit's index (see build_unit)."""
        return _file_steps(self)


@dataclass(frozen=True)
class FieldFact:
    """``KEY.FIELD = VALUE`` seen in a static initialiser or an assignment."""

    rel: str
    line: int
    value: Node
    origin: str  # "init" or "assign"
    type_text: str = ""
    decl_name: str = ""


@dataclass(frozen=True)
class FunctionDef:
    """A function defined in the unit."""

    rel: str
    node: Node

    @cached_property
    def params(self) -> tuple[str, ...]:
        """Parameter names in order ('' where unnamed), read on first use."""
        return tuple(cparse.function_params(self.node))


@dataclass(frozen=True)
class MacroFunction:
    """A function-like macro: parameters and the body parsed as a function body.

    ``source`` is the body wrapped in a dummy function; it is parsed on first
    use of ``body`` (only wrapper detection needs it, and only for bodies that
    spell a registration name: parsing all of them cost a third of a scan).
    """

    rel: str
    params: tuple[str, ...]
    source: bytes

    @cached_property
    def body(self) -> Node:
        """Root of the parsed body."""
        return cparse.parse(self.source).root_node


@dataclass
class Unit:
    """Context shared by every finder working on one translation unit."""

    main: SourceFile
    files: list[SourceFile]
    env: constexpr.Env = field(default_factory=constexpr.Env)
    functions: dict[str, FunctionDef] = field(default_factory=dict)
    macro_functions: dict[str, MacroFunction] = field(default_factory=dict)
    fields: dict[str, dict[str, list[FieldFact]]] = field(default_factory=dict)
    #: Offsets of the ``{`` of main-file bodies blanked before parsing (see slicing.py),
    #: and whether the feature walk needed one of them (the unit is then parsed whole).
    blanked: frozenset[int] = frozenset()
    reached_blanked: bool = False

    def facts(self, key: str, name: str) -> list[FieldFact]:
        """All facts recorded for ``key.name``."""
        return self.fields.get(key, {}).get(name, [])

    def fact_near(self, key: str, name: str, rel: str, line: int) -> FieldFact | None:
        """The fact for ``key.name`` that applies at ``rel:line``.

        Prefers the last assignment above the line in the same file (run-time
        fill-in just before registering), then a static initialiser, then any.
        """
        facts = self.facts(key, name)
        before = [f for f in facts if f.rel == rel and f.origin == "assign" and f.line <= line]
        if before:
            return max(before, key=lambda f: f.line)
        inits = [f for f in facts if f.origin == "init"]
        if inits:
            same = [f for f in inits if f.rel == rel]
            return (same or inits)[0]
        return facts[0] if facts else None


def build_unit(main: SourceFile, headers: list[SourceFile],
               blanked: frozenset[int] = frozenset()) -> Unit:
    """Index a file and its included local headers.

    Each file's index is a list of steps computed once per parsed file
    (``SourceFile.steps``) and replayed in file order, so a header included by
    many units is walked once; enum values are computed at replay, from the
    macros and enums the unit has at that point.
    """
    unit = Unit(main=main, files=[main, *headers], blanked=blanked)
    for src in unit.files:
        for step in src.steps:
            step(unit)
    return unit


_Step = Callable[["Unit"], None]
_INDEXED = frozenset({"preproc_def", "preproc_function_def", "enumerator_list",
                      "function_definition", "declaration", "assignment_expression"})


def _file_steps(src: SourceFile) -> tuple[_Step, ...]:
    """What ``src`` adds to a unit, in source order (first definition wins, as in C)."""
    steps: list[_Step] = []
    for node in src.nodes.select(_INDEXED):
        if node.type == "preproc_def":
            _index_macro(steps, node)
        elif node.type == "preproc_function_def":
            _index_macro_function(steps, src, node)
        elif node.type == "enumerator_list":
            steps.append(partial(_index_enum, node=node))
        elif node.type == "function_definition":
            name = cparse.function_name(node)
            if name and cparse.enclosing_function(node) is None:
                fdef = FunctionDef(src.rel, node)
                steps.append(partial(_define_function, name=name, fdef=fdef))
        elif node.type == "declaration":
            _index_declaration(steps, src, node)
        else:
            _index_assignment(steps, src, node)
    return tuple(steps)


def _define_function(unit: Unit, name: str, fdef: FunctionDef) -> None:
    unit.functions.setdefault(name, fdef)


def _define_macro(unit: Unit, name: str, value: str) -> None:
    unit.env.macros.setdefault(name, value)


def _define_macro_function(unit: Unit, name: str, macro: MacroFunction) -> None:
    unit.macro_functions.setdefault(name, macro)


def _index_macro(steps: list[_Step], node: Node) -> None:
    name = cparse.text(node.child_by_field_name("name"))
    value = node.child_by_field_name("value")
    if name:
        steps.append(partial(_define_macro, name=name,
                             value=cparse.text(value).strip() if value is not None else ""))


def _index_macro_function(steps: list[_Step], src: SourceFile, node: Node) -> None:
    name = cparse.text(node.child_by_field_name("name"))
    params_node = node.child_by_field_name("parameters")
    value = node.child_by_field_name("value")
    if not name or value is None or params_node is None:
        return
    params = tuple(cparse.text(p) for p in params_node.named_children if p.type == "identifier")
    body_src = ("void __panicpath_macro(void) {\n" + cparse.text(value).replace("\\\n", " ")
                + "\n;}\n").encode("utf-8", "replace")
    steps.append(partial(_define_macro_function, name=name,
                         macro=MacroFunction(src.rel, params, body_src)))


def _index_enum(unit: Unit, node: Node) -> None:
    next_value: int | None = 0
    for enumerator in node.named_children:
        if enumerator.type != "enumerator":
            continue
        name = cparse.text(enumerator.child_by_field_name("name"))
        value_node = enumerator.child_by_field_name("value")
        value = (constexpr.evaluate(value_node, unit.env) if value_node is not None
                 else next_value)
        if name and value is not None and name not in unit.env.enums:
            unit.env.enums[name] = value
        next_value = value + 1 if value is not None else None


def _index_declaration(steps: list[_Step], src: SourceFile, node: Node) -> None:
    type_text: str | None = None  # only initialised declarations need it
    for child in node.named_children:
        if child.type != "init_declarator":
            continue
        value = child.child_by_field_name("value")
        if value is None or value.type != "initializer_list":
            continue
        name = cparse.declarator_name(child.child_by_field_name("declarator"))
        if name:
            if type_text is None:
                type_text = cparse.squash(cparse.text(node.child_by_field_name("type")))
            _index_initializer(steps, src, name, value, type_text, name)


def _index_initializer(steps: list[_Step], src: SourceFile, key: str, init: Node,
                       type_text: str, decl_name: str) -> None:
    positional = 0
    for item in init.named_children:
        if item.type == "initializer_pair":
            designator = item.child_by_field_name("designator")
            value = item.child_by_field_name("value")
            if designator is None or value is None:
                continue
            fname = cparse.text(designator).lstrip(".").strip()
            if value.type == "initializer_list":
                _index_initializer(steps, src, fname, value, "", decl_name)
            elif fname in TRACKED_FIELDS:
                steps.append(partial(_add_fact, key=key, fname=fname, fact=FieldFact(
                    src.rel, cparse.line(item), value, "init", type_text, decl_name)))
        elif item.type != "comment":
            if "notifier_block" in type_text and positional < len(_NOTIFIER_BLOCK_FIELDS):
                fname = _NOTIFIER_BLOCK_FIELDS[positional]
                if fname in TRACKED_FIELDS:
                    steps.append(partial(_add_fact, key=key, fname=fname, fact=FieldFact(
                        src.rel, cparse.line(item), item, "init", type_text, decl_name)))
            positional += 1


def _index_assignment(steps: list[_Step], src: SourceFile, node: Node) -> None:
    if cparse.text(node.child_by_field_name("operator")) != "=":
        return
    left = node.child_by_field_name("left")
    right = node.child_by_field_name("right")
    if left is None or right is None or left.type != "field_expression":
        return
    fname = cparse.text(left.child_by_field_name("field"))
    if fname not in TRACKED_FIELDS:
        return
    base = left.child_by_field_name("argument")
    key = cparse.expr_key(base) if base is not None else ""
    if key:
        steps.append(partial(_add_fact, key=key, fname=fname,
                             fact=FieldFact(src.rel, cparse.line(node), right, "assign")))


def _add_fact(unit: Unit, key: str, fname: str, fact: FieldFact) -> None:
    unit.fields.setdefault(key, {}).setdefault(fname, []).append(fact)
