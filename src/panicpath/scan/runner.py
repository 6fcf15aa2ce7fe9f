"""Scan a kernel tree or tarball: pre-filter, parse the candidates in parallel, merge.

Pass 1 reads every .c/.h file once and keeps those the byte pre-filter accepts
(see prefilter.py). Headers among them are parsed first: wrappers and list
aliases they define become extra pre-filter tokens, and a second pass picks up
.c files that only call such a wrapper (skipped when there are none, as in 6.1).
Pass 2 parses each candidate with its local headers in a worker process.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from panicpath.scan import cache, cparse, prefilter, slicing, sources, workers
from panicpath.scan.features import MAX_DEPTH
from panicpath.scan.registrations import BASE_SPECS, find_all, find_wrappers, panic_head_macros
from panicpath.scan.results import (
    LIST_ORDER,
    Callback,
    FileFindings,
    PostNotifiersWriter,
    ScanError,
    ScanResult,
    ScanStats,
    Unregistration,
)
from panicpath.scan.sources import ScanInputError
from panicpath.scan.unit import SourceFile, build_unit

__all__ = ["ScanInputError", "scan_tree"]

_INCLUDE_DEPTH = 2
_CHUNK = 512


@dataclass
class _State:
    """What a worker needs besides the file itself (inherited through fork)."""

    root: Path | None = None
    headers: dict[str, bytes] = field(default_factory=dict)
    max_depth: int = MAX_DEPTH
    parsed: dict[str, SourceFile | None] = field(default_factory=dict)

    global_headers: frozenset[str] = frozenset()
    extra: frozenset[bytes] = frozenset()
    raw: dict[str, bytes | None] = field(default_factory=dict)
    resolved: dict[tuple[str, str, bool], str | None] = field(default_factory=dict)

    def resolve(self, including: str, target: str, local: bool) -> str | None:
        """:func:`sources.resolve_include` against this state, memoised per directory
        (the candidates it tries depend on the including file's directory only).

        A header is resolved again for every file that includes it; each miss
        of a local candidate costs a stat().
        """
        key = (including.rpartition("/")[0], target, local)
        if key not in self.resolved:
            self.resolved[key] = sources.resolve_include(including, target, local, self.exists)
        return self.resolved[key]

    def exists(self, rel: str) -> bool:
        """Whether a header is available; global headers only if they passed the pre-filter.

        Parsing every <linux/...> header for every unit would cost more than
        the scan; only headers that mention the scanned names can matter.
        """
        if rel in self.headers:
            return True
        if prefilter.is_global_header(rel) and rel not in self.global_headers:
            return False
        return self.root is not None and (self.root / rel).is_file()

    def header_bytes(self, rel: str) -> bytes | None:
        if rel not in self.raw:
            data = self.headers.get(rel)
            if data is None and self.root is not None:
                data, _ = sources.read_file(self.root, rel, sources.MAX_HEADER_BYTES)
            self.raw[rel] = data
        return self.raw[rel]

    def header(self, rel: str) -> SourceFile | None:
        if rel not in self.parsed:
            data = self.header_bytes(rel)
            self.parsed[rel] = SourceFile(rel, cparse.parse(data)) if data is not None else None
        return self.parsed[rel]


_STATE = _State()


def scan_tree(path: str | Path, jobs: int = 1, *, use_cache: bool = True,
              cache_dir: Path | None = None, max_depth: int = MAX_DEPTH) -> ScanResult:
    """Scan a kernel source tree or tarball for panic-path callbacks.

    Raises ScanInputError (one-line message) when ``path`` is neither. Tarball
    results are cached under ``cache_dir`` (default ~/.cache/panicpath/scan)
    keyed by size, mtime and the scanner's code, unless ``use_cache`` is False.
    """
    start = time.perf_counter()
    root = Path(path)
    kind = sources.check_path(root)
    jobs = max(1, int(jobs))
    key = ""
    cdir = cache_dir or cache.default_cache_dir()
    if kind == "tar" and use_cache:
        key = cache.cache_key(root, max_depth)
        hit = cache.load(cdir, key)
        if hit is not None:
            return hit
    global _STATE
    try:
        if kind == "dir":
            findings, stats = _scan_dir(root, jobs, max_depth)
        else:
            findings, stats = _scan_tar(root, jobs, max_depth)
    finally:
        # A tarball scan holds every local header in memory; a later scan would
        # otherwise fork workers from a process carrying them.
        _STATE = _State()
    result = _merge(str(path), findings, stats, time.perf_counter() - start)
    if key:
        cache.store(cdir, key, result)
    return result


def _scan_dir(root: Path, jobs: int, max_depth: int) -> tuple[list[FileFindings], ScanStats]:
    rg = sources.start_rg(root, jobs)  # reads the tree while Python walks it
    try:
        files, links, errors = sources.walk_dir(root)
        listed = frozenset(files)  # hashed while ripgrep still reads
        cparse.precompile()
        found = sources.finish_rg(rg) if rg is not None else None
    finally:
        if rg is not None and rg.poll() is None:
            rg.kill()
            rg.wait()
    if found is not None:
        found &= listed
    matched = _prefilter_dir(root, files, links, frozenset(), jobs, errors, found)
    global _STATE
    _STATE = _State(root=root, max_depth=max_depth,
                    global_headers=frozenset(m for m in matched if m.endswith(".h")))
    extra = _extra_tokens([m for m in matched if m.endswith(".h")])
    _STATE.extra = extra
    if extra:
        done = set(matched) | {e.file for e in errors}
        rest = [f for f in files if f.endswith(".c") and f not in done]
        matched += _prefilter_dir(root, rest, [], extra, jobs, errors)
    tasks: list[tuple[str, bytes | None]] = [(rel, None) for rel in _largest_first(root,
                                                                                   set(matched))]
    findings = list(workers.fork_map(jobs, _unit_task, tasks, _unit_lost))
    findings.append(FileFindings(errors=tuple(errors), parsed=False))
    return findings, ScanStats(len(files) + len(links), sum(f.parsed for f in findings))


def _largest_first(root: Path, rels: set[str]) -> list[str]:
    """Parse order that balances the workers: biggest files first, then by name."""
    def size(rel: str) -> int:
        try:
            return os.stat(os.path.join(root, rel)).st_size
        except OSError:
            return 0
    return sorted(rels, key=lambda rel: (-size(rel), rel))


def _prefilter_dir(root: Path, files: list[str], links: list[str], extra: frozenset[bytes],
                   jobs: int, errors: list[ScanError],
                   found: set[str] | None = None) -> list[str]:
    """Files worth parsing: ripgrep or grep -F on regular files, Python on symlinks.

    ``found`` is what :func:`sources.start_rg` listed for the base tokens, among
    ``files`` (None: ripgrep absent or failed, use grep). Symlinked files are read in
    Python to report loops.
    """
    matched: list[str] = []
    python_side = list(links)
    grepped = (sorted(found) if found is not None and not extra
               else sources.grep_filter(root, files, extra))
    if grepped is None:
        python_side += files
    else:
        for rel in grepped:
            try:
                size = os.stat(os.path.join(root, rel)).st_size
            except OSError:
                size = 0
            if size > sources.MAX_FILE_BYTES:
                errors.append(ScanError(rel, f"{size / 1e6:.1f} MB is larger than the "
                                             f"{sources.MAX_FILE_BYTES // 2**20} MB parse "
                                             "limit, skipped"))
            else:
                matched.append(rel)
    chunks = [python_side[i:i + _CHUNK] for i in range(0, len(python_side), _CHUNK)]
    filter_tasks = [(str(root), c, extra) for c in chunks]
    for hits, _rest, errs in workers.fork_map(jobs, _filter_task, filter_tasks, _filter_lost):
        matched.extend(hits)
        errors.extend(errs)
    return matched


def _scan_tar(path: Path, jobs: int, max_depth: int) -> tuple[list[FileFindings], ScanStats]:
    collected = sources.collect_tar(path)
    global _STATE
    _STATE = _State(headers=collected.headers, max_depth=max_depth)
    for rel, data in collected.candidates.items():
        if rel.endswith(".h") and data is not None:
            _STATE.headers.setdefault(rel, data)
    extra = _extra_tokens([rel for rel in collected.candidates if rel.endswith(".h")])
    errors = list(collected.errors)
    if extra:
        more = sources.collect_tar(path, extra, frozenset(collected.candidates), False)
        collected.candidates.update(more.candidates)
        errors.extend(more.errors)
    _STATE.extra = extra
    cparse.precompile()
    tasks = sorted(collected.candidates.items(), key=lambda t: (-len(t[1] or b""), t[0]))
    findings = list(workers.fork_map(jobs, _unit_task, tasks, _unit_lost))
    findings.append(FileFindings(errors=tuple(errors), parsed=False))
    return findings, ScanStats(collected.files_seen, sum(f.parsed for f in findings))


def _unit_lost(arg: tuple[str, bytes | None], why: str) -> FileFindings:
    return FileFindings(errors=(ScanError(arg[0], f"not scanned: {why}"),), parsed=False)


def _filter_lost(arg: tuple[str, list[str], frozenset[bytes]], why: str) -> tuple[
        list[str], list[str], list[ScanError]]:
    return [], [], [ScanError(rel, f"not read: {why}") for rel in arg[1]]


def _filter_task(arg: tuple[str, list[str], frozenset[bytes]]) -> tuple[
        list[str], list[str], list[ScanError]]:
    root, rels, extra = arg
    return sources.filter_chunk(root, rels, extra)


def _unit_task(arg: tuple[str, bytes | None]) -> FileFindings:
    rel, data = arg
    try:
        return _scan_unit(rel, data)
    except (RecursionError, MemoryError, ValueError, UnicodeError) as exc:
        return FileFindings(errors=(ScanError(rel, f"not scanned: {type(exc).__name__}: {exc}"),))


def _scan_unit(rel: str, data: bytes | None) -> FileFindings:
    if data is None:
        assert _STATE.root is not None
        data, problem = sources.read_file(_STATE.root, rel)
        if data is None:
            return FileFindings(errors=(ScanError(rel, problem),), parsed=False)
    texts = _unit_bytes(rel, data)
    if not prefilter.unit_may_matter(texts, _STATE.extra):
        return FileFindings(parsed=False)
    sliced, blanked = slicing.plan(data, _STATE.extra, texts[1:], _STATE.max_depth)
    if blanked:
        found = _analyse(rel, sliced, blanked)
        if found is not None:
            return found
    found = _analyse(rel, data, ())
    assert found is not None
    return found


def _analyse(rel: str, data: bytes, blanked: tuple[tuple[int, int], ...]) -> FileFindings | None:
    """Parse and scan one unit; None if the blanked bodies turn out to matter (see slicing.py)."""
    main = SourceFile(rel, cparse.parse(data, blanked))
    if blanked and not slicing.blocks_intact(main.tree.root_node, blanked):
        return None
    headers = _included(main, _INCLUDE_DEPTH)
    unit = build_unit(main, headers, frozenset(start for start, _ in blanked))
    findings = find_all(unit, max_depth=_STATE.max_depth)
    if unit.reached_blanked:
        return None
    errors = (*findings.errors, *_unparsed_mentions(main))
    return FileFindings(findings.callbacks, findings.writers, findings.unregistrations, errors)


def _unparsed_mentions(src: SourceFile) -> list[ScanError]:
    """Report syntax errors that swallow a name the scanner looks for (it may miss something)."""
    out: list[ScanError] = []
    if not src.tree.root_node.has_error:
        return out
    for node in src.nodes.select(frozenset({"ERROR"})):
        raw = node.text or b""
        hits = [t.decode() for t in prefilter.TOKENS if t in raw]
        if hits:
            out.append(ScanError(src.rel, f"line {cparse.line(node)}: C syntax error around "
                                          f"{hits[0]}; a registration there may be missed"))
    return out


_INCLUDE_RE = re.compile(rb'#[ \t]*include[ \t\\\r\n]*([<"])([^>"\n]*)[>"]')


def _unit_bytes(rel: str, data: bytes) -> list[bytes]:
    """Bytes of a file and of the local headers :func:`_included` can reach from it, unparsed.

    The ``#include`` lines are found with a regex that matches anywhere (also
    in comments and inactive branches), so the headers are a superset of what
    the parse reaches with the same depth and resolution. Global headers
    (include/, arch/*/include/) are left out: what one of them can lend a unit
    is a wrapper or a list alias, whose name the unit must then spell, and
    those names are already in ``_STATE.extra``; their own registrations are
    found when they are scanned as units. Counting them made every file that
    includes <linux/reboot.h> (it declares ``crash_shutdown`` fields) a unit:
    11 of 104 parses in 6.1, none with a finding.
    """
    texts = [data]
    seen = {rel}
    frontier = [(rel, data)]
    for _ in range(_INCLUDE_DEPTH):
        nxt: list[tuple[str, bytes]] = []
        for src_rel, src in frontier:
            for quote, target in _INCLUDE_RE.findall(src):
                name = target.decode("utf-8", "surrogateescape").strip()
                found = _STATE.resolve(src_rel, name, quote == b'"')
                if found is None or found in seen or prefilter.is_global_header(found):
                    continue
                seen.add(found)
                header = _STATE.header_bytes(found)
                if header is not None:
                    texts.append(header)
                    nxt.append((found, header))
        frontier = nxt
    return texts


def _included(main: SourceFile, depth: int) -> list[SourceFile]:
    seen: dict[str, SourceFile] = {}
    frontier = [main]
    for _ in range(depth):
        nxt: list[SourceFile] = []
        for src in frontier:
            for target, local in _include_targets(src):
                rel = _STATE.resolve(src.rel, target, local)
                if rel is None or rel in seen or rel == main.rel:
                    continue
                header = _STATE.header(rel)
                if header is not None:
                    seen[rel] = header
                    nxt.append(header)
        frontier = nxt
    return list(seen.values())


def _include_targets(src: SourceFile) -> Iterable[tuple[str, bool]]:
    for node in src.nodes.select(frozenset({"preproc_include"})):
        path = node.child_by_field_name("path")
        if path is None:
            continue
        raw = cparse.text(path).strip()
        if len(raw) >= 2:
            yield raw[1:-1], path.type == "string_literal"


def _extra_tokens(header_rels: list[str]) -> frozenset[bytes]:
    """Names of wrappers and list aliases defined in the candidate headers."""
    names: set[bytes] = set()
    for rel in header_rels:
        header = _STATE.header(rel)
        if header is None:
            continue
        unit = build_unit(header, _included(header, 1))
        names.update(n.encode() for n in find_wrappers(unit, dict(BASE_SPECS)))
        names.update(macro.encode() for macro in panic_head_macros(unit))
    return frozenset(names)


def _order_key(cb: Callback) -> tuple[int, int, int, str, int]:
    list_rank = LIST_ORDER.index(cb.list) if cb.list in LIST_ORDER else len(LIST_ORDER)
    has_prio = 0 if cb.priority is not None else 1
    return (list_rank, has_prio, -(cb.priority or 0), cb.file, cb.line)


def _merge(tree: str, findings: list[FileFindings], stats: ScanStats,
           seconds: float) -> ScanResult:
    callbacks: list[Callback] = []
    writers: list[PostNotifiersWriter] = []
    unregs: list[Unregistration] = []
    errors: list[ScanError] = []
    for item in findings:
        callbacks.extend(item.callbacks)
        writers.extend(item.writers)
        unregs.extend(item.unregistrations)
        errors.extend(item.errors)
    return ScanResult(
        tree,
        tuple(sorted(callbacks, key=_order_key)),
        tuple(sorted(writers, key=lambda w: (w.file, w.line))),
        tuple(sorted(unregs, key=lambda u: (u.list, u.file, u.line))),
        tuple(sorted(errors, key=lambda e: (e.file, e.message))),
        ScanStats(stats.files_seen, stats.files_parsed, round(seconds, 3)),
    )


