"""`panicpath check` and `panicpath replay`."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import NoReturn, TypeVar

import click
from rich.console import Console
from rich.progress import Progress

from panicpath.arch import ARCHES
from panicpath.check.cluster import ClusterError, ray_option
from panicpath.check.fast import ExportError, explore, format_path, to_verdict
from panicpath.check.itf import format_states, replay, scenario_from_meta, to_itf, write_itf
from panicpath.check.search import (
    Question,
    Verdict,
    applies_anywhere,
    check,
    configurations,
    unexercised,
)
from panicpath.engine import ScenarioError, validate
from panicpath.faults import FAULTS
from panicpath.model.scenario import HYPERVISORS
from panicpath.names import one_line, unknown_name
from panicpath.outputs import OutputFile
from panicpath.policies import POLICIES
from panicpath.properties import PROPERTIES
from panicpath.tomlfile import read_input
from panicpath.tree_cli import tree_option

EXIT_HOLDS = 0
EXIT_VIOLATED = 12
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1


def _bad(msg: str) -> NoReturn:
    click.echo(f"panicpath: error: {one_line(msg)}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def question_from_options(policy: str, prop: str, arches: tuple[str, ...],
                          hypervisors: tuple[str, ...], max_faults: int, faults: tuple[str, ...],
                          with_no_kdump: bool, cpus: int) -> Question:
    """The checker's question from command-line options; bad names exit 2 with the valid ones."""
    msg = unknown_name(("policy", (policy,), POLICIES), ("property", (prop,), PROPERTIES),
                       ("arch", arches, ARCHES), ("hypervisor", hypervisors, HYPERVISORS),
                       ("fault", faults, FAULTS))
    if msg is not None:
        _bad(msg)
    from panicpath.tree_cli import option

    trees = click.get_current_context().meta.get("panicpath.trees") if option("tree") else None
    q = Question(policy=policy, prop=prop, arches=arches, hypervisors=hypervisors,
                 max_faults=max_faults, cpus=cpus, fault_names=faults,
                 kdump=(True, False) if with_no_kdump else (True,),
                 machine_callbacks=trees.callbacks[policy] if trees is not None else (),
                 overrides=trees.placements[policy] if trees is not None else ())
    if not configurations(q):
        from panicpath.check.space import no_configuration

        _bad(no_configuration(arches, hypervisors))
    return q


def _check_with_progress(q: Question, workers: int, ray: str | None = None) -> Verdict:
    """`check`, with a rich progress bar on stderr (a terminal only) once the run has taken
    more than a second."""
    err = Console(stderr=True)
    if not err.is_terminal:
        return check(q, workers=workers, ray=ray)
    t0 = time.monotonic()
    bar: Progress | None = None
    task = None

    def tick(done: int, total: int) -> None:
        nonlocal bar, task
        if bar is None and time.monotonic() - t0 > 1.0:
            bar = Progress(*Progress.get_default_columns(), console=err, transient=True)
            bar.start()
            task = bar.add_task("configurations", total=total)
        if bar is not None and task is not None:
            bar.update(task, completed=done)

    try:
        return check(q, workers=workers, on_config=tick, ray=ray)
    finally:
        if bar is not None:
            bar.stop()


def resolve_policy(policy: str | None, policy_file: str | None) -> str:
    """The question's policy: `--policy`, or the policy of `--policy-file` or `--tree` (made
    known by name until the command ends; an explicit --policy must then name it)."""
    from panicpath.tree_cli import one_policy, option

    if option("tree") is not None:
        if policy_file is not None:
            _bad(f"--tree {option('tree')} and --policy-file {policy_file}: give one of them")
        name, trees = one_policy(policy)
        click.get_current_context().meta["panicpath.trees"] = trees
        assert name is not None
        return name
    if policy_file is not None:
        from panicpath.commands import file_policy

        return file_policy(policy_file, policy)
    if policy is None:
        raise click.UsageError("Missing option '--policy' (or --policy-file FILE).")
    return policy


F = TypeVar("F", bound=Callable[..., None])


def question_options(f: F) -> F:
    """The options that state a checker question (shared by `check` and `export promela`)."""
    for opt in reversed((
        click.option("--policy", default=None, help="Kernel version or proposal (required "
                     "unless --policy-file gives it)."),
        click.option("--policy-file", "policy_file", type=click.Path(dir_okay=False),
                     default=None, help="Check the policy of this policy file (TOML, "
                     "docs/policy-files.md)."),
        click.option("--property", "prop", required=True, help="Property that must hold."),
        click.option("--arch", "arches", multiple=True, help="Only these architectures."),
        click.option("--hypervisor", "hypervisors", multiple=True,
                     help="Only these hypervisors."),
        click.option("--max-faults", default=1, show_default=True, type=click.IntRange(0, 4)),
        click.option("--fault", "faults", multiple=True, help="Only these faults (default: all)."),
        click.option("--no-kdump", "with_no_kdump", is_flag=True,
                     help="Also machines without a crash kernel loaded."),
        click.option("--cpus", default=2, show_default=True, type=click.IntRange(1, 8)),
    )):
        f = opt(f)
    return f


@click.command(name="check")
@tree_option
@question_options
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
@click.option("--trace-out", type=OutputFile(), default=None,
              help="Write the counterexample as ITF JSON.")
@click.option("--engine", type=click.Choice(["object", "fast"]), default="object",
              show_default=True,
              help="object: one full model simulation per state; fast: tuple states stepped one "
                   "kernel step at a time (kernel-version policies only, one process, "
                   "--workers unused, coverage not tracked).")
@ray_option
def check_command(policy: str | None, policy_file: str | None, prop: str,
                  arches: tuple[str, ...], hypervisors: tuple[str, ...],
                  max_faults: int, faults: tuple[str, ...], with_no_kdump: bool, cpus: int,
                  workers: int, as_json: bool, trace_out: str | None, engine: str,
                  ray_address: str | None) -> None:
    """Can PROPERTY fail for POLICY under any combination of up to N faults? Exit 0 if it
    holds everywhere, 12 if violated (with a minimal counterexample), 2 for bad input."""
    policy = resolve_policy(policy, policy_file)
    q = question_from_options(policy, prop, arches, hypervisors, max_faults, faults,
                              with_no_kdump, cpus)
    if ray_address is not None and engine == "fast":
        _bad("--ray goes with --engine object (the fast engine runs in one process)")
    fast_lines: list[str] = []
    if q.overrides and engine == "fast":
        _bad("--engine fast takes no placements, and --tree places catalog callbacks where "
             "the tree registers them; use --engine object")
    try:
        if engine == "fast":
            fv = explore(q)
            fast_lines = format_path(fv)
            v = to_verdict(fv)
        else:
            v = _check_with_progress(q, workers, ray_address)
    except (ExportError, ClusterError) as e:
        _bad(str(e))
    except Exception as e:  # the documented exit code 1 for internal errors
        click.echo(f"panicpath: internal error: {type(e).__name__}: {e}", err=True)
        sys.exit(EXIT_INTERNAL)
    if trace_out and v.counterexample is not None:
        try:
            write_itf(v, trace_out)
        except OSError as e:
            _bad(f"--trace-out {trace_out}: cannot write: {e.strerror}")
    missed = unexercised(v, q) if engine == "object" else {}
    applicable = not v.holds or applies_anywhere(q)
    if as_json:
        doc: dict[str, object] = {
            "policy": policy, "property": prop, "engine": engine,
            "holds": v.holds if applicable else None, "applicable": applicable,
            "states_generated": v.generated, "distinct_states": v.distinct, "depth": v.depth,
            "seconds": round(v.seconds, 3), "states_per_second": round(v.states_per_second),
            "unexercised": missed,
        }
        if v.counterexample is not None:
            doc["counterexample"] = to_itf(v)
        click.echo(json.dumps(doc, indent=2))
    else:
        out = Console() if sys.stdout.isatty() else Console(width=200)
        if applicable:
            verdict = "[green]holds[/green]" if v.holds else "[red]VIOLATED[/red]"
            out.print(f"{policy}: {prop} {verdict} (up to {max_faults} faults)")
        else:
            out.print(f"{policy}: {prop} [yellow]does not apply[/yellow] to any configuration "
                      f"of the question (up to {max_faults} faults): it holds vacuously")
        if v.counterexample is not None:
            s = v.counterexample.scenario
            out.print(f"Minimal counterexample: {s.arch} hv={s.hypervisor} "
                      f"drivers={','.join(s.drivers) or '-'} "
                      f"{' '.join(f'{k}={val}' for k, val in s.params)} "
                      f"faults={','.join(s.faults) or '-'}", highlight=False)
            for line in fast_lines or format_states(v):
                out.print(line, highlight=False, markup=False)
        out.print(f"{v.generated} states generated, {v.distinct} distinct states found, "
                  f"depth {v.depth}, {v.seconds:.2f} s, {v.states_per_second:,.0f} "
                  "distinct states/s", highlight=False)
        for kind, names in missed.items():
            if names:
                out.print(f"never exercised ({kind}): {', '.join(names)}", highlight=False)
    sys.exit(EXIT_HOLDS if v.holds else EXIT_VIOLATED)


@click.command(name="replay")
@tree_option
@click.argument("trace", type=click.Path(dir_okay=False))
@click.option("--policy-file", "policy_file", type=click.Path(dir_okay=False), default=None,
              help="The policy file the trace's policy came from (`check --policy-file`).")
def replay_command(trace: str, policy_file: str | None) -> None:
    """Re-run an ITF counterexample against the current model. Exit 0 if it still fails the
    same way, 1 if it no longer does, 2 for an unreadable file."""
    from panicpath.tree_cli import one_policy, option

    name = None
    trees = None
    given = f"--policy-file {policy_file}"
    if option("tree") is not None:
        if policy_file is not None:
            _bad(f"--tree {option('tree')} and --policy-file {policy_file}: give one of them")
        name, trees = one_policy(None)
        given = f"--tree {option('tree')}"
    if policy_file is not None:
        from panicpath.commands import use_policy_files

        name = use_policy_files((policy_file,))[0].name
    try:
        doc = json.loads(read_input(trace).decode("utf-8"))
        meta = doc["#meta"]
        _ = meta["scenario"], meta["property"], doc["vars"], doc["states"]
        scn = scenario_from_meta(meta["scenario"])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError,
            ValueError, RecursionError) as e:
        why = "nested too deeply" if isinstance(e, RecursionError) else str(e)
        _bad(f"{trace}: not an ITF trace written by `panicpath check --trace-out` ({why})")
    if name is not None and scn.policy != name:
        _bad(f"{trace}: #meta.scenario.policy {scn.policy!r}, but {given} "
             f"holds {name!r}: give the {'tree' if trees else 'file'} the trace was checked with")
    extra: tuple[object, ...] = ()
    if trees is not None:
        extra = tuple(cb for a, h, cb in trees.callbacks[scn.policy]
                      if a in ("", scn.arch) and h in ("", scn.hypervisor))
        scn = scn.with_(user_callbacks=(*scn.user_callbacks, *extra),
                        overrides=(*scn.overrides, *trees.placements[scn.policy]))
    if scn.policy not in POLICIES:
        _bad(f"{trace}: #meta.scenario.policy {scn.policy!r} is no built-in policy; a trace "
             "of `check --policy-file F` is replayed with `replay --policy-file F`")
    prop = meta["property"]
    if not isinstance(prop, str) or prop not in PROPERTIES:
        _bad(f"{trace}: #meta.property {prop!r}: unknown property; valid: "
             f"{', '.join(PROPERTIES)}")
    if not isinstance(doc["vars"], list) or not isinstance(doc["states"], list) or not all(
            isinstance(v, str) for v in doc["vars"]) or not all(
            isinstance(st, dict) for st in doc["states"]):
        _bad(f"{trace}: vars must be a list of names and states a list of objects")
    try:
        validate(scn)
        r = replay(doc, extra, scn.overrides)
    except ScenarioError as e:
        _bad(f"{trace}: #meta.scenario: {e}")
    click.echo(r.message)
    sys.exit(0 if r.same else 1)
