"""panicpath.policies.policy_file: a policy's data as TOML, written and read back, used by the
engine, the fast explorer and the Promela export as the built-in it was written from."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from panicpath.check.fast import explore
from panicpath.check.promela import ExportError, promela
from panicpath.check.search import Question, check
from panicpath.engine import simulate
from panicpath.model.scenario import Scenario
from panicpath.policies import BUILTIN, POLICIES
from panicpath.policies.base import FEATURES, Policy
from panicpath.policies.policy_file import (
    ListWalk,
    Placement,
    Placements,
    PolicyFileError,
    dump_policy,
    dumpable_names,
    load_policy_file,
    policy_files,
    policy_from_dict,
)

SRC = Path(__file__).resolve().parents[2] / "src" / "panicpath"

DUMPABLE = ["linux-3.11", "linux-3.15", "linux-3.16", "linux-4.5", "linux-4.9", "linux-5.0",
            "linux-5.18", "linux-6.1", "linux-6.3", "linux-6.6", "linux-7.3", "linux-mainline",
            "biederman"]
"""The kernel versions are data (a program of model steps); so is biederman (6.1's program
without crash_kexec_post_notifiers). Every other proposal has steps, placements or a set-up
of its own Python code (policies/proposals/)."""


def _load(text: str, where: str = "p.toml") -> Policy:
    return policy_from_dict(tomllib.loads(text), where, text)


def test_the_dumpable_policies_are_those_without_code() -> None:
    assert dumpable_names() == DUMPABLE


@pytest.mark.parametrize("name", DUMPABLE)
def test_a_dumped_policy_loads_back_equal(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.toml"
    path.write_text(dump_policy(BUILTIN[name]), encoding="utf-8")
    assert load_policy_file(path) == BUILTIN[name]


@pytest.mark.parametrize("name", sorted(set(BUILTIN) - set(DUMPABLE)))
def test_a_policy_with_its_own_code_is_not_dumped(name: str) -> None:
    with pytest.raises(PolicyFileError, match=rf"policy '{name}' cannot be written .* Python "
                                              r"code \(panicpath\.[a-z_.]+"):
        dump_policy(BUILTIN[name])


def test_every_feature_is_declared() -> None:
    """The built-ins name only declared features, and so does the model when it tests one
    (Run.has): a policy file can name each and nothing else."""
    for p in BUILTIN.values():
        assert p.features <= set(FEATURES), p.name
    tested = {m for f in SRC.rglob("*.py")
              for m in re.findall(r'\.has\("([a-z0-9_]+)"\)', f.read_text(encoding="utf-8"))}
    assert tested and tested <= set(FEATURES)


FILE = '''name = "mine"
version = "6.1"
drivers_version = "6.3"
features = ["post_notifiers_option", "crash_smp_send_stop", "panic_other_cpus_shutdown"]
lists = ["my_pre_kdump_list"]
program = [
  { step = "panic_entry" },
  { step = "my_pre_kdump_list" },
  { step = "crash_kexec", when = "!post" },
  { step = "panic_other_cpus_shutdown" },
  { step = "notifier_chain" },
  { step = "kmsg_dump" },
  { step = "crash_kexec", when = "post" },
  { step = "panic_timeout" },
]

[[placement]]
callback = "hyperv-vmbus-unload"
list = "my_pre_kdump_list"
priority = "INT_MIN + 1"
'''


def test_placements_and_a_list_of_the_policy_run_in_the_engine() -> None:
    """The VMbus unload moved to the file's own list, walked before __crash_kexec: it runs
    before the handover without crash_kexec_post_notifiers, and not on the notifier list."""
    p = _load(FILE)
    assert p.steps == {"my_pre_kdump_list": ListWalk("my_pre_kdump_list")}
    assert p.place == Placements((Placement("hyperv-vmbus-unload", "my_pre_kdump_list",
                                            -(2**31) + 1),))
    with policy_files_of(p):
        r = simulate(Scenario(policy="mine", hypervisor="hyperv", platform_drivers=True))
    events = [e.event for e in r.trace]
    assert "hyperv-vmbus-unload" in events
    assert events.index("hyperv-vmbus-unload") < events.index("__crash_kexec")
    assert events.count("hyperv-vmbus-unload") == 1
    also = FILE + "also = true\n"
    with policy_files_of(_load(also)):
        r = simulate(Scenario(policy="mine", hypervisor="hyperv", kdump=False))
    assert [e.event for e in r.trace].count("hyperv-vmbus-unload") == 2


def test_a_file_with_placements_dumps_and_loads_back() -> None:
    p = _load(FILE + "also = true\n")
    assert _load(dump_policy(p)) == p


class policy_files_of:
    """Registers policies (as --policy-file does) for a `with` block."""

    def __init__(self, *policies: Policy) -> None:
        self.policies = policies
        self.saved: dict[str, Policy] = {}

    def __enter__(self) -> None:
        self.saved = dict(POLICIES)
        POLICIES.update({p.name: p for p in self.policies})

    def __exit__(self, *exc: object) -> None:
        POLICIES.clear()
        POLICIES.update(self.saved)


def test_the_registry_is_restored_after_the_block(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(FILE.replace('"mine"', '"linux-6.1"'), encoding="utf-8")
    with policy_files([str(path)]) as (loaded, notes):
        assert POLICIES["linux-6.1"] is loaded[0] and list(POLICIES) == list(BUILTIN)
        assert len(notes) == 1 and "replaces it" in notes[0]
    assert dict(BUILTIN) == POLICIES
    with pytest.raises(PolicyFileError, match="already given by"), \
            policy_files([str(path), str(path)]):
        pass
    assert dict(BUILTIN) == POLICIES


@pytest.mark.parametrize("name", ["linux-3.16", "linux-4.9", "linux-6.1", "biederman"])
def test_the_checker_and_the_fast_explorer_read_a_file_policy_as_the_builtin(name: str) -> None:
    """The same question on the built-in and on its dump (under another name) gets the
    same verdict, the same numbers of states and the same counterexample."""
    other = _load(dump_policy(BUILTIN[name]).replace(f'name = "{name}"', 'name = "from-file"'))
    with policy_files_of(other):
        for prop in ("vmcore-complete", "host-informed"):
            qs = [Question(policy=n, prop=prop, arches=("x86_64", "mips-octeon"),
                           hypervisors=("none", "hyperv"), max_faults=1)
                  for n in (name, "from-file")]
            a, b = (check(q) for q in qs)
            assert (a.holds, a.generated, a.distinct) == (b.holds, b.generated, b.distinct)
            if a.counterexample is not None and b.counterexample is not None:
                assert a.counterexample.scenario.faults == b.counterexample.scenario.faults
            fa, fb = (explore(q) for q in qs)
            assert (fa.holds, fa.distinct) == (fb.holds, fb.distinct)


@pytest.mark.parametrize("name", DUMPABLE)
def test_the_promela_export_of_a_file_policy_is_the_builtins(name: str) -> None:
    other = _load(dump_policy(BUILTIN[name]).replace(f'name = "{name}"', 'name = "from-file"'))
    q = Question(policy=name, prop="vmcore-captured", arches=("x86_64",), max_faults=1)
    with policy_files_of(other):
        mine = promela(Question(policy="from-file", prop="vmcore-captured",
                                arches=("x86_64",), max_faults=1))
    assert mine.replace("from-file", name) == promela(q)


def test_a_file_policy_with_placements_is_refused_by_promela_as_a_builtin_proposal() -> None:
    with policy_files_of(_load(FILE)), pytest.raises(ExportError, match="own steps or "
                                                                        "placements"):
        promela(Question(policy="mine", prop="vmcore-captured", arches=("x86_64",)))


BAD: list[tuple[str, str, int, str]] = [
    ("unknown step", FILE.replace('"kmsg_dump"', '"kmsg_dumpp"'), 12,
     "unknown step 'kmsg_dumpp' in program; valid: panic_entry, crash_kexec"),
    ("unknown condition", FILE.replace('when = "post"', 'when = "posted"'), 13,
     "unknown condition when = 'posted' for step crash_kexec; valid: \"post\", \"!post\""),
    ("unknown feature", FILE.replace('"crash_smp_send_stop"', '"nmi_stop"'), 4,
     "unknown feature 'nmi_stop' in features; valid: post_notifiers_option"),
    ("unknown key", "colour = 1\n" + FILE, 1, "unknown key 'colour'; valid: name, version"),
    ("a step without its name", FILE.replace('{ step = "panic_timeout" }', '{ when = "post" }'),
     6, "a program entry without a step ({'when': 'post'}): add step = \"NAME\"; valid: "
        "panic_entry"),
    ("unknown step key", FILE.replace('{ step = "panic_entry" }',
                                      '{ step = "panic_entry", if = "post" }'), 7,
     "unknown key 'if' in program; valid: step, when"),
    ("no name", FILE.replace('name = "mine"\n', ""), 1, "no name: add name = "),
    ("a bad name", FILE.replace('"mine"', '"my policy"'), 1, "is not a policy name"),
    ("a version as a number", FILE.replace('version = "6.1"', "version = 6.1"), 2,
     "version must be a string (in quotes), got 6.1; version: required: the kernel release, "
     "\"MAJOR.MINOR\" or \"mainline\""),
    ("a bad drivers_version", FILE.replace('"6.3"', '"6"'), 3,
     "drivers_version '6' is not a kernel release"),
    ("no program", FILE.split("program")[0], 1, "no program: add program = "),
    ("an empty program", FILE.split("program")[0] + "program = []\n", 6,
     "the program has no step"),
    ("a program that is not tables", FILE.split("program")[0] + 'program = ["kmsg_dump"]\n', 6,
     "program must be an array of tables"),
    ("placement of an unknown callback", FILE.replace('"hyperv-vmbus-unload"', '"hv-unload"'),
     18, "placement of unknown callback 'hv-unload'; valid: "),
    ("placement on an unknown list", FILE.replace('list = "my_pre_kdump_list"',
                                                  'list = "my_list"'),
     19, "placement of hyperv-vmbus-unload: unknown list 'my_list'; valid: panic_notifier_list"),
    ("a bad priority", FILE.replace('"INT_MIN + 1"', '"INT_MIN - 1"'), 20,
     "outside the C int range"),
    ("a list named after a step", FILE.replace('lists = ["my_pre_kdump_list"]',
                                               'lists = ["kmsg_dump"]'),
     5, "list 'kmsg_dump': a policy's own list is a new C identifier"),
    ("a kernel parameter in params", FILE.replace("lists =", 'params = ["panic_print"]\nlists ='),
     5, "unknown param 'panic_print' in params; valid: panic_notifier_filter, "
        "panic_notifiers_level"),
    ("a value outside its range", FILE + '\n[param_space]\npanic_print = ["0", "zero"]\n', 23,
     "param_space: param 'panic_print=zero': not an integer; valid:"),
    ("a proposal's parameter not declared", FILE + "\n[param_space]\n"
     'panic_notifiers_level = ["1"]\n', 22,
     "panic_notifiers_level is a proposal's own parameter: add it to params"),
]


@pytest.mark.parametrize(("what", "text", "line", "message"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_file_names_the_file_the_line_and_the_fix(what: str, text: str, line: int,
                                                        message: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyFileError) as e:
        load_policy_file(path)
    assert str(e.value).startswith(f"{path}:{line}: "), str(e.value)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_unreadable_files(tmp_path: Path) -> None:
    p = tmp_path / "p.toml"
    p.write_bytes(b'name = "x\xe9"\n')
    with pytest.raises(PolicyFileError, match=r"p.toml:1: not UTF-8 text; a policy file is a "
                                              "TOML file"):
        load_policy_file(p)
    p.write_text("name = \n", encoding="utf-8")
    with pytest.raises(PolicyFileError, match="fix the TOML syntax"):
        load_policy_file(p)
    with pytest.raises(PolicyFileError, match="cannot read"):
        load_policy_file(tmp_path / "missing.toml")


DOC = Path(__file__).resolve().parents[2] / "docs" / "policy-files.md"


def test_the_example_of_the_docs_loads_and_loses_vmcore_completeness() -> None:
    """docs/policy-files.md: kdump after the notifiers, always, stops the other CPUs with
    smp_send_stop when crash_kexec_post_notifiers is off (panic_other_cpus_shutdown reads
    it), so fewer vmcores are complete than with linux-6.1."""
    from panicpath.check.compare import compare
    from panicpath.check.space import Space

    blocks = re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1
    p = _load(blocks[0], str(DOC))
    assert [op.step for op in p.program].count("crash_kexec") == 1
    with policy_files_of(p):
        cmp = compare(Space(policies=("linux-6.1", p.name), arches=("x86_64", "arm64")),
                      workers=1)
    base, mine = (cmp.cells[(n, "vmcore-complete")] for n in ("linux-6.1", p.name))
    assert mine.held / (mine.held + mine.failed) < base.held / (base.held + base.failed)
