"""The ``mockserver`` command: serve the API (waitress, or granian), check fixtures, print
the OpenAPI document."""
from __future__ import annotations

import ctypes
import difflib
import functools
import gc
import logging
import multiprocessing
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import click

from .app import LATER, create_app
from .cluster import Cluster, ClusterError
from .fixtures import FixtureError, default_cache_dir, load_dir
from .persist import PersistError
from .wsgi import create_server

DEFAULT_PORT = 30222  # the Local API's port (apilocal.md)
ALL_INTERFACES = ("0.0.0.0", "::", "")
SERVERS = ("waitress", "granian")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Open Dental Tasks mock server."""


ADDRESS_OPTIONS = (
    click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind."),
    click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535),
                 help="Port; 0 picks a free one (printed in the banner)."),
)
OFFICE_OPTIONS = (  # `cluster` hands these to each of its `serve` processes
    click.option("--fixtures", type=click.Path(exists=True, file_okay=False),
                 help="Fixtures folder (default: the shipped dataset)."),
    click.option("--no-cache", is_flag=True,
                 help="Validate the fixtures on every start instead of reusing the dataset cache."),
    click.option("--keys", type=click.Path(exists=True, dir_okay=False),
                 help="Keys file (YAML): permissions, disabled keys, office versions."),
    click.option("--strict-keys", is_flag=True, help="Reject key pairs the keys file does not list."),
    click.option("--lenient-content-type", is_flag=True,
                 help="Accept requests without Content-Type: application/json."),
    click.option("--local-api", is_flag=True, help="Local-API paging: up to 1000 items per page."),
    click.option("--threads", type=click.IntRange(1, 512),
                 help="Threads running requests, per process  [default: 1; 8 with --data-dir]"),
    click.option("--data-dir", type=click.Path(file_okay=False),
                 help="Keep offices in this folder across restarts (every write is fsynced)."),
    click.option("--no-admin", is_flag=True,
                 help="Turn off the control API (/__admin): for servers shared by several people."),
)


def _with(options: tuple) -> Any:
    def decorate(command: Any) -> Any:
        for option in reversed(options):
            command = option(command)
        return command
    return decorate


def _server_factory(name: str) -> Any:
    """What builds a server of kind *name* from (app, host, port, threads); a clean error
    if granian is not installed or cannot fork."""
    if name == "waitress":
        return create_server
    try:
        from .fast import GranianServer
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != "granian":
            raise
        raise click.ClickException("--server granian needs granian: "
                                   "pip install 'opendental-tasks-mock[fast]'") from None
    if "fork" not in multiprocessing.get_all_start_methods():
        raise click.ClickException("--server granian needs fork (Linux, macOS): use waitress here")
    return GranianServer


def _announce(host: str, port: int, what: str) -> str:
    """Print the banner (and a warning for all interfaces); the API's base URL."""
    base = f"http://{_url_host(host if host not in ALL_INTERFACES else '127.0.0.1')}:{port}/api/v1"
    if host in ALL_INTERFACES:
        click.echo(f"WARNING: listening on all interfaces ({host or '*'}): anyone who can reach "
                   "this machine can read and change every office.", err=True)
    click.echo(f"{what} listening on {base}")
    click.echo(f"Try: curl -H 'Authorization: ODFHIR a/b' -H 'Content-Type: application/json' "
               f"{base}/tasks/1408", nl=True)
    sys.stdout.flush()
    return base


def default_threads(data_dir: str | None) -> int:
    """Worker threads when --threads is not given.

    One is fastest in memory, on either server: more contend for the GIL (about 1.45x
    the requests per second with one, bench/), and waitress then runs requests on its I/O
    thread (wsgi.InlineDispatcher). On waitress a delay fault sends requests to a worker
    thread and gets a spare one for its wait; granian's pool is fixed, so there a delayed
    request holds up the others unless --threads is given. With --data-dir a write waits
    for its fsync, and concurrent writes share one only if several threads are writing.
    """
    return 8 if data_dir else 1


def _start_later(jobs: list[Callable[[], None]]) -> None:
    """Run the app's later jobs (writing a dataset validated afresh to the cache: 70 ms at
    100,000 tasks) in a thread, so that the server answers without waiting for them. Not a
    daemon thread: an exit waits for a write in progress."""
    def run() -> None:
        for job in jobs:
            job()
    if jobs:
        threading.Thread(target=run, name="mockserver-later").start()


def _release_free_memory() -> None:
    """Give the heap's free pages back after loading (glibc only): 15-20 MiB at 100,000 tasks."""
    if not sys.platform.startswith("linux"):
        return
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # another C library (musl) has none
        return
    trim(0)


@main.command()
@_with(ADDRESS_OPTIONS + OFFICE_OPTIONS)
@click.option("--server", "server_name", type=click.Choice(list(SERVERS)), default="waitress",
              show_default=True, help="HTTP server: waitress answers even malformed HTTP with "
              "JSON; granian is about 1.5 times as fast (needs the fast extra).")
@click.option("--quiet", is_flag=True, help="No access log.")
def serve(host: str, port: int, fixtures: str | None, no_cache: bool, keys: str | None,
          strict_keys: bool, lenient_content_type: bool, local_api: bool, threads: int | None,
          data_dir: str | None, no_admin: bool, server_name: str, quiet: bool) -> None:
    """Serve the API with waitress (or granian) until interrupted."""
    make_server = _server_factory(server_name)  # before the (maybe long) fixture load
    config: dict[str, Any] = {"FIXTURES": fixtures, "KEYS": keys, "STRICT_KEYS": strict_keys,
                              "FIXTURE_CACHE": None if no_cache else default_cache_dir(),
                              "FIXTURE_CACHE_LATER": True,  # once answering: see _start_later
                              "LENIENT_CONTENT_TYPE": lenient_content_type, "LOCAL_API": local_api,
                              "DATA_DIR": data_dir, "ADMIN_API": not no_admin}
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(message)s")
    # Loading makes hundreds of thousands of objects that all stay alive: collecting
    # meanwhile would only walk them again and again (a third of the start at 100,000).
    gc.disable()
    try:
        app = create_app(config)
        logging.getLogger("mockserver.access").setLevel(logging.WARNING if quiet else logging.INFO)
        # "Task queue depth is N" on every request that waits: normal with few worker threads
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        app.extensions["mockserver"].warm()
        # The seed's records live as long as the server: keep them out of the cyclic
        # garbage collector's full passes, which otherwise walk every task (p99 at 100,000).
        gc.freeze()
        _release_free_memory()
    except (FixtureError, PersistError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        gc.enable()
    try:
        server = make_server(app, host=host, port=port, threads=threads or default_threads(data_dir))
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    _announce(host, server.effective_port,
              "Open Dental Tasks mock" + ("" if server_name == "waitress" else f" ({server_name})"))
    # SIGTERM (docker stop, the cluster command) stops as cleanly as Ctrl-C (granian
    # installs its own handlers for both, and returns from run() once its worker is gone)
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Where waitress hands requests to worker threads (--threads above 1, a delay fault),
    # its I/O thread and the workers pass the GIL to and fro on every request: a shorter
    # switch interval than 5 ms keeps either from waiting on the other (bench/).
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    # What offices write lives on (the tables of their rows, and the index lists they
    # change: at 100,000 tasks about 50 KiB per office that wrote), and each full collection
    # walks it again (the rows themselves are untracked: store.untrack_record). Full
    # collections ten times rarer; the young generations are collected as usual.
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], thresholds[2] * 10)
    start_later = functools.partial(_start_later, app.extensions[LATER])
    if server_name == "granian":
        server.after_start = start_later  # once its worker is forked: no thread may cross a fork
    else:
        start_later()  # waitress answers from run() on
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        sys.setswitchinterval(switch_interval)
        gc.set_threshold(*thresholds)
        signal.signal(signal.SIGTERM, previous)
        server.close()
        if app.extensions["mockserver"].journal is not None:
            app.extensions["mockserver"].journal.close()


@main.command()
@click.option("--processes", default=2, show_default=True, type=click.IntRange(1, 64),
              help="serve processes; each office lives in exactly one.")
@_with(ADDRESS_OPTIONS + OFFICE_OPTIONS)
def cluster(processes: int, host: str, port: int, data_dir: str | None, **office: Any) -> None:
    """Serve with PROCESSES processes behind nginx, routed by customer key, until interrupted.

    With --data-dir, process N keeps its offices in DATA_DIR/process-N: restart with the
    same --processes so every office finds its process again.
    """
    serve_args: list[str] = []
    for name, value in office.items():  # the office options, as `serve` spells them
        flag = "--" + name.replace("_", "-")
        if value is True:
            serve_args.append(flag)
        elif value not in (None, False):
            serve_args += [flag, str(value)]
    running = Cluster(processes, host, port, serve_args, data_dir)
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        url = running.start()
        _announce(host, int(url.rsplit(":", 1)[1]), f"Open Dental Tasks mock cluster ({processes} processes)")
        while running.alive():  # until Ctrl-C, SIGTERM or a process that dies
            time.sleep(0.2)
        raise click.ClickException(f"a process of the cluster stopped\n{running.errors()}")
    except ClusterError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        running.stop()


@main.command("check-fixtures")
@click.argument("folder", type=click.Path(file_okay=False))
def check_fixtures(folder: str) -> None:
    """Validate a fixtures FOLDER; exit 1 with the file, record and field at fault."""
    try:
        dataset = load_dir(folder)
    except FixtureError as exc:
        raise click.ClickException(str(exc)) from None
    counts = ", ".join(f"{dataset.count(kind)} {kind}" for kind in dataset.records)
    click.echo(f"{folder}: OK ({counts}; version {dataset.version})")


@main.command("openapi")
@click.option("--check", "check_path", is_flag=False, flag_value="openapi.yaml", default=None,
              type=click.Path(dir_okay=False), metavar="[PATH]",
              help="Exit 1 if PATH (default openapi.yaml) differs from the generated document.")
@click.option("--output", "output_path", type=click.Path(dir_okay=False, writable=True),
              help="Write the document to this file instead of printing it.")
def openapi_command(check_path: str | None, output_path: str | None) -> None:
    """Print the OpenAPI document generated from the code (or check or write a copy)."""
    from .openapi import render

    document = render()
    if check_path is not None:
        path = Path(check_path)
        if not path.is_file():
            raise click.ClickException(f"{path} does not exist; write it with "
                                       f"`mockserver openapi --output {path}`.")
        committed = path.read_text(encoding="utf-8")
        if committed != document:
            diff = difflib.unified_diff(committed.splitlines(), document.splitlines(),
                                        f"{path} (committed)", "generated", lineterm="", n=1)
            shown = "\n".join(list(diff)[:40])
            raise click.ClickException(
                f"{path} is out of date: the code generates a different document. "
                f"Regenerate it with `mockserver openapi --output {path}`.\n{shown}")
        click.echo(f"{path}: up to date")
    elif output_path is not None:
        Path(output_path).write_text(document, encoding="utf-8")
        click.echo(f"wrote {output_path}")
    else:
        click.echo(document, nl=False)


@main.command("generate-fixtures")
@click.option("--tasks", "count", default=1000, show_default=True, type=click.IntRange(0, 10_000_000),
              help="Number of tasks.")
@click.option("--output", required=True, type=click.Path(file_okay=False),
              help="Folder to write the YAML files into (created if needed).")
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed (same seed, same files).")
def generate_fixtures(count: int, output: str, seed: int) -> None:
    """Write a synthetic fixtures folder with relative timestamps over the last 60 days."""
    from .generate import generate, write_dir

    write_dir(generate(count, seed), output)
    click.echo(f"{output}: {count} tasks (seed {seed})")
