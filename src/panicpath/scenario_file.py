"""Scenario files (TOML): machine, policy, drivers, faults and the user's own callbacks.

Errors name the file, the line, what is wrong and what is valid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from panicpath.model.callback import (
    LISTS,
    Callback,
    CallbackError,
    parse_effect,
    parse_need,
    parse_priority,
)
from panicpath.model.scenario import DUMP_TARGETS, HOST_PANIC_ACTIONS, HYPERVISORS, Scenario
from panicpath.tomlfile import line_of, read_toml

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


class ScenarioFileError(ValueError):
    """A scenario file that cannot be used; str() is the one-line message for the user."""


def user_callback(d: dict[str, Any], order: int, extra_lists: tuple[str, ...] = ()) -> Callback:
    """A callback from a TOML table or a dict (also the format `scan` emits)."""
    unknown = set(d) - set(CALLBACK_KEYS)
    if unknown:
        raise CallbackError(f"unknown key {sorted(unknown)[0]!r} in callback; valid: "
                            f"{', '.join(CALLBACK_KEYS)}")
    if not isinstance(d.get("name"), str) or not d["name"]:
        raise CallbackError("callback needs a name (a non-empty string)")
    lst = d.get("list", "panic_notifier_list")
    if lst not in LISTS + extra_lists:
        raise CallbackError(f"unknown list {lst!r}; valid: {', '.join(LISTS + extra_lists)}")
    needs = d.get("needs", [])
    effects = d.get("effects", [])
    if not isinstance(needs, list) or not isinstance(effects, list):
        raise CallbackError("needs and effects must be lists of strings")
    cb_order = d.get("order", order)
    if not isinstance(cb_order, int) or isinstance(cb_order, bool):
        raise CallbackError(f"order {cb_order!r} is not an integer (registration order)")
    forces = d.get("forces_post_notifiers", False)
    if not isinstance(forces, bool):
        raise CallbackError(f"forces_post_notifiers {forces!r} is not true or false")
    max_reason = str(d.get("max_reason", "UNDEF"))
    from panicpath.model.callback import KMSG_DUMP_REASONS

    if max_reason not in KMSG_DUMP_REASONS:
        raise CallbackError(f"unknown max_reason {max_reason!r}; valid: "
                            f"{', '.join(KMSG_DUMP_REASONS)}")
    return Callback(
        name=d["name"],
        list=lst,
        priority=parse_priority(d.get("priority", 0)),
        needs=tuple(parse_need(str(n)) for n in needs),
        effects=tuple(parse_effect(str(e)) for e in effects),
        order=cb_order,
        max_reason=max_reason,
        forces_post_notifiers=forces,
        sources=(str(d.get("source", "user callback")),),
    )


def load_scenario(path: str | Path) -> Scenario:
    """Parse a scenario file; raise ScenarioFileError with file:line: message."""
    data, text = read_toml(path, ScenarioFileError, "a scenario is a TOML file")
    return scenario_from_dict(data, str(Path(path)), text)


def scenario_from_dict(data: dict[str, Any], where: str = "<scenario>", text: str = "") -> Scenario:
    """Build a Scenario from parsed TOML; errors cite `where` and the line of the offending key."""

    def fail(key: str, msg: str) -> ScenarioFileError:
        return ScenarioFileError(f"{where}:{line_of(text, key)}: {msg}")

    for k in data:
        if k not in TOP_KEYS:
            raise fail(k, f"unknown key {k!r}; valid: {', '.join(TOP_KEYS)}")
    params_raw = data.get("params", {})
    if not isinstance(params_raw, dict):
        raise fail("params", "[params] must be a table of name = value")
    params = tuple((str(k), _param_str(v)) for k, v in params_raw.items())
    for key in ("callback", "placement"):
        tables = data.get(key, [])
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            raise fail(key, f"{key} must be an array of tables ([[{key}]])")
    callbacks = []
    for i, cbd in enumerate(data.get("callback", [])):
        try:
            callbacks.append(user_callback(cbd, 100 + i))
        except CallbackError as e:
            raise fail(str(cbd.get("name", "[[callback]]")), str(e)) from None
    kw: dict[str, Any] = {}
    for key, typ, _ in SCALAR_KEYS:
        if key in data:
            if not isinstance(data[key], typ) or (typ is int and isinstance(data[key], bool)):
                raise fail(key, f"{key} must be a {typ.__name__}, got {data[key]!r}")
            kw[key] = data[key]
    for key in ("drivers", "faults"):
        if key in data:
            v = data[key]
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise fail(key, f"{key} must be a list of names")
            kw[key] = tuple(v)
    placements = []
    for pl in data.get("placement", []):
        try:
            placements.append((str(pl["callback"]), str(pl["list"]),
                               parse_priority(pl.get("priority", 0))))
        except (KeyError, TypeError, CallbackError) as e:
            raise fail("placement", f"placement needs callback, list, priority: {e}") from None
    return Scenario(params=params, user_callbacks=tuple(callbacks), overrides=tuple(placements),
                    **kw)


def _param_str(v: object) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    return str(v)
