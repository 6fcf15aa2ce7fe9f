"""tree-sitter C parsing and small node helpers shared by the scanner.

Kernel sources are full of annotation macros (``__init``, ``__weak``,
``__iomem`` ...) that the C grammar does not know; the preprocessor turns them
into attributes or nothing (include/linux/init.h, include/linux/compiler_types.h,
6.1). We blank them with spaces of the same length before parsing, which keeps
every byte offset and line number of the original file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from operator import attrgetter

import tree_sitter_c
from tree_sitter import Language, Node, Parser, Point, Query, QueryCursor, Range, Tree

_LANGUAGE = Language(tree_sitter_c.language())

_ANNOTATIONS = (
    "__init", "__exit", "__initdata", "__initconst", "__exitdata", "__ref", "__refdata",
    "__weak", "__cold", "__hot", "__always_inline", "noinline", "notrace", "noinstr",
    "__maybe_unused", "__used", "__percpu", "__rcu", "__iomem", "__user", "__kprobes",
    "__noreturn", "__ro_after_init", "__read_mostly", "__must_check", "__visible",
    "asmlinkage", "__meminit", "__cpuinit", "__devinit", "__devexit", "__sched",
    "__always_unused", "__force", "__nocfi", "__noclone", "__flatten", "__init_or_module",
)
#: Plain form: any annotation as a whole word.
ANNOTATION_WORDS_RE = re.compile(rb"\b(?:" + b"|".join(a.encode() for a in _ANNOTATIONS) + rb")\b")


def _grouped_annotation_re() -> re.Pattern[bytes]:
    """Same matches as ANNOTATION_WORDS_RE, twice as fast.

    A leading ``\\b`` hides the first byte from the regex engine, which then
    tries every position; starting each branch with its literal first byte
    (the word boundary checked by a look-behind after it) lets it skip to
    candidate bytes.
    """
    words = sorted((a.encode() for a in _ANNOTATIONS), key=len, reverse=True)
    branches: list[bytes] = []
    for first in sorted({w[:1] for w in words}):
        rests = b"|".join(re.escape(w[1:]) for w in words if w[:1] == first)
        branches.append(re.escape(first) + rb"(?<![A-Za-z0-9_]" + re.escape(first) + rb")(?:"
                        + rests + rb")")
    return re.compile(rb"(?:" + b"|".join(branches) + rb")\b")


_ANNOTATION_RE = _grouped_annotation_re()


def _blank(match: re.Match[bytes]) -> bytes:
    return b" " * (match.end() - match.start())


def normalize(source: bytes) -> bytes:
    """Blank kernel annotation macros, keeping offsets and lines unchanged."""
    return _ANNOTATION_RE.sub(_blank, source)


_CONDITIONAL = (b"#if", b"#ifdef", b"#ifndef", b"#elif", b"#else", b"#endif")


def parse(source: bytes, skip: tuple[tuple[int, int], ...] = ()) -> Tree:
    """Parse C source bytes (never raises on malformed input: errors become ERROR nodes).

    ``skip``: (``{``, ``}``) offsets of blocks whose inside is blank (see
    slicing.py); the parser is told not to read it (``included_ranges``), which
    gives the same tree as reading the blanks (tree-sitter lexes whitespace at
    about the speed of code: 1 MB of blanks took 90 ms).

    The grammar cannot place ``#ifdef``/``#endif`` inside an expression or an
    initialiser (``struct machine_ops machine_ops = { ... #ifdef
    CONFIG_KEXEC_CORE .crash_shutdown = ... #endif }`` in
    arch/x86/kernel/reboot.c, 6.1). When a parse has errors, conditional
    directives inside the construct around each error are blanked (both
    branches kept) and the file re-parsed; the re-parse is kept if it has fewer
    errors.
    """
    parser = Parser(_LANGUAGE)
    if skip:
        parser.included_ranges = _ranges_around(source, skip)
    data = normalize(source)
    tree = parser.parse(data)
    if not tree.root_node.has_error:
        return tree
    errors = error_nodes(tree.root_node)
    spans = [((n.parent or n).start_byte, (n.parent or n).end_byte) for n in errors
             if n.parent is not None and n.parent.type != "translation_unit"]
    if not spans:
        return tree
    repaired, blanked = _blank_conditionals(data, spans)
    if not blanked:
        return tree
    # Incremental re-parse: only the edited lines' neighbourhoods are parsed
    # again (a whole second parse of kernel/trace/trace.c cost as much as the first).
    edited = tree.copy()
    row = counted = 0
    for start, end in sorted(blanked):  # each a whole line: column 0 to end - start
        row += data.count(b"\n", counted, start)
        counted = start
        edited.edit(start, end, end, (row, 0), (row, end - start), (row, end - start))
    retry = parser.parse(repaired, edited)
    if retry.root_node.has_error:
        # Error recovery may place the errors differently when old nodes are reused
        # (hypothesis found a four-line file where it did): parse afresh, so the
        # result is the re-parse this docstring defines. 12 of the 6.1 scan's 19
        # retries, 0.03 CPU s in all.
        retry = parser.parse(repaired)
    retry_errors = len(error_nodes(retry.root_node))
    return retry if retry_errors < len(errors) else tree


def _ranges_around(data: bytes, skip: tuple[tuple[int, int], ...]) -> list[Range]:
    """Ranges covering ``data`` except the inside of each skipped block."""
    ranges: list[Range] = []
    row = counted = 0

    def point(pos: int) -> Point:
        nonlocal row, counted
        row += data.count(b"\n", counted, pos)
        counted = pos
        return Point(row, pos - (data.rfind(b"\n", 0, pos) + 1))

    start = 0
    for open_brace, close_brace in skip:
        ranges.append(Range(point(start), point(open_brace + 1), start, open_brace + 1))
        start = close_brace
    ranges.append(Range(point(start), point(len(data)), start, len(data)))
    return ranges


def _blank_conditionals(data: bytes, spans: list[tuple[int, int]]) -> tuple[
        bytes, list[tuple[int, int]]]:
    """``data`` with the conditional directives on the lines of ``spans`` blanked, and the
    (start, end) byte range of each line blanked."""
    out = bytearray(data)
    blanked: list[tuple[int, int]] = []
    done: set[int] = set()  # spans overlap: a line is blanked (and edited) once
    for start, end in spans:
        pos = data.rfind(b"\n", 0, start) + 1
        while pos < end:
            nl = data.find(b"\n", pos)
            stop = len(data) if nl < 0 else nl
            stripped = data[pos:stop].lstrip()
            word = stripped.split(None, 1)[0] if stripped else b""
            if word.replace(b"# ", b"#") in _CONDITIONAL and pos not in done:
                out[pos:stop] = b" " * (stop - pos)
                blanked.append((pos, stop))
                done.add(pos)
            pos = stop + 1
    return bytes(out), blanked


def text(node: Node | None) -> str:
    """Source text of a node, undecodable bytes replaced."""
    if node is None or node.text is None:
        return ""
    return node.text.decode("utf-8", "replace")


def squash(value: str) -> str:
    """Collapse runs of whitespace to one space (for expressions shown to users)."""
    return " ".join(value.split())


def line(node: Node) -> int:
    """1-based line of the node's first byte."""
    return int(node.start_point[0]) + 1


_QUERIES: dict[frozenset[str], Query | None] = {}


def precompile() -> None:
    """Compile the queries of :data:`WALKED_TYPES` now.

    A scan's parent calls this before forking its workers, which then share
    the compiled queries instead of compiling them each (40 ms apiece).
    """
    for types in WALKED_TYPES:
        _query(types)


def _query(types: frozenset[str]) -> Query | None:
    if types not in _QUERIES:
        kinds = sorted(types)
        try:
            _QUERIES[types] = Query(_LANGUAGE, "[" + " ".join(f"({k})" for k in kinds) + "] @n")
        except ValueError:  # tree_sitter.QueryError: a node type the grammar lacks
            valid = []
            for kind in kinds:
                try:
                    Query(_LANGUAGE, f"({kind}) @n")
                except ValueError:  # unknown node type: matches nothing
                    continue
                valid.append(f"({kind})")
            _QUERIES[types] = (Query(_LANGUAGE, "[" + " ".join(valid) + "] @n") if valid
                               else None)
    return _QUERIES[types]


def _order(node: Node) -> tuple[int, int]:
    return (node.start_byte, -node.end_byte)


_START = attrgetter("start_byte")
_END = attrgetter("end_byte")


def in_source_order(nodes: list[Node]) -> list[Node]:
    """``nodes`` sorted as ``key=_order`` sorts them (outer node first on a shared start).

    Two stable sorts on C-level keys: a Python key function over the 80 000
    nodes of a large file cost as much as the query that found them.
    """
    nodes = sorted(nodes, key=_END, reverse=True)
    nodes.sort(key=_START)
    return nodes


def error_nodes(root: Node) -> list[Node]:
    """ERROR nodes under ``root`` in source order, as ``walk(root, {"ERROR"})`` finds them.

    Descends only into nodes whose subtree has an error (``has_error``), so a
    file with one error costs a few hundred node visits instead of a query
    over the whole tree.
    """
    found: list[Node] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if not node.has_error:
            continue
        if node.type == "ERROR":
            found.append(node)
        stack.extend(node.children)
    return sorted(found, key=_order)


#: Node types looked up over whole files (unit indexing, registrations,
#: includes, syntax errors): one query per file collects them all.
FILE_TYPES = frozenset({
    "preproc_def", "preproc_function_def", "enumerator_list", "function_definition",
    "declaration", "assignment_expression", "call_expression", "preproc_include", "ERROR",
})


#: Every node-type set the scanner walks or selects (tests/scan/test_cparse.py
#: checks that a scan compiles no query outside this list).
WALKED_TYPES: tuple[frozenset[str], ...] = (
    FILE_TYPES,
    frozenset({"call_expression"}),
    frozenset({"identifier"}),
    frozenset({"init_declarator"}),
    frozenset({"init_declarator", "assignment_expression"}),
    frozenset({"string_content", "escape_sequence"}),
    frozenset({"for_statement", "while_statement", "do_statement", "call_expression",
               "return_statement", "function_definition"}),  # features.WALKED
)


class FileNodes:
    """The nodes of FILE_TYPES in one tree, found by a single query on first use.

    A typed :func:`walk` is a traversal of the whole tree in C; a file was
    walked five times (errors, includes, unit index, registrations), which
    cost more than parsing it.
    """

    def __init__(self, tree: Tree) -> None:
        self._tree = tree
        self._by_type: dict[str, list[Node]] | None = None
        self._selected: dict[frozenset[str], list[Node]] = {}

    def select(self, types: frozenset[str]) -> list[Node]:
        """Nodes of ``types`` (a subset of FILE_TYPES) in the order :func:`walk` yields them."""
        if not types <= FILE_TYPES:
            raise ValueError(f"not indexed: {sorted(types - FILE_TYPES)}")
        if types in self._selected:  # headers are indexed again for every unit
            return self._selected[types]
        if self._by_type is None:
            self._by_type = {}
            for node in walk(self._tree.root_node, FILE_TYPES):
                self._by_type.setdefault(node.type, []).append(node)
        picked = [n for kind in types for n in self._by_type.get(kind, ())]
        if len(types) > 1:
            picked = in_source_order(picked)
        self._selected[types] = picked
        return picked


def walk(root: Node, types: frozenset[str] | None = None) -> Iterator[Node]:
    """Descendants of ``root`` (and itself) in source order, optionally only of some types.

    Typed walks run as a tree-sitter query (in C): a Python-level walk of every
    node costs more than parsing.
    """
    if types is not None:
        query = _query(types)
        if query is None:
            return
        nodes = QueryCursor(query).captures(root).get("n", [])
        yield from in_source_order(nodes)
        return
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children))


def call_name(call: Node) -> str:
    """Callee of a call_expression as text (``foo``, ``ops->bar``), or ''."""
    fn = call.child_by_field_name("function")
    if fn is None:
        return ""
    if fn.type == "identifier":
        return (fn.text or b"").decode("utf-8", "replace")
    if fn.type == "parenthesized_expression" and fn.named_child_count == 1:
        inner = fn.named_children[0]
        if inner is not None:
            fn = inner
    return squash(text(fn))


def call_args(call: Node) -> list[Node]:
    """Argument expression nodes of a call_expression (comments dropped)."""
    args = call.child_by_field_name("arguments")
    if args is None:
        return []
    return [a for a in args.named_children if a.type != "comment"]


def strip_expr(node: Node) -> Node:
    """Drop parentheses, casts and address-of/dereference around an expression."""
    while True:
        inner: Node | None
        if node.type == "parenthesized_expression" and node.named_child_count >= 1:
            inner = node.named_children[0]
        elif node.type == "cast_expression":
            inner = node.child_by_field_name("value")
        elif node.type == "pointer_expression":
            inner = node.child_by_field_name("argument")
        else:
            return node
        if inner is None:
            return node
        node = inner


def expr_key(node: Node) -> str:
    """The name that identifies an object expression: ``&par->nb`` -> ``nb``, ``&x`` -> ``x``."""
    node = strip_expr(node)
    if node.type == "identifier":
        return text(node)
    if node.type == "field_expression":
        return text(node.child_by_field_name("field"))
    if node.type == "subscript_expression":
        arg = node.child_by_field_name("argument")
        return expr_key(arg) if arg is not None else ""
    return ""


def enclosing_function(node: Node) -> Node | None:
    """The outermost function_definition containing ``node``, if any.

    Outermost, because the grammar reads a kernel loop macro with a block
    (``for_each_online_cpu(cpu) { ... }``) as a nested function definition.
    """
    found: Node | None = None
    cur = node.parent
    while cur is not None:
        if cur.type == "function_definition":
            found = cur
        cur = cur.parent
    return found


def function_name(fn: Node) -> str:
    """Name of a function_definition (follows pointer/function declarators)."""
    decl = fn.child_by_field_name("declarator")
    while decl is not None and decl.type != "identifier":
        if decl.type in ("function_declarator", "pointer_declarator", "parenthesized_declarator",
                         "attributed_declarator"):
            nxt = decl.child_by_field_name("declarator")
            if nxt is None and decl.named_child_count:
                nxt = decl.named_children[0]
            decl = nxt
        else:
            return ""
    return text(decl)


def function_params(fn: Node) -> list[str]:
    """Parameter names of a function_definition, in order ('' where unnamed)."""
    decl = fn.child_by_field_name("declarator")
    while decl is not None and decl.type != "function_declarator":
        decl = decl.child_by_field_name("declarator")
    if decl is None:
        return []
    plist = decl.child_by_field_name("parameters")
    if plist is None:
        return []
    names: list[str] = []
    for param in plist.named_children:
        if param.type != "parameter_declaration":
            continue
        names.append(_declarator_name(param.child_by_field_name("declarator")))
    return names


def _declarator_name(decl: Node | None) -> str:
    while decl is not None and decl.type not in ("identifier", "field_identifier"):
        nxt = decl.child_by_field_name("declarator")
        if nxt is None:
            return ""
        decl = nxt
    return text(decl)


def declarator_name(decl: Node | None) -> str:
    """Identifier declared by a (possibly nested) declarator."""
    return _declarator_name(decl)
