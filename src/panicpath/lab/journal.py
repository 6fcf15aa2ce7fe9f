"""The report of a campaign or matrix as it grows, and `--resume DIR` (issue 18).

A `Journal` holds one JSON object per scenario (campaign.json) or per cell (matrix.json),
keyed by `campaign_key` or `matrix_key`, and rewrites the file after each result (write to
a temporary file, then rename), so an interrupted command leaves every result it got. The
first result of a key is kept and any later one dropped: a cycle run twice (Ray reran it
after losing its node) counts once. `read_done` reads such a file back for `--resume`:
those keys are done, and only the rest of the plan runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path

Doc = dict[str, object]
Key = Hashable


class ResumeError(Exception):
    """`--resume DIR` cannot be read: no report there, or not one this command wrote.
    One line, exit 2."""


def campaign_key(doc: Mapping[str, object]) -> Key:
    """A campaign entry's key: its scenario's name."""
    return str(doc["scenario"])


def matrix_key(doc: Mapping[str, object]) -> Key:
    """A matrix cell's key: (scenario, release, arch)."""
    return (str(doc["scenario"]), str(doc["release"]), str(doc["arch"]))


def read_done(directory: Path, filename: str, key: Callable[[Mapping[str, object]], Key],
              wanted: Sequence[Key]) -> dict[Key, Doc]:
    """The results `directory`/`filename` already holds for the keys in `wanted` (others,
    from scenarios no longer planned, are left out; of two with one key the first is kept).
    ResumeError when the file is missing or is not a list of results with those keys."""
    path = directory / filename
    if not directory.is_dir():
        raise ResumeError(f"--resume {directory}: not a directory; valid: the --out directory "
                          f"of an earlier run (it holds {filename})")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResumeError(f"--resume {directory}: no {filename} there; valid: the --out "
                          "directory of an earlier run of this command") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ResumeError(f"--resume {directory}: {filename} cannot be read: "
                          f"{' '.join(str(e).split())}") from None
    if not isinstance(doc, list):
        raise ResumeError(f"--resume {directory}: {filename} is not a list of results")
    want = set(wanted)
    done: dict[Key, Doc] = {}
    for i, item in enumerate(doc):
        try:
            if not isinstance(item, dict):
                raise TypeError
            k = key(item)
        except (KeyError, TypeError):
            raise ResumeError(f"--resume {directory}: {filename} item {i} is not a result of "
                              "this command (no scenario, release or arch)") from None
        if k in want and k not in done:
            done[k] = item
    return done


def _write_json(path: Path, data: object) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


class Journal:
    """The results of one run in plan order, written to `path` by `write` (the command calls
    it once it can run, so that bad input leaves no file) and after each result."""

    def __init__(self, path: Path, order: Sequence[Key],
                 previous: Mapping[Key, Doc] | None = None) -> None:
        self.path = path
        self.order = list(order)
        self.docs: dict[Key, Doc] = dict(previous or {})

    def __contains__(self, key: Key) -> bool:
        return key in self.docs

    def add(self, key: Key, doc: Doc) -> bool:
        """Record one result and rewrite the file; False (nothing changes) when the key
        already has one."""
        if key in self.docs:
            return False
        self.docs[key] = doc
        self.write()
        return True

    def results(self) -> list[Doc]:
        """The results so far, in plan order."""
        return [self.docs[k] for k in self.order if k in self.docs]

    def write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _write_json(self.path, self.results())
