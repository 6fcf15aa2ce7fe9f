"""Tarball scans are cached by size/mtime and the scanner's code."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

from panicpath.scan import scan_tree
from panicpath.scan.cache import cache_key

from .conftest import DATA


def test_cache_hit_and_invalidation(tmp_path: Path) -> None:
    tarball = tmp_path / "linux-x.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(DATA, arcname="linux-x")
    cache_dir = tmp_path / "cache"
    first = scan_tree(tarball, cache_dir=cache_dir)
    key = cache_key(tarball, 3)
    assert (cache_dir / f"{key}.json").is_file()
    assert scan_tree(tarball, cache_dir=cache_dir) == first
    # a different tarball with the same name/size but a new mtime gets a new key
    os.utime(tarball, (1, 1))
    assert cache_key(tarball, 3) != key
    assert cache_key(tarball, 2) != cache_key(tarball, 3)
