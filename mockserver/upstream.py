"""The HTTP client for a real Open Dental API (the cloud, a Local API or the API Service),
used by ``mockserver record`` and ``mockserver verify``.

The key pair comes from the environment only (OD_DEVELOPER_KEY, OD_CUSTOMER_KEY), so it
never appears in a file, a log line or the process list; it is sent in the Authorization
header (``ODFHIR {DeveloperKey}/{CustomerKey}``, apiimplementation.md) and in nothing this
module prints. Only GET is sent unless the caller allows writes. 429 and 5xx answers to a
GET are retried with exponential backoff by urllib3's ``Retry``, which waits as long as a
``Retry-After`` header asks.
"""
from __future__ import annotations

import os
import re
from typing import Any, Iterator, Mapping

import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

from .routes import AUTH_FORMAT, KEY, MEDIA_TYPE

DEVELOPER_KEY_VARIABLE = "OD_DEVELOPER_KEY"
CUSTOMER_KEY_VARIABLE = "OD_CUSTOMER_KEY"
CLOUD_URL = "https://api.opendental.com/api/v1"
RETRY_STATUSES = (429, 500, 502, 503, 504)
# the smallest page cap (the cloud's 100; the Local API and API Service send up to 1000):
# a page shorter than this is the last one whatever the upstream's cap
SMALLEST_PAGE = 100
MAX_PAGES = 100_000  # bounded paging: far more than any office holds
TIMEOUT = 65  # seconds: the API's own limit is 60 (its 504)


class UpstreamError(Exception):
    """The upstream cannot be used: unreachable, refused the keys, or answered an error
    (its ``status``; None when there was no answer). The message says what to check; it
    never holds the keys."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def keys_from_environment(environ: Mapping[str, str] = os.environ) -> tuple[str, str]:
    """(developer key, customer key) from OD_DEVELOPER_KEY and OD_CUSTOMER_KEY."""
    keys = []
    for name in (DEVELOPER_KEY_VARIABLE, CUSTOMER_KEY_VARIABLE):
        value = environ.get(name, "").strip()
        if not re.fullmatch(KEY, value):
            raise UpstreamError(
                f"{name} must hold your {'developer' if name == DEVELOPER_KEY_VARIABLE else 'customer'} "
                f"key (set it in the environment: keys are never taken from options or files); "
                f"it is {'not set' if not value else 'not a key: no spaces or slashes'}.")
        keys.append(value)
    return keys[0], keys[1]


def media_type_of(response: requests.Response) -> str:
    """The media type of *response*'s Content-Type, without its parameters."""
    return response.headers.get("Content-Type", "").split(";")[0].strip()


class Upstream:
    """A session on an upstream API base URL (``.../api/v1``)."""

    def __init__(self, base_url: str, developer_key: str, customer_key: str, *,
                 allow_writes: bool = False, retries: int = 5, backoff: float = 1.0,
                 timeout: float = TIMEOUT):
        self.base_url = base_url.rstrip("/")
        self.allow_writes = allow_writes
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers.update({"Authorization": AUTH_FORMAT.format(
                                         DeveloperKey=developer_key, CustomerKey=customer_key),
                                     "Content-Type": MEDIA_TYPE, "Accept": MEDIA_TYPE})
        retry = Retry(total=retries, backoff_factor=backoff, status_forcelist=RETRY_STATUSES,
                      allowed_methods=frozenset({"GET"}), respect_retry_after_header=True,
                      raise_on_status=False)
        adapter = HTTPAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "Upstream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, method: str, path: str, params: Mapping[str, Any] | None = None, *,
             json: Any = None, headers: Mapping[str, str | None] | None = None) -> requests.Response:
        """One request to ``base_url + path``, answered with any status; *headers* override
        the session's (None drops one). UpstreamError if the upstream cannot be reached or a
        write was not allowed."""
        if method != "GET" and not self.allow_writes:
            raise UpstreamError(f"{method} {path} refused: only GET is sent to the upstream "
                                "unless --allow-writes is given.")
        try:
            return self.session.request(method, self.base_url + path, params=params, json=json,
                                        headers=dict(headers or {}), timeout=self.timeout)
        except requests.RequestException as exc:
            raise UpstreamError(f"cannot reach {self.base_url}: {type(exc).__name__}: "
                                f"{exc.__context__ or exc}") from None

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET *path*: the decoded JSON of a 200; UpstreamError for any other answer."""
        response = self.send("GET", path, params)
        if response.status_code != 200:
            raise UpstreamError(self.explain(response), response.status_code)
        try:
            return response.json()
        except ValueError:
            raise UpstreamError(f"{self.where(response)} answered 200 with a body that is not "
                                f"JSON: {response.text[:200]!r}") from None

    def pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[list[Any]]:
        """GET *path* page after page (Offset by the items received) until a short one."""
        offset = 0
        for _ in range(MAX_PAGES):
            page = self.get(path, {**(params or {}), "Offset": offset})
            if not isinstance(page, list):
                raise UpstreamError(f"GET {path} answered {type(page).__name__}, not a list")
            yield page
            if len(page) < SMALLEST_PAGE:
                return
            offset += len(page)

    def where(self, response: requests.Response) -> str:
        """``GET <url>`` of a response, for messages."""
        return f"{response.request.method} {response.url}"

    def explain(self, response: requests.Response) -> str:
        """What an error answer means for the user, with the upstream's own message."""
        status, body = response.status_code, response.text[:300]
        said = f"{self.where(response)} answered {status}: {body}"
        if status in (401, 403):
            return (f"{said}\nThe upstream refused the key pair: check that OD_DEVELOPER_KEY "
                    "is your developer key, OD_CUSTOMER_KEY the office's customer key, that "
                    "neither is disabled, and that the developer key has the ApiReadAll "
                    "permission (writes need more).")
        if status == 404:
            return (f"{said}\nThe upstream has no such resource: check that --upstream is the "
                    f"API's base URL ending in /api/v1 (the cloud's is {CLOUD_URL}; a Local "
                    "API's http://localhost:30222/api/v1).")
        if status in RETRY_STATUSES:
            return f"{said}\nThe upstream is busy or failing; retries did not help: try later."
        return said
