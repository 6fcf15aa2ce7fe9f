"""TOML inputs: the line of a key however it is written, syntax errors as file:line, a
byte-order mark skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from panicpath.tomlfile import key_line, read_toml

DOC = '''# cpus = 9 in a comment is not the key
policy = "linux-6.1"
cpus = 3
faults = [
  ["x"],
  "[fake]",
]
params = {panic = 1, "panic_print" = 2}
doc = """
[fake]
cpus = 9
"""
[[callback]]
name = "a"
[[callback]]
name = "b"
priority = 3
[kernel]
release = "6.1"
[kernel.sub]
x = 1
"a.b".c = 1
'''


@pytest.mark.parametrize(("path", "line"), [
    (("cpus",), 3), (("faults",), 4), (("params", "panic"), 8), (("params", "panic_print"), 8),
    (("params", "nope"), 8),                  # not written: the table that would hold it
    (("callback",), 13), (("callback", 0, "name"), 14), (("callback", 1, "name"), 16),
    (("callback", 1, "priority"), 17), (("callback", 1, "zzz"), 15),
    (("kernel", "release"), 19), (("kernel",), 18), (("kernel", "sub"), 20),
    (("kernel", "sub", "x"), 21), (("kernel", "sub", "a.b", "c"), 22),
])
def test_key_line_finds_keys_in_tables_arrays_inline_tables_and_dotted_keys(
        path: tuple[str | int, ...], line: int) -> None:
    assert key_line(DOC, path) == line


def test_key_line_skips_comments_strings_and_array_values() -> None:
    """`# cpus = 9`, a multi-line string holding `[fake]` / `cpus = 9`, and an array
    element that looks like a table header are not keys."""
    assert key_line(DOC, ("fake",)) is None
    assert key_line(DOC, ("nope",)) is None
    assert key_line("a = 1\nb.c = 2\n", ("b",)) == 2


def test_lines_are_counted_at_line_feeds_only() -> None:
    """A quoted key or string may hold U+0085, U+2028 or a form feed, which
    str.splitlines() takes for line ends: the key was not found, or the wrong line given."""
    text = 'a = "x\u2028y"\n"k\u0085" = 1\nb = 2\r\nc = 3\n'
    assert key_line(text, ("k\u0085",)) == 2
    assert key_line(text, ("c",)) == 4


def test_key_line_in_inline_arrays_of_tables() -> None:
    text = ('name = "x"\nprogram = [\n  { step = "x" },\n  { step = "y",\n    when = "post" },\n]\n'
            'placement = [{callback = "a"}, {callback = "b", list = "l"}]\n')
    assert key_line(text, ("program", 1, "when")) == 5
    assert key_line(text, ("program", 1, "step")) == 4
    assert key_line(text, ("program", 0)) == 3
    assert key_line(text, ("program", 7)) == 2
    assert key_line(text, ("placement", 1, "list")) == 7


class Bad(ValueError):
    pass


@pytest.mark.parametrize(("text", "expected"), [
    ('a = 1\nb = = 2\n', "f.toml:2: Invalid value (column 5) (fix the TOML syntax)"),
    ('a = 1\na = 2', "f.toml:2: Cannot overwrite a value (at the end of the document)"),
    ('a = 1\nb = [1,\n\n', "f.toml:2: Invalid value (at the end of the document)"),
])
def test_syntax_errors_are_file_line(tmp_path: Path, text: str, expected: str) -> None:
    f = tmp_path / "f.toml"
    f.write_text(text)
    with pytest.raises(Bad) as e:
        read_toml(f, Bad, "")
    assert str(e.value).startswith(f"{tmp_path}/{expected}")


def test_a_byte_order_mark_is_skipped_and_bad_bytes_are_located(tmp_path: Path) -> None:
    f = tmp_path / "f.toml"
    f.write_bytes(b"\xef\xbb\xbfa = 1\n")
    assert read_toml(f, Bad, "")[0] == {"a": 1}
    f.write_bytes(b"a = 1\nb = '\xff'\n")
    with pytest.raises(Bad, match=r"f\.toml:2: not UTF-8 text; x"):
        read_toml(f, Bad, "x")
    with pytest.raises(Bad, match="cannot read: Is a directory"):
        read_toml(tmp_path, Bad, "")


def test_an_endless_device_is_refused_not_read_into_memory() -> None:
    """`run /dev/zero` read for ever (and `--space /dev/urandom`): a bound, one line."""
    with pytest.raises(Bad, match=r"^/dev/zero: cannot read: more than 64 MiB"):
        read_toml("/dev/zero", Bad, "")


def test_a_document_nested_too_deeply_is_one_line_at_its_line(tmp_path: Path) -> None:
    """tomllib recurses per level: 5,000 nested arrays were a RecursionError traceback."""
    f = tmp_path / "f.toml"
    f.write_text('a = 1\ncpus = ' + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(Bad, match=r"f\.toml:2: arrays or tables nested too deeply"):
        read_toml(f, Bad, "")
