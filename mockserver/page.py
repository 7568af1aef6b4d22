"""The control page: ``GET /__admin/`` (and ``/``, which redirects there) shows an office,
its tasks and notes, the request journal, faults and clock in a browser.

The page is a server-rendered shell (a Jinja template) and a small script shipped in the
package; the script does everything through the documented control API and the API
itself, with the key pair typed into the page, so the page adds no power of its own. It
loads nothing from any other host (its Content-Security-Policy says so). Off with the
control API (``--no-admin``).
"""
from __future__ import annotations

from flask import Blueprint, Flask, Response, render_template, url_for

from . import __version__
from .adminschemas import FAULT_METHODS
from .errors import error_response
from .store import OBJECT_TYPES, TASK_STATUSES

page = Blueprint("page", __name__, url_prefix="/__admin", template_folder="templates",
                 static_folder="static", static_url_path="/static")

# the page's own files only; fetch() to the same origin only
POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
          "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")


@page.get("/")
def showPage() -> Response:
    """The control page."""
    response = Response(render_template(
        "page.html", version=__version__, statuses=TASK_STATUSES, object_types=OBJECT_TYPES,
        fault_methods=FAULT_METHODS), content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = POLICY
    return response


def toPage() -> Response:
    """``GET /``: to the control page (a JSON body, like every answer but the page)."""
    target = url_for("page.showPage")
    response = error_response(302, f"The control page is at {target}.")
    response.headers["Location"] = target
    return response


def init_app(app: Flask) -> None:
    """Serve the page with the control API, unless ``ADMIN_API`` is off."""
    if not app.config.get("ADMIN_API", True):
        return
    app.register_blueprint(page)
    app.add_url_rule("/", view_func=toPage, methods=["GET"])
