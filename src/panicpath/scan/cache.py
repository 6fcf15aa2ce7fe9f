"""On-disk cache of tarball scans, keyed by the tarball and the scanner's own code.

A kernel tarball does not change under the same size and mtime; the key also
hashes the scanner's source files, so any change to the scanner invalidates it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from panicpath.scan.jsonio import from_cache_dict, to_cache_dict
from panicpath.scan.results import ScanResult


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/panicpath/scan`` or ``~/.cache/panicpath/scan``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "panicpath" / "scan"


def _code_hash() -> str:
    digest = hashlib.sha256()
    for src in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(src.name.encode())
        digest.update(src.read_bytes())
    return digest.hexdigest()[:16]


def cache_key(tarball: Path, max_depth: int) -> str:
    """Key for a tarball scan: path, size, mtime, scanner code, walk depth."""
    stat = tarball.stat()
    raw = f"{tarball.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{_code_hash()}|{max_depth}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def load(cache_dir: Path, key: str) -> ScanResult | None:
    """Cached result, or None if absent or unreadable."""
    try:
        data = json.loads((cache_dir / f"{key}.json").read_text(encoding="utf-8"))
        return from_cache_dict(data)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store(cache_dir: Path, key: str, result: ScanResult) -> None:
    """Write a result atomically; a cache that cannot be written is silently skipped."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache_dir / f"{key}.json.tmp{os.getpid()}"
        tmp.write_text(json.dumps(to_cache_dict(result)), encoding="utf-8")
        tmp.replace(cache_dir / f"{key}.json")
    except OSError:
        pass
