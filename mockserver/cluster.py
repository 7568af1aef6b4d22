"""``mockserver cluster``: N ``serve`` processes behind nginx, one office per process.

nginx routes by a consistent hash of the customer key (nginx.conf.template), so every
office lives in exactly one process and a client sees one coherent office, while
different offices use different processes (and CPUs). Everything runs on loopback; nginx
runs in the foreground with its pid, logs and temporary files in a private folder.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from importlib import resources
from pathlib import Path
from typing import IO, Mapping, Sequence

BANNER = re.compile(r"listening on (http://\S+)/api/v1")  # printed by `mockserver serve`
STARTUP_LIMIT = 60  # seconds for a process to come up before the start is abandoned
PORT_FILE = "port"  # in a process's data folder: the port it must listen on again
NGINX_PATHS = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")


class ClusterError(RuntimeError):
    """The cluster cannot start: nginx missing, a process that does not come up."""


def find_nginx() -> str | None:
    """The nginx executable: on PATH or where Debian and source builds put it."""
    return shutil.which("nginx") or next((p for p in NGINX_PATHS if os.access(p, os.X_OK)), None)


def spawn(argv: Sequence[str], stderr: IO | int | None = None, own_session: bool = False,
          env: Mapping[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """Start a mockserver command and wait for its banner: (process, base URL before /api/v1).

    A process that exits, or prints no banner within STARTUP_LIMIT, raises ClusterError.
    *own_session*: the terminal's Ctrl-C does not reach it (its parent stops it). *env*:
    variables to add to this process's environment.
    """
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
                            start_new_session=own_session)
    watchdog = threading.Timer(STARTUP_LIMIT, proc.kill)
    watchdog.start()
    lines = []
    try:
        for line in proc.stdout:  # ends when the process exits (or the watchdog kills it)
            lines.append(line)
            match = BANNER.search(line)
            if match:
                return proc, match.group(1)
    finally:
        watchdog.cancel()
    proc.wait()
    raise ClusterError(f"{' '.join(argv)} exited with {proc.returncode}: {''.join(lines)}")


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (for nginx, which cannot report one it picked)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def render_config(prefix: Path, listen: str, backends: Sequence[str]) -> str:
    """nginx.conf for *backends* (``host:port``), every file path inside *prefix*."""
    template = resources.files("mockserver").joinpath("nginx.conf.template").read_text()
    servers = "\n".join(f"        server {backend} max_fails=0;" for backend in backends)
    for name, value in (("PREFIX", str(prefix)), ("LISTEN", listen), ("BACKENDS", servers)):
        template = template.replace(f"@@{name}@@", value)
    return template


def _wait_for_port(host: str, port: int, proc: subprocess.Popen) -> None:
    for _ in range(STARTUP_LIMIT * 20):  # bounded: STARTUP_LIMIT seconds
        if proc.poll() is not None:
            raise ClusterError(f"nginx exited with {proc.returncode}")
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise ClusterError(f"nginx did not listen on {host}:{port}")


class Cluster:
    """N serve processes and nginx; ``start()`` then ``stop()`` (or use ``with``)."""

    def __init__(self, processes: int, host: str, port: int, serve_args: Sequence[str] = (),
                 data_dir: str | None = None, env: Mapping[str, str] | None = None):
        self.processes, self.host, self.port = processes, host, port
        self.serve_args, self.data_dir, self.env = list(serve_args), data_dir, dict(env or {})
        self.prefix = Path(tempfile.mkdtemp(prefix="mockserver-cluster-"))
        self.backends: list[tuple[subprocess.Popen, str]] = []
        self.nginx: subprocess.Popen | None = None

    def start(self) -> str:
        """Start everything; the base URL (before /api/v1). ClusterError if anything fails."""
        nginx = find_nginx()
        if nginx is None:
            raise ClusterError("nginx is not installed (Debian: apt-get install nginx)")
        try:
            for n in range(self.processes):
                self.backends.append(self._start_process(n))
            port = self.port or free_port(self.host)
            listen = f"[{self.host}]:{port}" if ":" in self.host else f"{self.host}:{port}"
            config = self.prefix / "nginx.conf"
            config.write_text(render_config(
                self.prefix, listen, [url.removeprefix("http://") for _, url in self.backends]))
            self.nginx = subprocess.Popen([nginx, "-p", str(self.prefix), "-c", str(config),
                                           "-e", str(self.prefix / "error.log")],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          start_new_session=True)  # stopped by stop() only
            _wait_for_port(self.host, port, self.nginx)
        except ClusterError as exc:
            log = self.errors()  # read before stop() removes the folder
            self.stop()
            raise ClusterError(f"{exc}\n{log}".strip()) from None
        except BaseException:
            self.stop()
            raise
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{port}"

    def _start_process(self, n: int) -> tuple[subprocess.Popen, str]:
        # each process in its own session: Ctrl-C reaches only the cluster command, which
        # then stops nginx and the processes in order (none dies first and looks like a crash)
        argv = [sys.executable, "-m", "mockserver", "serve", "--host", "127.0.0.1", "--quiet",
                *self.serve_args]
        if not self.data_dir:
            return spawn([*argv, "--port", "0"], own_session=True, env=self.env)
        # One folder per process, each with the offices of its share of the keys. nginx
        # hashes keys onto backend *addresses*, so a process keeps its port across
        # restarts: then every office finds its process again.
        folder = Path(self.data_dir, f"process-{n}")
        folder.mkdir(parents=True, exist_ok=True)
        port_file = folder / PORT_FILE
        port = int(port_file.read_text()) if port_file.exists() else 0
        proc, url = spawn([*argv, "--port", str(port), "--data-dir", str(folder)],
                          own_session=True, env=self.env)
        port_file.write_text(url.rsplit(":", 1)[1])
        return proc, url

    def alive(self) -> bool:
        """Whether nginx and every process still run."""
        procs = [p for p, _ in self.backends] + ([self.nginx] if self.nginx else [])
        return all(p.poll() is None for p in procs)

    def errors(self) -> str:
        """nginx's error log so far (why it stopped, if it did)."""
        log = self.prefix / "error.log"
        return log.read_text() if log.exists() else ""

    def stop(self) -> None:
        """Stop nginx, then every process (SIGTERM, SIGKILL after 10 s); remove the folder."""
        procs = ([self.nginx] if self.nginx else []) + [p for p, _ in self.backends]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # nginx: fast shutdown; serve: clean stop
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        self.nginx, self.backends = None, []
        shutil.rmtree(self.prefix, ignore_errors=True)

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
