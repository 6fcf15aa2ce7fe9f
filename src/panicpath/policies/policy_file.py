"""Policy files (TOML): a policy's data, written and read back.

A policy is data (policies/base.py): the ordered program of panic() as kernel steps with
their conditions on crash_kexec_post_notifiers, the features the steps and architectures
test, the release whose drivers it carries, its sources, and for a proposal its own
callback lists, parameters and where catalog callbacks are registered. `dump_policy`
writes a policy as a file; `load_policy_file` reads one into a `Policy` equal to the one
dumped. A policy whose steps, placements or set-up are Python code of its own (most
proposals) is refused by `dump_policy` rather than written as a file that would behave
differently.

Every key is declared once (`POLICY_KEYS`, `PROGRAM_KEYS`, `PLACEMENT_KEYS`): the reader
checks against the declarations and docs/inputs.md lists them. Errors name the file, the
line, what is wrong and what is valid (docs/policy-files.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from panicpath.model.callback import LISTS, Callback, CallbackError, parse_priority
from panicpath.model.params import PARAMS
from panicpath.model.steps import STEPS, run_list
from panicpath.policies import BUILTIN, POLICIES
from panicpath.policies.base import CONDITIONS, FEATURES, MAINLINE, Op, Policy
from panicpath.tomlfile import read_toml, toml_lines

if TYPE_CHECKING:
    from panicpath.model.run import Run

KINDS = ("kernel", "proposal")
"""Policy.kind: a kernel version or a proposal from the seeds."""

POLICY_KEYS: dict[str, str] = {
    "name": "required: the policy's name (letters, digits, `.`, `_`, `+`, `-`); a built-in's "
            "name replaces that built-in in the command",
    "version": "required: the kernel release, \"MAJOR.MINOR\" or \"mainline\"; decides which "
               "catalog callbacks exist and whether the arch has kdump",
    "kind": f"{' or '.join(KINDS)}; default kernel",
    "title": "one line describing the policy",
    "base": "the policy it starts from (a name, for the reader)",
    "doc": "what the policy is, with its sources",
    "drivers_version": "\"MAJOR.MINOR\": which release's driver forms the kernel carries "
                       "(backports); default: version",
    "features": "a list of feature names (see Features below)",
    "sources": "a list of strings: where the program was read",
    "lists": "a list of the policy's own callback lists (names of C identifiers); a step "
             "of that name walks the list as a notifier chain, a placement may name it",
    "params": "a list of proposals' own boot parameters the policy reads (see Boot "
              "parameters, 'read by')",
    "param_space": "a table NAME = [values]: the values of a boot parameter `compare` "
                   "crosses with this policy",
    "unmodelled": "a list of strings `NAME (file:line): why`: calls in the kernel's panic "
                  "path the model has no step for (written by `panicpath scan "
                  "--policy-out`); run, check and compare name them in a note",
    "program": "required: an array of tables, the steps of panic() in order (see below)",
    "placement": "an array of tables: where catalog callbacks are registered (see below)",
}
"""The keys of a policy file and what each accepts (docs/inputs.md)."""

PROGRAM_KEYS: dict[str, str] = {
    "step": "required: a model step (see Steps) or one of the file's `lists`",
    "when": "\"post\": only with crash_kexec_post_notifiers (as panic() snapshotted it); "
            "\"!post\": only without; leave it out: always",
}
PLACEMENT_KEYS: dict[str, str] = {
    "callback": "required: a catalog callback name (panicpath drivers --json)",
    "list": f"required: {', '.join(LISTS)} or one of the file's `lists`",
    "priority": "an integer or INT_MAX/INT_MIN +/- N; default: the callback's own",
    "also": "true: registered there as well as where the driver registers it; default "
            "false (moved)",
}

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
_LIST = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_VERSION = re.compile(r"([1-9][0-9]?)\.(0|[1-9][0-9]{0,2})")


class PolicyFileError(ValueError):
    """A policy file that cannot be used, or a policy that cannot be written as one; str() is
    the one-line message for the user."""


@dataclass(frozen=True)
class Placement:
    """One `[[placement]]`: register catalog callback `callback` on `list` (at `priority`,
    or its own), instead of (or with `also`, besides) where its driver registers it."""

    callback: str
    list: str
    priority: int | None = None
    also: bool = False


@dataclass(frozen=True)
class Placements:
    """A `Policy.place` made of data: the policy file's placements, applied to each callback
    the engine registers at boot (engine.build)."""

    table: tuple[Placement, ...]

    def __call__(self, cb: Callback, run: Run) -> Callback | tuple[Callback, ...] | None:
        mine = [p for p in self.table if p.callback == cb.name]
        if not mine:
            return cb
        moved = tuple(replace(cb, list=p.list,
                              priority=cb.priority if p.priority is None else p.priority)
                      for p in mine)
        if all(p.also for p in mine):
            return (cb, *moved)
        return moved[0] if len(moved) == 1 else moved


@dataclass(frozen=True)
class ListWalk:
    """A step of a policy file that walks one of its own lists as a notifier chain
    (model.steps.run_list: kernel/notifier.c notifier_call_chain)."""

    name: str

    def __call__(self, run: Run) -> None:
        run_list(self.name)(run)


# --- writing ------------------------------------------------------------------------------

def undumpable(p: Policy) -> str | None:
    """Why `p` cannot be written as a policy file (its own Python code), or None."""
    code = [n for n, f in p.steps.items() if not isinstance(f, ListWalk)]
    parts = []
    if code:
        parts.append(f"its steps {', '.join(code)}")
    if p.place is not None and not isinstance(p.place, Placements):
        parts.append("its placements")
    if p.setup is not None:
        parts.append("its set-up of the run")
    if not parts:
        return None
    modules = sorted({getattr(f, "__module__", "?")
                      for f in (*(p.steps[n] for n in code), p.place, p.setup)
                      if f is not None and not isinstance(f, Placements)})
    return f"{' and '.join(parts)} are Python code ({', '.join(modules)})"


def dumpable_names() -> list[str]:
    """The built-in policies `policies --dump` can write."""
    return [n for n, p in BUILTIN.items() if undumpable(p) is None]


def _s(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's; DEL must be escaped too)."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _doc(value: str) -> str:
    """A multi-line literal string when the text allows it (readable), else a basic one."""
    if ("'''" in value or value.endswith("'") or "\r" in value
            or any((ord(c) < 32 and c not in "\n\t") or c == "\x7f" for c in value)):
        return _s(value)
    return "'''\n" + value + "'''"


def _version(v: tuple[int, int]) -> str:
    return "mainline" if v == MAINLINE else f"{v[0]}.{v[1]}"


def _strings(key: str, values: Sequence[str]) -> list[str]:
    if not values:
        return [f"{key} = []"]
    return [f"{key} = [", *(f"  {_s(v)}," for v in values), "]"]


def dump_policy(p: Policy) -> str:
    """The policy file of `p`; PolicyFileError when its behaviour is code of its own."""
    problem = undumpable(p)
    if problem is not None:
        raise PolicyFileError(f"policy {p.name!r} cannot be written as a policy file: "
                              f"{problem}, and a file would behave differently; policies "
                              f"that can: {', '.join(dumpable_names())}")
    out = [f"# panicpath policy file (docs/policy-files.md): {p.name}",
           f"# written by `panicpath policies --dump {p.name}`; use it with --policy-file",
           f"name = {_s(p.name)}", f"kind = {_s(p.kind)}", f"version = {_s(_version(p.version))}"]
    if p.catalog_version is not None:
        out.append(f"drivers_version = {_s(_version(p.catalog_version))}")
    out.append(f"title = {_s(p.title)}")
    if p.base:
        out.append(f"base = {_s(p.base)}")
    out += _strings("features", sorted(p.features))
    out += _strings("sources", p.sources)
    if p.lists:
        out += _strings("lists", p.lists)
    if p.params:
        out += _strings("params", p.params)
    if p.unmodelled:
        out += _strings("unmodelled", p.unmodelled)
    if p.doc:
        out.append(f"doc = {_doc(p.doc)}")
    out.append("program = [")
    for op in p.program:
        when = f", when = {_s(op.when)}" if op.when else ""
        out.append(f"  {{ step = {_s(op.step)}{when} }},")
    out.append("]")
    if p.param_space:
        out += ["", "[param_space]"]
        out += [f"{_s(name)} = [{', '.join(_s(v) for v in values)}]"
                for name, values in p.param_space]
    if isinstance(p.place, Placements):
        for pl in p.place.table:
            out += ["", "[[placement]]", f"callback = {_s(pl.callback)}", f"list = {_s(pl.list)}"]
            if pl.priority is not None:
                out.append(f"priority = {pl.priority}")
            if pl.also:
                out.append("also = true")
    return "\n".join(out) + "\n"


# --- reading ------------------------------------------------------------------------------

class _Where:
    """Lines of a policy file's keys and values, for file:line errors."""

    def __init__(self, path: str, text: str) -> None:
        self.path, self.lines = path, toml_lines(text)

    def line(self, key: str, value: object = None) -> int:
        """The line of top-level `key` (or its table header), or of `value` after it."""
        start = None
        pat = re.compile(rf'^\s*(?:"{re.escape(key)}"|{re.escape(key)})\s*=|'
                         rf'^\s*\[\[?\s*{re.escape(key)}\s*\]\]?')
        for i, ln in enumerate(self.lines):
            if pat.match(ln):
                start = i
                break
        if value is not None and not isinstance(value, dict | list):
            needle = (_s(value) if isinstance(value, str)
                      else str(value).lower() if isinstance(value, bool) else str(value))
            for i in range(start or 0, len(self.lines)):
                if needle in self.lines[i]:
                    return i + 1
        return 1 if start is None else start + 1

    def key_line(self, table: str, key: str) -> int:
        """The line of `key` inside the tables of `table` (inline or not)."""
        start = self.line(table) - 1
        pat = re.compile(rf'(?:^|[{{,])\s*(?:"{re.escape(key)}"|{re.escape(key)})\s*=')
        for i in range(start, len(self.lines)):
            if pat.search(self.lines[i]):
                return i + 1
        return start + 1

    def error(self, key: str, msg: str, value: object = None) -> PolicyFileError:
        return PolicyFileError(f"{self.path}:{self.line(key, value)}: {msg}")


def _version_of(w: _Where, key: str, raw: object) -> tuple[int, int]:
    if raw == "mainline":
        return MAINLINE
    m = _VERSION.fullmatch(raw) if isinstance(raw, str) else None
    if m is None:
        raise w.error(key, f"{key} {raw!r} is not a kernel release; valid: \"MAJOR.MINOR\" "
                           "(e.g. \"6.1\") or \"mainline\"", raw)
    return int(m.group(1)), int(m.group(2))


def _str_list(w: _Where, data: dict[str, Any], key: str) -> list[str]:
    v = data.get(key, [])
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise w.error(key, f"{key} must be a list of strings, e.g. {key} = [\"...\"]")
    return v


def _names(w: _Where, data: dict[str, Any], key: str, valid: Sequence[str]) -> list[str]:
    out = _str_list(w, data, key)
    for x in out:
        if x not in valid:
            raise w.error(key, f"unknown {key.rstrip('s')} {x!r} in {key}; valid: "
                               f"{', '.join(valid)}", x)
    return out


def _tables(w: _Where, data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    v = data.get(key, [])
    if not isinstance(v, list) or not all(isinstance(t, dict) for t in v):
        raise w.error(key, f"{key} must be an array of tables ([[{key}]] or "
                           f"{key} = [{{ ... }}, ...])")
    return v


def _keys(w: _Where, where: str, table: dict[str, Any], valid: dict[str, str]) -> None:
    for k in table:
        if k not in valid:
            raise PolicyFileError(f"{w.path}:{w.key_line(where, k)}: unknown key {k!r} in "
                                  f"{where}; valid: {', '.join(valid)}")


def own_params() -> list[str]:
    """The boot parameters that belong to a proposal (the built-ins' `params`): a policy
    file's `params` may name these only (every policy reads the others)."""
    return sorted({n for p in BUILTIN.values() for n in p.params})


def _program(w: _Where, data: dict[str, Any], lists: list[str]) -> tuple[Op, ...]:
    if "program" not in data:
        raise w.error("name", "no program: add program = [{ step = \"panic_entry\" }, ...]")
    steps = [*STEPS, *lists]
    ops = []
    for t in _tables(w, data, "program"):
        _keys(w, "program", t, PROGRAM_KEYS)
        step, when = t.get("step"), t.get("when", "")
        if step is None:
            raise w.error("program", f"a program entry without a step ({t}): add step = "
                                     f"\"NAME\"; valid: {', '.join(steps)}")
        if not isinstance(step, str) or step not in steps:
            raise w.error("program", f"unknown step {step!r} in program; valid: "
                                     f"{', '.join(steps)}", step)
        if not isinstance(when, str) or when not in CONDITIONS:
            raise w.error("program", f"unknown condition when = {when!r} for step {step}; "
                                     "valid: \"post\", \"!post\" (leave it out: always)", when)
        ops.append(Op(step, when))
    if not ops:
        raise w.error("program", "the program has no step; valid steps: "
                                 f"{', '.join(steps)}")
    return tuple(ops)


def _placements(w: _Where, data: dict[str, Any], lists: list[str]) -> Placements | None:
    from panicpath.inputs import catalog_callback_names

    if "placement" not in data:
        return None
    names = sorted(catalog_callback_names())
    valid_lists = [*LISTS, *lists]
    out = []
    for t in _tables(w, data, "placement"):
        _keys(w, "placement", t, PLACEMENT_KEYS)
        cb, lst = t.get("callback"), t.get("list")
        if not isinstance(cb, str) or cb not in names:
            raise w.error("placement", f"placement of unknown callback {cb!r}; valid: "
                                       f"{', '.join(names)}", cb)
        if not isinstance(lst, str) or lst not in valid_lists:
            raise w.error("placement", f"placement of {cb}: unknown list {lst!r}; valid: "
                                       f"{', '.join(valid_lists)} (declare a list of the "
                                       "policy's own in lists)", lst)
        prio = None
        if "priority" in t:
            try:
                prio = parse_priority(t["priority"])
            except CallbackError as e:
                raise w.error("placement", f"placement of {cb}: {e}", t["priority"]) from None
        also = t.get("also", False)
        if not isinstance(also, bool):
            raise w.error("placement", f"placement of {cb}: also must be true or false", also)
        out.append(Placement(cb, lst, prio, also))
    return Placements(tuple(out))


def _param_space(w: _Where, data: dict[str, Any],
                 params: list[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    from panicpath.inputs import InputError, catalog_callback_names, check_param_value

    raw = data.get("param_space", {})
    if not isinstance(raw, dict):
        raise w.error("param_space", "param_space must be a table: [param_space] then "
                                     "NAME = [\"value\", ...]")
    out = []
    for name, values in raw.items():
        if name not in PARAMS:
            raise w.error("param_space", f"unknown boot parameter {name!r} in param_space; "
                                         f"valid: {', '.join(PARAMS)}", None)
        if name in own_params() and name not in params:
            raise w.error("param_space", f"{name} is a proposal's own parameter: add it to "
                                         f"params = [{_s(name)}]")
        if (not isinstance(values, list) or not values
                or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in values)):
            raise w.error("param_space", f"param_space.{name} must be a non-empty list of "
                                         "values (strings or integers)")
        strs = tuple(str(v) for v in values)
        for v in strs:
            try:
                check_param_value(name, v, catalog_callback_names()
                                  if PARAMS[name].kind == "names" else None)
            except InputError as e:
                raise w.error("param_space", f"param_space: {e}", v) from None
        out.append((name, strs))
    return tuple(out)


def policy_from_dict(data: dict[str, Any], where: str = "<policy>", text: str = "") -> Policy:
    """A Policy from a parsed policy file; PolicyFileError names `where`, the line of the
    offending key or value, what is wrong and what is valid."""
    w = _Where(where, text)
    for k in data:
        if k not in POLICY_KEYS:
            raise w.error(k, f"unknown key {k!r}; valid: {', '.join(POLICY_KEYS)}")
    for k in ("name", "version"):
        if k not in data:
            raise w.error(k, f"no {k}: add {k} = \"...\" ({POLICY_KEYS[k]})")
    for k in ("name", "version", "kind", "title", "base", "doc", "drivers_version"):
        if k in data and not isinstance(data[k], str):
            raise w.error(k, f"{k} must be a string (in quotes), got {data[k]!r}; {k}: "
                             f"{POLICY_KEYS[k]}")
    name = data["name"]
    if not _NAME.fullmatch(name):
        raise w.error("name", f"name {name!r} is not a policy name; valid: up to 64 letters, "
                              "digits, '.', '_', '+', '-', starting with a letter or digit")
    kind = data.get("kind", "kernel")
    if kind not in KINDS:
        raise w.error("kind", f"unknown kind {kind!r}; valid: {', '.join(KINDS)}", kind)
    version = _version_of(w, "version", data["version"])
    drivers = (_version_of(w, "drivers_version", data["drivers_version"])
               if "drivers_version" in data else None)
    lists = _str_list(w, data, "lists")
    for lst in lists:
        if not _LIST.fullmatch(lst) or lst in LISTS or lst in STEPS or lists.count(lst) > 1:
            raise w.error("lists", f"list {lst!r}: a policy's own list is a new C identifier, "
                                   f"given once, not {', '.join((*LISTS, *STEPS))}", lst)
    params = _names(w, data, "params", own_params())
    features = _names(w, data, "features", list(FEATURES))
    program = _program(w, data, lists)
    return Policy(
        name=name,
        version=version,
        title=data.get("title", name),
        program=program,
        features=frozenset(features),
        sources=tuple(_str_list(w, data, "sources")),
        doc=data.get("doc", ""),
        base=data.get("base", ""),
        kind=kind,
        steps={op.step: ListWalk(op.step) for op in program if op.step in lists},
        place=_placements(w, data, lists),
        params=tuple(params),
        lists=tuple(lists),
        param_space=_param_space(w, data, params),
        catalog_version=drivers,
        unmodelled=tuple(_str_list(w, data, "unmodelled")),
    )


def load_policy_file(path: str | Path) -> Policy:
    """Parse a policy file; PolicyFileError with file:line: message."""
    data, text = read_toml(path, PolicyFileError, "a policy file is a TOML file")
    return policy_from_dict(data, str(Path(path)), text)


# --- using files in a command -------------------------------------------------------------

@contextmanager
def policy_files(paths: Sequence[str], extra: Sequence[tuple[str, Policy]] = ()
                 ) -> Iterator[tuple[list[Policy], list[str]]]:
    """Load every file (all errors before anything changes), then make their policies
    known by name for the duration of the block: a new name joins the built-ins, a
    built-in's name replaces it. `extra` adds policies already made, each with where it
    came from (`--tree PATH`), after the files. Yields the policies and one note per
    built-in replaced by something different. The registry is restored on exit (error or
    not)."""
    loaded: list[Policy] = []
    seen: dict[str, str] = {}
    for path, made in [*((path, None) for path in paths), *extra]:
        p = made if made is not None else load_policy_file(path)
        if p.name in seen:
            raise PolicyFileError(f"{path}: policy {p.name!r} is already given by "
                                  f"{seen[p.name]}; give each policy once")
        seen[p.name] = path
        loaded.append(p)
    notes = [f"{seen[p.name]}: policy {p.name!r} differs from the built-in of that name and "
             "replaces it in this command" for p in loaded
             if p.name in BUILTIN and BUILTIN[p.name] != p]
    saved = dict(POLICIES)
    try:
        for p in loaded:
            POLICIES[p.name] = p
        _forget()
        yield loaded, notes
    finally:
        POLICIES.clear()
        POLICIES.update(saved)
        _forget()


def _forget() -> None:
    """Drop what panicpath.inputs memoised about the registry."""
    from panicpath.inputs import param_owners

    param_owners.cache_clear()
