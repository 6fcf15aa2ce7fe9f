"""Shared fixtures for the scanner tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from panicpath.scan import ScanResult, scan_tree

DATA = Path(__file__).resolve().parents[1] / "data" / "scan"


@pytest.fixture(scope="session")
def fixture_scan() -> ScanResult:
    """The synthetic fixture tree, scanned once."""
    return scan_tree(DATA, jobs=1)
