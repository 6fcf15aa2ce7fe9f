"""JSON form round-trips through the cache form."""

from __future__ import annotations

from panicpath.scan import ScanResult
from panicpath.scan.jsonio import from_cache_dict, scan_result_to_json, to_cache_dict


def test_round_trip(fixture_scan: ScanResult) -> None:
    assert from_cache_dict(to_cache_dict(fixture_scan)) == fixture_scan
    public = scan_result_to_json(fixture_scan)
    assert "errors" not in public and "stats" not in public
    assert from_cache_dict(public).callbacks == fixture_scan.callbacks
