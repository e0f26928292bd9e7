"""A reward scored by an `rlcore serve-reward` server (rlcore/reward_server.py), e.g. a reward model on another
machine: `reward: {name: remote, url: http://127.0.0.1:8000, token_file: ~/.cache/rlcore/reward_server.token}`.

Requests are split into batches the server accepts; connection errors, timeouts and 502/503/504 are retried with
exponential backoff (urllib3's Retry). When the retries are spent the call raises, so the reward worker scores the
samples failure_score and the run goes on; for cooldown_s after that, calls fail at once instead of waiting out the
retries for every sample of the worker's one-by-one fallback.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import requests
from pydantic import Field
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from rewards.base import Reward, RewardConfig
from rlcore.registry import REWARDS
from rlcore.reward_server import is_loopback

log = logging.getLogger(__name__)


class RemoteConfig(RewardConfig):
    url: str = Field(..., pattern=r"^https?://", description="Base URL of the server, e.g. http://127.0.0.1:8000.")
    token_file: str | None = Field(
        None, description="File holding the bearer token; None reads it from the environment variable token_env."
    )
    token_env: str = Field("RLCORE_REWARD_TOKEN", description="Variable holding the token when token_file is None.")
    batch_size: int = Field(64, ge=1, description="Samples per request (fewer if the server's max_batch is lower).")
    request_timeout_s: float = Field(10.0, gt=0, description="Seconds to connect to and hear from the server.")
    retries: int = Field(3, ge=0, description="Retries of a request after a connection error, timeout or 502-504.")
    backoff_s: float = Field(
        0.5, ge=0, description="Exponential backoff: the n-th retry waits backoff_s × 2^(n-1), the first none."
    )
    cooldown_s: float = Field(10.0, ge=0, description="After the retries fail, calls fail at once for this long.")
    timeout_s: float = Field(120.0, gt=0, description="Seconds one scoring call may take, retries included.")


@REWARDS.register("remote")
class RemoteReward(Reward):
    Config = RemoteConfig
    config: RemoteConfig

    def __init__(self, config: RemoteConfig):
        super().__init__(config)
        self.url = config.url.rstrip("/")
        host = urlsplit(self.url).hostname or ""
        if self.url.startswith("http://") and not is_loopback(host):
            log.warning(
                "remote reward %s: plain HTTP to %s sends the bearer token unencrypted; use https", self.url, host
            )
        self.headers = {"Authorization": f"Bearer {read_token(config)}", "Content-Type": "application/json"}
        retry = Retry(
            total=config.retries,
            backoff_factor=config.backoff_s,
            status_forcelist=(502, 503, 504),
            allowed_methods=None,  # scoring has no side effects, so POST may be repeated
            raise_on_status=False,
        )
        self.session = requests.Session()
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))
        self.down_until = 0.0
        self.max_batch: int | None = None

    def score(self, samples: list[dict[str, Any]]) -> list[float]:
        if time.monotonic() < self.down_until:
            raise ConnectionError(f"reward server {self.url} was unreachable moments ago (cooldown_s)")
        try:
            if self.max_batch is None:
                self.max_batch = int(self._call("GET", "/health")["max_batch"])
            size = min(self.config.batch_size, self.max_batch)
            scores: list[float] = []
            for start in range(0, len(samples), size):
                chunk = samples[start : start + size]
                answer = self._call("POST", "/score", json.dumps({"samples": chunk}, default=_plain))
                scores += [np.nan if value is None else float(value) for value in answer["scores"]]
        except (requests.ConnectionError, requests.Timeout):
            self.down_until = time.monotonic() + self.config.cooldown_s
            raise
        return scores

    def _call(self, method: str, path: str, body: str | None = None) -> dict[str, Any]:
        response = self.session.request(
            method, self.url + path, data=body, headers=self.headers, timeout=self.config.request_timeout_s
        )
        if response.status_code != 200:
            raise RuntimeError(f"reward server {self.url}{path}: HTTP {response.status_code}: {response.text[:300]}")
        return response.json()


def read_token(config: RemoteConfig) -> str:
    if config.token_file:
        token = Path(config.token_file).expanduser().read_text().strip()
        source = f"token_file {config.token_file}"
    else:
        token, source = os.environ.get(config.token_env, "").strip(), f"${config.token_env}"
    if not token:
        raise ValueError(f"remote reward {config.url}: no bearer token in {source} (set token_file or token_env)")
    return token


def _plain(value: Any) -> Any:
    """numpy values in sample columns as JSON values."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    raise TypeError(f"a sample column holds a {type(value).__name__}, which cannot be sent as JSON")
