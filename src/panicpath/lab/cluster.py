"""`lab campaign --ray` and `lab matrix --ray`: each guest cycle a Ray task (issue 18).

A cycle task prepares its scenario on the node it runs on (runner.prepare: the kernel, the
initrds, the probe, the snapshot and the crash-kernel needs, each from that node's own lab
cache, filled there on first use: no shared filesystem is assumed), runs the guest, compares
it with the model there (the prediction reads that node's measured needs), and sends back
the comparison and the run's logs. The driver writes the logs where a local run would have
(OUT/NAME/console.log) and points the result at them, so the report is that of a local run
apart from times, paths and the snapshot cache's state.

Each task asks for one slot of the custom resource ``qemu`` (`QEMU_RESOURCE`) and no CPU:
a node runs as many guests at once as it declares slots (``ray start --resources
'{"qemu": N}'``; a local Ray started by ``--ray`` declares ``--jobs`` slots when this
machine has QEMU), and a node without the resource gets none. The TCG thread mode of a guest
is chosen on its node, from the node's slots, the guest's vCPUs and the node's cores
(qemu.resolve_tcg_threads, as ``--jobs`` does locally).

Faults: a task whose worker or node dies is rerun by Ray on another node (`RETRIES`); so
is a task whose QEMU was killed from outside (`GuestLost`, Ray's ``retry_exceptions``),
since its node was likely going down. The driver takes each cycle's result once, keyed by
its index, and the reports key them again by scenario or cell (lab.journal), so a cycle
that ran twice counts once.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from panicpath.check.cluster import ClusterError, import_ray, parse_address, session
from panicpath.lab.campaign import CampaignEntry
from panicpath.lab.conformance import conformance, find_predictor
from panicpath.lab.kernels import LabSetupError, cache_dir
from panicpath.lab.matrix import Cell
from panicpath.lab.qemu import MACHINES
from panicpath.lab.runner import prepare, run_prepared_async
from panicpath.lab.scenario import LabScenario, ScenarioError

QEMU_RESOURCE = "qemu"
"""The custom Ray resource of a node that can run lab guests: one unit per guest at once."""
RETRIES = 4
"""How often Ray runs a cycle again when its worker or node dies, or its QEMU is killed from
outside (Ray's `max_retries`)."""
SUBREAPER = "RAY_kill_child_processes_on_worker_exit_with_raylet_subreaper"
"""Ray's setting that makes a node's raylet kill what a dead worker left running (its QEMU),
set for a local Ray that `--ray` starts (docs/cluster.md: set it on every node)."""


class GuestLost(Exception):
    """A guest's QEMU was killed by a signal that its harness did not send (its node going
    down, an OOM kill): the cycle is retried elsewhere. Carries the run's result, which the
    driver keeps when every retry ended this way."""

    def __init__(self, result: CycleResult) -> None:
        super().__init__(f"QEMU of {result.name} was killed from outside")
        self.result = result

    def __reduce__(self) -> tuple[Any, ...]:
        return (GuestLost, (self.result,))


@dataclass(frozen=True)
class Cycle:
    """One guest cycle to run: its place in the plan, its scenario and its run directory's
    name below OUT."""

    index: int
    scenario: LabScenario
    name: str


@dataclass(frozen=True)
class CycleResult:
    """What a cycle task sends back: the comparison (None when preparing it failed for a
    reason of the cell's, then in `reason`), the run's log files by name, and the node."""

    name: str
    entry: CampaignEntry | None
    reason: str
    logs: dict[str, bytes]
    node: str


def qemu_on_this_machine() -> bool:
    """Whether some guest arch's QEMU is installed here (a local Ray started by `--ray`
    declares `qemu` slots only then)."""
    return any(shutil.which(m.qemu) is not None for m in MACHINES.values())


@contextmanager
def lab_session(address: str, jobs: int) -> Iterator[None]:
    """Ray for a lab command (check.cluster.session): a local Ray started here declares
    `jobs` qemu slots if this machine has QEMU, and kills the QEMU of a dead worker. One line
    (ClusterError) when no node of the cluster declares the qemu resource; Ray is then
    disconnected, and stopped if this call started it."""
    slots = {QEMU_RESOURCE: float(jobs)} if qemu_on_this_machine() else {}
    os.environ.setdefault(SUBREAPER, "true")
    with session(address, resources=slots):
        ray = import_ray()
        if ray.cluster_resources().get(QEMU_RESOURCE, 0) < 1:
            where = "the local Ray" if parse_address(address) is None else address
            raise ClusterError(
                f"--ray {address}: no node of {where} declares the '{QEMU_RESOURCE}' resource, "
                f"so no guest could run; start each node that has QEMU with ray start "
                f"--resources='{{\"{QEMU_RESOURCE}\": N}}' (N guests at once, docs/cluster.md)")
        yield


def node_slots() -> int:
    """The qemu slots of the node this task runs on (1 if it cannot be told)."""
    ray = import_ray()
    me = ray.get_runtime_context().get_node_id()
    for node in ray.nodes():
        if node.get("NodeID") == me:
            return max(1, int(node.get("Resources", {}).get(QEMU_RESOURCE, 1)))
    return 1


def _killed_from_outside(entry: CampaignEntry) -> bool:
    """QEMU ended by a signal while the harness still waited for it (the harness's own
    kill comes after a status was set, so the status would not be qemu-exited)."""
    r = entry.run.result
    return r.status == "qemu-exited" and r.returncode is not None and r.returncode < 0


def sweep_runs(parent: Path) -> None:
    """Remove the run directories below `parent` that a task of this host left when its
    worker died (killed with its node, or by a ^C's cancellation): each is named
    ``cycle.PID.HOST.*`` after the worker that made it, and one whose worker is gone is
    stale (the name's host guards a cache shared by several machines)."""
    host = socket.gethostname()
    for d in parent.glob("cycle.*"):
        _, pid, rest = [*d.name.split(".", 2), "", ""][:3]
        if not pid.isdigit() or rest.rsplit(".", 1)[0] != host:
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except PermissionError:
            pass  # a live process of another user


def run_cycle(cycle: Cycle, planned: int, snapshot: bool, tcg_threads: str,
              setup_is_na: bool) -> CycleResult:
    """The task: prepare `cycle` from this node's caches, run it, compare it with the model.
    `planned`: cycles in the command (guests side by side on this node: at most that many);
    `setup_is_na`: a LabSetupError or ScenarioError while preparing is the cell's reason
    (lab matrix) instead of an error (lab campaign)."""
    node = str(import_ray().get_runtime_context().get_node_id())
    parent = cache_dir() / "ray-runs"
    parent.mkdir(parents=True, exist_ok=True)
    sweep_runs(parent)
    work = Path(tempfile.mkdtemp(prefix=f"cycle.{os.getpid()}.{socket.gethostname()}.",
                                 dir=parent))
    try:
        sc = cycle.scenario
        try:
            prep = prepare(sc, work / cycle.name, snapshot,
                           guests=min(node_slots(), max(1, planned)), tcg_threads=tcg_threads)
        except (LabSetupError, ScenarioError) as e:
            if not setup_is_na:
                raise
            return CycleResult(cycle.name, None, str(e), {}, node)
        run = asyncio.run(run_prepared_async(prep))
        entry = CampaignEntry(run, conformance(sc, run.observation, find_predictor()))
        logs = {p.name: p.read_bytes() for p in sorted(prep.run_dir.glob("*.log"))}
        result = CycleResult(cycle.name, entry, "", logs, node)
        if _killed_from_outside(entry):
            raise GuestLost(result)
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _landed(result: CycleResult, out_dir: Path) -> CycleResult:
    """`result` with its logs written below OUT/NAME (as a local run writes them) and its
    log path pointing there."""
    if result.entry is None:
        return result
    run_dir = out_dir / result.name
    run_dir.mkdir(parents=True, exist_ok=True)
    for name, data in result.logs.items():
        (run_dir / name).write_bytes(data)
    run = result.entry.run
    moved = replace(run, result=replace(run.result, log_path=run_dir / run.result.log_path.name))
    return replace(result, entry=replace(result.entry, run=moved), logs={})


def run_cycles(cycles: Sequence[Cycle], out_dir: Path, snapshot: bool, tcg_threads: str,
               setup_is_na: bool, done: Callable[[Cycle, CycleResult], None]) -> None:
    """Run every cycle as a Ray task (inside `lab_session`); `done` gets each cycle's result
    once, as it arrives. An error raised while preparing or running a cycle is raised here
    as itself (after the other tasks are cancelled); a task lost more than `RETRIES` times
    is a ClusterError."""
    if not cycles:
        return
    ray = import_ray()
    from ray.exceptions import RayError, RayTaskError

    task = ray.remote(run_cycle).options(
        num_cpus=0, resources={QEMU_RESOURCE: 1}, max_retries=RETRIES,
        retry_exceptions=[GuestLost])
    by_ref = {task.remote(c, len(cycles), snapshot, tcg_threads, setup_is_na): c
              for c in cycles}
    pending = list(by_ref)
    taken: set[int] = set()
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            cycle = by_ref[ready[0]]
            try:
                result: CycleResult = ray.get(ready[0])
            except RayTaskError as e:
                cause = e.cause
                if isinstance(cause, GuestLost):  # every retry lost its QEMU: keep the last
                    result = cause.result
                elif isinstance(cause, Exception):
                    raise cause from None
                else:
                    raise
            except RayError as e:
                raise ClusterError(f"--ray: the cycle of {cycle.name} failed {RETRIES + 1} "
                                   f"times: {' '.join(str(e).split())}") from None
            if cycle.index in taken:
                continue
            taken.add(cycle.index)
            done(cycle, _landed(result, out_dir))
    finally:
        for ref in pending:  # stopped early (an error, ^C): the harness stops its QEMU
            ray.cancel(ref)


def campaign_on_ray(scenarios: Sequence[LabScenario], out_dir: Path,
                    done: Callable[[CampaignEntry], None], snapshot: bool = True,
                    tcg_threads: str = "auto") -> list[CampaignEntry]:
    """`run_campaign` on Ray: entries in scenario order, `done` called as each arrives."""
    got: dict[int, CampaignEntry] = {}

    def one(cycle: Cycle, result: CycleResult) -> None:
        assert result.entry is not None  # a campaign raises on set-up errors
        got[cycle.index] = result.entry
        done(result.entry)

    cycles = [Cycle(i, sc, sc.name) for i, sc in enumerate(scenarios)]
    run_cycles(cycles, out_dir, snapshot, tcg_threads, False, one)
    return [got[i] for i in sorted(got)]


def matrix_on_ray(cells: Sequence[tuple[LabScenario, str]], out_dir: Path,
                  done: Callable[[Cell], None], snapshot: bool = True,
                  tcg_threads: str = "auto") -> list[Cell]:
    """`run_matrix` on Ray: the cells that apply as tasks, those that do not at once;
    cells in plan order, `done` called as each is known."""
    got: dict[int, Cell] = {}
    cycles = []
    for i, (sc, reason) in enumerate(cells):
        if reason:
            got[i] = Cell(sc.name, sc.release, sc.arch, reason)
            done(got[i])
        else:
            cycles.append(Cycle(i, sc, f"{sc.name}-{sc.release}-{sc.arch}"))

    def one(cycle: Cycle, result: CycleResult) -> None:
        sc = cycle.scenario
        got[cycle.index] = Cell(sc.name, sc.release, sc.arch, result.reason, result.entry)
        done(got[cycle.index])

    run_cycles(cycles, out_dir, snapshot, tcg_threads, True, one)
    return [got[i] for i in sorted(got)]
