"""The ``mockserver`` command: serve the API (granian, or waitress), check fixtures, print
the OpenAPI document."""
from __future__ import annotations

import difflib
import errno
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from . import __version__
from .app import create_app
from .banner import announce
from .cluster import Cluster, ClusterError
from .fixtures import FixtureError, load_dir
from .generate import MAX_TASKS, generate, write_dir
from .keysfile import load_keys
from .persist import PersistError, check_available
from .progress import report
from .store import MAX_OFFICES
from .wsgi import REQUEST_TIMEOUT, WaitressServer, listen

DEFAULT_PORT = 30222  # the Local API's port (apilocal.md)
DEFAULT_THREADS = 1
DATA_DIR_THREADS = 8
SERVERS = ("granian", "waitress")  # the first is the default


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mockserver")
def main() -> None:
    """Open Dental Tasks mock server."""


def option(name: str, *decls: str, **settings: Any) -> Any:
    """``click.option(name, ...)``, also read from the environment variable
    MOCKSERVER_<NAME> (``--data-dir``: MOCKSERVER_DATA_DIR), which ``--help`` shows."""
    variable = "MOCKSERVER_" + name.lstrip("-").upper().replace("-", "_")
    return click.option(name, *decls, envvar=variable, show_envvar=True, **settings)


ADDRESS_OPTIONS = (
    option("--host", default="127.0.0.1", show_default=True, help="Interface to bind."),
    option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535),
                 help="Port; 0 picks a free one (printed in the banner)."),
)
OFFICE_OPTIONS = (  # `cluster` hands these to each of its `serve` processes
    option("--fixtures", type=click.Path(exists=True, file_okay=False),
                 help="Fixtures folder (default: the shipped dataset)."),
    option("--keys", type=click.Path(exists=True, dir_okay=False),
                 help="Keys file (YAML): permissions, disabled keys, office versions."),
    option("--strict-keys", is_flag=True, help="Reject key pairs the keys file does not list."),
    option("--lenient-content-type", is_flag=True,
                 help="Accept requests without Content-Type: application/json."),
    option("--local-api", is_flag=True, help="Local-API paging: up to 1000 items per page."),
    option("--threads", type=click.IntRange(1, 512),
                 help=f"Threads running requests, per process  [default: {DEFAULT_THREADS}; "
                      f"{DATA_DIR_THREADS} with --data-dir]"),
    option("--data-dir", type=click.Path(file_okay=False),
                 help="Keep offices in this folder across restarts (every write is fsynced)."),
    option("--no-admin", is_flag=True,
                 help="Turn off the control API (/__admin): for servers shared by several people."),
    option("--admin-token", metavar="SECRET",
           help="A secret that control calls reaching every office (reset?scope=all) must send "
                "in the X-Mock-Admin-Token header; prefer the environment variable, which no "
                "process list shows."),
    option("--max-offices", type=click.IntRange(1), default=MAX_OFFICES, show_default=True,
           help="Offices (customer keys) held at most; a new key beyond them gets a 503."),
)


def _with(options: tuple) -> Any:
    def decorate(command: Any) -> Any:
        for option in reversed(options):
            command = option(command)
        return command
    return decorate


def default_threads(data_dir: str | None) -> int:
    """Threads running requests when --threads is not given.

    In memory a request holds its thread only while Python runs it, so more threads
    would only take turns with the GIL; but a delay fault's sleep holds its thread, and
    with one thread every other office waits for it. With --data-dir a write waits for
    its fsync, and concurrent writes share one only if several threads are writing.
    """
    return DATA_DIR_THREADS if data_dir else DEFAULT_THREADS


class JsonLines(logging.Formatter):
    """``--log-format json``: one JSON object per line; an access-log record's fields
    (``extra={"request": ...}`` in app.py) as they are."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "request", None) or {"message": record.getMessage()}
        return json.dumps({"time": self.formatTime(record), "logger": record.name, **fields})


def configure_logging(quiet: bool, log_format: str = "text") -> None:
    """The mock's own messages and access log to stderr (``--quiet``: warnings only), as
    text lines or JSON lines.

    Only the ``mockserver`` loggers: the process may have a logging setup of its own.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if log_format == "json" else
                         logging.Formatter("%(asctime)s %(name)s %(message)s"))
    logger = logging.getLogger("mockserver")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logging.getLogger("mockserver.access").setLevel(logging.WARNING if quiet else logging.INFO)


@main.command()
@_with(ADDRESS_OPTIONS + OFFICE_OPTIONS)
@option("--server", "server_name", type=click.Choice(list(SERVERS)), default=SERVERS[0],
              show_default=True, help="HTTP server: granian (Rust) is the faster; waitress is "
              "pure Python (its own answers to malformed HTTP are text/plain).")
@option("--request-timeout", default=REQUEST_TIMEOUT, show_default=True,
        type=click.IntRange(1, 3600), help="Seconds a client has to send a request: its headers "
        "(then the connection is closed), then its body (granian: a JSON 408; waitress closes "
        "the connection). A connection silent that long after a request is closed too.")
@option("--quiet", is_flag=True, help="No access log.")
@option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
        help="Log lines as text, or one JSON object per line (for log collectors).")
@option("--proxy", metavar="URL", help="Forward every /api/v1 request to this API base URL and "
        "answer with its response; mismatches with the OpenAPI document: /__admin/deviations.")
def serve(host: str, port: int, fixtures: str | None, keys: str | None, strict_keys: bool,
          lenient_content_type: bool, local_api: bool, threads: int | None,
          data_dir: str | None, no_admin: bool, admin_token: str | None, max_offices: int,
          server_name: str, request_timeout: int, quiet: bool, log_format: str,
          proxy: str | None) -> None:
    """Serve the API with granian (or waitress) until interrupted."""
    config: dict[str, Any] = {"FIXTURES": fixtures, "KEYS": keys, "STRICT_KEYS": strict_keys,
                              "LENIENT_CONTENT_TYPE": lenient_content_type, "LOCAL_API": local_api,
                              "DATA_DIR": data_dir, "ADMIN_API": not no_admin,
                              "ADMIN_TOKEN": admin_token or None, "MAX_OFFICES": max_offices,
                              "PROXY": proxy}
    threads = threads or default_threads(data_dir)
    configure_logging(quiet, log_format)
    what = f"Open Dental Tasks mock {__version__}" + (
        "" if server_name == SERVERS[0] else f" ({server_name})")
    try:
        if server_name == "granian":
            server = _granian(config, (quiet, log_format), host, port, threads, what,
                              request_timeout)
        else:
            app = serving_app(config)
            server = _waitress(app, host, port, threads, request_timeout)
            announce(host, server.effective_port, what, app)
    except (FixtureError, PersistError) as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        hint = " (choose another --port, or --port 0 for a free one)" \
            if exc.errno == errno.EADDRINUSE else ""
        raise click.ClickException(f"cannot listen on {host}:{port}: {reason}{hint}") from None
    # SIGTERM (docker stop, the cluster command) stops as cleanly as Ctrl-C (granian
    # installs its own handlers for both)
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.close()


def _granian(config: dict[str, Any], logs: tuple[bool, str], host: str, port: int, threads: int,
             what: str, request_timeout: int) -> Any:
    """The granian server. The keys file, the data folder and the port are checked here,
    so that their errors come before anything starts; the worker loads the fixtures as it
    builds the app (loading them here too would double the start and the memory), and
    says what is wrong with them before the banner."""
    from .fast import GranianServer

    if config["FIXTURES"] is not None and not Path(config["FIXTURES"]).is_dir():
        raise FixtureError(f"{config['FIXTURES']}: not a folder of fixtures")
    load_keys(config["KEYS"], strict=config["STRICT_KEYS"])
    if config["DATA_DIR"]:
        check_available(config["DATA_DIR"])
    if port:  # in use: the same clear error as waitress's, not granian's traceback
        listen(host, port).close()
    return GranianServer(config, logs, host, port, threads, what, request_timeout)


def serving_app(config: dict[str, Any]) -> Any:
    """The app `serve` serves (on waitress here, in granian's worker there), with the
    seed's records resolved before the first request rather than during it; the loading
    of large fixtures shows its progress on stderr."""
    app = create_app({**config, "FIXTURES_PROGRESS": report})
    app.extensions["mockserver"].warm()
    return app


def _waitress(app: Any, host: str, port: int, threads: int, request_timeout: int) -> Any:
    """The waitress server, serving *app* in this process."""
    # "Task queue depth is N" on every request that waits: normal with few threads
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    return WaitressServer(app, host, port, threads, request_timeout)


@main.command()
@click.option("--processes", default=2, show_default=True, type=click.IntRange(1, 64),
              help="serve processes; each office lives in exactly one.")
@_with(ADDRESS_OPTIONS + OFFICE_OPTIONS)
def cluster(processes: int, host: str, port: int, data_dir: str | None, **office: Any) -> None:
    """Serve with PROCESSES processes behind nginx, routed by customer key, until interrupted.

    With --data-dir, process N keeps its offices in DATA_DIR/process-N: restart with the
    same --processes so every office finds its process again.
    """
    # a secret travels in the environment, never in a command line that `ps` shows
    token = office.pop("admin_token")
    env = {"MOCKSERVER_ADMIN_TOKEN": token} if token else {}
    serve_args: list[str] = []
    for name, value in office.items():  # the office options, as `serve` spells them
        flag = "--" + name.replace("_", "-")
        if value is True:
            serve_args.append(flag)
        elif value not in (None, False):
            serve_args += [flag, str(value)]
    running = Cluster(processes, host, port, serve_args, data_dir, env)
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        url = running.start()
        announce(host, int(url.rsplit(":", 1)[1]),
                 f"Open Dental Tasks mock {__version__} cluster ({processes} processes)")
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
    """Validate a fixtures FOLDER; exit 1 with every problem (up to 50): file, line,
    record, field, the value given and what is valid."""
    try:
        dataset = load_dir(folder, progress=report)
    except FixtureError as exc:
        raise click.ClickException(str(exc)) from None
    counts = ", ".join(f"{dataset.count(kind)} {kind}" for kind in dataset.records)
    click.echo(f"{folder}: OK ({counts}; version {dataset.version})")


@main.group()
def data() -> None:
    """Look into a --data-dir folder."""


@data.command("check")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
def data_check(folder: str) -> None:
    """Report what a data FOLDER holds (generations, files, offices) and whether a server
    could start from it, without starting one or changing anything; exit 1 with each
    problem's file, line and office. A `cluster` folder: each process-N folder."""
    from .persist import data_folders, inspect

    inspected = [inspect(path) for path in data_folders(folder)]
    for state in inspected:
        click.echo("\n".join(state.describe()))
    if not all(state.sound for state in inspected):
        sys.exit(1)


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
@click.option("--tasks", "count", default=1000, show_default=True, type=click.IntRange(min=0),
              help=f"Number of tasks, at most {MAX_TASKS:,} (about 1 GB of memory per "
                   "100,000 when served).")
@click.option("--output", required=True, type=click.Path(file_okay=False),
              help="Folder to write the YAML files into (created if needed).")
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed (same seed, same files).")
def generate_fixtures(count: int, output: str, seed: int) -> None:
    """Write a synthetic fixtures folder with relative timestamps over the last 60 days;
    progress on stderr."""
    if count > MAX_TASKS:
        raise click.BadParameter(
            f"{count:,} tasks is more than {MAX_TASKS:,}, the most generated: `serve` holds "
            f"about 1 GB per 100,000 tasks, so {count:,} would need about "
            f"{count // 100_000:,} GB.", param_hint="--tasks")
    write_dir(generate(count, seed, progress=report), output, progress=report)
    click.echo(f"{output}: {count} tasks (seed {seed})")


UPSTREAM_OPTION = click.option(
    "--upstream", required=True, metavar="URL",
    help="The API's base URL: https://api.opendental.com/api/v1, or a Local API's or API "
         "Service's (http://HOST:30222/api/v1). Keys: OD_DEVELOPER_KEY, OD_CUSTOMER_KEY.")


def _upstream(url: str, allow_writes: bool = False) -> Any:
    """The upstream client with the keys of the environment; exit 1 without them."""
    from .upstream import Upstream, UpstreamError, keys_from_environment

    if not url.startswith(("http://", "https://")):
        raise click.BadParameter(f"{url!r} is not an http:// or https:// URL", param_hint="--upstream")
    try:
        return Upstream(url, *keys_from_environment(), allow_writes=allow_writes)
    except UpstreamError as exc:
        raise click.ClickException(str(exc)) from None


@main.command("record")
@UPSTREAM_OPTION
@click.option("--output", required=True, type=click.Path(file_okay=False),
              help="Fixtures folder to write (created; must be empty if it exists).")
@click.option("--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%d %H:%M:%S"]),
              help="Record tasks with DateTimeOriginal on or after this  [default: 90 days ago]")
@click.option("--relative", is_flag=True,
              help="Write times relative to now (now-3d4h), so the data keeps its age.")
@click.option("--limit", type=click.IntRange(1), help="Record at most this many tasks.")
@click.option("--anonymize", is_flag=True,
              help="Replace descriptions, notes, names and emails with text of the same "
                   "length; ids and references stay.")
def record_command(upstream: str, output: str, since: Any, relative: bool, limit: int | None,
                   anonymize: bool) -> None:
    """Record a fixtures folder from a real office's API (GET requests only)."""
    from datetime import datetime

    from .record import DATETIME_FORMAT, counts_text, default_since, record
    from .upstream import UpstreamError

    folder = Path(output)
    if folder.exists() and any(folder.iterdir()):
        raise click.ClickException(f"{folder}: not empty; record into a new or empty folder")
    now = datetime.now().replace(microsecond=0)
    since = since or default_since(now)
    click.echo(f"recording {upstream} (tasks since {since:{DATETIME_FORMAT}})", err=True)
    with _upstream(upstream) as client:
        try:
            counts = record(client, folder, since=since, now=now, limit=limit, relative=relative,
                            anonymize=anonymize, progress=lambda line: click.echo(line, err=True))
        except (UpstreamError, FixtureError) as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"{folder}: {counts_text(counts)}")


@main.command("verify")
@UPSTREAM_OPTION
@click.option("--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%d %H:%M:%S"]),
              help="Load the mock with tasks since this  [default: 90 days ago]")
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON.")
@click.option("--allow-writes", is_flag=True,
              help="Also POST and PUT one task and one note on the upstream (a TEST office only).")
def verify_command(upstream: str, since: Any, as_json: bool, allow_writes: bool) -> None:
    """Compare the mock with a real office: exit 0 when they answer alike, 1 otherwise."""
    from datetime import datetime

    from .record import default_since
    from .upstream import UpstreamError
    from .verify import verify

    now = datetime.now().replace(microsecond=0)
    with _upstream(upstream, allow_writes) as client:
        try:
            found = verify(client, since or default_since(now), now,
                           progress=lambda line: click.echo(line, err=True))
        except (UpstreamError, FixtureError) as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(found.as_json() if as_json else found.as_table())
    sys.exit(1 if found.differences else 0)
