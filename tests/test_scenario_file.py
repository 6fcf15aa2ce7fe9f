"""Model scenario files (`panicpath run S.toml`): every refused value is one line naming the
file, the line of the key that holds it, what is wrong and what is valid; exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from panicpath.cli import main
from panicpath.scenario_file import ScenarioFileError, scenario_from_dict


def run_file(tmp_path: Path, text: str | bytes) -> tuple[int, str, str]:
    f = tmp_path / "s.toml"
    if isinstance(text, bytes):
        f.write_bytes(text)
    else:
        f.write_text(text)
    r = CliRunner().invoke(main, ["run", str(f), "--json"])
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.stdout + r.stderr
    return r.exit_code, r.stdout, r.stderr


@pytest.mark.parametrize(("text", "line", "fragment"), [
    # placements: a name that exists nowhere used to move nothing, silently
    ('policy = "linux-6.1"\n[[placement]]\ncallback = "pvpanik"\nlist = "kmsg_dumper"\n', 3,
     "[[placement]] #1: no callback 'pvpanik' to place; valid: bcm-vk"),
    ('[[placement]]\ncallback = "pvpanic"\nlist = "kmsg_dumper"\nprio = 1\n', 4,
     "unknown key 'prio'; valid: callback, list, priority"),
    ('[[placement]]\ncallback = "pvpanic"\n', 1, "no list: a placement needs callback"),
    ('[[placement]]\ncallback = "pvpanic"\nlist = "kmsg_dumper"\npriority = []\n', 4,
     "priority [] is not an integer"),
    ('placement = [{callback = "pvpanic", list = "nolist"}]\n', 1, "unknown list 'nolist'"),
    ('cpus = 2\n\n[[placement]]\ncallback = "pvpanic"\nlist = "nolist"\n', 5,
     "unknown list 'nolist' for policy linux-6.1"),
    # user callbacks: the line of the key at fault, one name per callback
    ('[[callback]]\nname = "a"\n[[callback]]\nname = "b"\nneeds = ["vmbus:x"]\n', 5,
     "[[callback]] #2: need 'vmbus:x': vmbus takes no argument"),
    ('[[callback]]\nname = "a"\npriority = 1\neffects = ["hang:5"]\n', 4, "hang takes no argument"),
    ('[[callback]]\nname = "a"\n[[callback]]\nname = "a"\n', 4,
     "name 'a' is given to another [[callback]] already"),
    ('[[callback]]\nname = "a"\nmax_reason = []\n', 3, "unknown max_reason []"),
    ('[[callback]]\nname = "a"\nsource = 3\n', 3, "source 3 is not a string"),
    ('callback = [{name = "a"}, 3]\n', 1, "callback #2 must be a table"),
    # parameters: a value of the wrong type, and a refused value in an inline table
    ('cpus = 2\nparams = {panic = 1.5}\n', 2, "params.panic = 1.5: a boot parameter's value"),
    ('cpus = 2\nparams = {panic = [1]}\n', 2, "not an array"),
    ('cpus = 2\nparams = {panic = 1, panic_print = 999}\n', 2, "999 is out of range"),
    # the engine's checks, at the line of their key (was the first line with a quoted token)
    ('name = "a"\n# cpus\n\ncpus = 0\n', 4, "cpus=0 out of range 1..64"),
    ('name = "a"\n\npath_bound_ms = 0\n', 3, "path_bound_ms=0 out of range"),
    ('name = "x86"\narch = "vax"\n', 2, "unknown arch 'vax'"),
    ('cpus = 1.5\n', 1, "cpus must be an integer, got 1.5"),
    ('kdump = 1\n', 1, "kdump must be true or false, got 1"),
    # syntax: the line, also at the end of the document
    ('cpus = 2\npolicy = "a"\npolicy = "b"', 3, "Cannot overwrite a value"),
])
def test_errors_name_the_line_of_the_key(tmp_path: Path, text: str, line: int,
                                         fragment: str) -> None:
    code, _, err = run_file(tmp_path, text)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"panicpath: error: {tmp_path / 's.toml'}:{line}: "), err
    assert fragment in err


def test_a_superscript_digit_in_a_spin_is_refused_not_a_traceback(tmp_path: Path) -> None:
    """`spin:²` passed str.isdigit() and crashed the run in int() once the callback ran."""
    code, _, err = run_file(tmp_path, 'params = {crash_kexec_post_notifiers = 1}\n'
                                      '[[callback]]\nname = "x"\neffects = ["spin:\u00b2"]\n')
    assert code == 2 and ":4: [[callback]] #1: effect 'spin:\u00b2' needs milliseconds" in err


def test_placements_of_the_files_own_callbacks_and_byte_order_marks(tmp_path: Path) -> None:
    code, out, err = run_file(tmp_path, b'\xef\xbb\xbfparams = {crash_kexec_post_notifiers = 1}\n'
                                        b'[[callback]]\nname = "mine"\neffects = ["print:hi"]\n'
                                        b'[[placement]]\ncallback = "mine"\n'
                                        b'list = "kmsg_dumper"\n')
    assert code == 0, err
    ran = [(e["event"], e["kind"]) for e in json.loads(out)["trace"]]
    assert ("mine", "kmsg_dumper") in ran and ("mine", "notifier") not in ran  # moved


def test_scenario_from_dict_without_text_names_where() -> None:
    with pytest.raises(ScenarioFileError, match=r"^<scenario>: unknown key 'x'"):
        scenario_from_dict({"x": 1})
