"""`lab campaign --ray` and `lab matrix --ray` on a real Ray (issue 18): a cluster of two
nodes on this machine (a head and a worker node started with `ray start`, one `qemu` slot
each), the same campaign and matrix run locally and on the cluster, a `compare` on it,
`--resume` locally and on the cluster, the worker node killed while it runs a guest, and bad
addresses, a Ray without QEMU and a missing Ray.

Four short x86_64 scenarios of the shipped set (restored from the cache's snapshots; every
run uses single-threaded TCG, as `--jobs 2` picks on two cores, so all share those
snapshots). Every command runs as a subprocess; everything started here is stopped here
(tests/raycluster.py), and QEMU runs only below our own Ray nodes and commands.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from panicpath.lab.observation import Observation
from panicpath.lab.scenario import builtin_scenarios_dir
from tests.raycluster import (
    Cluster,
    free_port,
    panicpath,
    processes_naming,
    ray_env,
    running_cluster,
    stop,
)

pytest.importorskip("ray", reason="the ray extra: pip install -e '.[ray]' (scripts/install-deps.sh)")

SCENARIOS = ("ipi_deaf_cpu_no_kdump", "kdump_no_post_notifiers", "no_kdump_panic_none",
             "portable_no_kdump_host_runs_on")
"""The campaign: a restored cycle of 1-11 s each (two with the probe, one with a crash
kernel that boots)."""
RUN_DETAILS = ("duration_s", "log", "snapshot")
"""What may differ between two runs of one scenario: the time, where the log is, and
whether the snapshot was there (a node's cache) or taken."""
SINGLE = ["--tcg-threads", "single"]
QEMU = b"qemu-system-"
LAB = [pytest.mark.qemu, pytest.mark.timeout(900)]


def results(out: Path, name: str = "campaign.json") -> list[dict[str, object]]:
    docs = json.loads((out / name).read_text())
    assert isinstance(docs, list)
    return docs


OBSERVED_DETAILS = tuple(f.name for f in dataclasses.fields(Observation) if not f.compare)
"""Observations that may differ between two runs of one scenario and that the model does
not predict (Observation fields with compare=False): which task each stopped CPU was
running (CPU 1 idle, pid 0, in one CI run; a kworker, pid 53, in the local one), how a
crash kernel died."""


RETRIED = re.compile(r" \(run again after: [^)]*\)$")
"""The note runner.run_prepared_async appends to a run's detail when it ran a guest again
(a boot that died before /init, a restored trigger that never fired): which runs needed
it, and the kept logs' paths, differ from one run of a campaign to the next."""


def without_details(docs: list[dict[str, object]]) -> list[dict[str, object]]:
    def observed(v: object) -> object:
        if not isinstance(v, dict):
            return v
        return {k: x for k, x in v.items() if k not in OBSERVED_DETAILS}

    def value(k: str, v: object) -> object:
        if k == "observed":
            return observed(v)
        return RETRIED.sub("", v) if k == "detail" and isinstance(v, str) else v
    return [{k: value(k, v) for k, v in d.items() if k not in RUN_DETAILS} for d in docs]


def same_results(got: list[dict[str, object]], want: list[dict[str, object]],
                 out: Path) -> None:
    """The local results, apart from RUN_DETAILS; each run's log where the report says,
    below `out`, and complete (the harness's END line)."""
    assert without_details(got) == without_details(want)
    for d in got:
        if "log" in d:
            log = Path(str(d["log"]))
            assert log.parent.parent == out
            assert "# END status=" in log.read_text(errors="replace")


@pytest.fixture(scope="module")
def scenario_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("scenarios")
    for name in SCENARIOS:
        shutil.copy(builtin_scenarios_dir() / f"{name}.toml", d)
    return d


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory, scenario_dir: Path
          ) -> tuple[Path, list[dict[str, object]]]:
    """The local campaign (`--jobs 2`) everything here is compared with: its OUT and JSON."""
    out = tmp_path_factory.mktemp("local") / "out"
    r = panicpath(["lab", "campaign", str(scenario_dir), "--jobs", "2", *SINGLE, "--out",
                   str(out)], ray_env(out.parent), timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    docs = results(out)
    assert [d["scenario"] for d in docs] == list(SCENARIOS)
    assert {d["status"] for d in docs} == {"complete"}
    return out, docs


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with running_cluster("pplab", resources='{"qemu": 1}') as c:
        yield c


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def watch(cluster: Cluster, args: list[str], on_worker_guest: bool = False,
          timeout: float = 600) -> tuple[subprocess.CompletedProcess[str], list[int]]:
    """Run a command on the cluster; also return the pids of the first guests seen on the
    worker node while it ran (with `on_worker_guest`, the worker node is killed then, and
    the command must still be running)."""
    run = subprocess.Popen([sys.executable, "-m", "panicpath", *args], env=cluster.env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[int] = []
    try:
        deadline = time.monotonic() + timeout
        while run.poll() is None and time.monotonic() < deadline:
            if not seen and (seen := cluster.running_on_worker(QEMU)) and on_worker_guest:
                cluster.kill_worker()
                assert run.poll() is None  # killed in the middle of the campaign
            time.sleep(0.1)
        out, err = run.communicate(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    return subprocess.CompletedProcess(args, run.returncode, out, err), seen


# --- the cluster gives the local results -----------------------------------------------------

@pytest.mark.qemu
@pytest.mark.timeout(900)
def test_campaign_on_two_nodes_equals_the_local_one(
        cluster: Cluster, local: tuple[Path, list[dict[str, object]]], scenario_dir: Path,
        tmp_path: Path) -> None:
    """Each cycle a task on a node with a qemu slot, guests on both nodes, the report
    streamed back: the local results, with each run's log brought back into OUT. The guest
    was prepared on its node (its initrd with the probe stayed there), not in OUT."""
    out = tmp_path / "ray"
    r, on_worker = watch(cluster, ["lab", "campaign", str(scenario_dir), "--ray",
                                   cluster.address, *SINGLE, "--out", str(out)])
    assert r.returncode == 0, r.stdout + r.stderr
    same_results(results(out), local[1], out)
    assert on_worker, "no guest ran on the worker node"
    assert list(local[0].glob("*/initrd"))  # a local run prepares into OUT...
    assert not list(out.glob("*/initrd"))  # ...a task into a directory of its node
    for name in SCENARIOS:
        assert f"{name} " in r.stdout


@pytest.mark.qemu
@pytest.mark.timeout(900)
def test_matrix_on_two_nodes_equals_the_local_one(cluster: Cluster, tmp_path: Path) -> None:
    """Cells that run, a cell whose kernel has no driver for its watchdog (found when it is
    prepared, on its node: not applicable, with the reason) and cells of a series the
    archive does not carry: matrix.json as locally."""
    d = tmp_path / "scenarios"
    d.mkdir()
    for name in ("no_kdump_panic_none", "portable_no_kdump_host_runs_on"):
        shutil.copy(builtin_scenarios_dir() / f"{name}.toml", d)
    wd = (builtin_scenarios_dir() / "watchdog_dump_in_time.toml").read_text()
    assert 'flavour = "amd64"' in wd
    (d / "watchdog_cloud.toml").write_text(
        wd.replace('flavour = "amd64"', 'flavour = "cloud-amd64"')
          .replace('name = "watchdog_dump_in_time"', 'name = "watchdog_cloud"'))
    args = ["lab", "matrix", str(d), "--releases", "6.1,9.9", *SINGLE, "--json"]
    loc = panicpath([*args, "--jobs", "2", "--out", str(tmp_path / "local")], cluster.env,
                    timeout=600)
    assert loc.returncode == 0, loc.stderr
    r, _ = watch(cluster, [*args, "--ray", cluster.address, "--out", str(tmp_path / "ray")])
    assert r.returncode == 0, r.stderr
    got, want = results(tmp_path / "ray", "matrix.json"), results(tmp_path / "local",
                                                                   "matrix.json")
    same_results(got, want, tmp_path / "ray")
    assert without_details(json.loads(r.stdout)) == without_details(got)
    status = {(c["scenario"], c["release"]): c["status"] for c in got}
    assert status == {("no_kdump_panic_none", "6.1"): "agree",
                      ("no_kdump_panic_none", "9.9"): "n/a",
                      ("portable_no_kdump_host_runs_on", "6.1"): "agree",
                      ("portable_no_kdump_host_runs_on", "9.9"): "n/a",
                      ("watchdog_cloud", "6.1"): "n/a", ("watchdog_cloud", "9.9"): "n/a"}
    assert "i6300esb" in str(next(c["reason"] for c in got if c["scenario"] == "watchdog_cloud"
                                  and c["release"] == "6.1"))


@pytest.mark.timeout(600)
def test_compare_on_the_lab_cluster_is_the_local_json(cluster: Cluster) -> None:
    args = ["compare", "--json", "--policy", "linux-6.1", "--policy", "linux-4.9", "--arch",
            "x86_64"]
    loc = panicpath([*args, "--workers", "2"], cluster.env)
    assert loc.returncode == 0, loc.stderr
    r = panicpath([*args, "--ray", cluster.address], cluster.env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == loc.stdout
    assert len(json.loads(r.stdout)["results"]) > 500  # more than one chunk


# --- --resume --------------------------------------------------------------------------------

def _resume_dir(tmp_path: Path, docs: list[dict[str, object]]) -> Path:
    d = tmp_path / "resumed"
    d.mkdir()
    (d / "campaign.json").write_text(json.dumps(docs, indent=2) + "\n")
    return d


@pytest.mark.qemu
@pytest.mark.timeout(900)
def test_resume_runs_only_what_the_report_lacks(local: tuple[Path, list[dict[str, object]]],
                                                scenario_dir: Path, tmp_path: Path) -> None:
    """Two entries already there (the two slowest cycles): kept as they were, times and log
    paths included, and not run again (no run directory); the other two run, and the
    report is the local one."""
    kept = local[1][:2]
    d = _resume_dir(tmp_path, kept)
    r = panicpath(["lab", "campaign", str(scenario_dir), "--resume", str(d), "--jobs", "2",
                   *SINGLE], ray_env(tmp_path), timeout=600)
    assert r.returncode == 0, r.stderr
    got = results(d)
    assert got[:2] == kept
    assert without_details(got) == without_details(local[1])
    for name in SCENARIOS[:2]:
        assert not (d / name).exists()
    for name in SCENARIOS[2:]:
        assert (d / name / "console.log").is_file()


@pytest.mark.qemu
@pytest.mark.timeout(900)
def test_resume_on_the_cluster(cluster: Cluster, local: tuple[Path, list[dict[str, object]]],
                               scenario_dir: Path, tmp_path: Path) -> None:
    """Three entries there (one of them twice, as a report written by hand might have it),
    one left: it runs on the cluster, and each scenario is in the report once."""
    kept = local[1][:3]
    d = _resume_dir(tmp_path, [*kept, kept[0]])
    r, _ = watch(cluster, ["lab", "campaign", str(scenario_dir), "--resume", str(d), "--ray",
                           cluster.address, *SINGLE])
    assert r.returncode == 0, r.stderr
    got = results(d)
    assert got[:3] == kept
    assert without_details(got) == without_details(local[1])
    assert (d / SCENARIOS[3] / "console.log").is_file()


# --- a node lost (last: the worker node stays dead) -------------------------------------------

@pytest.mark.qemu
@pytest.mark.timeout(900)
def test_a_lost_node_loses_nothing_and_counts_nothing_twice(
        cluster: Cluster, local: tuple[Path, list[dict[str, object]]], scenario_dir: Path,
        tmp_path: Path) -> None:
    """The worker node (its raylet, its Ray workers and the guest's QEMU) is killed while a
    guest runs on it: Ray reruns that cycle on the head, and the report is the local one,
    each scenario once."""
    out = tmp_path / "ray"
    r, guests = watch(cluster, ["lab", "campaign", str(scenario_dir), "--ray", cluster.address,
                                *SINGLE, "--out", str(out)], on_worker_guest=True)
    assert guests, "no guest ran on the worker node"
    assert r.returncode == 0, r.stderr
    got = results(out)
    same_results(got, local[1], out)
    assert [d["scenario"] for d in got] == list(SCENARIOS)
    assert not any(alive(pid) for pid in guests)  # its QEMU went with it


# --- bad input -------------------------------------------------------------------------------

@pytest.mark.timeout(300)
@pytest.mark.parametrize("command", ["campaign", "matrix"])
def test_an_address_without_a_ray_head_is_one_line(command: str, scenario_dir: Path,
                                                   tmp_path: Path) -> None:
    """Nothing listening, and a port that accepts connections but is not Ray (ray.init()
    would wait there for minutes): one line, exit 2, no report, nothing left running."""
    env = ray_env(tmp_path)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        mute = f"127.0.0.1:{silent.getsockname()[1]}"
        for address, needle in ((f"127.0.0.1:{free_port()}", "cannot reach a Ray head"),
                                (mute, "does not answer as a Ray head")):
            t0 = time.monotonic()
            r = panicpath(["lab", command, str(scenario_dir), "--ray", address, "--out",
                           str(tmp_path / "out")], env, timeout=120)
            assert r.returncode == 2, r.stderr
            assert r.stderr.count("\n") == 1 and needle in r.stderr and address in r.stderr
            assert time.monotonic() - t0 < 60
    assert not (tmp_path / "out").exists()
    assert processes_naming(str(tmp_path)) == []


@pytest.mark.timeout(300)
def test_a_ray_without_qemu_slots_is_one_line(scenario_dir: Path) -> None:
    """`--ray` on a machine without QEMU starts a local Ray without the qemu resource: no
    node could run a guest, so one line and exit 2, and the Ray it started is stopped."""
    tmp = Path(tempfile.mkdtemp(prefix="ppnoq"))
    try:
        env = {**ray_env(tmp), "PATH": str(Path(sys.executable).parent)}
        assert shutil.which("qemu-system-x86_64", path=env["PATH"]) is None
        r = panicpath(["lab", "campaign", str(scenario_dir), "--ray", "--out",
                       str(tmp / "out")], env, timeout=240)
        assert r.returncode == 2, r.stderr
        assert r.stderr.count("\n") == 1 and "'qemu' resource" in r.stderr, r.stderr
        assert (tmp / "ray").is_dir()  # a Ray was started...
        assert processes_naming(str(tmp)) == []  # ...and stopped
        assert not (tmp / "out").exists()
    finally:
        stop(str(tmp))
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.parametrize("command", ["campaign", "matrix"])
def test_without_ray_says_how_to_install_it(command: str, scenario_dir: Path,
                                            tmp_path: Path) -> None:
    code = ("import sys; sys.modules['ray'] = None; from panicpath.cli import main; "
            "sys.argv = ['panicpath', *sys.argv[1:]]; main()")
    r = subprocess.run([sys.executable, "-c", code, "lab", command, str(scenario_dir), "--ray",
                        "--out", str(tmp_path / "out")], env=ray_env(tmp_path), text=True,
                       capture_output=True, timeout=120, check=False)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "pip install 'panicpath[ray]'" in r.stderr
    assert not (tmp_path / "out").exists()
