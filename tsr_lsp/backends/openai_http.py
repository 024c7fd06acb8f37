"""Any OpenAI-compatible endpoint (llama-server, llama_cpp.server, vLLM, Ollama, LM Studio).

Standard library only (http.client): chat completions and completions, streamed as
server-sent events. The API key is read from the environment variable the profile names, at
request time; it is never logged, stored or put into an error message. ``timeout_s`` bounds
connecting and every wait for data, so a stalled server fails within it; 429 and 5xx
answers are retried with exponential backoff (honouring Retry-After) before any token
has been streamed.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tsr_lsp.backends.base import (
    BackendError,
    Capabilities,
    GenerationCancelled,
    GenerationRequest,
    GenerationResult,
    ModelLoadError,
    PrefillResult,
    StreamTimer,
    TokenCallback,
    is_cancelled,
)
from tsr_lsp.config import ModelProfile

RETRY_STATUS = {429, 500, 502, 503, 504}
Opened = tuple[http.client.HTTPConnection, http.client.HTTPResponse, socket.socket | None]
BACKOFF_S = 0.5
MAX_ERROR_BODY = 200


@dataclass(frozen=True)
class Endpoint:
    scheme: str
    host: str
    port: int
    base: str  # path prefix, e.g. "/v1"

    @classmethod
    def parse(cls, url: str, profile_name: str) -> Endpoint:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ModelLoadError(
                f"profile {profile_name!r}: url {url!r} is not an http(s) URL; "
                "use e.g. http://127.0.0.1:8080/v1"
            )
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"))

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{self.base}"


class HttpError(BackendError):
    def __init__(self, message: str, status: int = 0, retry_after: float = 0.0):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class OpenAIHttpBackend:
    name = "openai_http"

    def __init__(self, profile_name: str, profile: ModelProfile):
        self.profile_name = profile_name
        self.profile = profile
        self.capabilities = Capabilities(
            can_fim=bool(profile.fim_template), context_length=profile.n_ctx
        )
        self.endpoint: Endpoint | None = None
        self.model = profile.model

    # ------------------------------------------------------------------ lifecycle
    def load(self) -> None:
        """Check the endpoint answers like an OpenAI server (GET /models)."""
        if not self.profile.url:
            raise ModelLoadError(
                f"profile {self.profile_name!r} has no url; set e.g. url = "
                '"http://127.0.0.1:8080/v1"'
            )
        self.endpoint = Endpoint.parse(self.profile.url, self.profile_name)
        self._headers()  # a missing API key is a load error, not a surprise later
        try:
            status, body = self._request_json("GET", "/models", None)
        except BackendError as exc:
            raise ModelLoadError(str(exc)) from exc
        if status == 404:  # some servers have no /models; generation will tell
            return
        models = body.get("data") if isinstance(body, dict) else None
        if not isinstance(models, list):
            raise ModelLoadError(
                f"{self.endpoint.url}/models did not answer like an OpenAI-compatible server "
                "(no 'data' list); is the url the API base, e.g. http://host:8080/v1?"
            )
        if not self.model and models and isinstance(models[0], dict):
            self.model = str(models[0].get("id") or "")

    def close(self) -> None:
        self.endpoint = None

    def memory_mb(self) -> float:
        return float(self.profile.memory_mb)  # the model lives on the server

    def count_tokens(self, text: str) -> int:
        """An estimate (about 4 characters a token): the wire has no tokenizer."""
        return max(1, len(text) // 4) if text else 0

    def prefill(
        self, request: GenerationRequest, cancel: threading.Event | None = None
    ) -> PrefillResult:
        return PrefillResult(0, 0, 0.0)  # the server manages its own cache

    # ------------------------------------------------------------------ HTTP
    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        env = self.profile.api_key_env
        if env:
            key = os.environ.get(env)
            if not key:
                raise ModelLoadError(
                    f"profile {self.profile_name!r} reads its API key from ${env}, "
                    "which is not set; export it before starting tsr-lsp"
                )
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _connect(self) -> http.client.HTTPConnection:
        ep = self.endpoint
        if ep is None:
            raise BackendError(f"profile {self.profile_name!r} is not loaded")
        timeout = self.profile.timeout_s
        if ep.scheme == "https":
            return http.client.HTTPSConnection(
                ep.host, ep.port, timeout=timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(ep.host, ep.port, timeout=timeout)

    def _open(self, method: str, path: str, payload: dict[str, Any] | None) -> Opened:
        """One attempt: connect, send, read the status line. Raises HttpError."""
        assert self.endpoint is not None
        url = self.endpoint.url + path
        conn = self._connect()
        body = json.dumps(payload).encode() if payload is not None else None
        try:
            conn.request(method, self.endpoint.base + path, body=body, headers=self._headers())
            sock = conn.sock  # getresponse() may hand it to the response and forget it
            resp = conn.getresponse()
        except ConnectionRefusedError as exc:
            conn.close()
            raise HttpError(
                f"cannot connect to {url}: connection refused; is the server running "
                f"(profile {self.profile_name!r})?"
            ) from exc
        except TimeoutError as exc:
            conn.close()
            raise HttpError(
                f"{url} did not answer within {self.profile.timeout_s:g}s "
                "(timeout_s in the profile)"
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise HttpError(f"{url}: connection failed ({type(exc).__name__}: {exc})", 503) from exc
        if resp.status >= 400:
            text = _read_limited(resp)
            conn.close()
            raise _status_error(url, resp.status, text, resp.getheader("Retry-After"), self)
        return conn, resp, sock

    def _open_with_retries(
        self, method: str, path: str, payload: dict[str, Any] | None, cancel: threading.Event | None
    ) -> Opened:
        attempt = 0
        while True:
            try:
                return self._open(method, path, payload)
            except HttpError as exc:
                if exc.status not in RETRY_STATUS or attempt >= self.profile.max_retries:
                    raise
                wait = max(exc.retry_after, BACKOFF_S * 2**attempt)
                wait = min(wait, self.profile.timeout_s)
                attempt += 1
                if cancel is not None and cancel.wait(wait):
                    raise GenerationCancelled(
                        GenerationResult("", finish_reason="cancelled")
                    ) from exc
                if cancel is None:
                    time.sleep(wait)

    def _request_json(
        self, method: str, path: str, payload: dict[str, Any] | None
    ) -> tuple[int, Any]:
        assert self.endpoint is not None
        try:
            conn, resp, _sock = self._open_with_retries(method, path, payload, None)
        except HttpError as exc:
            if exc.status == 404:
                return 404, None
            raise
        try:
            raw = _read_all(resp, self.endpoint.url + path, self.profile.timeout_s)
        finally:
            conn.close()
        return resp.status, _parse_json(raw, self.endpoint.url + path)

    # ------------------------------------------------------------------ generation
    def _payload(self, request: GenerationRequest) -> tuple[str, dict[str, Any]]:
        payload: dict[str, Any] = {
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "stream": True,
        }
        if self.model:
            payload["model"] = self.model
        if request.stop:
            payload["stop"] = request.stop
        if request.seed is not None:
            payload["seed"] = request.seed
        if request.messages is not None:
            return "/chat/completions", {**payload, "messages": request.messages}
        prompt = request.prompt or ""
        if request.suffix is not None:
            if not self.profile.fim_template:
                raise BackendError(
                    f"profile {self.profile_name!r}: fill-in-the-middle needs fim_template "
                    'in the profile, e.g. "<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}'
                    '<|fim_middle|>"'
                )
            prompt = self.profile.fim_template.replace("{prefix}", prompt).replace(
                "{suffix}", request.suffix
            )
        return "/completions", {**payload, "prompt": prompt}

    def generate(
        self,
        request: GenerationRequest,
        on_token: TokenCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        path, payload = self._payload(request)
        timer = StreamTimer(on_token)
        conn, resp, sock = self._open_with_retries("POST", path, payload, cancel)
        assert self.endpoint is not None
        url = self.endpoint.url + path
        done = threading.Event()
        if cancel is not None:  # a read blocked on a slow server ends when cancel is set
            watcher = threading.Thread(target=_close_on_cancel, args=(sock, cancel, done))
            watcher.daemon = True
            watcher.start()
        finish = "stop"
        usage: dict[str, Any] = {}
        try:
            ctype = resp.getheader("Content-Type") or ""
            if "text/event-stream" not in ctype:  # a server that ignored stream=true
                data = _parse_json(_read_all(resp, url, self.profile.timeout_s), url)
                choice = _first_choice(data, url)
                timer.add(_choice_text(choice))
                finish = str(choice.get("finish_reason") or "stop")
                usage = data.get("usage") or {}
            else:
                for event in _sse_events(resp, url, self.profile.timeout_s, cancel):
                    if event.get("usage"):
                        usage = event["usage"]
                    if not event.get("choices"):
                        continue
                    choice = _first_choice(event, url)
                    timer.add(_choice_text(choice))
                    if choice.get("finish_reason"):
                        finish = str(choice["finish_reason"])
                    if is_cancelled(cancel):
                        break
        except BackendError:
            if is_cancelled(cancel):
                raise GenerationCancelled(timer.result("cancelled")) from None
            raise
        finally:
            done.set()
            resp.close()
            conn.close()
        if is_cancelled(cancel):
            raise GenerationCancelled(timer.result("cancelled"))
        return timer.result(
            finish,
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or len(timer.pieces)),
        )


# ---------------------------------------------------------------------- helpers (pure-ish)


def _close_on_cancel(
    sock: socket.socket | None, cancel: threading.Event, done: threading.Event
) -> None:
    while not done.is_set():
        if cancel.wait(0.05):
            if sock is not None and not done.is_set():
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            return


def _status_error(
    url: str, status: int, text: str, retry_after: str | None, backend: OpenAIHttpBackend
) -> HttpError:
    try:
        wait = float(retry_after) if retry_after else 0.0
    except ValueError:
        wait = 0.0
    detail = text.strip().replace("\n", " ")[:MAX_ERROR_BODY]
    if status in (401, 403):
        env = backend.profile.api_key_env
        hint = f"check the key in ${env}" if env else "set api_key_env in the profile"
        return HttpError(f"{url} refused the request ({status}): {hint}", status)
    if status == 404:
        return HttpError(
            f"{url} not found (404); is the url the API base, e.g. http://host:8080/v1?", status
        )
    return HttpError(f"{url} answered {status}: {detail or 'no details'}", status, wait)


def _read_limited(resp: http.client.HTTPResponse) -> str:
    try:
        return resp.read(4096).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        return ""


def _read_all(resp: http.client.HTTPResponse, url: str, timeout: float) -> bytes:
    try:
        return resp.read()
    except TimeoutError as exc:
        raise BackendError(f"{url} stalled: no data for {timeout:g}s (timeout_s)") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise BackendError(f"{url}: the connection broke ({type(exc).__name__})") from exc


def _parse_json(raw: bytes, url: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        snippet = raw[:60].decode("utf-8", "replace")
        raise BackendError(
            f"{url} returned something that is not an OpenAI-compatible JSON answer "
            f"({snippet!r}); check the url"
        ) from None


def _sse_events(
    resp: http.client.HTTPResponse, url: str, timeout: float, cancel: threading.Event | None
) -> Iterator[dict[str, Any]]:
    """Parse ``data:`` lines of a server-sent event stream until ``[DONE]``."""
    while True:
        try:
            line = resp.readline()
        except TimeoutError as exc:
            raise BackendError(f"{url} stalled: no data for {timeout:g}s (timeout_s)") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise BackendError(f"{url}: the stream broke ({type(exc).__name__})") from exc
        if not line:
            if is_cancelled(cancel):
                return
            raise BackendError(f"{url} closed the stream before [DONE]")
        line = line.strip()
        if not line or line.startswith(b":"):  # keep-alive comment or event separator
            continue
        if not line.startswith(b"data:"):
            if line.startswith((b"event:", b"id:", b"retry:")):
                continue
            raise BackendError(
                f"{url} sent a line that is not server-sent events "
                f"({line[:60].decode('utf-8', 'replace')!r})"
            )
        data = line[5:].strip()
        if data == b"[DONE]":
            return
        event = _parse_json(data, url)
        if not isinstance(event, dict):
            raise BackendError(f"{url} sent an event that is not a JSON object")
        if "error" in event:
            raise BackendError(f"{url} reported an error: {str(event['error'])[:MAX_ERROR_BODY]}")
        yield event


def _first_choice(data: Any, url: str) -> dict[str, Any]:
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise BackendError(f"{url} answered without 'choices'; not an OpenAI-compatible server?")
    return choices[0]


def _choice_text(choice: dict[str, Any]) -> str:
    if "delta" in choice:
        return str((choice.get("delta") or {}).get("content") or "")
    if "message" in choice:
        return str((choice.get("message") or {}).get("content") or "")
    return str(choice.get("text") or "")
