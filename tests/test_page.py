"""The control page (/__admin/): served with the control API, and driven in headless
Chromium through everything it shows and does."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
import requests
from flask.testing import FlaskClient

from liveserver import LiveServer
from mockserver import create_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "control-page.png"


@pytest.fixture
def client(app) -> FlaskClient:
    """A plain test client: the page is the one answer that is not JSON."""
    return FlaskClient(app, app.response_class)


def test_root_redirects_to_the_page_which_is_html_with_a_strict_policy(client):
    moved = client.get("/")
    assert moved.status_code == 302 and moved.headers["Location"] == "/__admin/"
    assert moved.get_json() == "The control page is at /__admin/."
    page = client.get("/__admin/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    for name in ("page.js", "page.css"):
        with client.get(f"/__admin/static/{name}") as shipped:
            assert shipped.status_code == 200


def test_page_and_redirect_are_off_with_the_control_api():
    client = create_app({"TESTING": True, "ADMIN_API": False}).test_client()
    for path in ("/", "/__admin/", "/__admin/static/page.js"):
        with client.get(path) as response:
            assert response.status_code == 404 and response.mimetype == "application/json", path


def test_page_loads_nothing_from_another_host(client):
    html = client.get("/__admin/").get_data(as_text=True)
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    with client.get("/__admin/static/page.js") as shipped:
        script = shipped.get_data(as_text=True)
    assert "http://" not in script and "https://" not in script and "innerHTML" not in script


def test_getOffice_summarises_the_callers_office(client):
    summary = client.get("/__admin/office", headers={"Authorization": "ODFHIR a/b"}).get_json()
    assert summary["customer_key"] == "b" and summary["version"] == "24.4.22"
    assert summary["counts"]["tasks"] > 0 and set(summary["clock"]) == {"now", "frozen"}


def test_listOffices_needs_the_admin_token_when_the_server_has_one():
    client = create_app({"TESTING": True, "ADMIN_TOKEN": "t0ken"}).test_client()
    client.get("/__admin/office", headers={"Authorization": "ODFHIR a/one"})
    refused = client.get("/__admin/offices", headers={"Authorization": "ODFHIR a/one"})
    assert refused.status_code == 401 and "X-Mock-Admin-Token" in refused.get_json()
    listed = client.get("/__admin/offices", headers={"Authorization": "ODFHIR a/two",
                                                     "X-Mock-Admin-Token": "t0ken"}).get_json()
    assert [office["customer_key"] for office in listed] == ["one"]  # listing creates none


def test_listOffices_is_off_under_strict_keys_without_a_token():
    client = create_app({"TESTING": True, "KEYS": {"strict": "true", "developers": {"d": {}},
                                                   "customers": {"c": {}}}}).test_client()
    refused = client.get("/__admin/offices", headers={"Authorization": "ODFHIR d/c"})
    assert refused.status_code == 401 and "--admin-token" in refused.get_json()


# --- in a real browser -------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium); .ci/run installs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a test extra")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def server():
    with LiveServer("--server", "waitress") as live:
        yield live


@pytest.fixture
def page(browser, server, request):
    # the test's own waits evaluate JavaScript text, which the page's policy forbids
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    opened.sent = []  # every URL the browser asked for
    opened.on("request", lambda sent: opened.sent.append(sent.url))
    opened.goto(server.url + "/")
    customer = f"page-{request.node.name[-40:]}".replace("[", "-").replace("]", "")
    opened.fill("#customer-key", customer)
    opened.get_by_role("button", name="Open office", exact=True).click()
    opened.wait_for_selector("#tasks-table tbody tr")
    opened.customer = customer
    yield opened
    context.close()
    requests.post(server.url + "/__admin/reset", headers={"Authorization": f"ODFHIR page/{customer}"},
                  timeout=10)


def rows(page, table: str) -> list[list[str]]:
    return page.eval_on_selector_all(
        f"{table} tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))")


def client_of(server, page) -> requests.Session:
    session = server.session(page.customer)
    return session


@pytest.mark.slow
def test_page_shows_an_office_and_its_tasks_with_filters_and_notes(page, server):
    assert page.url == server.url + "/__admin/"
    assert page.text_content("#office-version") == "24.4.22"
    assert "running" in page.text_content("#office-clock")
    assert "1408" in [row[0] for row in rows(page, "#tasks-table")]
    page.select_option("select[name=TaskStatus]", "Done")
    page.get_by_role("button", name="Filter", exact=True).click()
    page.wait_for_function("[...document.querySelectorAll('#tasks-table tbody tr')]"
                           ".every(r => r.cells[2].textContent === 'Done')")
    assert rows(page, "#tasks-table") and all(row[2] == "Done" for row in rows(page, "#tasks-table"))
    page.select_option("select[name=TaskStatus]", "")
    page.get_by_role("button", name="Filter", exact=True).click()
    page.get_by_role("button", name="Open task 64", exact=True).click()
    page.wait_for_selector("#notes-table tbody tr")
    assert page.text_content("#task-title") == "Task 64"
    assert [row[0] for row in rows(page, "#notes-table")] == ["563", "567"]


@pytest.mark.slow
def test_page_journal_shows_a_clients_request_with_its_response_and_warnings(page, server):
    with client_of(server, page) as session:
        session.post(f"{server.api}/tasks", json={"TaskListNum": 74, "Descript": "From a test",
                                                  "UserNum": 1, "Descrpt": "typo"})
    page.wait_for_selector("#journal-table tbody tr", timeout=10_000)  # the 2-second refresh
    first = rows(page, "#journal-table")[0]
    assert first[2:5] == ["POST", "/api/v1/tasks", "201"] and first[6] == "1"
    page.get_by_role("button", name=f"Open request {first[0]}", exact=True).click()
    assert "From a test" in page.text_content("#entry-request")
    response = page.text_content("#entry-response")
    assert "status: 201" in response and "Location" in response and '"TaskNum"' in response
    assert 'ignored field "Descrpt"' in page.text_content("#entry-warnings mark")


@pytest.mark.slow
def test_page_adds_and_removes_a_fault_moves_the_clock_and_resets(page, server):
    page.fill("#fault-form input[name=status]", "503")
    page.get_by_role("button", name="Add fault", exact=True).click()
    page.wait_for_selector("#faults-table tbody tr")
    fault = rows(page, "#faults-table")[0]
    assert fault[1:4] == ["*", "/tasks/*", "503"]
    with client_of(server, page) as session:
        assert session.get(f"{server.api}/tasks/1408").status_code == 503
    page.get_by_role("button", name=f"Remove fault {fault[0]}", exact=True).click()
    page.wait_for_selector("#faults-table tbody tr", state="detached")

    page.get_by_role("button", name="Freeze clock", exact=True).click()
    page.wait_for_function("document.querySelector('#office-clock').textContent.includes('frozen')")
    page.fill("#clock-now", "2024-12-10 13:08:47")
    page.click("#clock-set button")
    page.wait_for_function("document.querySelector('#office-clock').textContent.startsWith('2024-12-10 13:08:47')")
    page.fill("#clock-by", "1d")
    page.click("#clock-advance button")
    page.wait_for_function("document.querySelector('#office-clock').textContent.startsWith('2024-12-11 13:08:47')")

    page.get_by_role("button", name="Reset office", exact=True).click()
    page.wait_for_function("document.querySelector('#message').textContent.startsWith('Office reset')")
    assert "running" in page.text_content("#office-clock")
    assert rows(page, "#faults-table") == []


@pytest.mark.slow
def test_page_is_accessible_at_1280_and_800_and_asks_only_the_mock(page, server):
    page.get_by_role("button", name="Open task 1408", exact=True).click()
    page.wait_for_selector("#task-detail:not([hidden])")
    unlabeled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter(e => !e.labels.length && !e.getAttribute('aria-label')).map(e => e.outerHTML)""")
    assert unlabeled == []
    nameless = page.evaluate("""() => [...document.querySelectorAll('button')]
        .filter(b => !b.textContent.trim()).map(b => b.outerHTML)""")
    assert nameless == []
    headless_tables = page.evaluate("""() => [...document.querySelectorAll('table')]
        .filter(t => !t.querySelector('thead th')).map(t => t.id)""")
    assert headless_tables == []
    ARTIFACTS.mkdir(exist_ok=True)
    for width in (1280, 800):
        page.set_viewport_size({"width": width, "height": 900})
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{overflow} px too wide at {width} px"
        page.screenshot(path=str(ARTIFACTS / f"control-page-{width}.png"), full_page=True)
    if os.environ.get("MOCKSERVER_UPDATE_SCREENSHOT"):  # the docs' picture
        page.set_viewport_size({"width": 1280, "height": 900})
        page.screenshot(path=str(SCREENSHOT))
    assert page.sent and all(url.startswith(server.url + "/") for url in page.sent), page.sent


@pytest.mark.slow
def test_page_pages_through_tasks_as_the_api_does(page, server):
    with client_of(server, page) as session:
        for n in range(101):
            assert session.post(f"{server.api}/tasks", json={"TaskListNum": 74, "UserNum": 1,
                                                             "Descript": f"paged {n}"}).status_code == 201
    page.get_by_role("button", name="Filter", exact=True).click()
    page.wait_for_function("document.querySelectorAll('#tasks-table tbody tr').length === 100")
    first = [row[0] for row in rows(page, "#tasks-table")]
    assert page.is_disabled("#tasks-previous")
    page.get_by_role("button", name="Next page", exact=True).click()
    page.wait_for_function("document.querySelectorAll('#tasks-table tbody tr').length === 20")
    assert not set(first) & {row[0] for row in rows(page, "#tasks-table")}
    assert page.is_disabled("#tasks-next") and "(101 to 120)" in page.text_content("#tasks-page")
    page.get_by_role("button", name="Previous page", exact=True).click()
    page.wait_for_function("document.querySelectorAll('#tasks-table tbody tr').length === 100")
    assert [row[0] for row in rows(page, "#tasks-table")] == first
