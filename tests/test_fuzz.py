"""Bad input never crashes and never passes silently: every command's options and every file
format, fuzzed with hypothesis (issue 14).

Each generated invocation either runs and exits as documented (0; 12 for a violated check;
1 for a stale `answers --check` or a replay that no longer fails the same way) or prints
one line on stderr and exits 2. Never a Python exception, never an accepted value that the
declarations refuse. The README's test command runs few examples per test (a few seconds
in all); `pytest tests/test_fuzz.py --hypothesis-profile=fuzz` runs 1,000 each.

Lab commands are fuzzed with `--dry-run` (the same parsing and checks, then the model's
prediction instead of a boot), so a generated scenario that happens to be valid does not
start QEMU.
"""

from __future__ import annotations

import functools
import json
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import tomli_w
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from panicpath.arch import ARCHES
from panicpath.catalog import DRIVERS
from panicpath.cli import SUBCOMMANDS, main
from panicpath.faults import FAULTS
from panicpath.model.params import PARAMS
from panicpath.model.scenario import HYPERVISORS
from panicpath.policies import POLICIES
from panicpath.properties import PROPERTIES

EXAMPLES = settings.default.max_examples if settings.default.max_examples > 100 else 12
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 100,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

WORK = Path(tempfile.mkdtemp(prefix="panicpath-fuzz-"))


# --- invoking and judging ----------------------------------------------------------------

def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(main, args, catch_exceptions=True)


def judge(r: Result, args: list[str], ok: tuple[int, ...] = (0,)) -> None:
    """Documented exit code, or one line and exit 2; never an exception."""
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise AssertionError(f"panicpath {args!r} raised {r.exception!r}") from r.exception
    if r.exit_code == 2:
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, f"panicpath {args!r}: {len(lines)} lines on stderr:\n{r.stderr}"
        assert "Traceback" not in r.stderr
    else:
        assert r.exit_code in ok, f"panicpath {args!r}: exit {r.exit_code}\n{r.stderr[-500:]}"


# --- generated values --------------------------------------------------------------------

NAMES = sorted({*POLICIES, *ARCHES, *HYPERVISORS, *DRIVERS, *FAULTS, *PROPERTIES, *PARAMS,
                "x86_64", "linux-6.1", "pvpanic"})
junk = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=24)
numbers = st.one_of(st.integers(-(2**70), 2**70).map(str),
                    st.integers(-5, 300).map(str),
                    st.integers(0, 2**40).map(hex),
                    st.floats(allow_nan=True).map(str))
name_like = st.one_of(st.sampled_from(NAMES),
                      st.tuples(st.sampled_from(NAMES), junk).map("".join),
                      st.tuples(junk, st.sampled_from(NAMES)).map("".join))
values = st.one_of(name_like, numbers, junk, st.just(""))


ray_addresses = st.one_of(
    st.sampled_from(["127.0.0.1:1", "[::1]:1", "127.0.0.1:0", "localhost:65536", "ray://h:1",
                     ":6379", "auto:", "10.0.0.1"]),
    values.filter(lambda v: v.strip() != "" and ":" not in v and not v.startswith("-")))
"""`--ray` values that fail fast: malformed, or an address where no Ray head listens (a
valid address would start or reach a Ray; `compare --ray` itself is tests/check/test_ray.py,
and without Ray installed any value is the install hint and exit 2)."""


@st.composite
def param_values(draw: st.DrawFn) -> str:
    name = draw(st.one_of(st.sampled_from(sorted(PARAMS)), name_like))
    return f"{name}={draw(values)}" if draw(st.booleans()) else name


@st.composite
def fault_values(draw: st.DrawFn) -> str:
    name = draw(st.one_of(st.sampled_from(sorted(FAULTS)), name_like))
    if draw(st.booleans()):
        return name
    return f"{name}={draw(st.one_of(values, st.sampled_from(['pvpanic', 'pvpanic_lock'])))}"


@st.composite
def paths(draw: st.DrawFn) -> str:
    """A path that is missing, a directory, a special file, or a file of random bytes."""
    kind = draw(st.sampled_from(["missing", "dir", "devnull", "file", "nested"]))
    if kind == "missing":
        return str(WORK / "no" / "such" / "file.toml")
    if kind == "dir":
        return str(WORK)
    if kind == "devnull":
        return "/dev/null"
    p = WORK / f"f{draw(st.integers(0, 10**9))}.txt"
    if kind == "nested":
        return str(p / "below-a-file")
    p.write_bytes(draw(st.binary(max_size=200)))
    return str(p)


def strategy_for(opt: click.Option) -> st.SearchStrategy[str]:
    """Values to try for one option, from its declaration (and its name for the
    vocabulary options)."""
    name = opt.name or ""
    if name == "params":
        return param_values()
    if name == "faults":
        return fault_values()
    if name == "ray_address":
        return ray_addresses
    if name in ("tree", "baseline"):  # a kernel tree, a tarball (or a policy for --baseline)
        return st.one_of(paths(), st.just(fixtures()["tree"]), values,
                         *([st.sampled_from(["linux-6.1", "linux-3.11"])]
                           if name == "baseline" else []))
    if isinstance(opt.type, click.Path):
        return paths()
    if isinstance(opt.type, click.Choice):
        return st.one_of(st.sampled_from([str(c) for c in opt.type.choices]), values)
    if isinstance(opt.type, click.types.IntParamType):
        small = st.integers(-3, 9).map(str)  # --workers/--jobs: no hundreds of processes
        return st.one_of(small, junk) if name in ("workers", "jobs") else st.one_of(small,
                                                                                     numbers)
    return values


# --- every command, with a fast valid base invocation -------------------------------------

@functools.cache
def fixtures() -> dict[str, str]:
    """Valid files the base invocations read: a trace, a lab scenario, a tiny tree."""
    out = WORK / "fixtures"
    out.mkdir(exist_ok=True)
    trace = out / "cx.itf.json"
    r = invoke(["check", "--policy", "linux-3.16", "--property", "vmcore-complete", "--arch",
                "x86_64", "--trace-out", str(trace)])
    assert r.exit_code == 12, r.stderr
    lab = out / "lab.toml"
    lab.write_text(LAB_SCENARIO)
    labdir = out / "labdir"
    labdir.mkdir(exist_ok=True)
    (labdir / "one.toml").write_text(LAB_SCENARIO)
    tree = out / "tree" / "kernel"
    tree.mkdir(parents=True, exist_ok=True)
    (tree / "panic.c").write_text(
        "static int f(struct notifier_block *nb, unsigned long e, void *p) { return 0; }\n"
        "static struct notifier_block nb = { .notifier_call = f, .priority = 1 };\n"
        "static int __init i(void) {\n"
        "\tatomic_notifier_chain_register(&panic_notifier_list, &nb);\n\treturn 0;\n}\n"
        "void panic(const char *fmt, ...)\n{\n\tlocal_irq_disable();\n"
        "\tatomic_notifier_call_chain(&panic_notifier_list, 0, buf);\n}\n")
    (out / "tree" / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 1\n")
    return {"trace": str(trace), "lab": str(lab), "labdir": str(labdir),
            "tree": str(out / "tree")}


LAB_SCENARIO = '''name = "fuzz"
[crash_kernel]
loaded = true
[boot]
crash_kexec_post_notifiers = true
panic_print = 16
[[notifier]]
name = "high"
priority = 200
[[kmsg_dumper]]
name = "dumper"
'''


def base(command: str) -> tuple[list[str], list[tuple[str, str]], tuple[int, ...]]:
    """(positional words, (option, value) pairs, documented exit codes) of a fast valid
    invocation of `command`; a fuzzed option replaces the pair of the same option."""
    fx = fixtures()
    small_q = [("--policy", "linux-3.11"), ("--property", "vmcore-captured"),
               ("--arch", "s390"), ("--max-faults", "0")]
    table: dict[str, tuple[list[str], list[tuple[str, str]], tuple[int, ...]]] = {
        "run": (["run", "--json"], [], (0,)),
        "compare": (["compare", "--no-faults", "--json"],
                    [("--policy", "linux-3.11"), ("--arch", "s390"), ("--workers", "1"),
                     ("--tree", fx["tree"])], (0,)),
        "check": (["check"], small_q, (0, 12)),
        "export promela": (["export", "promela"],
                           [*small_q, ("-o", str(WORK / "out.pml"))], (0,)),
        "replay": (["replay", fx["trace"]], [], (0, 1)),
        "scan": (["scan", fx["tree"], "--json", "--no-cache"],
                 [("--jobs", "1"), ("--policy-out", str(WORK / "derived.toml"))], (0,)),
        "lab run": (["lab", "run", fx["lab"], "--dry-run"], [], (0,)),
        "lab campaign": (["lab", "campaign", fx["labdir"], "--dry-run"], [], (0,)),
        "lab kernels": (["lab", "kernels", "--json"], [], (0,)),
        "lab matrix": (["lab", "matrix", fx["labdir"], "--dry-run"], [], (0,)),
        "answers": (["answers", "--check"], [("--output", str(WORK / "answers.md"))], (0, 1)),
        "inputs": (["inputs", "--check"], [("--output", str(WORK / "inputs.md"))], (0, 1)),
        "policies": (["policies"], [("--dump", "linux-3.11")], (0,)),
        "drivers": (["drivers"], [], (0,)),
        "faults": (["faults"], [], (0,)),
        "properties": (["properties"], [], (0,)),
        "arches": (["arches"], [], (0,)),
    }
    return table[command]


def leaf_commands() -> dict[str, click.Command]:
    """Every subcommand of `panicpath`, by its space-separated path."""
    out: dict[str, click.Command] = {}

    def walk(cmd: click.Command, path: list[str]) -> None:
        if isinstance(cmd, click.Group):
            ctx = click.Context(cmd)
            for n in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, n)
                assert sub is not None
                walk(sub, [*path, n])
        else:
            out[" ".join(path)] = cmd

    walk(main, [])
    return out


def value_options() -> list[tuple[str, str]]:
    """(command, option) for every option of every command that takes a value."""
    return [(path, p.opts[0]) for path, cmd in leaf_commands().items() for p in cmd.params
            if isinstance(p, click.Option) and not p.is_flag and p.opts[0] != "--help"]


def test_every_command_and_option_is_fuzzed() -> None:
    """A new subcommand needs a base invocation here; a new option is fuzzed by
    test_option_values from its declaration."""
    assert set(leaf_commands()) == {
        "run", "compare", "check", "export promela", "replay", "scan", "lab run",
        "lab campaign", "lab kernels", "lab matrix", "answers", "inputs", "policies", "drivers", "faults",
        "properties", "arches"}
    assert {c.split()[0] for c in leaf_commands()} == set(SUBCOMMANDS)
    for command in leaf_commands():
        base(command)
    assert len(value_options()) >= 30
    for command in ("compare", "check"):  # an optional value: fuzzed by ray_addresses
        assert _option(command, "--ray").name == "ray_address"


def _option(command: str, opt: str) -> click.Option:
    for p in leaf_commands()[command].params:
        if isinstance(p, click.Option) and p.opts[0] == opt:
            return p
    raise KeyError(opt)


@FUZZ
@given(data=st.data())
def test_option_values(data: st.DataObject) -> None:
    """One command, one of its value options, a generated value (or two, for a repeatable
    option), everything else valid."""
    command, opt = data.draw(st.sampled_from(value_options()))
    words, pairs, ok = base(command)
    option = _option(command, opt)
    given_values = data.draw(st.lists(strategy_for(option), min_size=1,
                                      max_size=2 if option.multiple else 1))
    args = list(words)
    for o, v in pairs:
        if o != opt:
            args += [o, v]
    for v in given_values:
        args += [opt, v]
    r = invoke(args)
    judge(r, args, ok)
    if r.exit_code == 0 and command == "run":
        _no_substitution(json.loads(r.stdout), opt, given_values)


def _no_substitution(doc: dict[str, Any], opt: str, given_values: list[str]) -> None:
    """What `run` ran is what it was given, and the declarations accept it."""
    scn = doc["scenario"]
    if opt == "--param":
        for v in given_values:
            name, _, raw = v.partition("=")
            assert name in PARAMS
            assert scn["params"][name] in (raw, *(x.partition("=")[2] for x in given_values
                                                  if x.partition("=")[0] == name))
            if PARAMS[name].kind in ("bool", "int"):
                PARAMS[name].parse(raw)
            elif PARAMS[name].kind == "choice":
                assert raw in PARAMS[name].choices
    if opt == "--fault":
        assert scn["faults"] == given_values
        for v in given_values:
            name, _, arg = v.partition("=")
            if arg and FAULTS[name].arg == "cpu":
                assert 1 <= int(arg) < scn["cpus"]


# --- every file format -------------------------------------------------------------------

TOML_VALUES = st.recursive(
    st.one_of(st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False), st.booleans(),
              junk, name_like),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(["name", "x", "list"]), inner,
                                            max_size=2)),
    max_leaves=6)
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.booleans(), junk,
              name_like),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(junk, inner, max_size=2)),
    max_leaves=6)


def _locations(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _locations(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _locations(v, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn, doc: dict[str, Any], leaf: st.SearchStrategy[Any]) -> Any:
    """`doc` with one place changed: a value of another type or out of range, an unknown
    name, a key removed or added."""
    doc = json.loads(json.dumps(doc))
    where = draw(st.sampled_from(_locations(doc)[1:]))
    parent: Any = doc
    for step in where[:-1]:
        parent = parent[step]
    last = where[-1]
    action = draw(st.sampled_from(["replace", "name", "number", "delete", "add"]))
    if action == "replace":
        parent[last] = draw(leaf)
    elif action == "name":
        parent[last] = draw(name_like)
    elif action == "number":
        parent[last] = draw(st.one_of(st.integers(-(2**63), 2**63 - 1),
                                      st.sampled_from([-1, 0, 1, 9, 2**31, 2**31 - 1])))
    elif action == "delete":
        del parent[last]
    elif isinstance(parent, dict):
        parent[draw(name_like)] = draw(leaf)
    else:
        parent.append(draw(leaf))
    return doc


@st.composite
def file_bytes(draw: st.DrawFn, valid: dict[str, Any], fmt: str,
               leaf: st.SearchStrategy[Any] | None = None) -> bytes:
    """Random bytes, a truncated or non-UTF-8 copy of a valid file, one with a byte-order
    mark, or a valid file of the format with one place mutated (to a `leaf` value)."""
    dump: Callable[[Any], str] = (tomli_w.dumps if fmt == "toml"
                                  else lambda d: json.dumps(d, indent=1))
    text = dump(valid).encode()
    kind = draw(st.sampled_from(["bytes", "truncated", "latin1", "bom", "mutated", "mutated",
                                 "mutated"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "bom":
        return b"\xef\xbb\xbf" + text
    if kind == "truncated":
        return text[:draw(st.integers(0, max(0, len(text) - 1)))]
    if kind == "latin1":
        at = draw(st.integers(0, len(text)))
        return text[:at] + b"\xe9\xff" + text[at:]
    if leaf is None:
        leaf = TOML_VALUES if fmt == "toml" else JSON_VALUES
    doc = draw(mutated(valid, leaf))
    if fmt == "toml":
        try:
            return tomli_w.dumps(doc).encode()
        except (TypeError, ValueError):
            return text  # a mutation TOML cannot write (a top-level array): the valid file
    return json.dumps(doc).encode()


def _write(data: bytes, name: str) -> Path:
    p = WORK / name
    p.write_bytes(data)
    return p


SCENARIO = {"policy": "linux-6.1", "arch": "x86_64", "hypervisor": "hyperv", "kdump": True,
            "cpus": 3, "drivers": ["hyperv-fb", "pvpanic"],
            "faults": ["slow-host=50000", "ipi-deaf-cpu=2", "hanging-callback=pvpanic"],
            "params": {"crash_kexec_post_notifiers": 1, "panic_print": "0x10", "panic": 10},
            "callback": [{"name": "mine", "list": "panic_notifier_list", "priority": "INT_MIN",
                          "needs": ["vmbus", "lock:my_lock"], "effects": ["print:hello"]}],
            "placement": [{"callback": "hyperv-fb", "list": "panic_notifier_list",
                           "priority": 7}]}


@FUZZ
@given(data=file_bytes(SCENARIO, "toml"))
def test_scenario_files(data: bytes) -> None:
    path = _write(data, "scenario.toml")
    args = ["run", str(path), "--json"]
    r = invoke(args)
    judge(r, args)
    if r.exit_code == 0:
        import tomllib

        given_doc = tomllib.loads(data.decode().removeprefix("\ufeff"))
        ran = json.loads(r.stdout)["scenario"]
        for key in ("policy", "arch", "hypervisor", "kdump", "cpus", "faults"):
            if key in given_doc:
                assert ran[key] == given_doc[key], key
        for k, v in given_doc.get("params", {}).items():
            assert ran["params"][k] == ({True: "1", False: "0"}.get(v, str(v))
                                        if isinstance(v, bool) else str(v))


POLICY_FILE = {
    "name": "fuzz", "kind": "proposal", "version": "6.1", "drivers_version": "6.3",
    "title": "t", "base": "linux-6.1", "doc": "d",
    "features": ["post_notifiers_option", "crash_smp_send_stop"], "sources": ["s"],
    "lists": ["my_list"], "params": ["panic_notifiers_level"],
    "param_space": {"panic_notifiers_level": ["0", "2"], "panic_print": [0, 16]},
    "program": [{"step": "panic_entry"}, {"step": "my_list"},
                {"step": "crash_kexec", "when": "!post"}, {"step": "notifier_chain"},
                {"step": "crash_kexec", "when": "post"}, {"step": "panic_timeout"}],
    "placement": [{"callback": "pvpanic", "list": "my_list", "priority": "INT_MIN + 1",
                   "also": True}]}


@FUZZ
@given(data=file_bytes(POLICY_FILE, "toml"),
       command=st.sampled_from(["run", "compare", "check", "export promela", "replay"]))
def test_policy_files(data: bytes, command: str) -> None:
    """`--policy-file` on every command that takes it; a file that loads runs as its own
    name, and the registry is the built-ins again afterwards."""
    from panicpath.policies import BUILTIN

    path = str(_write(data, "policy.toml"))
    q = ["--property", "vmcore-captured", "--arch", "s390", "--max-faults", "0"]
    args = {"run": ["run", "--policy-file", path, "--json"],
            "compare": ["compare", "--policy-file", path, "--policy", "linux-3.11", "--arch",
                        "s390", "--no-faults", "--json", "--workers", "1"],
            "check": ["check", "--policy-file", path, *q],
            "export promela": ["export", "promela", "--policy-file", path, *q, "-o",
                               str(WORK / "out.pml")],
            "replay": ["replay", fixtures()["trace"], "--policy-file", path]}[command]
    r = invoke(args)
    judge(r, args, {"check": (0, 12), "replay": (0, 1)}.get(command, (0,)))
    assert dict(BUILTIN) == POLICIES
    if r.exit_code == 0 and command == "run":
        import tomllib

        given_doc = tomllib.loads(data.decode().removeprefix("\ufeff"))
        assert json.loads(r.stdout)["scenario"]["policy"] == given_doc["name"]


SPACE = {"policies": ["linux-6.1", "piccoli-levels"], "arches": ["x86_64"],
         "hypervisors": ["none", "hyperv"], "kdump": [True], "post_notifiers": ["0", "1"],
         "faults": [[], ["slow-host"], ["concurrent-panic=1"]], "cpus": 2,
         "driver_sets": {"x86_64": [[], ["pvpanic"]]}, "params": {"panic_print": [0, 16]},
         "policy_params": True, "hyperv_params": False, "host_panic_action": "pause",
         "callback": [{"name": "mine", "priority": 3}],
         "placement": [{"callback": "pvpanic", "list": "panic_notifier_list", "priority": 1}]}


@FUZZ
@given(data=file_bytes(SPACE, "toml"))
def test_space_files(data: bytes) -> None:
    path = _write(data, "space.toml")
    args = ["compare", "--space", str(path), "--policy", "linux-3.11", "--arch", "s390",
            "--no-faults", "--json", "--workers", "1"]
    judge(invoke(args), args)


LAB = {"name": "fuzz", "description": "d", "kernel": {"flavour": "cloud-amd64"},
       "crash_kernel": {"loaded": True, "reserve": "256M"},
       "boot": {"crash_kexec_post_notifiers": True, "panic_print": 16, "panic": 0,
                "extra": ["loglevel=7"]},
       "notifier": [{"name": "high", "priority": 200, "behaviour": "spin", "spin_ms": 10}],
       "kmsg_dumper": [{"name": "dumper"}], "devices": {"pvpanic": True, "ramoops": False},
       "trigger": {"kind": "sysrq"}, "machine": {"cpus": 2, "memory_mib": 1024},
       "timeouts": {"boot": 60, "panic": 30}}


@FUZZ
@given(data=file_bytes(LAB, "toml"), campaign=st.booleans())
def test_lab_scenario_files(data: bytes, campaign: bool) -> None:
    if campaign:
        d = WORK / "campaign"
        d.mkdir(exist_ok=True)
        _write(data, "campaign/s.toml")
        args = ["lab", "campaign", str(d), "--dry-run"]
    else:
        args = ["lab", "run", str(_write(data, "lab.toml")), "--dry-run", "--json"]
    judge(invoke(args), args)


@functools.cache
def _trace_doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(Path(fixtures()["trace"]).read_text())
    doc["states"] = doc["states"][:2]  # mutations of a short trace reach #meta more often
    return doc


@FUZZ
@given(data=st.data())
def test_itf_traces(data: st.DataObject) -> None:
    raw = data.draw(file_bytes(_trace_doc(), "json"))
    args = ["replay", str(_write(raw, "trace.json"))]
    judge(invoke(args), args, (0, 1))


SCAN_DOC = {"tree": "t", "callbacks": [
    {"callback": "my_panic", "list": "panic_notifier_list", "priority": 5, "file": "a.c",
     "line": 7, "features": [{"kind": "trylock", "line": 8, "detail": "l: spin_trylock()"},
                             {"kind": "spin", "line": 9, "detail": "2 ms: mdelay(2)"}]},
    {"callback": "my_dump", "list": "kmsg_dumper", "priority": None, "file": "b.c", "line": 9,
     "features": []}]}


@FUZZ
@given(data=file_bytes(SCAN_DOC, "json"))
def test_scan_documents(data: bytes) -> None:
    args = ["run", "--from-scan", str(_write(data, "scan.json")), "--json"]
    judge(invoke(args), args)


@FUZZ
@given(data=st.binary(max_size=400),
       name=st.sampled_from(["t.tar", "t.tar.xz", "t.tar.gz", "t.tar.bz2", "t.c", "t"]))
def test_scan_paths(data: bytes, name: str) -> None:
    """A file that is not a kernel tree or tarball, under any of the names scan reads."""
    args = ["scan", str(_write(data, name)), "--json", "--no-cache"]
    judge(invoke(args), args)


PANIC_LINES = ["bool crash_kexec_post_notifiers;", "void panic(const char *fmt, ...)", "{",
               "\tbool post = crash_kexec_post_notifiers;", "\tlocal_irq_disable();",
               "\tif (!post)", "\t\t__crash_kexec(NULL);", "\telse {", "\t\tsmp_send_stop();",
               "\t}", "\tatomic_notifier_call_chain(&panic_notifier_list, 0, buf);",
               "\tkmsg_dump(KMSG_DUMP_PANIC);", "\tif (panic_timeout != 0)",
               "\t\temergency_restart();", "}"]


@FUZZ
@given(lines=st.lists(st.one_of(st.sampled_from(PANIC_LINES), junk), max_size=20),
       data=st.binary(max_size=60))
def test_scan_policy_out_panic_c(lines: list[str], data: bytes) -> None:
    """`scan TREE --policy-out F` on a kernel/panic.c of shuffled, cut or junk lines: a
    policy or one line and exit 2 (issue 17: a panic.c that does not parse, a panic() with
    no recognisable step)."""
    root = Path(tempfile.mkdtemp(dir=WORK))
    (root / "kernel").mkdir()
    (root / "Makefile").write_text("VERSION = 7\nPATCHLEVEL = 3\n")
    (root / "kernel" / "panic.c").write_bytes("\n".join(lines).encode() + data)
    out = root / "p.toml"
    args = ["scan", str(root), "--no-cache", "--json", "--policy-out", str(out)]
    r = invoke(args)
    judge(r, args)
    if r.exit_code == 0:
        assert invoke(["run", "--policy-file", str(out), "--json"]).exit_code == 0


@FUZZ
@given(lines=st.lists(st.one_of(st.sampled_from(PANIC_LINES), junk), max_size=20),
       data=st.binary(max_size=60), tarball=st.booleans())
def test_tree_panic_c(lines: list[str], data: bytes, tarball: bool) -> None:
    """`compare --tree T --baseline linux-6.1` on a tree (or its tarball) whose panic.c is
    shuffled, cut or junk: a review, or one line and exit 2; when the tree gives one, `run
    --tree` runs it."""
    root = Path(tempfile.mkdtemp(dir=WORK)) / "linux"
    (root / "kernel").mkdir(parents=True)
    (root / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 1\n")
    (root / "kernel" / "panic.c").write_bytes("\n".join(lines).encode() + data)
    tree = root
    if tarball:
        tree = root.parent / "linux.tar.gz"
        with tarfile.open(tree, "w:gz") as tf:
            tf.add(root, arcname="linux")
    args = ["compare", "--tree", str(tree), "--baseline", "linux-6.1", "--arch", "s390",
            "--no-faults", "--json"]
    r = invoke(args)
    judge(r, args)
    if r.exit_code == 0:
        assert "review" in json.loads(r.stdout)
        assert invoke(["run", "--tree", str(tree), "--json"]).exit_code == 0


# --- the shipped files, mutated (issue 19: the bad-input audit) ---------------------------

EDGE_VALUES = st.sampled_from([
    2**70, -(2**70), 2**63 - 1, -1, 0, float("inf"), float("-inf"), float("nan"), 1.5, 1e400,
    "", " ", "\uff16", "\u00b2", "6.1\n", "x\n", "../x", "a/b", "a b", 'q"q', "\u00e9",
    "0x10", "010", "INT_MIN - 1", True, False, [], [[]], {}, {"x": 1}, [{"x": 1}]])
"""Values of other types and out of range: beyond int64, infinities, NaN, Unicode digits,
trailing newlines, path separators, quotes, empty strings and containers."""
MUTANT_VALUES = st.one_of(EDGE_VALUES, TOML_VALUES)


def _shipped_lab() -> list[Path]:
    from panicpath.lab.scenario import builtin_scenarios_dir

    return sorted(builtin_scenarios_dir().glob("*.toml"))


def _readme_scenario() -> dict[str, Any]:
    """The scenario file README.md shows (`panicpath run scenario.toml`)."""
    import re
    import tomllib

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"A scenario file:\n\n```toml\n(.*?)```", readme, re.S)
    assert block is not None, "README.md lost its scenario example"
    return tomllib.loads(block.group(1))


def _file_line(err: str, path: Path, prefix: str) -> int:
    """The line of `path` an error names (it must name one, within the file)."""
    import re

    m = re.match(rf"{re.escape(prefix)}{re.escape(str(path))}:(\d+): ", err)
    assert m is not None, f"no {path}:LINE in {err!r}"
    line = int(m.group(1))
    assert 1 <= line <= max(1, len(path.read_bytes().split(b"\n"))), err
    return line


def test_the_readme_scenario_and_shipped_lab_scenarios_are_valid() -> None:
    """The bases of the mutation tests below run as they are."""
    import tomllib

    path = _write(tomli_w.dumps(_readme_scenario()).encode(), "readme.toml")
    assert invoke(["run", str(path), "--json"]).exit_code == 0
    for p in _shipped_lab():
        tomllib.loads(p.read_text(encoding="utf-8"))
        r = invoke(["lab", "run", str(p), "--dry-run", "--json"])
        assert r.exit_code == 0, r.stderr


@FUZZ
@given(data=st.data())
def test_shipped_lab_scenarios_mutated(data: st.DataObject) -> None:
    """Each shipped lab scenario with one value replaced by one of another type or out of
    range, a key deleted or an unknown one added (or the file cut, re-encoded, given a
    BOM): accepted, and then checked and predicted by the model without an exception
    (`lab run --dry-run`, nothing boots), or refused in one line naming the file and the
    line, exit 2."""
    import tomllib

    from panicpath.lab.predict import predict
    from panicpath.lab.scenario import ScenarioError, load_scenario

    base = data.draw(st.sampled_from(_shipped_lab()))
    raw = data.draw(file_bytes(tomllib.loads(base.read_text(encoding="utf-8")), "toml",
                               MUTANT_VALUES))
    path = _write(raw, f"lab-{base.name}")
    try:
        sc = load_scenario(path)
    except ScenarioError as e:
        assert "\n" not in str(e)
        _file_line(str(e), path, "")
    else:
        predict(sc)  # a scenario the reader accepts is one the model can predict
    args = ["lab", "run", str(path), "--dry-run", "--json"]
    r = invoke(args)
    judge(r, args)
    if r.exit_code == 2:
        _file_line(r.stderr, path, "panicpath lab: ")


@FUZZ
@given(data=st.data())
def test_readme_scenario_mutated(data: st.DataObject) -> None:
    """README.md's scenario file, mutated as above: runs, or one line naming the file and
    the line, exit 2."""
    raw = data.draw(file_bytes(_readme_scenario(), "toml", MUTANT_VALUES))
    path = _write(raw, "readme-mutant.toml")
    args = ["run", str(path), "--json"]
    r = invoke(args)
    judge(r, args)
    if r.exit_code == 2:
        _file_line(r.stderr, path, "panicpath: error: ")
