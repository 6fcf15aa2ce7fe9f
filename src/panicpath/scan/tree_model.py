"""A kernel tree as a model: the policy its ``panic()`` derives and its callbacks as catalog.

``load_tree(PATH)`` (a source tree or a tarball) gives a :class:`TreeModel`: the policy file
``scan --policy-out`` would write (scan/panic_policy.py) and the callbacks ``scan --json``
finds (scan/runner.py), turned into model callbacks as ``run --from-scan`` turns them
(scan/to_model.py), each registered only on the machines it can exist on:

- a callback in ``arch/DIR/`` exists only on that architecture (:data:`ARCH_DIRS`; an
  architecture the model has not, such as ``arch/riscv``, drops it);
- one in a hypervisor's directory only under that hypervisor (:data:`HYPERVISOR_DIRS`:
  ``drivers/hv`` for Hyper-V, ``drivers/xen`` and ``arch/x86/xen`` for Xen);
- an architecture's own ``machine_crash_shutdown`` (every architecture defines one,
  called by ``__crash_kexec``, kernel/kexec_core.c) and the hooks the model's
  architectures already run (x86's ``native_machine_crash_shutdown``,
  arch/x86/kernel/reboot.c; Octeon's ``octeon_crash_shutdown``,
  arch/mips/cavium-octeon/setup.c) are the architecture model (panicpath.arch), not
  callbacks: :data:`ARCH_MODELLED`;
- a callback the catalog already models (a catalog callback citing the same file and
  function, panicpath.catalog) stays the catalog's driver, with its mechanics: the scan
  only reads what the driver does, the catalog says it.

Everything else (a driver's notifier, dumper or crash-shutdown hook) is registered on
every machine it fits, as if built in: the worst case of that tree's drivers.

Both are cached under ``CACHE/trees/`` (``$PANICPATH_CACHE``, :func:`panicpath.lab.archive.
cache_dir`) by the tree's identity: a directory by the path, size and mtime of every
``.c``/``.h`` file and ``Makefile`` the scan and the derivation read, a tarball by the
SHA-256 of its content, each with a hash of the scanner's code; a second run reads one JSON
file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from panicpath.scan.sources import ScanInputError

ARCH_DIRS: dict[str, str] = {"x86": "x86_64", "arm64": "arm64", "powerpc": "powerpc",
                             "mips": "mips-octeon", "s390": "s390"}
"""The kernel's arch/ directory of each architecture the model has (panicpath.arch)."""

HYPERVISOR_DIRS: tuple[tuple[str, str], ...] = (
    ("drivers/hv/", "hyperv"), ("arch/x86/hyperv/", "hyperv"), ("arch/arm64/hyperv/", "hyperv"),
    ("arch/x86/kernel/cpu/mshyperv.c", "hyperv"),
    ("drivers/xen/", "xen"), ("arch/x86/xen/", "xen"),
)
"""Files whose callbacks exist only under one hypervisor (prefixes of the tree's paths)."""

ARCH_MODELLED = frozenset({"machine_crash_shutdown", "native_machine_crash_shutdown",
                           "default_machine_crash_shutdown", "octeon_crash_shutdown"})
"""crash_shutdown entries that are the architecture model's own (panicpath.arch cites each):
every architecture's machine_crash_shutdown, x86's native_machine_crash_shutdown
(arch/x86/kernel/reboot.c), powerpc's default_machine_crash_shutdown
(arch/powerpc/kexec/crash.c), Octeon's octeon_crash_shutdown
(arch/mips/cavium-octeon/setup.c)."""


class TreeError(ScanInputError):
    """A --tree that gives no model; str() is one line."""


@dataclass(frozen=True)
class MachineCallback:
    """A scanned callback and the machines it exists on ("" for any)."""

    arch: str
    hypervisor: str
    callback: dict[str, Any]


@dataclass
class TreeModel:
    """What a tree gives the model: its derived policy file and its callbacks."""

    tree: str
    key: str
    policy_toml: str
    derivation: dict[str, Any]
    callbacks: tuple[MachineCallback, ...]
    left_out: dict[str, list[str]] = field(default_factory=dict)
    """Scanned callbacks not registered, by reason (arch model, catalog, other arch)."""
    cached: bool = False
    seconds: dict[str, float] = field(default_factory=dict)
    placements: tuple[tuple[str, str, int], ...] = ()
    """(catalog callback, list, priority) where the tree registers a catalog driver's
    callback on another list or at another priority than any form the catalog has: the
    tree's form, as a [[placement]] (Scenario.overrides)."""

    def policy(self, name: str | None = None) -> Any:
        """The derived policy (policies.base.Policy), read back from its policy file exactly
        as `--policy-file` reads it, renamed when `name` is given."""
        import tomllib

        from panicpath.policies.policy_file import PolicyFileError, policy_from_dict

        try:
            p = policy_from_dict(tomllib.loads(self.policy_toml), self.tree, self.policy_toml)
        except (PolicyFileError, tomllib.TOMLDecodeError) as e:  # pragma: no cover - dumped
            raise TreeError(f"{self.tree}: the derived policy does not load: {e}") from None
        return p if name is None else replace(p, name=name)

    def callbacks_for(self, arch: str, hypervisor: str) -> list[dict[str, Any]]:
        """The callback dicts registered on that machine."""
        return [m.callback for m in self.callbacks
                if m.arch in ("", arch) and m.hypervisor in ("", hypervisor)]

    def summary(self) -> str:
        """One line: the release, the callbacks registered and those left out."""
        out = ", ".join(f"{len(v)} {k}" for k, v in self.left_out.items() if v)
        return (f"Linux {self.derivation.get('release', '?')} {self.derivation.get('function')}()"
                f", {len(self.callbacks)} scanned callbacks registered"
                + (f" ({out} left out)" if out else ""))


# --- identity --------------------------------------------------------------------------------

def _code_hash() -> str:
    digest = hashlib.sha256()
    here = Path(__file__).parent
    for src in sorted([*here.glob("*.py"), here.parent / "policies" / "policy_file.py"]):
        digest.update(src.name.encode())
        digest.update(src.read_bytes())
    return digest.hexdigest()[:16]


def tree_identity(path: Path) -> tuple[str, str]:
    """(kind, identity): a directory's ``.c``/``.h`` files and Makefile by relative path,
    size and mtime; a tarball by the SHA-256 of its bytes."""
    from panicpath.scan.sources import check_path

    kind = check_path(path)
    if kind == "dir":  # refuse a directory that is no kernel tree before walking all of it
        from panicpath.scan.panic_policy import PANIC_C, DeriveError, makefile_release

        makefile_release(path)
        if not (path / PANIC_C).is_file():
            raise DeriveError(f"{path}: no {PANIC_C}: not a kernel tree")
    digest = hashlib.sha256()
    if kind == "tar":
        try:
            with path.open("rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
        except OSError as e:
            raise TreeError(f"{path}: cannot read ({e.strerror})") from None
        return kind, digest.hexdigest()
    digest.update(str(path.resolve()).encode())
    for rel, size, mtime in _dir_files(path):
        digest.update(f"{rel}|{size}|{mtime}\n".encode())
    return kind, digest.hexdigest()


def _dir_files(root: Path) -> list[tuple[str, int, int]]:
    """(relative path, size, mtime_ns) of the top Makefile and every ``.c``/``.h`` file
    (a symlinked file by its target's), sorted; symlinked directories are not followed,
    as the scan does not follow them (scan/sources.py walk_dir)."""
    out: list[tuple[str, int, int]] = []
    todo = [""]
    while todo:
        rel_dir = todo.pop()
        try:
            entries = list(os.scandir(root / rel_dir if rel_dir else root))
        except OSError:
            continue
        for e in entries:
            rel = f"{rel_dir}{e.name}"
            try:
                if e.is_dir(follow_symlinks=False):
                    todo.append(rel + "/")
                elif e.name.endswith((".c", ".h")) or rel == "Makefile":
                    st = e.stat()
                    out.append((rel, st.st_size, st.st_mtime_ns))
            except OSError:
                continue
    out.sort()
    return out


def trees_dir() -> Path:
    """``CACHE/trees``: one JSON file per tree identity."""
    from panicpath.lab.archive import cache_dir

    return cache_dir() / "trees"


# --- the model -------------------------------------------------------------------------------

def _machine(file: str) -> tuple[str, str] | None:
    """(arch, hypervisor) a file's callback exists on ("" any), None for an architecture the
    model does not have."""
    arch = ""
    if file.startswith("arch/"):
        d = file.split("/")[1]
        if d not in ARCH_DIRS:
            return None
        arch = ARCH_DIRS[d]
    hv = next((h for prefix, h in HYPERVISOR_DIRS if file.startswith(prefix)), "")
    return arch, hv


def _catalog_sources() -> dict[tuple[str, str], str]:
    """(file, function) -> catalog callback name, from the first words of the sources of
    every form of every catalog callback ("drivers/misc/pvpanic/pvpanic.c
    pvpanic_panic_notify, ..."; Hyper-V's unload is hyperv_panic_event before v5.19 and
    hv_panic_vmbus_unload since, under one name)."""
    from panicpath.catalog import DRIVERS

    out: dict[tuple[str, str], str] = {}
    for d in DRIVERS.values():
        for form in (d, *d.older):
            for cb in form.callbacks:
                for s in cb.sources:
                    words = s.replace(",", " ").split()
                    if len(words) >= 2 and "/" in words[0]:
                        for w in words[1:4]:
                            out.setdefault((words[0], w), cb.name)
    return out


def _catalog_forms() -> dict[str, set[tuple[str, int]]]:
    """Catalog callback name -> every (list, priority) its driver's forms register it at."""
    from panicpath.catalog import DRIVERS

    out: dict[str, set[tuple[str, int]]] = {}
    for d in DRIVERS.values():
        for form in (d, *d.older):
            for cb in form.callbacks:
                out.setdefault(cb.name, set()).add((cb.list, cb.priority))
    return out


def catalog_placements(scan_doc: dict[str, Any]) -> tuple[tuple[str, str, int], ...]:
    """The tree's form of each catalog callback it registers on another list or at another
    resolved priority than every form of the catalog (a patch moving a driver's notifier)."""
    catalog, forms = _catalog_sources(), _catalog_forms()
    out: list[tuple[str, str, int]] = []
    for c in scan_doc.get("callbacks", []):
        name = catalog.get((c.get("file"), c.get("callback")))
        prio = c.get("priority")
        if name is None or not isinstance(prio, int) or isinstance(prio, bool):
            continue
        if (c["list"], prio) not in forms.get(name, set()) and \
                all(p[0] != name for p in out):
            out.append((name, str(c["list"]), prio))
    return tuple(out)


def machine_callbacks(scan_doc: dict[str, Any]) -> tuple[tuple[MachineCallback, ...],
                                                         dict[str, list[str]]]:
    """The scan's callbacks as model callbacks with the machines they exist on, and those
    left out by reason."""
    from panicpath.scan.to_model import scan_to_user_callbacks

    catalog = _catalog_sources()
    entries = [c for c in scan_doc.get("callbacks", []) if c.get("callback")]
    dicts = scan_to_user_callbacks(scan_doc)
    left: dict[str, list[str]] = {"architecture model": [], "catalog": [],
                                  "other architecture": []}
    out: list[MachineCallback] = []
    by_source = {d["source"]: d for d in dicts}
    for c in entries:
        d = by_source.get(f"{c['file']}:{c['line']}")
        if d is None:
            continue
        where = f"{c['callback']} ({c['file']}:{c['line']})"
        if c["list"] == "crash_shutdown" and c["callback"] in ARCH_MODELLED:
            left["architecture model"].append(where)
            continue
        if (c["file"], c["callback"]) in catalog:
            left["catalog"].append(f"{where} = {catalog[(c['file'], c['callback'])]}")
            continue
        machine = _machine(str(c["file"]))
        if machine is None:
            left["other architecture"].append(where)
            continue
        out.append(MachineCallback(machine[0], machine[1], d))
    return tuple(out), left


def derive_and_scan(path: Path, kind: str, jobs: int = 1,
                    use_cache: bool = True) -> tuple[Any, Any, float, float]:
    """(Derivation, ScanResult, derive seconds, scan seconds). A tarball's panic-path files
    are extracted by a ``tar`` running beside the scan's own pass over the tarball (both
    decompress it; one after the other they took 25 + 12 s on the 6.1 tarball), then
    derived; a directory is derived first, so a tree that is no kernel tree fails before
    it is scanned."""
    from panicpath.scan.kernel_sources import SourceError, finish_extract, start_extract
    from panicpath.scan.panic_policy import derive_policy
    from panicpath.scan.runner import scan_tree

    t0 = time.perf_counter()
    try:
        if kind == "dir":
            d = derive_policy(path)
            t1 = time.perf_counter()
            return d, scan_tree(path, jobs, use_cache=use_cache), t1 - t0, \
                time.perf_counter() - t1
        with tempfile.TemporaryDirectory(prefix="panicpath-tree-") as tmp:
            running = start_extract(path, Path(tmp))
            try:
                scan = scan_tree(path, jobs, use_cache=use_cache)
            finally:
                t1 = time.perf_counter()
                finish_extract(path, Path(tmp), running)
            d = replace(derive_policy(tmp), tree=str(path))
            return d, scan, time.perf_counter() - t1, t1 - t0
    except SourceError as e:
        raise TreeError(str(e)) from None


def load_tree(path: str | Path, *, use_cache: bool = True, jobs: int = 1) -> TreeModel:
    """The model of a tree or tarball, from the cache when its identity was seen before.
    :class:`TreeError` / ScanInputError (one line) for a path that is not a kernel tree, a
    panic.c that does not parse or a panic() with no recognisable step."""
    from panicpath.scan.jsonio import scan_result_to_json

    root = Path(path)
    t0 = time.perf_counter()
    kind, ident = tree_identity(root)
    key = hashlib.sha256(f"{kind}|{ident}|{_code_hash()}".encode()).hexdigest()[:32]
    cache_file = trees_dir() / f"{key}.json"
    t_id = time.perf_counter() - t0
    if use_cache:
        try:
            doc = json.loads(cache_file.read_text(encoding="utf-8"))
            cbs, left = machine_callbacks(doc["scan"])
            return TreeModel(str(path), key, doc["policy_toml"], doc["derivation"], cbs, left,
                             cached=True, seconds={"identity": t_id,
                                                   "load": time.perf_counter() - t0 - t_id},
                             placements=catalog_placements(doc["scan"]))
        except (OSError, ValueError, KeyError, TypeError):
            pass
    from panicpath.policies.policy_file import dump_policy

    d, result, t_derive, t_scan = derive_and_scan(root, kind, jobs, use_cache)
    toml_text = dump_policy(d.policy())
    derivation = {"name": d.default_name(), **d.to_json()}
    scan = scan_result_to_json(result)
    if use_cache:
        _store(cache_file, {"tree": str(path), "policy_toml": toml_text,
                            "derivation": derivation, "scan": scan})
    cbs, left = machine_callbacks(scan)
    return TreeModel(str(path), key, toml_text, derivation, cbs, left,
                     seconds={"identity": t_id, "derive": t_derive, "scan": t_scan},
                     placements=catalog_placements(scan))


def _store(target: Path, doc: dict[str, Any]) -> None:
    """Write atomically; a cache that cannot be written is skipped."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
        tmp.write_text(json.dumps(doc), encoding="utf-8")
        tmp.replace(target)
    except OSError:
        pass


def tree_space_callbacks(policy: str, model: TreeModel,
                         start: int = 500) -> tuple[tuple[str, str, str, Any], ...]:
    """(policy, arch, hypervisor, model Callback) for check.space.Space.machine_callbacks;
    a callback that does not load is TreeError."""
    from panicpath.model.callback import CallbackError
    from panicpath.scenario_file import user_callback

    out = []
    for i, m in enumerate(model.callbacks):
        try:
            cb = user_callback(m.callback, start + i)
        except CallbackError as e:
            raise TreeError(f"{model.tree}: scanned callback {m.callback.get('name')!r} "
                            f"({m.callback.get('source')}): {e}") from None
        out.append((policy, m.arch, m.hypervisor, cb))
    return tuple(out)

