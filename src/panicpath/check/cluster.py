"""`--ray [ADDRESS]`: the chunks of `compare` and `check` as Ray tasks (issue 18).

Ray is an optional extra (``pip install 'panicpath[ray]'``), imported only when `--ray`
is given. A command opens one `session` (``ray.init()``: start or join a local Ray, or
``ray.init(address=...)``: join a running cluster), sends each chunk of configurations
that its process pool would get as one task (`map_chunks`), and folds the results back
in chunk order, so the output is that of a local run. Policies of `--policy-file` reach
the tasks as data (`file_policies`), not through a fork. A task lost with its node (a
worker killed, a node gone) is run again elsewhere by Ray (`RETRIES`); each chunk's
result is taken once, from its own object reference, so nothing is counted twice.
docs/cluster.md says how to run on a real cluster.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from typing import TYPE_CHECKING, Any, TypeVar

import click

from panicpath.policies import BUILTIN, POLICIES, Policy

INSTALL_HINT = "--ray needs Ray, an optional extra: pip install 'panicpath[ray]'"
RETRIES = 8
"""How often Ray runs a chunk again when its worker or node dies (Ray's `max_retries`)."""
CONNECT_TIMEOUT_S = 5.0
"""How long a cluster address may take to accept a TCP connection before `--ray` gives up
(Ray's own connection attempts retry for minutes)."""
LOCAL = "local"
"""What `--ray` means without a value: ray.init() (join the Ray running on this machine,
or start one for the command and stop it at the end)."""

_HOST_PORT = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}))"
                        r":(?P<port>[0-9]{1,5})$")

T = TypeVar("T")
R = TypeVar("R")


class ClusterError(Exception):
    """A `--ray` problem: Ray not installed, a malformed or unreachable address, a cluster
    that lost every task's retries. One line, exit 2."""


def parse_address(value: str) -> tuple[str, int] | None:
    """`(host, port)` of a cluster address `HOST:PORT` (`[v6]:PORT` for IPv6); None for the
    local Ray (`local`, or `auto`: the cluster this machine belongs to). ClusterError for
    anything else."""
    if value in (LOCAL, "", "auto"):
        return None
    if value.startswith("ray://"):
        raise ClusterError(f"--ray {value}: Ray Client addresses (ray://) are not supported; "
                           "run panicpath on a node of the cluster with --ray HEAD_IP:PORT "
                           "(the port of `ray start --head --port`)")
    m = _HOST_PORT.match(value)
    if m is None or not 0 < int(m["port"]) < 65536:
        raise ClusterError(f"--ray {value!r}: expected HOST:PORT, the address of a Ray head "
                           "(`ray start --head --port=6379` on it), e.g. 10.0.0.5:6379, or no "
                           "value for a local Ray")
    return m["host"].strip("[]"), int(m["port"])


HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes(9)
"""What an HTTP/2 client sends first (RFC 9113 3.4): the preface, then an empty SETTINGS frame
(a 9-byte header of length 0, type 4). A gRPC server, as a Ray head's GCS is, answers with a
SETTINGS frame of its own."""


def _answers_grpc(conn: socket.socket, timeout: float) -> bool:
    """Whether the server on `conn` answers the HTTP/2 preface with a SETTINGS frame within
    `timeout` seconds (a Ray head does at once; a port that is not Ray stays silent, closes or
    answers something else, and ray.init() would retry against it for minutes)."""
    conn.settimeout(timeout)
    try:
        conn.sendall(HTTP2_PREFACE)
        header = b""
        while len(header) < 9:
            chunk = conn.recv(9 - len(header))
            if not chunk:
                return False
            header += chunk
    except OSError:
        return False
    return header[3] == 4


def _reachable(value: str, host: str, port: int) -> None:
    """ClusterError unless something accepts a TCP connection at host:port in time and
    answers there as a gRPC server does (unless Ray's TLS is on, $RAY_USE_TLS: then the
    handshake is TLS first and only the connection is checked)."""
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S) as conn:
            if os.environ.get("RAY_USE_TLS", "0").lower() in ("0", "false", ""):
                grpc = _answers_grpc(conn, CONNECT_TIMEOUT_S)
            else:
                grpc = True
    except OSError as e:
        why = e.strerror or type(e).__name__
        raise ClusterError(f"--ray {value}: cannot reach a Ray head at {host}:{port} ({why}); "
                           f"start one there with `ray start --head --port={port}`") from None
    if not grpc:
        raise ClusterError(f"--ray {value}: {host}:{port} accepts connections but does not "
                           f"answer as a Ray head (no gRPC handshake within "
                           f"{CONNECT_TIMEOUT_S:.0f} s); give the port of `ray start --head "
                           "--port=PORT` there")


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ClusterError(INSTALL_HINT) from None
    return ray


@contextmanager
def session(address: str, resources: Mapping[str, float] | None = None) -> Iterator[None]:
    """Ray, connected for the block: ``ray.init()`` for the local Ray (`LOCAL`), else
    ``ray.init(address=...)``. A local Ray that this call starts declares `resources` (custom
    resources such as the lab's ``qemu`` slots; a Ray joined keeps what its nodes declared).
    Ray's logging stays off standard output (and its workers' output off the driver's). On
    exit, ``ray.shutdown()`` disconnects, and stops the Ray this call started, if it started
    one."""
    ray = import_ray()
    target = parse_address(address)
    if target is not None:
        _reachable(address, *target)
    elif address in (LOCAL, "") and os.environ.get("RAY_ADDRESS"):
        # ray.init() joins $RAY_ADDRESS: the same check, under that name
        env = os.environ["RAY_ADDRESS"]
        try:
            where = parse_address(env)
        except ClusterError as e:
            raise ClusterError(f"$RAY_ADDRESS {env!r} (what --ray joins): "
                               f"{str(e).split(': ', 1)[-1]}") from None
        if where is not None:
            _reachable(f"(RAY_ADDRESS={env})", *where)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no report to Ray's servers
    # no metrics agent to wait for: a local Ray starts in about 6 s instead of 10 on 2 cores
    os.environ.setdefault("RAY_enable_metrics_collection", "0")
    # Ray's driver threads print the cluster's error messages (a task retried, a node marked
    # dead) on sys.stdout: while Ray runs, that is stderr, so stdout stays the command's.
    with redirect_stdout(sys.stderr):
        yield from _connected(ray, address, target, resources)


def _connected(ray: Any, address: str, target: tuple[str, int] | None,
               resources: Mapping[str, float] | None) -> Iterator[None]:
    where = None if target is None and address in (LOCAL, "") else address
    kwargs: dict[str, Any] = {"log_to_driver": False, "include_dashboard": False,
                              "configure_logging": True, "logging_level": logging.ERROR}
    try:
        try:
            ray.init(address=where, **({"resources": dict(resources)}
                                       if resources and where is None else {}), **kwargs)
        except ValueError as e:
            if "resources must not be provided" not in str(e):
                raise
            ray.init(address=where, **kwargs)  # a local Ray already runs: joined as it is
    except Exception as e:  # Ray raises ConnectionError, RuntimeError, ValueError, ...
        ray.shutdown()
        label = "--ray" if address in (LOCAL, "") else f"--ray {address}"
        raise ClusterError(f"{label}: cannot connect: {' '.join(str(e).split())}") from None
    try:
        yield
    finally:
        ray.shutdown()


def file_policies() -> dict[str, Policy]:
    """The policies known by name now that are not the package's own (those of
    `--policy-file`): what a task on another machine must be given."""
    return {n: p for n, p in POLICIES.items() if BUILTIN.get(n) is not p}


def _with_policies(extra: Mapping[str, Policy], fn: Callable[[list[T]], list[R]],
                   chunk: list[T]) -> list[R]:
    """Run one chunk in a Ray worker with the driver's file policies known by name (the
    registry is restored afterwards: a worker runs many tasks)."""
    if not extra:
        return fn(chunk)
    from panicpath.inputs import param_owners

    saved = dict(POLICIES)
    try:
        POLICIES.update(extra)
        param_owners.cache_clear()
        return fn(chunk)
    finally:
        POLICIES.clear()
        POLICIES.update(saved)
        param_owners.cache_clear()


def map_chunks(fn: Callable[[list[T]], list[R]], chunks: list[list[T]]) -> Iterator[list[R]]:
    """`fn` over each chunk as one Ray task (inside `session`), results in chunk order as
    they can be taken. An exception raised by `fn` is raised here as itself; tasks lost
    with a worker or a node are rerun by Ray up to `RETRIES` times, then ClusterError."""
    ray = import_ray()
    from ray.exceptions import RayError, RayTaskError

    extra = ray.put(file_policies())
    task = ray.remote(max_retries=RETRIES)(_with_policies)
    refs = [task.remote(extra, fn, chunk) for chunk in chunks]
    taken = 0
    try:
        for ref in refs:
            try:
                out: list[R] = ray.get(ref)
            except RayTaskError as e:
                cause = e.cause
                if isinstance(cause, Exception):
                    raise cause from None
                raise
            except RayError as e:
                raise ClusterError(f"--ray: a task failed {RETRIES + 1} times: "
                                   f"{' '.join(str(e).split())}") from None
            taken += 1
            yield out
    finally:
        for ref in refs[taken:]:  # stopped early (an error, ^C): nothing left running
            ray.cancel(ref, force=True)


if TYPE_CHECKING:
    _ParamType = click.ParamType[str]
else:  # generic at run time only from click 8.2 on
    _ParamType = click.ParamType


class RayAddress(_ParamType):
    """`--ray`'s value, checked when the command line is parsed (a malformed address is a
    usage error: one line, exit 2)."""

    name = "HOST:PORT of a Ray head, or no value for a local Ray"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> str:
        text = str(value)
        try:
            parse_address(text)
        except ClusterError as e:
            why = str(e).removeprefix(f"--ray {text}: ").removeprefix(f"--ray {text!r}: ")
            self.fail(f"{text!r}: {why}", param, ctx)
        return text


F = TypeVar("F", bound=Callable[..., None])


def ray_option_with(help_text: str) -> Callable[[F], F]:
    """`--ray [ADDRESS]` with a command's own help (the value is checked as `RayAddress`)."""
    def decorate(f: F) -> F:
        return click.option(
            "--ray", "ray_address", type=RayAddress(), is_flag=False, flag_value=LOCAL,
            default=None, metavar="[ADDRESS]", help=help_text)(f)
    return decorate


ray_option = ray_option_with(
    "Run the chunks of configurations as Ray tasks (pip install 'panicpath[ray]'): "
    "without a value on the local Ray (ray.init(): joined if one runs, else started "
    "for this command and stopped after it); with HOST:PORT on the cluster whose "
    "head is there (docs/cluster.md). The output is that of a local run; --workers "
    "is unused.")
"""`--ray [ADDRESS]` for `compare` and `check`."""
