"""Safe defaults of ``mockserver serve``: loopback, a warning for all interfaces, strict keys."""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from liveserver import SERVERS, LiveServer
from mockserver import cli
from mockserver.banner import all_interfaces


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on *port* (Linux /proc/net/tcp*)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if Path(table).exists():
            for line in Path(table).read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                    found.add(address)
    return found


def test_serve_binds_loopback_by_default():
    with LiveServer() as server:
        assert server.url.startswith("http://127.0.0.1:")
        if not Path("/proc/net/tcp").exists():
            pytest.skip("no /proc/net/tcp to see the bound address")
        assert _listening_addresses(int(server.url.rsplit(":", 1)[1])) == {"0100007F"}  # 127.0.0.1, little-endian hex; nothing else


class _FakeServer:
    effective_port = 30222

    def run(self) -> None:
        """Return at once: the test only wants the banner."""

    def close(self) -> None:
        """Nothing to close."""


@pytest.mark.parametrize("host,url", [
    ("0.0.0.0", "http://127.0.0.1:30222"), ("0", "http://127.0.0.1:30222"),
    ("000.000.000.000", "http://127.0.0.1:30222"), ("::", "http://[::1]:30222"),
    ("::0", "http://[::1]:30222"), ("0:0::0", "http://[::1]:30222")])
def test_serve_warns_when_bound_to_all_interfaces(monkeypatch, host, url):
    # no real socket on all interfaces in a test: only the banner logic runs
    monkeypatch.setattr(cli, "WaitressServer", lambda *a: _FakeServer())
    result = CliRunner().invoke(cli.main, ["serve", "--server", "waitress", "--host", host, "--quiet"])
    assert result.exit_code == 0, result.output
    assert f"WARNING: listening on all interfaces ({host})" in result.stderr
    assert f"listening on {url}/api/v1" in result.stdout


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_all_interfaces_is_decided_from_the_address(host):
    assert not all_interfaces(host)


def test_serve_on_loopback_prints_no_warning(monkeypatch):
    monkeypatch.setattr(cli, "WaitressServer", lambda *a: _FakeServer())
    result = CliRunner().invoke(cli.main, ["serve", "--server", "waitress", "--quiet"])
    assert result.exit_code == 0 and "WARNING" not in result.stderr


def test_serve_strict_keys_on_a_live_server(tmp_path):
    keys = tmp_path / "keys.yaml"
    keys.write_text("developers: {ci-dev: {}}\ncustomers: {ci-office: {}}\n")
    with LiveServer("--keys", str(keys), "--strict-keys") as server, server.session() as session:
        listed = session.get(f"{server.api}/tasks/1408",
                             headers={"Authorization": "ODFHIR ci-dev/ci-office"})
        unlisted = session.get(f"{server.api}/tasks/1408",
                               headers={"Authorization": "ODFHIR ci-dev/stranger"})
    assert listed.status_code == 200
    assert (unlisted.status_code, unlisted.json()) == (401, "Customer key is invalid or disabled.")
    assert unlisted.headers["WWW-Authenticate"].startswith("ODFHIR")


@pytest.mark.parametrize("kind", SERVERS)
def test_serve_port_in_use_is_a_clear_error(kind):
    with LiveServer() as server:
        port = server.url.rsplit(":", 1)[1]
        # a subprocess: waitress leaks the socket it failed to bind
        result = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--server", kind, "--port", port],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"Error: cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr


def test_serve_options_from_environment_variables(monkeypatch):
    made = []
    monkeypatch.setattr(cli, "WaitressServer", lambda *a: made.append(a) or _FakeServer())
    monkeypatch.setenv("MOCKSERVER_PORT", "30555")
    monkeypatch.setenv("MOCKSERVER_SERVER", "waitress")  # the default is granian
    monkeypatch.setenv("MOCKSERVER_NO_ADMIN", "true")
    monkeypatch.setenv("MOCKSERVER_REQUEST_TIMEOUT", "7")
    result = CliRunner().invoke(cli.main, ["serve", "--quiet"])
    assert result.exit_code == 0, result.output
    [(app, host, port, threads, request_timeout)] = made
    assert (host, port, app.config["ADMIN_API"], request_timeout) == ("127.0.0.1", 30555, False, 7)
    assert "MOCKSERVER_DATA_DIR" in CliRunner().invoke(cli.main, ["serve", "--help"]).output


def test_version_option_and_attribute():
    import mockserver
    result = CliRunner().invoke(cli.main, ["--version"])
    assert result.output == f"mockserver, version {mockserver.__version__}\n"
    assert mockserver.__version__.count(".") >= 2


def test_serve_port_in_use_suggests_port_0():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = CliRunner().invoke(cli.main, ["serve", "--server", "waitress", "--port", port])
    assert result.exit_code == 1
    assert result.stderr == (f"Error: cannot listen on 127.0.0.1:{port}: Address already in use "
                             "(choose another --port, or --port 0 for a free one)\n")


def test_runs_without_posix_user_ids(monkeypatch, tmp_path):
    """Windows has no os.getuid or os.geteuid: nothing on the way of serve, check-fixtures
    or the plugin may need them."""
    monkeypatch.delattr("os.getuid", raising=False)
    monkeypatch.delattr("os.geteuid", raising=False)
    from mockserver import create_app
    from mockserver.fixtures import default_dir
    from mockserver.pytest_plugin import LiveServer
    assert CliRunner().invoke(cli.main, ["check-fixtures", str(default_dir())]).exit_code == 0
    app = create_app({"DATA_DIR": str(tmp_path / "data")})
    assert app.test_client().get("/__admin/health").status_code == 200
    app.extensions["mockserver"].journal.close()
    LiveServer({}).close()
