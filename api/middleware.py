"""Middleware: two small pure-ASGI layers around the routes.

- `RequestContextMiddleware` (outermost): request id (X-Request-ID in and out), one JSON log line
  and one metrics sample per request, and the catch-all that turns an unhandled exception into
  500 {"detail": "internal error", "request_id": ...} with the traceback in the log only.
- `BodyLimitMiddleware`: bodies over the limit get 413 before any route sees them. It checks
  Content-Length and also counts the bytes of chunked bodies, which carry no length. A body
  that takes longer than `timeout` seconds to arrive gets 408 and the connection is closed.
- `TrustedProxyMiddleware`: the client address is the peer's, unless the peer is a configured
  proxy (RAG_TRUSTED_PROXIES): then it is the last address in X-Forwarded-For that is not one
  of ours. Off by default, so a client cannot pick its own identity (and rate-limit bucket).

A client that hangs up before its response is logged and counted as 499 (nginx's "client
closed request"), not as a 500: it is not a server error and must not inflate the error rate.

    >>> app = BodyLimitMiddleware(app, limit=64 * 1024, timeout=30.0)
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.logs import request_id_var
from api.metrics import HttpMetrics

log = logging.getLogger("api")

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


async def send_json(send: Send, status: int, body: dict[str, Any], headers: Sequence = ()) -> None:
    """A whole JSON response, for the layers that answer before (or instead of) the app."""
    body = {**body, "request_id": request_id_var.get()}
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        *[(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


CLIENT_CLOSED = 499  # nginx's status for "the client closed the connection first"


class TrustedProxyMiddleware:
    """Replaces the ASGI client address with the one a trusted proxy forwarded."""

    def __init__(self, app: ASGIApp, trusted: Sequence[str]) -> None:
        self.app = app
        self.networks = [ipaddress.ip_network(t, strict=False) for t in trusted]

    def _trusted(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in net for net in self.networks)

    def client(self, peer: str, forwarded: str) -> str:
        """The client behind `peer`, given the X-Forwarded-For value `forwarded`: walking from
        the right (the hop nearest us), the first address that is not a trusted proxy. An
        untrusted peer's header is ignored; an unparseable hop ends the walk there."""
        if not self._trusted(peer):
            return peer
        client = peer
        for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                break  # garbage from the client side of the chain: keep the last good hop
            client = hop
            if not self._trusted(hop):
                break
        return client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.networks and scope.get("client"):
            peer, port = scope["client"]
            values = [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"]
            client = self.client(peer, ",".join(values))
            if client != peer:
                scope = {**scope, "client": (client, port)}
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """413 for request bodies over `limit` bytes, 408 for one not sent within `timeout`
    seconds; smaller bodies are read once and replayed."""

    def __init__(self, app: ASGIApp, limit: int, timeout: float = 30.0) -> None:
        self.app = app
        self.limit = limit
        self.timeout = timeout

    def _too_large(self) -> dict[str, Any]:
        kib = self.limit // 1024
        return {
            "detail": f"request body is over {self.limit} bytes ({kib} KiB), the limit for every "
            f"request and so for one document: send a smaller document, or split a long article "
            f"into parts of under {kib} KiB"
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            if length.isdigit():
                await send_json(send, 413, self._too_large())
            else:
                await send_json(send, 400, {"detail": "Content-Length is not a number"})
            return
        if length is None and b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body
            return
        chunks: list[bytes] = []
        size = 0
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0))
            except TimeoutError:
                detail = (
                    f"request body not received within {self.timeout:g} s: send the whole "
                    "body at once (or as fast as the network allows)"
                )
                await send_json(send, 408, {"detail": detail}, [("connection", "close")])
                return
            if message["type"] == "http.disconnect":
                return  # the client left; nobody to answer (logged as 499)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await send_json(send, 413, self._too_large(), [("connection", "close")])
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as servers do

        await self.app(scope, replay, send)


def _route_template(scope: Scope, routes: Sequence[BaseRoute]) -> str:
    """The route's path template (`/documents/{doc_id}`), so metrics have few label values."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    for candidate in routes:  # answered before routing (413), or not routed at all
        template = getattr(candidate, "path", None)  # None: a group of routes (a router)
        if isinstance(template, str) and candidate.matches(scope)[0] != Match.NONE:
            return template
    return "unmatched"


class RequestContextMiddleware:
    """Request id, access log, metrics, and the last line of defence against a 500 with a trace."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False
        disconnected = False

        async def receive_watching() -> Message:
            nonlocal disconnected
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected = True
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                headers["X-Content-Type-Options"] = "nosniff"
            await send(message)

        try:
            await self.app(scope, receive_watching, send_with_id)
            if not response_started and disconnected:
                status = CLIENT_CLOSED
        except ClientDisconnect:
            status = CLIENT_CLOSED
        except Exception:
            if disconnected and not response_started:
                status = CLIENT_CLOSED  # what failed was reading from a client that left
            else:
                log.exception("unhandled error in %s %s", scope["method"], scope["path"])
                if not response_started:
                    await send_json(send_with_id, 500, {"detail": "internal error"})
        finally:
            seconds = time.perf_counter() - started
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            self.metrics.observe(method, _route_template(scope, self.routes), status, seconds)
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "ms": round(seconds * 1000, 2),
                    "client": (scope.get("client") or ("-",))[0],
                },
            )
            request_id_var.reset(token)
