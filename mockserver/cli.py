"""The ``mockserver`` command: serve the API on waitress, check fixtures."""
from __future__ import annotations

import gc
import logging
import sys
from typing import Any

import click

from .app import create_app
from .fixtures import FixtureError, load_dir

DEFAULT_PORT = 30222  # the Local API's port (apilocal.md)
ALL_INTERFACES = ("0.0.0.0", "::", "")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Open Dental Tasks mock server."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535),
              help="Port; 0 picks a free one (printed in the banner).")
@click.option("--fixtures", type=click.Path(exists=True, file_okay=False),
              help="Fixtures folder (default: the shipped dataset).")
@click.option("--keys", type=click.Path(exists=True, dir_okay=False),
              help="Keys file (YAML): permissions, disabled keys, office versions.")
@click.option("--strict-keys", is_flag=True, help="Reject key pairs the keys file does not list.")
@click.option("--lenient-content-type", is_flag=True,
              help="Accept requests without Content-Type: application/json.")
@click.option("--local-api", is_flag=True, help="Local-API paging: up to 1000 items per page.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 512),
              help="Worker threads.")
@click.option("--quiet", is_flag=True, help="No access log.")
def serve(host: str, port: int, fixtures: str | None, keys: str | None, strict_keys: bool,
          lenient_content_type: bool, local_api: bool, threads: int, quiet: bool) -> None:
    """Serve the API with waitress until interrupted."""
    import waitress

    config: dict[str, Any] = {"FIXTURES": fixtures, "KEYS": keys, "STRICT_KEYS": strict_keys,
                              "LENIENT_CONTENT_TYPE": lenient_content_type, "LOCAL_API": local_api}
    try:
        app = create_app(config)
    except FixtureError as exc:
        raise click.ClickException(str(exc)) from None
    app.extensions["mockserver"].warm()
    # The seed's records live as long as the server: keep them out of the cyclic garbage
    # collector's full passes, which otherwise walk every task (p99 at 100,000 tasks).
    gc.freeze()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("mockserver.access").setLevel(logging.WARNING if quiet else logging.INFO)
    server = waitress.create_server(app, host=host, port=port, threads=threads,
                                    ident="opendental-tasks-mock")
    base = f"http://{_url_host(host if host not in ALL_INTERFACES else '127.0.0.1')}:{server.effective_port}/api/v1"
    if host in ALL_INTERFACES:
        click.echo(f"WARNING: listening on all interfaces ({host or '*'}): anyone who can reach "
                   "this machine can read and change every office.", err=True)
    click.echo(f"Open Dental Tasks mock listening on {base}")
    click.echo(f"Try: curl -H 'Authorization: ODFHIR a/b' -H 'Content-Type: application/json' "
               f"{base}/tasks/1408", nl=True)
    sys.stdout.flush()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


@main.command("check-fixtures")
@click.argument("folder", type=click.Path(file_okay=False))
def check_fixtures(folder: str) -> None:
    """Validate a fixtures FOLDER; exit 1 with the file, record and field at fault."""
    try:
        dataset = load_dir(folder)
    except FixtureError as exc:
        raise click.ClickException(str(exc)) from None
    counts = ", ".join(f"{len(rows)} {kind}" for kind, rows in dataset.records.items())
    click.echo(f"{folder}: OK ({counts}; version {dataset.version})")


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
