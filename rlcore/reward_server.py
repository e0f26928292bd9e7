"""`rlcore serve-reward CONFIG`: the config's reward (any registered one, model-based included) over HTTP.

    POST /score   {"samples": [{"prompt": ..., "response_text": ..., "answer": ..., ...}, ...]}
                  -> {"scores": [float | null, ...]}  (null: not a finite number; the client scores it failed)
    GET  /health  -> {"status": "ok", "max_batch": N}  (no token: it tells only that the server is up)

Every other request needs `Authorization: Bearer <token>`; it is checked before the body is read, so a client
without the token gets 401 whatever it sends. Bodies over max_body_bytes get 413, batches over max_batch 413,
malformed requests 422; each rejection is logged with the client's address. The server binds 127.0.0.1 unless
told otherwise, and refuses to start on any other address without a token given to it.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import math
import os
import secrets
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rlcore.config import ConfigError, RunConfig

log = logging.getLogger("rlcore.reward_server")
TOKEN_ENV = "RLCORE_REWARD_TOKEN"
MIN_TOKEN_CHARS = 16


@dataclass(frozen=True)
class Limits:
    max_batch: int = 256
    max_body_bytes: int = 16 * 2**20

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.max_body_bytes < 1:
            raise ConfigError(f"max_batch and max_body_bytes must be at least 1 (got {self})")


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    samples: list[dict[str, Any]] = Field(min_length=1)


class ScoreResponse(BaseModel):
    scores: list[float | None]


def create_app(reward: Any, token: str, limits: Limits) -> ASGIApp:
    """The FastAPI app scoring with `reward`, behind the token and body-size guard."""
    app = FastAPI(title="rlcore reward", docs_url=None, redoc_url=None, openapi_url=None)
    lock = threading.Lock()  # one batch at a time: model rewards are not safe to call from several threads

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "max_batch": limits.max_batch}

    @app.post("/score")
    def score(body: ScoreRequest, request: Request) -> ScoreResponse:
        if len(body.samples) > limits.max_batch:
            _log_rejection(request.scope, 413, f"batch of {len(body.samples)} > max_batch {limits.max_batch}")
            raise HTTPException(413, f"batch of {len(body.samples)} samples is over max_batch={limits.max_batch}")
        try:
            with lock:
                scores = [float(value) for value in reward.score(body.samples)]
        except Exception as error:
            log.exception("reward %s failed on a batch of %d", reward.config.name, len(body.samples))
            raise HTTPException(500, f"reward {reward.config.name} failed: {type(error).__name__}: {error}") from None
        if len(scores) != len(body.samples):
            raise HTTPException(500, f"reward returned {len(scores)} scores for {len(body.samples)} samples")
        return ScoreResponse(scores=[value if math.isfinite(value) else None for value in scores])

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, error: RequestValidationError) -> Any:
        _log_rejection(request.scope, 422, f"{len(error.errors())} validation error(s)")
        return await request_validation_exception_handler(request, error)

    return TokenAndSizeGuard(app, token, limits.max_body_bytes)


class TokenAndSizeGuard:
    """ASGI middleware: 401 without the bearer token (before the body is read), 413 for a body over the limit
    (by Content-Length, and by counting the bytes of a body sent without one, e.g. chunked)."""

    def __init__(self, app: ASGIApp, token: str, max_body_bytes: int):
        self.app, self.token, self.max_body_bytes = app, token.encode(), max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/health":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        scheme, _, given = headers.get(b"authorization", b"").partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(given.strip(), self.token):
            reason = "wrong bearer token" if scheme.lower() == b"bearer" else "no bearer token"
            return await _reject(scope, receive, send, 401, reason, {"WWW-Authenticate": "Bearer"})
        length = headers.get(b"content-length", b"0")
        if not length.isdigit() or int(length) > self.max_body_bytes:
            return await _reject(scope, receive, send, 413, f"Content-Length {length.decode(errors='replace')}")
        body = b""  # read here, at most max_body_bytes, then handed to the app in one message
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                return await _reject(scope, receive, send, 413, f"body over {self.max_body_bytes} bytes")
            if not message.get("more_body"):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)


async def _reject(scope: Scope, receive: Receive, send: Send, status: int, reason: str, headers: Any = None) -> None:
    _log_rejection(scope, status, reason)
    await JSONResponse({"detail": reason}, status_code=status, headers=headers)(scope, receive, send)


def _log_rejection(scope: Scope, status: int, reason: str) -> None:
    client = scope.get("client") or ("?", 0)
    log.warning("rejected %s %s from %s:%s: %d %s", scope["method"], scope["path"], *client, status, reason)


def resolve_token(token_file: str | None, host: str) -> str:
    """The bearer token: from `token_file`, else $RLCORE_REWARD_TOKEN. Without either, a loopback server makes a
    random one and writes it to a file only this user can read; any other address is refused."""
    if token_file:
        token = Path(token_file).expanduser().read_text().strip()
        source = token_file
    else:
        token, source = os.environ.get(TOKEN_ENV, "").strip(), f"${TOKEN_ENV}"
    if token:
        if len(token) < MIN_TOKEN_CHARS:
            raise ConfigError(f"the token from {source} is shorter than {MIN_TOKEN_CHARS} characters")
        return token
    if not is_loopback(host):
        raise ConfigError(
            f"refusing to serve on {host} without a token: give --token-file FILE or set ${TOKEN_ENV} "
            "(only a server bound to a loopback address makes its own token)"
        )
    path = Path(os.environ.get("RLCORE_CACHE", Path.home() / ".cache" / "rlcore")) / "reward_server.token"
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(token + "\n")
    os.chmod(path, 0o600)  # an existing file keeps its mode through O_CREAT
    print(f"bearer token written to {path} (give it to the remote reward as token_file)", flush=True)
    return token


def is_loopback(host: str) -> bool:
    """True when every address `host` resolves to is a loopback address."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        return False
    return all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)


def serve(config: RunConfig, host: str, port: int, token_file: str | None, limits: Limits) -> int:
    """Build the reward the config names and serve it until interrupted; prints the address it listens on."""
    import uvicorn

    from rlcore.registry import REWARDS

    token = resolve_token(token_file, host)
    reward = REWARDS.get(config.reward.name)(config.reward)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.create_server((host, port), family=family)
    bound_port = listener.getsockname()[1]
    address = f"[{host}]" if family == socket.AF_INET6 else host
    print(f"serving reward {config.reward.name} on http://{address}:{bound_port}", flush=True)
    server = uvicorn.Server(uvicorn.Config(create_app(reward, token, limits), log_level="info"))
    server.run(sockets=[listener])
    return 0
