"""The app as granian serves it: an ASGI application that reads each request's body on
granian's event loop, under the request timeout, and only then runs the Flask (WSGI) app
on one of its threads.

granian's own WSGI interface reads a body in the thread running the request, with no
timeout: a client that sent its headers and then stalled would hold that thread (at
``--threads 1``, every request) for as long as it liked. Here a stalled body costs a
waiting coroutine, never a thread, and gets a JSON ``408`` when the time is up, as nginx
answers on ``client_body_timeout``. A body over the size limit is read through (up to a
bound) and dropped, so that an ordinary client, which sends its whole body before it reads
the answer, gets the app's JSON ``400`` rather than a reset.

The environ is PEP 3333's, built from the ASGI scope; the response is the app's, sent
once the app has produced it (the app streams nothing). A response body that raises a
``ConnectionError`` (the control API's ``drop`` fault) cuts the connection: granian sends
no head without a body, so the head goes out and the body is cut short.
"""
from __future__ import annotations

import asyncio
import io
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Awaitable, Callable
from urllib.parse import unquote_to_bytes

from .app import SERVER

BODY_BROKEN = "Request body could not be read: it ended early or is malformed."

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Any]


class BodyBroken(Exception):
    """The request body stopped before its end: the client left or sent a malformed chunk."""


class BodyFirst:
    """ASGI application serving *wsgi_app* on *threads* threads, each request once its
    body is in. A body not complete *timeout* seconds after the request's headers gets a
    408; a body over *limit* bytes is read up to *bound* bytes and dropped (the app then
    refuses it from its length); a larger one is not read at all."""

    def __init__(self, wsgi_app: WsgiApp, threads: int, timeout: float, limit: int, bound: int):
        self.wsgi_app, self.timeout, self.limit, self.bound = wsgi_app, timeout, limit, bound
        self.threads = ThreadPoolExecutor(threads, thread_name_prefix="request")

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        try:
            async with asyncio.timeout(self.timeout):
                body, size = await self.read_body(scope, receive)
        except TimeoutError:
            await answer(send, 408, f"Request body not received within {self.timeout:g} s.")
            return
        except BodyBroken:
            await answer(send, 400, BODY_BROKEN)
            return
        environ = wsgi_environ(scope, body, size)
        loop = asyncio.get_running_loop()
        status, headers, content = await loop.run_in_executor(self.threads, self.run, environ)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if content is None:  # dropped: a body that ends before its Content-Length
            await send({"type": "http.response.body", "body": b"", "more_body": True})
            return
        await send({"type": "http.response.body", "body": content})

    async def read_body(self, scope: dict[str, Any], receive: Receive) -> tuple[bytes, int]:
        """The body and its size in bytes; only the size of a body over the limit (the
        app refuses it from its length). A body declared over the bound is not read."""
        declared = header(scope, b"content-length")
        if declared.isdigit() and int(declared) > self.bound:
            return b"", int(declared)
        chunks, size = [], 0
        more = True
        while more and size <= self.bound:
            message = await receive()
            if message["type"] != "http.request":  # http.disconnect
                raise BodyBroken
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= self.limit:
                chunks.append(chunk)
            more = message.get("more_body", False)
        return (b"".join(chunks) if size <= self.limit else b""), size

    def run(self, environ: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes | None]:
        """The app's answer to *environ*: its status, headers and body, no body if
        producing it raised a ``ConnectionError`` (on a thread)."""
        started: list[Any] = []
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, headers]
            return chunks.append  # WSGI's write()

        result = self.wsgi_app(environ, start_response)
        content: bytes | None = None
        try:
            content = b"".join([*chunks, *result])
        except ConnectionError:
            pass
        finally:
            if hasattr(result, "close"):
                result.close()
        status, headers = started
        return (int(status.split(" ", 1)[0]),
                [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers],
                content)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        """Start at once; stop the threads when granian stops the worker."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.threads.shutdown(wait=False)
                await send({"type": "lifespan.shutdown.complete"})
                return


def header(scope: dict[str, Any], name: bytes) -> str:
    """The value of the request header *name* (lower case), or ``""``."""
    return next((value.decode("latin-1") for key, value in scope["headers"] if key == name), "")


async def answer(send: Send, status: int, message: str) -> None:
    """Answer *message* as a JSON string, as the app answers errors, and close the
    connection (the rest of the body is not read)."""
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"connection", b"close"),
                            (b"server", SERVER.encode())]})
    await send({"type": "http.response.body", "body": json.dumps(message).encode()})


def wsgi_environ(scope: dict[str, Any], body: bytes, size: int) -> dict[str, Any]:
    """PEP 3333's environ for the ASGI HTTP *scope* whose body, *size* bytes long, is
    *body* (empty when over the limit). As waitress does, a chunked body is handed over
    whole, with its length as its Content-Length and no Transfer-Encoding."""
    server = scope.get("server") or ("localhost", 80)
    path = unquote_to_bytes(scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", ""),
        "PATH_INFO": path,
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if scope.get("client"):
        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = scope["client"][0], str(scope["client"][1])
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").upper().replace("-", "_"), raw_value.decode("latin-1")
        if name not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = "HTTP_" + name
        environ[name] = f"{environ[name]},{value}" if name in environ else value
    if environ.pop("HTTP_TRANSFER_ENCODING", None) is not None:
        environ["CONTENT_LENGTH"] = str(size)
    return environ
