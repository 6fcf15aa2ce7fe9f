"""The model's subcommands of `panicpath` (run, compare, answers and the vocabulary lists)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from panicpath.arch import ARCHES
from panicpath.catalog import DRIVERS
from panicpath.check.cluster import ClusterError, ray_option
from panicpath.check.compare import compare as run_compare
from panicpath.check.compare import count
from panicpath.check.space import Space
from panicpath.engine import ScenarioError, simulate
from panicpath.faults import FAULTS
from panicpath.inputs import InputError
from panicpath.model.callback import Callback, CallbackError
from panicpath.model.scenario import HYPERVISORS, Scenario
from panicpath.names import one_line, unknown_name
from panicpath.outputs import OutputFile
from panicpath.policies import BUILTIN, POLICIES, Policy
from panicpath.policies.policy_file import PolicyFileError, dump_policy, policy_files
from panicpath.properties import MEASURES, PROPERTIES
from panicpath.report.terminal import render_comparison, render_run
from panicpath.scenario_file import ScenarioFileError, load_scenario, user_callback
from panicpath.tomlfile import BOM, key_line, line_of, read_input, read_toml, toml_lines
from panicpath.tree_cli import compare_tree_options, tree_option

EXIT_BAD_INPUT = 2


def bad_input(msg: str) -> NoReturn:
    """One line on stderr, exit code 2, no traceback."""
    click.echo(f"panicpath: error: {one_line(msg)}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def _console() -> Console:
    """Rich console; wide when writing to a pipe or file so traces are not folded."""
    return Console() if sys.stdout.isatty() else Console(width=200)


def _emit_json(obj: object) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=False))




def _parse_params(values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    out = []
    for v in values:
        k, sep, val = v.partition("=")
        if not sep or not k:
            bad_input(f"--param {v!r}: expected NAME=VALUE, e.g. crash_kexec_post_notifiers=1")
        out.append((k, val))
    return tuple(out)


def use_policy_files(paths: Sequence[str],
                     extra: Sequence[tuple[str, Policy]] = ()) -> list[Policy]:
    """The policies of `--policy-file` files, known by name until the command ends (a
    built-in's name replaces that built-in; docs/policy-files.md), then those of `extra`
    (a `--tree`'s derived policy, with where it came from). A bad file is one line and exit
    2; a replaced built-in that differs is noted on stderr."""
    ctx = click.get_current_context()
    try:
        loaded, notes = ctx.with_resource(policy_files(paths, extra))
    except PolicyFileError as e:
        bad_input(str(e))
    for n in notes:
        click.echo(f"panicpath: note: {one_line(n)}", err=True)
    for path, p in zip([*paths, *(label for label, _ in extra)], loaded, strict=True):
        if p.unmodelled:
            names = ", ".join(u.partition("): ")[0] + ")" for u in p.unmodelled)
            see = ("see the file's unmodelled" if path in paths else
                   "`panicpath scan PATH --policy-out F` says why")
            click.echo(f"panicpath: note: {one_line(path)}: policy {p.name!r} leaves "
                       f"{len(p.unmodelled)} calls of its panic path unmodelled (the model has "
                       f"no step for them; {see}): {one_line(names)}", err=True)
    return loaded


def policy_option(f: Callable[..., None]) -> Callable[..., None]:
    """`--policy-file FILE` for the commands that run one policy."""
    return click.option("--policy-file", "policy_file", type=click.Path(dir_okay=False),
                        default=None, help="Use the policy of this policy file (TOML, "
                        "docs/policy-files.md) instead of --policy.")(f)


def file_policy(policy_file: str, policy: str | None) -> str:
    """The name of the `--policy-file` policy, made known for the command; `policy` (an
    explicit --policy, or None) must be absent or name it."""
    name = use_policy_files((policy_file,))[0].name
    if policy is not None and policy != name:
        bad_input(f"--policy {policy} and --policy-file {policy_file} (policy {name!r}): "
                  "give one of them")
    return name


OPTION_OF = {"param": "--param", "fault": "--fault"}
"""The command-line option each kind of InputError came from."""


def input_line(text: str, exc: InputError) -> int:
    """The line of a TOML file that gave the refused value: a parameter's ``name =`` line
    (in a [params] table or an inline one), a fault's quoted string (1 if neither is
    found)."""
    if exc.key == "param":
        line = key_line(text, ("params", exc.value.partition("=")[0]))
        if line is not None:
            return line
    return line_of(text, f'"{exc.value}"')


def _file_error(path: str, exc: Exception) -> NoReturn:
    text = Path(path).read_text(encoding="utf-8", errors="replace").removeprefix(BOM)
    msg = str(exc)
    if isinstance(exc, InputError):
        bad_input(f"{path}:{input_line(text, exc)}: {msg}")
    at = key_line(text, exc.at) if isinstance(exc, ScenarioError) and exc.at else None
    if at is not None:
        bad_input(f"{path}:{at}: {msg}")
    line = 1
    for token in msg.split("'")[1::2]:
        for i, ln in enumerate(toml_lines(text), 1):
            if token and token in ln:
                line = i
                break
        else:
            continue
        break
    bad_input(f"{path}:{line}: {msg}")


@click.command()
@click.argument("scenario_file", required=False, type=click.Path(dir_okay=False))
@click.option("--policy", default="linux-6.1", show_default=True, help="Kernel version or proposal.")
@click.option("--arch", default="x86_64", show_default=True)
@click.option("--hypervisor", default="none", show_default=True)
@click.option("--kdump/--no-kdump", default=True, show_default=True,
              help="Whether a crash kernel is loaded (kexec -p).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="Boot parameter.")
@click.option("--driver", "drivers", multiple=True, metavar="NAME", help="Catalog driver to add.")
@click.option("--fault", "faults", multiple=True, metavar="NAME[=ARG]", help="Fault to inject.")
@click.option("--cpus", default=2, show_default=True, type=int)
@click.option("--bare", is_flag=True, help="Leave out the platform's own drivers.")
@click.option("--host-panic-action", default="shutdown", show_default=True,
              help="QEMU -action panic= for pvpanic PANICKED (shutdown, pause, none).")
@click.option("--from-scan", "from_scan", type=click.Path(dir_okay=False), default=None,
              help="Add every callback of a `panicpath scan --json` file as a user callback.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@policy_option
@tree_option
def run(scenario_file: str | None, policy: str, arch: str, hypervisor: str, kdump: bool,
        params: tuple[str, ...], drivers: tuple[str, ...], faults: tuple[str, ...], cpus: int,
        bare: bool, host_panic_action: str, from_scan: str | None, as_json: bool,
        policy_file: str | None) -> None:
    """Run one scenario and print its trace and properties."""
    from panicpath.tree_cli import one_policy, option

    explicit = click.get_current_context().get_parameter_source("policy")
    given = f"--policy-file {policy_file}"
    trees = None
    if option("tree") is not None:
        if policy_file is not None:
            bad_input(f"--tree {option('tree')} and --policy-file {policy_file}: give one of them")
        tree_policy, trees = one_policy(policy if explicit is click.core.ParameterSource
                                        .COMMANDLINE else None)
        assert tree_policy is not None and trees is not None
        policy = tree_policy
        given = f"--tree {option('tree')}"
    if policy_file is not None:
        policy = file_policy(policy_file, policy if explicit is click.core.ParameterSource
                             .COMMANDLINE else None)
    if scenario_file is not None:
        try:
            scn = load_scenario(scenario_file)
            if policy_file is not None or option("tree") is not None:
                data, text = read_toml(scenario_file, ScenarioFileError, "")
                named = data.get("policy")
                if named is not None and named != policy:
                    bad_input(f"{scenario_file}:{line_of(text, 'policy')}: policy {named!r}, "
                              f"but {given} holds {policy!r}: name it in "
                              "the scenario or leave the key out")
                scn = scn.with_(policy=policy)
        except ScenarioFileError as e:
            bad_input(str(e))
    else:
        scn = Scenario(policy=policy, arch=arch, hypervisor=hypervisor, kdump=kdump,
                       params=_parse_params(params), drivers=drivers, faults=faults, cpus=cpus,
                       platform_drivers=not bare, host_panic_action=host_panic_action)
    if from_scan is not None:
        scn = scn.with_(user_callbacks=scn.user_callbacks + load_scan_callbacks(from_scan))
    if trees is not None:
        scn = scn.with_(user_callbacks=scn.user_callbacks + tuple(
            cb for a, h, cb in trees.callbacks[policy]
            if a in ("", scn.arch) and h in ("", scn.hypervisor)),
            overrides=scn.overrides + trees.placements[policy])
    try:
        result = simulate(scn)
    except (ScenarioError, CallbackError) as e:
        if scenario_file is not None:
            _file_error(scenario_file, e)
        if isinstance(e, InputError):
            bad_input(e.for_option(OPTION_OF[e.key]))
        bad_input(str(e))
    if as_json:
        _emit_json(result.to_json())
    else:
        render_run(result, _console())


def load_scan_callbacks(path: str) -> tuple[Callback, ...]:
    """The callbacks of a `panicpath scan --json` document, as model callbacks whose needs
    follow from their risk features (panicpath.scan.to_model)."""
    from panicpath.scan import scan_to_user_callbacks

    try:
        doc = json.loads(read_input(path).decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        why = "nested too deeply" if isinstance(e, RecursionError) else str(e)
        bad_input(f"{path}: not a readable scan JSON document ({why})")
    if not isinstance(doc, dict) or "callbacks" not in doc:
        bad_input(f"{path}: no 'callbacks' key; produce it with `panicpath scan TREE --json`")
    problem = scan_doc_problem(doc)
    if problem is not None:
        bad_input(f"{path}: {problem}; produce it with `panicpath scan TREE --json`")
    out = []
    for i, d in enumerate(scan_to_user_callbacks(doc)):
        try:
            out.append(user_callback(d, 300 + i))
        except CallbackError as e:
            bad_input(f"{path}: callback {d.get('name')!r}: {e}")
    return tuple(out)


def scan_doc_problem(doc: dict[str, Any]) -> str | None:
    """What makes a scan document unusable by `--from-scan` (the fields
    scan.to_model reads, with their types), or None."""
    from panicpath.model.callback import LISTS

    cbs = doc["callbacks"]
    if not isinstance(cbs, list):
        return "'callbacks' must be a list of objects"
    for i, c in enumerate(cbs):
        if not isinstance(c, dict):
            return f"callbacks[{i}] is not an object"
        for key in ("callback", "list"):
            if not isinstance(c.get(key), str | None):
                return f"callbacks[{i}].{key} must be a string or null"
        if not (c.get("callback") and c.get("list") in LISTS):
            continue  # unresolved or on another list: not used, as scan.to_model skips it
        if not isinstance(c["callback"], str):
            return f"callbacks[{i}].callback must be a string"
        if not isinstance(c.get("file"), str) or not isinstance(c.get("line"), int):
            return f"callbacks[{i}] needs file (a string) and line (an integer)"
        feats = c.get("features", [])
        if not isinstance(feats, list) or not all(
                isinstance(f, dict) and isinstance(f.get("kind"), str)
                and isinstance(f.get("detail"), str) for f in feats):
            return f"callbacks[{i}].features must be a list of {{kind, detail}} objects"
    return None


def _vocab(name: str, rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        _emit_json({name: rows})
        return
    t = Table(title=name, header_style="bold")
    keys = list(rows[0]) if rows else ["name"]
    for k in keys:
        t.add_column(k, overflow="fold")
    for r in rows:
        t.add_row(*(", ".join(map(str, v)) if isinstance(v, list | tuple) else str(v)
                    for v in r.values()))
    Console().print(t)


def _json_flag(f: Callable[..., None]) -> Callable[..., None]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(f)


@click.command()
@_json_flag
@click.option("--dump", "dump_name", default=None, metavar="NAME",
              help="Write this built-in policy as a policy file (TOML, docs/policy-files.md).")
@click.option("-o", "--output", type=OutputFile(), default=None,
              help="With --dump: write the file here (default: standard output).")
def policies(as_json: bool, dump_name: str | None, output: str | None) -> None:
    """List kernel versions and proposals, or write one as a policy file (--dump). A policy
    whose steps are Python code of its own is not written: exit 2 with the reason."""
    if dump_name is not None or output is not None:
        _dump(dump_name, output, as_json)
        return
    rows = [{"name": p.name, "kind": p.kind, "title": p.title,
             "program": [op.step + (f" [{op.when}]" if op.when else "") for op in p.program],
             "sources": list(p.sources)} for p in POLICIES.values()]
    if not as_json:
        rows = [{k: v for k, v in r.items() if k != "program"} for r in rows]
    _vocab("policies", rows, as_json)


def _dump(name: str | None, output: str | None, as_json: bool) -> None:
    if name is None:
        bad_input("-o/--output goes with --dump NAME (the policy to write)")
    if as_json:
        bad_input("--dump writes a TOML policy file; leave out --json")
    msg = unknown_name(("policy", (name,), BUILTIN))
    if msg is not None:
        bad_input(msg)
    try:
        text = dump_policy(BUILTIN[name])
    except PolicyFileError as e:
        bad_input(str(e))
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as e:
        bad_input(f"{output}: cannot write: {e.strerror}")


@click.command()
@_json_flag
def drivers(as_json: bool) -> None:
    """List the catalog of real callbacks."""
    rows = []
    for d in DRIVERS.values():
        for cb in d.callbacks or (None,):
            rows.append({
                "name": d.name,
                "list": cb.list if cb else "-",
                "priority": cb.priority if cb else "-",
                "needs": [str(n) for n in cb.needs] if cb else [],
                "effects": [str(e) for e in cb.effects] if cb else [],
                "boot": list(d.boot),
                "archs": list(d.archs) if d.archs else ["any"],
                "hypervisors": list(d.hypervisors) if d.hypervisors else ["any"],
                "forces_post_notifiers": "force-post-notifiers" in d.boot,
                "sources": list(cb.sources) if cb else [d.doc],
            })
    _vocab("drivers", rows, as_json)


@click.command()
@_json_flag
def faults(as_json: bool) -> None:
    """List the faults that can be injected."""
    _vocab("faults", [{"name": f.name, "argument": f.arg_help or "-", "doc": f.doc}
                      for f in FAULTS.values()], as_json)


@click.command(name="properties")
@_json_flag
def properties_cmd(as_json: bool) -> None:
    """List the properties and measures."""
    rows = [{"name": p.name, "kind": "property", "doc": p.doc} for p in PROPERTIES.values()]
    rows += [{"name": m, "kind": "measure", "doc": "count before kdump took over"}
             for m in MEASURES]
    _vocab("properties", rows, as_json)


@click.command(name="arches")
@_json_flag
def arches_cmd(as_json: bool) -> None:
    """List architectures and hypervisors."""
    rows = [{"name": a.name, "crash_shutdown_hook": a.has_crash_shutdown_hook,
             "kdump_since": f"{a.kdump_since[0]}.{a.kdump_since[1]}"} for a in ARCHES.values()]
    rows += [{"name": h, "crash_shutdown_hook": "-", "kdump_since": "hypervisor"}
             for h in HYPERVISORS]
    _vocab("arches", rows, as_json)


@click.command()
@compare_tree_options
@click.option("--policy", "policies_", multiple=True, help="Only these policies (repeatable).")
@click.option("--arch", "arches", multiple=True, help="Only these architectures.")
@click.option("--hypervisor", "hypervisors", multiple=True, help="Only these hypervisors.")
@click.option("--no-faults", is_flag=True, help="Only fault-free configurations.")
@click.option("--space", "space_file", type=click.Path(dir_okay=False), default=None,
              help="TOML file that narrows or widens the default space (docs/answers.md).")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON document.")
@click.option("--html", "html_out", type=OutputFile(), default=None,
              help="Also write a single static HTML report to this file.")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Worker processes (default: CPUs).")
@click.option("--policy-file", "policy_files_", multiple=True, type=click.Path(dir_okay=False),
              help="Add the policy of this policy file (TOML, docs/policy-files.md) to the "
                   "policies compared; a built-in's name replaces that built-in (repeatable).")
@ray_option
def compare(policies_: tuple[str, ...], arches: tuple[str, ...], hypervisors: tuple[str, ...],
            no_faults: bool, space_file: str | None, as_json: bool, html_out: str | None,
            workers: int | None, policy_files_: tuple[str, ...],
            ray_address: str | None) -> None:
    """Every policy over every built-in configuration: the matrix."""
    from panicpath.check.space import SpaceError, load_space
    from panicpath.tree_cli import use_trees

    trees = use_trees(policy_files_)
    loaded = trees.loaded
    msg = unknown_name(("policy", policies_, POLICIES), ("arch", arches, ARCHES),
                       ("hypervisor", hypervisors, HYPERVISORS))
    if msg is not None:
        bad_input(msg)
    space = Space(policies=tuple(POLICIES))
    if space_file is not None:
        try:
            space = load_space(space_file, space)
        except SpaceError as e:
            bad_input(str(e))
    chosen = policies_ or space.policies
    if trees.baseline is not None and not policies_ and space_file is None:
        chosen = (trees.baseline,)  # a review: the base, then what is reviewed
    chosen += tuple(p.name for p in loaded if p.name not in chosen)
    if trees.baseline is not None and trees.baseline not in chosen:
        chosen = (trees.baseline, *chosen)
    space = replace(space, policies=chosen,
                    arches=arches or space.arches, hypervisors=hypervisors or space.hypervisors,
                    faults=((),) if no_faults else space.faults)
    space = replace(space, machine_callbacks=trees.space_callbacks(),
                    policy_overrides=trees.space_overrides())
    total = count(space)
    if total == 0:
        from panicpath.check.space import no_configuration

        bad_input(no_configuration(arches, hypervisors, space_file))
    err = Console(stderr=True)
    try:
        with Progress(TextColumn("simulating"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err, transient=True,
                      disable=not err.is_terminal) as progress:
            task = progress.add_task("compare", total=total)

            def tick(_: object) -> None:
                progress.advance(task)

            cmp = run_compare(space, on_result=tick, workers=workers, ray=ray_address)
    except ClusterError as e:
        bad_input(str(e))
    except (ScenarioError, CallbackError) as e:
        if space_file is not None:
            _file_error(space_file, e)
        bad_input(str(e))
    rv = None
    if trees.baseline is not None and trees.proposal is not None:
        from panicpath.check.review import review

        rv = review(cmp, trees.baseline, trees.proposal)
    if html_out is not None:
        from panicpath.report.html import write_html

        try:
            write_html(cmp, html_out, review=rv)
        except OSError as e:
            bad_input(f"{html_out}: cannot write: {e.strerror}")
    if as_json:
        doc = cmp.to_json()
        if rv is not None:
            doc["review"] = rv.to_json()
        _emit_json(doc)
    else:
        render_comparison(cmp, _console())
        if rv is not None:
            from panicpath.report.terminal import render_review

            render_review(rv, _console())


@click.command()
@click.option("--check", "check_only", is_flag=True,
              help="Exit 1 if the file differs from what would be generated.")
@click.option("--output", default="docs/answers.md", show_default=True,
              type=click.Path(dir_okay=False))
def answers(check_only: bool, output: str) -> None:
    """Regenerate docs/answers.md: the seeds' questions, each answered by a table."""
    from panicpath.report.answers import render_answers

    _generated(render_answers(), output, check_only, "panicpath answers")


def _generated(text: str, output: str, check_only: bool, command: str) -> None:
    """Write a generated document, or with `check_only` exit 1 when the file is stale."""
    path = Path(output)
    if check_only:
        try:
            current = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            bad_input(f"{output}: cannot read: {getattr(e, 'strerror', None) or e}")
        if current != text:
            click.echo(f"{output} is stale: run `{command}`", err=True)
            sys.exit(1)
        click.echo(f"{output} is up to date")
        return
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        bad_input(f"{output}: cannot write: {e.strerror}")
    click.echo(f"wrote {output}")


@click.command(name="inputs")
@click.option("--check", "check_only", is_flag=True,
              help="Exit 1 if the file differs from what would be generated.")
@click.option("--output", default="docs/inputs.md", show_default=True,
              type=click.Path(dir_okay=False))
def inputs_cmd(check_only: bool, output: str) -> None:
    """Regenerate docs/inputs.md: every input and what it accepts, from the declarations
    the validation uses."""
    from panicpath.report.inputs import render_inputs

    _generated(render_inputs(), output, check_only, "panicpath inputs")
