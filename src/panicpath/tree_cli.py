"""``--tree PATH`` on run, check and compare, and ``compare --baseline BASE``.

A tree (a kernel source directory or tarball) is the policy its ``panic()`` derives plus
its scanned callbacks (scan/tree_model.py), made known for the command as a policy file's
policy is (policies/policy_file.py ``policy_files``). The options are added by decorators
that hand their values to the command through the click context, so each command's own
options and signature stay as they are.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from panicpath.names import one_line

META = "panicpath.tree"
F = TypeVar("F", bound=Callable[..., Any])


def _stash(names: tuple[str, ...]) -> Callable[[F], F]:
    """Move the named parameters out of the callback's arguments into ctx.meta[META]."""
    def wrap(f: F) -> F:
        @functools.wraps(f)
        def inner(*args: Any, **kwargs: Any) -> Any:
            meta = click.get_current_context().meta.setdefault(META, {})
            for n in names:
                meta[n] = kwargs.pop(n, None)
            return f(*args, **kwargs)
        return inner  # type: ignore[return-value]
    return wrap


if TYPE_CHECKING:
    _ParamType = click.ParamType[str]
else:  # generic at run time only from click 8.2 on
    _ParamType = click.ParamType


class TreePath(_ParamType):
    """`--tree`'s value: a path that exists (what it holds is checked when it is read)."""

    name = "a kernel source tree or a .tar[.xz|.gz|.bz2] tarball"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> str:
        text = str(value)
        if not Path(text).exists():
            self.fail(f"{text!r}: no such file or directory; give a kernel source tree or a "
                      "tarball", param, ctx)
        return text


class BaselineValue(_ParamType):
    """`--baseline`'s value (which of the four it is is decided by baseline_kind)."""

    name = "a kernel tree, a tarball, a policy file or a policy name"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> str:
        return str(value)


TREE_HELP = ("Use the policy derived from this kernel tree's panic() (a source directory or "
             "a tarball) and its scanned callbacks (docs/scan.md); cached by the tree's "
             "identity.")


def tree_option(f: F) -> F:
    """`--tree PATH` (run, check)."""
    f = _stash(("tree",))(f)
    return click.option("--tree", "tree", default=None, metavar="PATH",
                        type=TreePath(), help=TREE_HELP)(f)


def compare_tree_options(f: F) -> F:
    """`--tree PATH` and `--baseline BASE` (compare)."""
    f = _stash(("tree", "baseline"))(f)
    f = click.option("--baseline", "baseline", default=None, metavar="BASE",
                     type=BaselineValue(),
                     help="Review --tree (or the one --policy-file) against BASE: a kernel "
                          "tree, a tarball, a policy file or a policy name. Per property, the "
                          "configurations the change fixes and breaks, smallest first.")(f)
    return click.option("--tree", "tree", default=None, metavar="PATH", type=TreePath(),
                        help=TREE_HELP + " Joins the policies compared.")(f)


def option(name: str) -> Any:
    """The value of a stashed option in this command (None when not given)."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return None
    return ctx.meta.get(META, {}).get(name)


@dataclass
class Trees:
    """The policies a command uses and the scanned callbacks of each."""

    loaded: list[Any]
    """Policies of --policy-file, then of the trees (registered by name)."""
    tree_policy: str | None = None
    baseline: str | None = None
    proposal: str | None = None
    callbacks: dict[str, tuple[tuple[str, str, Any], ...]] = field(default_factory=dict)
    """Policy -> (arch, hypervisor, callback) of its tree."""
    models: dict[str, Any] = field(default_factory=dict)
    placements: dict[str, tuple[tuple[str, str, int], ...]] = field(default_factory=dict)
    """Policy -> its tree's placements of catalog callbacks (TreeModel.placements)."""

    def space_overrides(self) -> tuple[tuple[str, tuple[str, str, int]], ...]:
        """For check.space.Space.policy_overrides."""
        return tuple((pol, o) for pol, entries in self.placements.items() for o in entries)

    def space_callbacks(self) -> tuple[tuple[str, str, str, Any], ...]:
        """For check.space.Space.machine_callbacks."""
        return tuple((pol, a, h, cb) for pol, entries in self.callbacks.items()
                     for a, h, cb in entries)


def _bad(msg: str) -> NoReturn:
    from panicpath.commands import bad_input

    bad_input(msg)


def _model(path: str, what: str) -> Any:
    from panicpath.check.compare import default_workers
    from panicpath.scan.sources import ScanInputError
    from panicpath.scan.tree_model import load_tree

    try:
        return load_tree(path, jobs=default_workers())
    except ScanInputError as e:  # TreeError, DeriveError, SourceError are ScanInputErrors
        _bad(f"{what} {path}: {e}" if not str(e).startswith(str(path)) else f"{what}: {e}")
    except Exception as e:  # a parser or archive failure must still be one line
        from panicpath.scan.kernel_sources import SourceError

        if isinstance(e, SourceError | OSError | ValueError):
            _bad(f"{what} {path}: {e}")
        raise


def _entries(model: Any, policy: str) -> tuple[tuple[str, str, Any], ...]:
    from panicpath.scan.sources import ScanInputError
    from panicpath.scan.tree_model import tree_space_callbacks

    try:
        return tuple((a, h, cb) for _, a, h, cb in tree_space_callbacks(policy, model))
    except ScanInputError as e:
        _bad(str(e))


def baseline_kind(value: str) -> str:
    """'tree', 'file' or 'name' for a --baseline value; exit 2 when it is none of them."""
    from panicpath.policies import POLICIES
    from panicpath.scan.sources import TAR_SUFFIXES

    p = Path(value)
    if p.is_dir() or (p.is_file() and value.endswith(TAR_SUFFIXES)):
        return "tree"
    if p.is_file():
        return "file"
    if value in POLICIES:
        return "name"
    _bad(f"--baseline {value!r}: not a kernel tree, a tarball, a policy file or a policy "
         f"name; valid names: {', '.join(POLICIES)}")


def use_trees(policy_files: Sequence[str] = ()) -> Trees:
    """Load --tree and --baseline (when the command has them) with the --policy-file files,
    register their policies for the command (one line and exit 2 for a bad one), and say
    which policy is the proposal and which the baseline."""
    from panicpath.commands import use_policy_files

    tree, baseline = option("tree"), option("baseline")
    if baseline is not None and tree is None and len(policy_files) != 1:
        _bad("--baseline reviews one proposal against it: give --tree PATH or one "
             "--policy-file FILE")
    extra: list[tuple[str, Any]] = []
    models: dict[str, Any] = {}
    files = list(policy_files)
    tree_name = None
    if tree is not None:
        m = _model(tree, "--tree")
        tree_name = m.policy().name
        extra.append((f"--tree {tree}", m.policy(tree_name)))
        models[tree_name] = m
    kind = baseline_kind(baseline) if baseline is not None else ""
    if tree_name is not None and kind in ("name", "file"):
        extra[0] = (extra[0][0], _same_drivers(extra[0][1], baseline, kind))
    if kind == "tree":
        bm = _model(baseline, "--baseline")
        name = bm.policy().name
        if name == tree_name:
            name = f"{name}-base"
        extra.append((f"--baseline {baseline}", bm.policy(name)))
        models[name] = bm
    elif kind == "file":
        files.append(baseline)
    loaded = use_policy_files(tuple(files), extra)
    out = Trees(loaded=loaded, tree_policy=tree_name, models=models)
    if baseline is not None:
        names = [p.name for p in loaded]
        out.baseline = baseline if kind == "name" else (
            names[len(policy_files)] if kind == "file" else extra[-1][1].name)
        out.proposal = tree_name if tree_name is not None else loaded[0].name
        if out.proposal == out.baseline:
            _bad(f"--baseline {baseline}: the same policy ({out.baseline!r}) as the one "
                 "reviewed")
    for name, m in models.items():
        out.callbacks[name] = _entries(m, name)
        out.placements[name] = m.placements
    if tree_name is not None and out.baseline is not None and out.baseline not in models:
        # A policy file or a built-in as the base: the same machines, the tree's drivers,
        # so that what differs is panic() only.
        out.callbacks[out.baseline] = _entries(models[tree_name], out.baseline)
        out.placements[out.baseline] = models[tree_name].placements
    return out


def _same_drivers(p: Any, baseline: str, kind: str) -> Any:
    """The tree's policy with the drivers' forms of a policy (not a tree) of the same release
    it is reviewed against. The derivation does not read which release's drivers a kernel
    carries (docs/scan.md: Debian's 6.1.192 carries 6.3's Hyper-V notifiers, linux-6.1 says
    drivers_version = "6.3"), so without this a review of a 6.1 patch against linux-6.1
    would count the drivers' difference as the patch's."""
    from dataclasses import replace

    from panicpath.policies import POLICIES
    from panicpath.policies.policy_file import PolicyFileError, load_policy_file

    if kind == "name":
        base = POLICIES[baseline]
    else:
        try:
            base = load_policy_file(baseline)
        except PolicyFileError as e:
            _bad(str(e))
    if base.version != p.version or p.catalog_version is not None \
            or base.catalog_version is None:
        return p
    click.echo(f"panicpath: note: --tree {one_line(option('tree'))}: policy {p.name!r} "
               f"registers the drivers in the forms {base.name} has (drivers_version "
               f"{base.catalog_version[0]}.{base.catalog_version[1]}, the same release)",
               err=True)
    return replace(p, catalog_version=base.catalog_version)


def one_policy(policy: str | None) -> tuple[str | None, Trees | None]:
    """For run and check: the --tree's policy name (None without --tree), registered; an
    explicit --policy naming another is refused."""
    tree = option("tree")
    if tree is None:
        return None, None
    trees = use_trees()
    assert trees.tree_policy is not None
    if policy is not None and policy != trees.tree_policy:
        _bad(f"--policy {policy} and --tree {one_line(tree)} (policy {trees.tree_policy!r}): "
             "give one of them")
    return trees.tree_policy, trees


__all__ = ["Trees", "baseline_kind", "compare_tree_options", "one_policy", "option",
           "tree_option", "use_trees"]
