"""What `serve` prints when ready, and the Server header: the version, the URL, the
dataset, the control API, and a request that works under the server's settings."""
from __future__ import annotations

import pytest
import requests
from click.testing import CliRunner

from liveserver import SERVERS, LiveServer
from mockserver import __version__, cli
from mockserver.app import SERVER


class _FakeServer:
    effective_port = 30222

    def run(self) -> None:
        """Return at once: the test only wants the banner."""

    def close(self) -> None:
        """Nothing to close."""


def banner(monkeypatch, *args: str) -> list[str]:
    monkeypatch.setattr(cli, "WaitressServer", lambda *a: _FakeServer())
    result = CliRunner().invoke(cli.main, ["serve", "--server", "waitress", "--quiet", *args])
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_banner_names_version_url_dataset_and_control_api(monkeypatch):
    lines = banner(monkeypatch)
    assert lines[0] == f"Open Dental Tasks mock {__version__} (waitress) listening on http://127.0.0.1:30222/api/v1"
    assert lines[1] == ("Try: curl -H 'Authorization: ODFHIR a/b' -H 'Content-Type: application/json' "
                        "http://127.0.0.1:30222/api/v1/tasks/1408")
    assert lines[2].startswith("Dataset: the default dataset (") and " tasks, " in lines[2]
    assert lines[2].endswith("; version 24.4.22)")
    assert lines[3] == ("Control API: http://127.0.0.1:30222/__admin "
                        "(health: http://127.0.0.1:30222/__admin/health)")


def test_banner_follows_the_settings(monkeypatch, tmp_path):
    keys = tmp_path / "keys.yaml"
    keys.write_text("developers: {ci-dev: {}}\ncustomers: {ci-office: {}}\n")
    lines = banner(monkeypatch, "--keys", str(keys), "--strict-keys", "--lenient-content-type",
                   "--no-admin", "--fixtures", "fixtures")
    assert lines[1] == ("Try: curl -H 'Authorization: ODFHIR <DeveloperKey>/<CustomerKey>' "
                        "http://127.0.0.1:30222/api/v1/tasks/1408")
    assert lines[2] == f"     (strict keys: take a key pair that {keys} lists)"
    assert "ci-dev" not in "\n".join(lines)  # keys are secrets under strict keys
    assert lines[3].startswith("Dataset: fixtures (")
    assert lines[4] == "Control API: off (--no-admin); health: http://127.0.0.1:30222/__admin/health"


def test_banner_under_strict_keys_without_a_keys_file_says_every_key_is_refused(monkeypatch):
    lines = banner(monkeypatch, "--strict-keys")
    assert lines[2] == "     (strict keys and no --keys file: every key pair is refused)"


def test_banner_never_shows_the_admin_token(monkeypatch):
    monkeypatch.setenv("MOCKSERVER_ADMIN_TOKEN", "hush-hush")
    assert "hush-hush" not in "\n".join(banner(monkeypatch))


@pytest.mark.slow
@pytest.mark.parametrize("server_name", SERVERS)
def test_live_banner_and_server_header(server_name):
    with LiveServer("--server", server_name) as server:
        assert server.curl.endswith(f"{server.api}/tasks/1408")
        with server.session() as session:
            for path in ("/api/v1/tasks/1408", "/api/v1/nothing", "/__admin/health", "/openapi.yaml"):
                response = session.get(server.url + path)
                assert response.headers["Server"] == SERVER, path  # one header, the mock's
        assert requests.get(server.url + "/__admin/health", timeout=10).json()["version"] == __version__


def test_cluster_hands_the_admin_token_over_in_the_environment(monkeypatch):
    seen = {}

    class FakeCluster:
        def __init__(self, processes, host, port, serve_args, data_dir, env):
            seen.update(args=serve_args, env=env)

        def start(self):
            raise cli.ClusterError("stop here")

        def stop(self):
            pass
    monkeypatch.setattr(cli, "Cluster", FakeCluster)
    result = CliRunner().invoke(cli.main, ["cluster", "--admin-token", "hush-hush", "--max-offices", "5"])
    assert result.exit_code == 1 and "stop here" in result.output
    assert "hush-hush" not in " ".join(seen["args"]) and "--max-offices" in seen["args"]
    assert seen["env"] == {"MOCKSERVER_ADMIN_TOKEN": "hush-hush"}
