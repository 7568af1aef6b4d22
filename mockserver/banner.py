"""What ``serve`` and ``cluster`` print when they are ready: where to reach the API, what
it serves, the control API, and a request that works under the server's settings."""
from __future__ import annotations

import ipaddress
import socket
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import click
from flask import Flask

from .app import health

READY_TIMEOUT = 600  # seconds granian's worker may take to load the fixtures


def all_interfaces(host: str) -> bool:
    """Whether binding *host* listens on every interface: the address it resolves to,
    as the socket's bind resolves it, is unspecified (``0``, ``0.0.0.0``, ``::``, ``::0``,
    ``000.000.000.000``, an empty host...)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        found = socket.getaddrinfo(host or None, 0, family, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    except OSError:  # not an address the server could bind either
        return False
    return any(ipaddress.ip_address(str(address[4][0]).split("%")[0]).is_unspecified
               for address in found)


def base_url(host: str, port: int) -> str:
    """``http://host:port`` for a client on this machine (loopback for all interfaces)."""
    if all_interfaces(host):
        host = "::1" if ":" in host else "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def announce(host: str, port: int, what: str, app: Flask | None = None) -> None:
    """Print the banner, with a warning on stderr first when *host* is every interface.

    Its first line ends with the API's base URL and its second is a ``Try: curl ...``
    line: scripts (the cluster command, the tests) read both. *app*: the server's app,
    for the dataset and the settings the example follows (None: the cluster's front).
    """
    if all_interfaces(host):
        click.echo(f"WARNING: listening on all interfaces ({host or '*'}): anyone who can reach "
                   "this machine can read and change every office.", err=True)
    for line in lines(base_url(host, port), what, app):
        click.echo(line)
    sys.stdout.flush()


def lines(url: str, what: str, app: Flask | None) -> list[str]:
    """The banner's lines for a server at *url*."""
    api = f"{url}/api/v1"
    config: Any = app.config if app is not None else {}
    strict = app is not None and app.extensions["mockserver"].keys.strict
    pair = "<DeveloperKey>/<CustomerKey>" if strict else "a/b"
    header = "" if config.get("LENIENT_CONTENT_TYPE") else " -H 'Content-Type: application/json'"
    found = [f"{what} listening on {api}",
             f"Try: curl -H 'Authorization: ODFHIR {pair}'{header} {api}/tasks/1408"]
    if strict:
        found.append(f"     (strict keys: take a key pair that {config['KEYS']} lists)"
                     if config.get("KEYS") else
                     "     (strict keys and no --keys file: every key pair is refused)")
    if app is not None:
        state = health(app)
        counts = ", ".join(f"{count} {kind}" for kind, count in state["dataset"].items())
        found.append(f"Dataset: {config['FIXTURES'] or 'the default dataset'} ({counts}; "
                     f"version {app.extensions['mockserver'].dataset.version})")
        if config.get("DATA_DIR"):
            found.append(f"Offices kept in: {config['DATA_DIR']} ({state['offices']} restored)")
        found.append(f"Control API: {url}/__admin (health: {url}/__admin/health)"
                     if config.get("ADMIN_API") else
                     f"Control API: off (--no-admin); health: {url}/__admin/health")
    return found


def announce_when_ready(host: str, port: int, what: str, app: Flask) -> None:
    """Print the banner once the server answers (granian's worker, in a thread of its
    own: the worker binds the port after it builds the app)."""
    url = f"{base_url(host, port)}/__admin/health"
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=5).close()
        except urllib.error.HTTPError:
            break  # an answer: serving
        except OSError:  # not listening yet
            time.sleep(0.02)
            continue
        break
    else:
        return  # the worker failed: granian reports it and stops
    announce(host, port, what, app)
