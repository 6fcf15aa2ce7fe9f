"""The click command: exit codes, JSON keys, table output."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from panicpath.scan import scan_command

from .conftest import DATA


def test_bad_path_exits_2_with_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(scan_command, [str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "no such file" in result.output
    assert "Traceback" not in result.output


def test_json_keys_exactly() -> None:
    result = CliRunner().invoke(scan_command, [str(DATA), "--json", "--jobs", "2"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"tree", "callbacks", "post_notifiers_writers", "unregistrations"}
    cb = data["callbacks"][0]
    assert set(cb) == {"list", "file", "line", "callback", "priority", "priority_expr",
                       "features", "via", "max_reason"}
    assert set(cb["features"][0]) == {"kind", "line", "detail"}
    assert set(data["post_notifiers_writers"][0]) == {"file", "line", "function", "condition",
                                                      "value"}
    assert cb["callback"] == "sb_panic_notify"


def test_table_lists_callbacks_in_run_order() -> None:
    result = CliRunner().invoke(scan_command, [str(DATA)], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    out = result.stdout
    assert out.index("sb_panic_notify") < out.index("rf_on_panic") < out.index("km_dump") \
        < out.index("cr_stop_watchdogs")
    assert "wr_setup" in out
