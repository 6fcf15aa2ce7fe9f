"""Scenario files (TOML): machine, policy, drivers, faults and the user's own callbacks.

Errors name the file, the line of the offending key, what is wrong and what is valid.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from panicpath.model.callback import (
    KMSG_DUMP_REASONS,
    LISTS,
    Callback,
    CallbackError,
    parse_effect,
    parse_need,
    parse_priority,
)
from panicpath.model.scenario import DUMP_TARGETS, HOST_PANIC_ACTIONS, HYPERVISORS, Scenario
from panicpath.tomlfile import key_line, read_toml

TOP_KEYS = ("name", "policy", "arch", "hypervisor", "kdump", "cpus", "drivers", "faults",
            "params", "callback", "platform_drivers", "dump_target", "host_panic_action",
            "path_bound_ms", "placement")
SCALAR_KEYS: tuple[tuple[str, type, str], ...] = (
    ("name", str, "a label"),
    ("policy", str, "a policy (panicpath policies); default linux-6.1"),
    ("arch", str, "an architecture (panicpath arches); default x86_64"),
    ("hypervisor", str, f"{', '.join(HYPERVISORS)}; default none"),
    ("kdump", bool, "whether a crash kernel is loaded; default true"),
    ("cpus", int, "1..64; default 2"),
    ("platform_drivers", bool, "the platform's own drivers; default true"),
    ("dump_target", str, f"{', '.join(DUMP_TARGETS)}; default by hypervisor"),
    ("host_panic_action", str, f"{', '.join(HOST_PANIC_ACTIONS)}; default shutdown"),
    ("path_bound_ms", int, "1..86400000; default 60000"))
"""The top-level keys that hold one value: TOML type and what is accepted (the engine's
validate checks the values; docs/inputs.md lists them)."""
CALLBACK_KEYS = ("name", "list", "priority", "needs", "effects", "order", "max_reason", "source",
                 "forces_post_notifiers")
PLACEMENT_KEYS = ("callback", "list", "priority")
"""The keys of a scenario's `[[placement]]` (callback and list required)."""

_TYPE_WORDS = {str: "a string (in quotes)", int: "an integer", bool: "true or false"}


class ScenarioFileError(ValueError):
    """A scenario file that cannot be used; str() is the one-line message for the user."""


class CallbackKeyError(CallbackError):
    """A callback table refused because of one of its keys (`key`, for the file's line)."""

    def __init__(self, key: str, msg: str) -> None:
        super().__init__(msg)
        self.key = key


Fail = Callable[[Sequence[str | int], str], Exception]
"""Makes the error of a file for a key path and a message (scenario and space files)."""


def _type_name(v: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a float", str: "a string",
            list: "an array", dict: "a table"}.get(type(v), type(v).__name__)


def user_callback(d: dict[str, Any], order: int, extra_lists: tuple[str, ...] = ()) -> Callback:
    """A callback from a TOML table or a dict (also the format `scan` emits). Errors are
    CallbackKeyError naming the key."""
    unknown = set(d) - set(CALLBACK_KEYS)
    if unknown:
        k = sorted(unknown)[0]
        raise CallbackKeyError(k, f"unknown key {k!r} in callback; valid: "
                                  f"{', '.join(CALLBACK_KEYS)}")
    if not isinstance(d.get("name"), str) or not d["name"]:
        raise CallbackKeyError("name", f"callback needs a name (a non-empty string), got "
                                       f"{d.get('name')!r}")
    lst = d.get("list", "panic_notifier_list")
    if lst not in LISTS + extra_lists:
        raise CallbackKeyError("list", f"unknown list {lst!r}; valid: "
                                       f"{', '.join(LISTS + extra_lists)}")
    lists: dict[str, list[str]] = {}
    for key in ("needs", "effects"):
        v = d.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise CallbackKeyError(key, f"{key} must be a list of strings, got {v!r}")
        lists[key] = v
    cb_order = d.get("order", order)
    if not isinstance(cb_order, int) or isinstance(cb_order, bool):
        raise CallbackKeyError("order", f"order {cb_order!r} is not an integer (registration "
                                        "order)")
    forces = d.get("forces_post_notifiers", False)
    if not isinstance(forces, bool):
        raise CallbackKeyError("forces_post_notifiers",
                               f"forces_post_notifiers {forces!r} is not true or false")
    max_reason = d.get("max_reason", "UNDEF")
    if not isinstance(max_reason, str) or max_reason not in KMSG_DUMP_REASONS:
        raise CallbackKeyError("max_reason", f"unknown max_reason {max_reason!r}; valid: "
                                             f"{', '.join(KMSG_DUMP_REASONS)}")
    source = d.get("source", "user callback")
    if not isinstance(source, str):
        raise CallbackKeyError("source", f"source {source!r} is not a string")
    try:
        priority = parse_priority(d.get("priority", 0))
    except CallbackError as e:
        raise CallbackKeyError("priority", str(e)) from None
    try:
        needs = tuple(parse_need(n) for n in lists["needs"])
    except CallbackError as e:
        raise CallbackKeyError("needs", str(e)) from None
    try:
        effects = tuple(parse_effect(e) for e in lists["effects"])
    except CallbackError as e:
        raise CallbackKeyError("effects", str(e)) from None
    return Callback(
        name=d["name"],
        list=lst,
        priority=priority,
        needs=needs,
        effects=effects,
        order=cb_order,
        max_reason=max_reason,
        forces_post_notifiers=forces,
        sources=(source,),
    )


def load_scenario(path: str | Path) -> Scenario:
    """Parse a scenario file; raise ScenarioFileError with file:line: message."""
    data, text = read_toml(path, ScenarioFileError, "a scenario is a TOML file")
    return scenario_from_dict(data, str(Path(path)), text)


def scenario_from_dict(data: dict[str, Any], where: str = "<scenario>", text: str = "") -> Scenario:
    """Build a Scenario from parsed TOML; errors cite `where` and the line of the offending key."""

    def fail(path: Sequence[str | int], msg: str) -> ScenarioFileError:
        line = key_line(text, path)
        return ScenarioFileError(f"{where}:{line}: {msg}" if line else f"{where}: {msg}")

    for k in data:
        if k not in TOP_KEYS:
            raise fail((k,), f"unknown key {k!r}; valid: {', '.join(TOP_KEYS)}")
    params_raw = data.get("params", {})
    if not isinstance(params_raw, dict):
        raise fail(("params",), f"params must be a table of name = value ([params]), got "
                                f"{_type_name(params_raw)}")
    for k, v in params_raw.items():
        if isinstance(v, float | list | dict) or not isinstance(v, str | int):
            raise fail(("params", k), f"params.{k} = {v!r}: a boot parameter's value is a "
                                      "string, an integer or true/false, not "
                                      f"{_type_name(v)}")
    params = tuple((str(k), _param_str(v)) for k, v in params_raw.items())
    callbacks = user_callbacks(array_of_tables(data, "callback", fail), fail)
    kw: dict[str, Any] = {}
    for key, typ, _ in SCALAR_KEYS:
        if key in data:
            if not isinstance(data[key], typ) or (typ is int and isinstance(data[key], bool)):
                raise fail((key,), f"{key} must be {_TYPE_WORDS[typ]}, got {data[key]!r}")
            kw[key] = data[key]
    for key in ("drivers", "faults"):
        if key in data:
            v = data[key]
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise fail((key,), f"{key} must be a list of names (strings), got {v!r}")
            kw[key] = tuple(v)
    placements = tuple(placement_entry(pl, i, callbacks, fail)
                       for i, pl in enumerate(array_of_tables(data, "placement", fail)))
    return Scenario(params=params, user_callbacks=callbacks, overrides=placements, **kw)


def placement_entry(pl: dict[str, Any], i: int, callbacks: Sequence[Callback],
                    fail: Fail) -> tuple[str, str, int]:
    """The i-th `[[placement]]` table as (callback, list, priority): its keys known, callback
    and list strings, the callback one of the catalog (any version's form) or of
    `callbacks`. The list is checked against the policies' lists by the caller or when the
    scenario runs (engine.validate)."""
    from panicpath.inputs import catalog_callback_names

    what = f"[[placement]] #{i + 1}"
    for k in pl:
        if k not in PLACEMENT_KEYS:
            raise fail(("placement", i, k), f"{what}: unknown key {k!r}; valid: "
                                            f"{', '.join(PLACEMENT_KEYS)}")
    for k in ("callback", "list"):
        if k not in pl:
            raise fail(("placement", i), f"{what}: no {k}: a placement needs callback, "
                                         "list and optionally priority")
        if not isinstance(pl[k], str):
            raise fail(("placement", i, k), f"{what}: {k} must be a string, got {pl[k]!r}")
    names = sorted(catalog_callback_names() | {c.name for c in callbacks})
    if pl["callback"] not in names:
        raise fail(("placement", i, "callback"), f"{what}: no callback {pl['callback']!r} "
                                                 f"to place; valid: {', '.join(names)}")
    try:
        prio = parse_priority(pl.get("priority", 0))
    except CallbackError as e:
        raise fail(("placement", i, "priority"), f"{what}: {e}") from None
    return str(pl["callback"]), str(pl["list"]), prio


def user_callbacks(tables: list[Any], fail: Fail) -> tuple[Callback, ...]:
    """The `[[callback]]` tables of a file as callbacks (orders 100, 101, ...), each name
    given once; errors through `fail` with the key's path."""
    callbacks: list[Callback] = []
    for i, cbd in enumerate(tables):
        try:
            cb = user_callback(cbd, 100 + i)
        except CallbackKeyError as e:
            raise fail(("callback", i, e.key), f"[[callback]] #{i + 1}: {e}") from None
        if any(c.name == cb.name for c in callbacks):
            raise fail(("callback", i, "name"), f"[[callback]] #{i + 1}: name {cb.name!r} is "
                                                "given to another [[callback]] already; "
                                                "valid: one name per callback")
        callbacks.append(cb)
    return tuple(callbacks)


def array_of_tables(data: dict[str, Any], key: str, fail: Fail) -> list[dict[str, Any]]:
    """`data[key]` (default empty) when it is an array of tables, else the error."""
    tables = data.get(key, [])
    if not isinstance(tables, list):
        raise fail((key,), f"{key} must be an array of tables ([[{key}]]), got "
                           f"{_type_name(tables)}")
    for i, t in enumerate(tables):
        if not isinstance(t, dict):
            raise fail((key, i), f"{key} #{i + 1} must be a table ([[{key}]]), got "
                                 f"{_type_name(t)}")
    return tables


def _param_str(v: object) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    return str(v)
