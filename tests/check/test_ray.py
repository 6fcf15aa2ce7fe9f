"""`compare --ray` and `check --ray` on a real Ray (issue 18): a local Ray started by the
command, a cluster of two nodes started here with `ray start` (a head and a worker node,
one CPU each), a worker node killed in the middle of a run, bad addresses.

Every command runs as a subprocess (its standard output must stay pure JSON, whatever Ray
prints). Everything started here is stopped here, by process group and by the temporary
directory named on its command line, even when a test fails.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

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

pytestmark = pytest.mark.timeout(600)

CHECK = ["check", "--policy", "linux-3.16", "--property", "vmcore-complete", "--arch", "x86_64",
         "--max-faults", "2", "--json"]
"""A violated question (seed 003's Problem 2) over several configurations and two faults."""
TIMES = ("seconds", "states_per_second")


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A temporary directory with a short name (Ray's sockets live below it, and a Unix
    socket's path has at most 107 bytes)."""
    d = Path(tempfile.mkdtemp(prefix="ppray"))
    try:
        yield d
    finally:
        stop(str(d))
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def local_result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The local runs everything here is compared with."""
    tmp = tmp_path_factory.mktemp("local")
    env = ray_env(tmp)
    policy = tmp / "mine.toml"
    dumped = panicpath(["policies", "--dump", "linux-4.9", "-o", str(policy)], env)
    assert dumped.returncode == 0, dumped.stderr
    policy.write_text(policy.read_text().replace('name = "linux-4.9"', 'name = "mine"', 1))
    compare_args = ["compare", "--json", "--policy", "linux-3.16", "--policy", "linux-6.1",
                    "--arch", "x86_64", "--arch", "arm64", "--policy-file", str(policy)]
    cmp = panicpath([*compare_args, "--workers", "2"], env)
    assert cmp.returncode == 0, cmp.stderr
    assert len(json.loads(cmp.stdout)["results"]) > 1000  # several chunks of 500
    chk = panicpath(CHECK, env)
    assert chk.returncode == 12, chk.stderr
    return {"compare_args": compare_args, "compare": cmp.stdout, "check": chk.stdout,
            "policy": str(policy)}


def same_text(got: str, want: object) -> None:
    """Byte for byte, without pytest's diff of two 60 MB strings."""
    assert isinstance(want, str)
    if got != want:
        at = next((i for i, (x, y) in enumerate(zip(got, want, strict=False)) if x != y),
                  min(len(got), len(want)))
        pytest.fail(f"outputs differ at character {at} (lengths {len(got)}, {len(want)}): "
                    f"{got[max(0, at - 80):at + 80]!r} vs {want[max(0, at - 80):at + 80]!r}")


def same_verdict(a: str, b: str) -> None:
    da, db = json.loads(a), json.loads(b)
    for k in TIMES:
        da.pop(k), db.pop(k)
    assert da == db


# --- a local Ray, started and stopped by the command ----------------------------------------

def test_local_ray_gives_the_local_output(local_result: dict[str, object],
                                          short_tmp: Path) -> None:
    """`--ray` alone starts a local Ray (ray.init()), runs each chunk as a task with the
    --policy-file policy sent as data, prints byte for byte the JSON of a local run, and
    leaves no Ray process behind."""
    env = ray_env(short_tmp)
    r = panicpath([*local_result["compare_args"], "--ray"], env)  # type: ignore[list-item]
    assert r.returncode == 0, r.stderr
    same_text(r.stdout, local_result["compare"])
    assert (short_tmp / "ray").is_dir()  # the local Ray lived there
    assert processes_naming(str(short_tmp)) == []
    c = panicpath([*CHECK, "--ray"], env)
    assert c.returncode == 12, c.stderr
    same_verdict(c.stdout, str(local_result["check"]))
    assert json.loads(c.stdout)["counterexample"]
    assert processes_naming(str(short_tmp)) == []


# --- bad input ------------------------------------------------------------------------------

def test_unreachable_address_is_one_line(tmp_path: Path) -> None:
    env = ray_env(tmp_path)
    port = free_port()
    t0 = time.monotonic()
    r = panicpath(["compare", "--no-faults", "--policy", "linux-6.1", "--json", "--ray",
                   f"127.0.0.1:{port}"], env, timeout=60)
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.count("\n") == 1 and f"127.0.0.1:{port}" in r.stderr, r.stderr
    assert time.monotonic() - t0 < 30
    c = panicpath([*CHECK, "--ray", f"127.0.0.1:{port}"], env, timeout=60)
    assert c.returncode == 2 and c.stderr.count("\n") == 1, c.stderr
    # --ray alone joins $RAY_ADDRESS (ray.init()): checked the same way
    e = panicpath([*CHECK, "--ray"], {**env, "RAY_ADDRESS": f"127.0.0.1:{port}"}, timeout=60)
    assert e.returncode == 2 and e.stderr.count("\n") == 1, e.stderr
    assert "RAY_ADDRESS" in e.stderr
    assert processes_naming(str(tmp_path)) == []


@pytest.mark.parametrize("address", ["nonsense", "10.0.0.1", "host:99999", "ray://host:10001",
                                     "a b:1"])
def test_malformed_address_is_one_line(address: str, tmp_path: Path) -> None:
    r = panicpath(["compare", "--no-faults", "--ray", address], ray_env(tmp_path), timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "--ray" in r.stderr and "Traceback" not in r.stderr


def test_without_ray_says_how_to_install_it(tmp_path: Path) -> None:
    """Ray hidden from the import system: one line with the pip command, exit 2."""
    code = ("import sys; sys.modules['ray'] = None; from panicpath.cli import main; "
            "sys.argv = ['panicpath', *sys.argv[1:]]; main()")
    r = subprocess.run([sys.executable, "-c", code, "compare", "--no-faults", "--ray"],
                       env=ray_env(tmp_path), text=True, capture_output=True, timeout=60,
                       check=False)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "pip install 'panicpath[ray]'" in r.stderr


# --- a cluster of two nodes -----------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with running_cluster("ppray") as c:
        yield c


def test_two_node_cluster_gives_the_local_output(cluster: Cluster,
                                                 local_result: dict[str, object]) -> None:
    r = panicpath([*local_result["compare_args"], "--ray", cluster.address],  # type: ignore[list-item]
                  cluster.env)
    assert r.returncode == 0, r.stderr
    same_text(r.stdout, local_result["compare"])
    c = panicpath([*CHECK, "--ray", cluster.address], cluster.env)
    assert c.returncode == 12, c.stderr
    same_verdict(c.stdout, str(local_result["check"]))


def test_a_lost_node_loses_nothing(cluster: Cluster, tmp_path: Path) -> None:
    """The worker node is killed while it runs a chunk of the default `compare` (44,280
    configurations, 89 chunks): Ray reruns its tasks on the head, and the JSON is still
    byte for byte the local one, nothing missing and nothing twice."""
    local = panicpath(["compare", "--json", "--workers", "2"], cluster.env)
    assert local.returncode == 0, local.stderr
    out = tmp_path / "ray.json"
    with out.open("w") as f:
        run = subprocess.Popen([sys.executable, "-m", "panicpath", "compare", "--json", "--ray",
                                cluster.address], env=cluster.env, stdout=f,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not cluster.running_on_worker(b"ray::_with_policies"):
            assert run.poll() is None, "compare ended before the worker node ran a task"
            assert time.monotonic() < deadline, "no task ran on the worker node"
            time.sleep(0.05)
        cluster.kill_worker()
        assert run.poll() is None  # killed in the middle of the run
        _, err = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, err
    same_text(out.read_text(), local.stdout)
