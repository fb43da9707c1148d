"""ASGI guard in front of the app: Host allow-list, bearer-token check and request-body size limit.

Written as plain ASGI (not ``BaseHTTPMiddleware``) so it adds no task or stream copy per request.
"""

from __future__ import annotations

import contextvars
import hmac
import json
import logging
from typing import Any

log = logging.getLogger(__name__)

Scope = dict[str, Any]
OPEN_PATHS = frozenset({"/healthz"})


_FHIR_REQUEST: contextvars.ContextVar[bool] = contextvars.ContextVar("fhir_request", default=False)
"""True while a FHIR route (/v1/fhir/*, /metadata) is served: its errors are OperationOutcomes (issue 14)."""
_ISSUE_CODE = {400: "invalid", 401: "login", 413: "too-costly", 421: "security", 500: "exception"}


def _outcome(status: int, body: dict[str, Any]) -> dict[str, Any]:
    detail = (body.get("detail") or [{}])[0]
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "fatal" if status >= 500 else "error",
                "code": _ISSUE_CODE.get(status, "processing"),
                "diagnostics": detail.get("msg", ""),
            }
        ],
    }


async def _send_json(
    send: Any, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] = ()
) -> None:
    media = b"application/json"
    if _FHIR_REQUEST.get():
        body, media = _outcome(status, body), b"application/fhir+json"
    data = json.dumps(body, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", media), (b"content-length", str(len(data)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": data})


class Guard:
    """Refuse requests without the configured bearer token (401) or with a body over the limit (413)."""

    def __init__(
        self,
        app: Any,
        *,
        token: str | None,
        max_body_bytes: int,
        allowed_hosts: tuple[str, ...] | None = None,
        app_auth_prefix: str | None = None,
    ):
        self.app = app
        # paths under this prefix are authenticated by the app itself (CDS Hooks: a signed JWT or the token)
        self.app_auth_prefix = app_auth_prefix
        self.expected = f"Bearer {token}".encode() if token else None
        self.max_body = max_body_bytes
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        """ASGI entry: guard HTTP requests; an unexpected error becomes a 500 without its message logged."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        _FHIR_REQUEST.set(scope["path"].startswith("/v1/fhir/") or scope["path"] == "/metadata")

        async def tracking_send(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self._guarded(scope, receive, tracking_send)
        except Exception as exc:
            # Starlette answers 500 and re-raises; stop it here so the server does not log a traceback
            # whose messages may quote the payload. Only the exception type is logged.
            log.error("request failed: %s", type(exc).__name__)
            if not started:
                await _send_json(send, 500, {"detail": [{"loc": "", "msg": "internal error"}]})

    async def _guarded(self, scope: Scope, receive: Any, send: Any) -> None:
        headers = dict(scope["headers"])
        if self.allowed_hosts is not None:
            from .config import host_allowed

            host = headers.get(b"host", b"").decode("latin-1")
            if not host_allowed(host, self.allowed_hosts):
                # DNS rebinding: a page served from another name must not reach the queue
                await _send_json(
                    send,
                    421,
                    {
                        "detail": [
                            {
                                "loc": "header.host",
                                "msg": "host not allowed; configure allowed_hosts to serve other names",
                            }
                        ]
                    },
                )
                return
        app_auth = self.app_auth_prefix is not None and scope["path"].startswith(self.app_auth_prefix)
        if self.expected is not None and scope["path"] not in OPEN_PATHS and not app_auth:
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                await _send_json(
                    send,
                    401,
                    {"detail": [{"loc": "header.authorization", "msg": "missing or wrong bearer token"}]},
                    [(b"www-authenticate", b"Bearer")],
                )
                return
        length = headers.get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > self.max_body
            except ValueError:
                await _send_json(
                    send, 400, {"detail": [{"loc": "header.content-length", "msg": "not a number"}]}
                )
                return
            if too_big:
                await self._too_large(send)
                return
            await self.app(scope, receive, send)
            return
        # No Content-Length (chunked): read up to the limit here, then hand the body over in one piece.
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # client went away
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.max_body:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Any) -> None:
        await _send_json(
            send, 413, {"detail": [{"loc": "body", "msg": f"request body larger than {self.max_body} bytes"}]}
        )
