"""A real Ray on this machine for the tests of `--ray` (issue 18): the environment of every
command, a cluster of two nodes started with `ray start`, and finding and stopping every
process that they started (by the temporary directory each one names), even when a test
fails. Used by tests/check/test_ray.py and tests/lab/test_ray_campaign.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
"""Ray's command line, installed beside this Python."""


def ray_env(tmp: Path) -> dict[str, str]:
    """The environment of every command here: Ray's state under `tmp` (a local Ray started
    by `--ray` lives there, so it is found and stopped by that name), no usage report, no
    token authentication (a test cluster on this machine)."""
    env = dict(os.environ)
    env.update(RAY_TMPDIR=str(tmp), RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled",
               # a lost node is noticed within seconds, not the default half minute
               RAY_health_check_period_ms="500", RAY_health_check_timeout_ms="1000",
               RAY_health_check_failure_threshold="3",
               # what a dead worker left running (a lab guest's QEMU) is killed by its raylet
               RAY_kill_child_processes_on_worker_exit_with_raylet_subreaper="true")
    env.pop("RAY_ADDRESS", None)
    return env


def panicpath(args: list[str], env: dict[str, str], timeout: float = 300
              ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "panicpath", *args], env=env, text=True,
                          capture_output=True, timeout=timeout, check=False)


def processes_naming(marker: str) -> list[int]:
    """Pids of the processes whose command line or environment names `marker` (every Ray
    process started here has RAY_TMPDIR below it; Ray's agents rename their command line),
    and their descendants."""
    cmd: dict[int, str] = {}
    parent: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd[int(d.name)] = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
            stat = (d / "stat").read_text()
            parent[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                del cmd[int(d.name)]  # a zombie is not running
        except (OSError, IndexError, ValueError):
            continue
    found = {p for p, c in cmd.items() if marker in c or marker in environ(p)}
    grew = True
    while grew:
        more = {p for p in cmd if parent.get(p) in found} - found
        found |= more
        grew = bool(more)
    return sorted(found)


def environ(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def stop(marker: str, groups: list[int] = ()) -> None:  # type: ignore[assignment]
    """SIGKILL our process groups and every process naming `marker` (Ray's raylet ignores
    SIGTERM for a while); wait until none is left."""
    for g in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(g, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while (left := processes_naming(marker)) and time.monotonic() < deadline:
        kill_all(left)
        time.sleep(0.2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """A head and a worker node on 127.0.0.1, each started by `ray start` with one CPU and
    `resources` (JSON for --resources, e.g. the lab's qemu slots), their state under `root`
    (head/, worker/): found and stopped by those names."""

    def __init__(self, root: Path, resources: str | None = None) -> None:
        self.root = root
        self.resources = [f"--resources={resources}"] if resources else []
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = ray_env(root / "driver")
        self.head_dir = root / "head"
        self.worker_dir = root / "worker"
        self.groups: list[int] = []
        self.worker: subprocess.Popen[bytes] | None = None

    def start_head(self) -> None:
        self.head_dir.mkdir()
        head = subprocess.Popen(
            [RAY, "start", "--head", f"--port={self.port}", "--num-cpus=1",
             f"--temp-dir={self.head_dir}", "--include-dashboard=false",
             "--disable-usage-stats", *self.resources], env=self.env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.groups.append(head.pid)
        assert head.wait(timeout=120) == 0

    def start_worker(self) -> None:
        self.worker_dir.mkdir(exist_ok=True)
        log = self.root / "worker.log"
        with log.open("wb") as out:
            self.worker = subprocess.Popen(
                [RAY, "start", f"--address={self.address}", "--num-cpus=1",
                 f"--temp-dir={self.worker_dir}", "--block", *self.resources], env=self.env,
                start_new_session=True, stdout=out, stderr=subprocess.STDOUT)
        self.groups.append(self.worker.pid)
        deadline = time.monotonic() + 120
        while b"Ray runtime started" not in log.read_bytes():
            assert self.worker.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, "the worker node did not start"
            time.sleep(0.3)

    def kill_worker(self) -> None:
        """SIGKILL the worker node's processes (its raylet, its Ray workers), as if the
        machine had gone."""
        assert self.worker is not None
        stop(str(self.worker_dir), [self.worker.pid])
        self.worker.wait(timeout=30)

    def running_on_worker(self, prefix: bytes) -> list[int]:
        """Pids of the processes whose command line starts with `prefix` that run on the
        worker node now (a Ray task's worker is renamed ray::FUNCTION; a lab guest is a
        qemu-system-* below it)."""
        found = []
        for pid in processes_naming(str(self.worker_dir)):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if cmd.startswith(prefix):
                found.append(pid)
        return found

    def stop(self) -> None:
        stop(str(self.root), self.groups)


@contextlib.contextmanager
def running_cluster(prefix: str, resources: str | None = None) -> Iterator[Cluster]:
    """A started Cluster (head and worker) under a fresh temporary root; stopped on exit,
    which asserts that no process naming the root is left."""
    c = Cluster(Path(tempfile.mkdtemp(prefix=prefix)), resources=resources)
    try:
        c.start_head()
        c.start_worker()
        yield c
    finally:
        c.stop()
        left = processes_naming(str(c.root))
        shutil.rmtree(c.root, ignore_errors=True)
        assert left == []
