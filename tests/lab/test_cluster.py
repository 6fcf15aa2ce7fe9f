"""The parts of `lab --ray` (panicpath.lab.cluster) that need no Ray: a cycle's result
landing in OUT, which QEMU deaths are retried, and the sweep of a dead worker's files."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from panicpath.lab.campaign import CampaignEntry
from panicpath.lab.cluster import CycleResult, GuestLost, _killed_from_outside, _landed, sweep_runs
from panicpath.lab.conformance import Conformance
from panicpath.lab.harness import GuestResult
from panicpath.lab.observation import observe
from panicpath.lab.runner import LabRun
from panicpath.lab.scenario import LabScenario


def result(status: str = "complete", rc: int | None = 0, log: Path = Path("/node/x/console.log")
           ) -> CycleResult:
    sc = LabScenario(name="x")
    run = LabRun(sc, GuestResult(status, "done", "", log, (), rc, 1.0, (), 1),  # type: ignore[arg-type]
                 observe(()))
    entry = CampaignEntry(run, Conformance("x", run.observation, None, ()))
    return CycleResult("x", entry, "", {"console.log": b"LOG", "restore-failed.log": b"R"}, "n1")


def test_a_result_lands_where_a_local_run_writes_its_logs(tmp_path: Path) -> None:
    landed = _landed(result(), tmp_path / "out")
    assert landed.entry is not None
    assert landed.entry.run.result.log_path == tmp_path / "out" / "x" / "console.log"
    assert landed.entry.to_json()["log"] == str(tmp_path / "out" / "x" / "console.log")
    assert (tmp_path / "out" / "x" / "console.log").read_bytes() == b"LOG"
    assert (tmp_path / "out" / "x" / "restore-failed.log").read_bytes() == b"R"
    assert landed.logs == {}  # not kept twice in memory
    na = CycleResult("y", None, "no such kernel", {}, "n1")
    assert _landed(na, tmp_path / "out") == na and not (tmp_path / "out" / "y").exists()


def test_only_a_qemu_killed_from_outside_is_retried() -> None:
    """QEMU gone by a signal the harness did not send (status qemu-exited, a negative return
    code) is a lost guest; QEMU's own exit, or the harness's kill after a verdict, is a
    result."""
    def lost(status: str, rc: int | None) -> bool:
        entry = result(status, rc).entry
        assert entry is not None
        return _killed_from_outside(entry)

    assert lost("qemu-exited", -9) and lost("qemu-exited", -15)
    assert not lost("qemu-exited", 1) and not lost("qemu-exited", None)
    assert not lost("hung", -9) and not lost("timeout", -9) and not lost("complete", 0)
    e = GuestLost(result("qemu-exited", -9))
    import pickle

    again = pickle.loads(pickle.dumps(e))  # it crosses Ray with its result
    assert isinstance(again, GuestLost) and again.result == e.result


def test_a_dead_worker_s_run_directory_is_swept(tmp_path: Path) -> None:
    """A cycle task's directory outlives a worker killed with its node: the next task on
    that host removes it, and leaves those of live workers and of other hosts."""
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    host = socket.gethostname()
    dead = tmp_path / f"cycle.{gone.stdout.strip()}.{host}.abc_12"
    live = tmp_path / f"cycle.{os.getpid()}.{host}.def_34"
    other = tmp_path / f"cycle.{gone.stdout.strip()}.{host}x.ghi_56"
    for d in (dead, live, other):
        (d / "scenario").mkdir(parents=True)
        (d / "scenario" / "initrd").write_bytes(b"x")
    sweep_runs(tmp_path)
    assert not dead.exists() and live.exists() and other.exists()
