"""The newc cpio writer, checked by the real cpio tool."""

from __future__ import annotations

import subprocess
from pathlib import Path

from panicpath.lab.initramfs import chardev, directory, newc, regular, symlink


def test_newc_archive_lists_and_extracts_with_cpio(tmp_path: Path) -> None:
    data = newc([directory("bin"), regular("bin/x", b"hello\n", 0o755),
                 symlink("bin/y", "x"), regular("odd", b"123"), chardev("console", 5, 1)])
    listing = subprocess.run(["cpio", "-tv"], input=data, capture_output=True, check=True)
    lines = listing.stdout.decode().splitlines()
    assert [ln.split()[-1] if "->" not in ln else ln.split()[-3] for ln in lines] == [
        "bin", "bin/x", "bin/y", "odd", "console"]
    assert lines[1].startswith("-rwxr-xr-x") and lines[4].startswith("crw-------")
    subprocess.run(["cpio", "-id", "--quiet", "--no-absolute-filenames"], input=data,
                   cwd=tmp_path, check=True, capture_output=True)
    assert (tmp_path / "bin/x").read_bytes() == b"hello\n"
    assert (tmp_path / "odd").read_bytes() == b"123"
    assert (tmp_path / "bin/y").readlink() == Path("x")


def test_newc_is_deterministic_and_aligned() -> None:
    a = newc([regular("a", b"1"), regular("bb", b"22")])
    assert a == newc([regular("a", b"1"), regular("bb", b"22")])
    assert len(a) % 4 == 0
    assert a.endswith(b"TRAILER!!!\0" + b"\0" * (len(a) - a.rindex(b"TRAILER!!!") - 11))
