"""``panicpath lab``: click commands the main CLI mounts (``lab_group``).

``lab run SCENARIO.toml [--json] [--snapshot/--no-snapshot]`` runs one scenario
(restored from a cached snapshot by default, see panicpath.lab.snapshot), prints the observation,
the model's prediction and the differences (exit 0 agree, 1 differ or the run
failed, 2 bad input or missing set-up). ``lab campaign DIR --jobs 2`` runs every
``*.toml`` of DIR and writes campaign.json / campaign.html. Both take
``--tcg-threads auto|multi|single`` (qemu.resolve_tcg_threads).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from panicpath.check.cluster import ray_option_with
from panicpath.lab.campaign import CampaignEntry, entry_failed, run_campaign, write_docs
from panicpath.lab.conformance import Conformance, conformance, find_predictor
from panicpath.lab.kernels import LabSetupError
from panicpath.lab.matrix import Cell
from panicpath.lab.observation import Observation
from panicpath.lab.qemu import TCG_THREAD_CHOICES
from panicpath.lab.runner import refuse_unsupported, run_scenario
from panicpath.lab.scenario import (
    ARCHES,
    RELEASE_RE,
    LabScenario,
    ScenarioError,
    load_scenario,
    with_kernel,
)
from panicpath.names import one_line
from panicpath.outputs import OutputDir, OutputFile

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., None])


def _fail(message: str) -> None:
    click.echo(f"panicpath lab: {one_line(message)}", err=True)
    sys.exit(2)


def _render(obs: Observation, title: str) -> list[str]:
    lines = [f"{title}:"]
    for c in obs.callbacks:
        extra = "" if c.priority is None else f" prio={c.priority}"
        extra += "" if c.cpu is None else f" cpu={c.cpu}"
        lines.append(f"  {c.kind:11} {c.name}{extra}")
    for key, value in obs.to_json().items():
        if key != "callbacks":
            lines.append(f"  {key} = {value}")
    return lines


def _exit_code(conf: Conformance, ok: bool) -> int:
    return 0 if ok and conf.agree is not False else 1


_TCG_THREADS = click.option(
    "--tcg-threads", type=click.Choice(TCG_THREAD_CHOICES), default="auto", show_default=True,
    help="QEMU TCG threads: one per vCPU (multi), one per guest (single), or auto: multi "
         "unless the guests side by side have more vCPUs than the host has cores.")


_RELEASE = click.option("--release", default=None, metavar="SERIES",
                        help="Kernel series to boot, overriding the file's [kernel] release "
                             "(e.g. 5.10, 6.1, 6.12; see `panicpath lab kernels`).")
_ARCH = click.option("--arch", default=None, type=click.Choice(ARCHES),
                     help="Guest architecture, overriding the file's [kernel] arch.")


def _load(path: Path, release: str | None, arch: str | None) -> LabScenario:
    """A scenario file with the command line's kernel overrides applied."""
    return with_kernel(load_scenario(path), release, arch)


_DRY_RUN = click.option(
    "--dry-run", is_flag=True,
    help="Check the scenario file(s) and print the model's prediction; boot nothing.")


def _dry_run(paths: list[Path], as_json: bool, release: str | None = None,
             arch: str | None = None) -> None:
    """Load and check each scenario, predict it with the model, boot nothing (exit 0; a bad
    file exits 2 with its one-line error)."""
    from panicpath.engine import ScenarioError as ModelScenarioError

    predictor = find_predictor()
    docs: list[dict[str, object]] = []
    for path in paths:
        try:
            sc = _load(path, release, arch)
            refuse_unsupported(sc)  # what the machine lacks, as a real run refuses it
            predicted = predictor(sc) if predictor is not None else None
        except (ScenarioError, LabSetupError, ModelScenarioError) as e:
            _fail(f"{path}: {e}" if isinstance(e, ModelScenarioError) else str(e))
            return
        note = _needs_note(sc)
        if as_json:
            docs.append({"scenario": sc.name,
                         "predicted": predicted.to_json() if predicted else None,
                         **({"note": note} if note else {})})
        else:
            click.echo(f"scenario {sc.name}: valid")
            if note:
                click.echo(f"note: {note}")
            if predicted is not None:
                click.echo("\n".join(_render(predicted, "model")))
    if as_json:
        click.echo(json.dumps(docs[0] if len(docs) == 1 else docs, indent=2))


def _needs_note(sc: LabScenario) -> str:
    """What a dry run cannot know yet: a small reservation on a kernel whose crash-kernel
    needs were never measured (lab/reservation.py) is predicted as if it sufficed."""
    from panicpath.lab.reservation import cached_needs, needs_measurement

    if not needs_measurement(sc) or cached_needs(sc) is not None:
        return ""
    return (f"crashkernel={sc.crashkernel_size} is predicted as enough: what the "
            f"{sc.release} {sc.arch} {sc.flavour} crash kernel needs has not been measured "
            "yet (a real run measures it first)")


@click.group(name="lab")
def lab_group() -> None:
    """Boot, panic and kdump a real kernel under QEMU; diff it against the model."""


@lab_group.command("run")
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--out", type=OutputDir(path_type=Path), default=None,
              help="Directory for the run's files (default: the cache's runs/).")
@click.option("--snapshot/--no-snapshot", default=True, show_default=True,
              help="Restore the guest from a cached snapshot (taken on first use) "
                   "instead of booting it.")
@_TCG_THREADS
@_DRY_RUN
@_RELEASE
@_ARCH
def run_cmd(scenario: Path, as_json: bool, out: Path | None, snapshot: bool,
            tcg_threads: str, dry_run: bool, release: str | None, arch: str | None) -> None:
    """Run one SCENARIO.toml and compare it with the model."""
    if dry_run:
        _dry_run([scenario], as_json, release, arch)
        return
    try:
        sc = _load(scenario, release, arch)
        run = run_scenario(sc, out, snapshot=snapshot, tcg_threads=tcg_threads)
    except (ScenarioError, LabSetupError) as e:
        _fail(str(e))
        return
    conf = conformance(sc, run.observation, find_predictor())
    if as_json:
        doc = conf.to_json()
        doc["run"] = {"status": run.result.status, "phase": run.result.phase,
                      "detail": run.result.detail, "log": str(run.result.log_path),
                      "snapshot": run.result.snapshot, "duration_s": run.result.duration}
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(f"scenario {sc.name}: {run.result.summary()}")
        click.echo(f"snapshot: {run.result.snapshot}, {run.result.duration:.2f} s")
        click.echo("\n".join(_render(run.observation, "kernel")))
        if conf.predicted is None:
            click.echo("model: no panicpath.lab.predict available")
        else:
            click.echo("\n".join(_render(conf.predicted, "model")))
            click.echo("agree" if conf.agree else "differences:")
            for d in conf.differences:
                click.echo(f"  {d}")
    sys.exit(_exit_code(conf, run.result.ok))


_RAY = ray_option_with(
    "Run each guest cycle as a Ray task (pip install 'panicpath[ray]') on the nodes that "
    "declare the 'qemu' resource, each preparing its guests from its own lab cache: "
    "without a value on the local Ray (joined if one runs, else started for this command "
    "with --jobs qemu slots, and stopped after it); with HOST:PORT on the cluster whose "
    "head is there (docs/cluster.md). The report is that of a local run.")


def _resume_option(filename: str) -> Callable[[F], F]:
    return click.option(
        "--resume", type=click.Path(path_type=Path, file_okay=False), default=None,
        metavar="DIR",
        help=f"Continue the run whose report is DIR/{filename}: what it holds is kept and "
             "not run again, the rest runs (locally or with --ray); the report goes to DIR "
             "unless --out is given.")


def _guarded(fn: Callable[[], T]) -> T:
    """`fn()`, with the lab's and the cluster's set-up problems as one line and exit 2."""
    from panicpath.check.cluster import ClusterError
    from panicpath.lab.journal import ResumeError

    try:
        return fn()
    except (ScenarioError, LabSetupError, ClusterError, ResumeError) as e:
        _fail(str(e))
    except OSError as e:  # the report cannot be written (--out)
        _fail(f"{e.filename or 'the report'}: cannot write: {e.strerror or e}")
    raise AssertionError("unreachable")


def _unique_names(scenarios: list[LabScenario]) -> None:
    """Refuse two scenario files of one name: their run directories and report keys would
    collide (one would overwrite, or be taken for, the other)."""
    seen: dict[str, LabScenario] = {}
    for sc in scenarios:
        if sc.name in seen:
            _fail(f"{sc.path}: scenario name {sc.name!r} is also that of {seen[sc.name].path}; "
                  "valid: one name per scenario file of the directory")
        seen[sc.name] = sc


def _scenario_paths(directory: Path) -> list[Path]:
    if not directory.is_dir():
        _fail(f"{directory}: not a directory; valid: a directory of lab scenarios (*.toml)")
    paths = sorted(directory.glob("*.toml"))
    if not paths:
        _fail(f"{directory}: no *.toml scenario files; valid: a directory of lab scenarios")
    return paths


@lab_group.command("campaign")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--jobs", type=click.IntRange(1, 16), default=2, show_default=True,
              help="QEMU guests at once (with --ray: the qemu slots of a local Ray it starts).")
@click.option("--out", type=OutputDir(path_type=Path), default=None,
              help="Directory for logs and the report (default: lab-campaign, or the "
                   "--resume directory).")
@click.option("--snapshot/--no-snapshot", default=True, show_default=True,
              help="Restore guests from cached snapshots instead of booting them.")
@_TCG_THREADS
@_DRY_RUN
@_RELEASE
@_ARCH
@_RAY
@_resume_option("campaign.json")
def campaign_cmd(directory: Path, jobs: int, out: Path | None, snapshot: bool,
                 tcg_threads: str, dry_run: bool, release: str | None,
                 arch: str | None, ray_address: str | None, resume: Path | None) -> None:
    """Run every scenario file of DIRECTORY and write a conformance report."""
    from panicpath.lab.journal import Journal, campaign_key, read_done

    paths = _scenario_paths(directory)
    if dry_run:
        _dry_run(paths, False, release, arch)
        return
    out = out or resume or Path("lab-campaign")
    scenarios = _guarded(lambda: [_load(p, release, arch) for p in paths])
    _unique_names(scenarios)
    names = [sc.name for sc in scenarios]
    previous = _guarded(lambda: read_done(resume, "campaign.json", campaign_key, names)
                        ) if resume else {}
    todo = [sc for sc in scenarios if sc.name not in previous]
    journal = Journal(out / "campaign.json", names, previous)
    from rich.progress import Progress

    with Progress(transient=True) as progress:
        task = progress.add_task("scenarios", total=len(scenarios), completed=len(previous))

        def done(entry: CampaignEntry) -> None:
            if journal.add(entry.run.scenario.name, entry.to_json()):
                progress.advance(task)

        def run() -> None:
            if ray_address is not None:
                from panicpath.lab.cluster import campaign_on_ray, lab_session

                with lab_session(ray_address, jobs):
                    journal.write()
                    campaign_on_ray(todo, out, done, snapshot, tcg_threads)
                return
            journal.write()
            if todo:
                run_campaign(todo, jobs, out, find_predictor(), done, snapshot, tcg_threads)

        _guarded(run)
    docs = journal.results()
    js, html = write_docs(docs, out)
    for doc in docs:
        agree = {None: "no model", True: "agree", False: "DIFFER"}[doc["agree"]]  # type: ignore[index]
        click.echo(f"{doc['scenario']!s:32} {doc['status']!s:16} {agree}")
    click.echo(f"report: {js} {html}")
    sys.exit(1 if any(entry_failed(d) for d in docs) else 0)


@lab_group.command("kernels")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def kernels_cmd(as_json: bool) -> None:
    """The kernel series and architectures the archive carries, and which are cached."""
    from dataclasses import asdict

    from panicpath.lab.kernels import carried_kernels

    try:
        rows = carried_kernels()
    except LabSetupError as e:
        _fail(str(e))
        return
    if as_json:
        click.echo(json.dumps({"kernels": [asdict(k) for k in rows]}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title="kernels the archive carries", header_style="bold")
    for col in ("release", "arch", "flavour", "suite", "version", "abi", "cached"):
        t.add_column(col)
    for k in rows:
        t.add_row(k.release, k.arch, k.flavour, k.suite, k.version, k.abi,
                  "yes" if k.cached else "-")
    Console().print(t)


def _csv(value: str, valid: tuple[str, ...] | None, option: str) -> tuple[str, ...]:
    items = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    if not items:
        _fail(f"{option} {value!r}: empty; valid: a comma list")
    for v in items:
        if valid is not None and v not in valid:
            _fail(f"{option} {value!r}: unknown {option[2:-2]} {v!r}; valid: {', '.join(valid)}")
        if valid is None and not RELEASE_RE.match(v):
            _fail(f"{option} {value!r}: {v!r} is not a kernel series; valid: series such as "
                  "5.10,6.1,6.12 (panicpath lab kernels)")
    return items


@lab_group.command("matrix")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--releases", default="6.1", show_default=True, metavar="SERIES,...",
              help="Kernel series, comma-separated (see `panicpath lab kernels`).")
@click.option("--arches", default="x86_64", show_default=True, metavar="ARCH,...",
              help=f"Guest architectures, comma-separated ({', '.join(ARCHES)}).")
@click.option("--jobs", type=click.IntRange(1, 16), default=2, show_default=True,
              help="QEMU guests at once (with --ray: the qemu slots of a local Ray it starts).")
@click.option("--out", type=OutputDir(path_type=Path), default=None,
              help="Directory for logs, matrix.json and matrix.html (default: lab-matrix, or "
                   "the --resume directory).")
@click.option("--html", "html_out", type=OutputFile(path_type=Path),
              default=None, help="Write the HTML page here (default: OUT/matrix.html).")
@click.option("--json", "as_json", is_flag=True, help="Print the cells as JSON.")
@click.option("--snapshot/--no-snapshot", default=True, show_default=True,
              help="Restore guests from cached snapshots instead of booting them.")
@_TCG_THREADS
@_DRY_RUN
@_RAY
@_resume_option("matrix.json")
def matrix_cmd(directory: Path, releases: str, arches: str, jobs: int, out: Path | None,
               html_out: Path | None, as_json: bool, snapshot: bool, tcg_threads: str,
               dry_run: bool, ray_address: str | None, resume: Path | None) -> None:
    """Every scenario of DIRECTORY on every (release, arch) cell it applies to."""
    from rich.console import Console
    from rich.progress import Progress

    from panicpath.lab.journal import Journal, matrix_key, read_done
    from panicpath.lab.kernels import carried_kernels
    from panicpath.lab.matrix import plan, run_matrix, write_docs

    rels = _csv(releases, None, "--releases")
    archs = _csv(arches, ARCHES, "--arches")
    paths = _scenario_paths(directory)
    scenarios = _guarded(lambda: [load_scenario(p) for p in paths])
    carried = _guarded(lambda: frozenset((k.release, k.arch) for k in carried_kernels()))
    cells = plan(scenarios, rels, archs, carried)
    if dry_run:
        planned = [Cell(sc.name, sc.release, sc.arch, reason) for sc, reason in cells]
        _print_cells([c.to_json() for c in planned], as_json)
        return
    _unique_names(scenarios)
    out = out or resume or Path("lab-matrix")
    keys = [(sc.name, sc.release, sc.arch) for sc, _ in cells]
    previous = _guarded(lambda: read_done(resume, "matrix.json", matrix_key, keys)
                        ) if resume else {}
    todo = [(sc, reason) for sc, reason in cells
            if (sc.name, sc.release, sc.arch) not in previous]
    journal = Journal(out / "matrix.json", keys, previous)
    err = Console(stderr=True)
    with Progress(console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("cells", total=len(cells), completed=len(previous))

        def done(c: Cell) -> None:
            if journal.add((c.scenario, c.release, c.arch), c.to_json()):
                progress.advance(task)

        def run() -> None:
            if ray_address is not None:
                from panicpath.lab.cluster import lab_session, matrix_on_ray

                with lab_session(ray_address, jobs):
                    journal.write()
                    matrix_on_ray(todo, out, done, snapshot, tcg_threads)
                return
            journal.write()
            if todo:
                run_matrix(todo, jobs, out, find_predictor(), done, snapshot, tcg_threads)

        _guarded(run)
    docs = journal.results()
    try:
        js, html = write_docs(docs, out, html_out)
    except OSError as e:
        _fail(f"{html_out or out}: cannot write: {e.strerror}")
        return
    _print_cells(docs, as_json)
    if not as_json:
        click.echo(f"report: {js} {html}")
    sys.exit(1 if any(d["status"] not in ("agree", "n/a") for d in docs) else 0)


def _print_cells(docs: list[dict[str, object]], as_json: bool) -> None:
    """The cells (their JSON) as JSON, or one line each."""
    if as_json:
        click.echo(json.dumps(docs, indent=2))
        return
    for d in docs:
        why = f"  ({d['reason']})" if d.get("reason") else ""
        click.echo(f"{d['scenario']!s:34} {d['release']!s:5} {d['arch']!s:8} {d['status']}{why}")
