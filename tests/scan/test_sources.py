"""Inputs the scanner must survive: symlink loops, huge files, bad bytes, tarballs."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest

from panicpath.scan import ScanInputError, scan_result_to_json, scan_tree
from panicpath.scan.sources import MAX_FILE_BYTES

from .conftest import DATA


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "linux"
    shutil.copytree(DATA, root)
    return root


def test_symlink_loops_are_reported_and_skipped(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "sub").mkdir()
    (root / "sub" / "loop").symlink_to("..")
    (root / "self.c").symlink_to("self.c")
    result = scan_tree(root)
    messages = {e.file: e.message for e in result.errors}
    assert "ancestor" in messages["sub/loop"]
    assert "symlink loop" in messages["self.c"]
    assert len([c for c in result.callbacks if c.callback == "sb_panic_notify"]) == 1


def test_huge_generated_file_is_reported_not_parsed(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    line = b"static int gen_x = 1; /* atomic_notifier_chain_register(&panic_notifier_list) */\n"
    with open(root / "generated.c", "wb") as out:
        for _ in range(50 * 2**20 // len(line) + 1):
            out.write(line)
    assert (root / "generated.c").stat().st_size > MAX_FILE_BYTES
    result = scan_tree(root, jobs=2)
    (err,) = [e for e in result.errors if e.file == "generated.c"]
    assert "parse limit" in err.message
    assert {c.callback for c in result.callbacks} >= {"sb_panic_notify", "ft_panic"}


def test_non_utf8_bytes(tmp_path: Path) -> None:
    root = tmp_path / "t"
    root.mkdir()
    (root / "bad.c").write_bytes(
        b"/* \xff\xfe\x80 */\nstatic int caf\xe9_cb(void);\n"
        b"static struct notifier_block nb = { .notifier_call = ok_cb, .priority = 9 };\n"
        b"void f(void) { atomic_notifier_chain_register(&panic_notifier_list, &nb); }\n")
    (cb,) = scan_tree(root).callbacks
    assert (cb.callback, cb.line, cb.priority) == ("ok_cb", 4, 9)


def test_tarball_streams_to_the_same_result_as_the_directory(tmp_path: Path) -> None:
    tarball = tmp_path / "linux-test.tar.xz"
    with tarfile.open(tarball, "w:xz") as tar:
        tar.add(DATA, arcname="linux-test")
    from_tar = scan_result_to_json(scan_tree(tarball, jobs=2, use_cache=False))
    from_dir = scan_result_to_json(scan_tree(DATA))
    from_tar.pop("tree")
    from_dir.pop("tree")
    assert from_tar == from_dir


@pytest.mark.parametrize("keep", [0.1, 0.25, 0.4, 0.5, 0.66, 0.8, 0.95])
@pytest.mark.parametrize("comp", ["gz", "bz2", "xz"])
def test_truncated_tarball_reports_and_returns(tmp_path: Path, keep: float, comp: str) -> None:
    """Wherever the stream ends (between members, inside a header or inside a member's
    data, which tarfile only notices when the member is read), the scan reports it; .xz
    goes through the xz process, whose exit status says so."""
    tarball = tmp_path / f"linux-test.tar.{comp}"
    with tarfile.open(tarball, f"w:{comp}") as tar:
        tar.add(DATA, arcname="linux-test")
    data = tarball.read_bytes()
    cut = tmp_path / f"cut.tar.{comp}"
    cut.write_bytes(data[: int(len(data) * keep)])
    result = scan_tree(cut, use_cache=False)
    assert any("truncated or corrupt" in e.message for e in result.errors)


def test_bad_path(tmp_path: Path) -> None:
    with pytest.raises(ScanInputError, match="no such file"):
        scan_tree(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ScanInputError, match="not a directory or a tar archive"):
        scan_tree(tmp_path / "notes.txt")


def test_a_device_or_fifo_is_refused_without_reading_it(tmp_path: Path) -> None:
    """/dev/zero passed to tarfile.is_tarfile was read for ever (a hang); a FIFO waited for
    a writer."""
    import os

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for p in (Path("/dev/zero"), fifo):
        with pytest.raises(ScanInputError, match="not a directory or a regular file"):
            scan_tree(p, use_cache=False)
