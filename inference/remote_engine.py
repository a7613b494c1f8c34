"""RemoteEngine: a model served elsewhere through an OpenAI-compatible completions API.

For users whose GPU is on another machine: llama.cpp's `llama-server`,
`python -m llama_cpp.server` and vLLM all serve `POST /v1/completions` with
`stream: true` (server-sent events). Standard library HTTP only, no new dependencies.

A background thread reads the event stream into a queue; the caller's thread polls that
queue and the CancelToken, and cancels by closing the connection, which also tells the
server to stop generating. So a cancel takes effect within a few milliseconds even while
the server is still working on the next token.
"""

from __future__ import annotations

import http.client
import json
import logging
import queue
import socket
import threading
import time
from typing import Iterator
from urllib.parse import urlsplit

from .engine import CancelToken, GenerationParams, GenerationStats, ProgressCallback
from .errors import GenerationError, ModelError, PromptTooLongError, SemcoderError, SettingsError
from .stop_filter import StopFilter
from .validation import check_generation_params

log = logging.getLogger("semcoder.remote")

_START_HINT = (
    "Start one with `python -m llama_cpp.server --model MODEL.gguf --host 127.0.0.1 --port 8000` "
    "or `llama-server -m MODEL.gguf`, or fix the server URL setting."
)


class RemoteEngine:
    """Streams completions from `base_url` (e.g. http://127.0.0.1:8000)."""

    def __init__(
        self,
        base_url: str,
        *,
        model: str | None = None,
        timeout_s: float = 60,
        api_key: str | None = None,
        n_ctx: int | None = None,
    ) -> None:
        parts = urlsplit(base_url.strip()) if isinstance(base_url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError(f"Invalid setting base_url={base_url!r}: it must be an http:// or https:// URL such as http://127.0.0.1:8000.")
        if not isinstance(timeout_s, (int, float)) or timeout_s <= 0:
            raise SettingsError(f"Invalid setting timeout_s={timeout_s!r}: it must be a number of seconds above 0.")
        if n_ctx is not None and (not isinstance(n_ctx, int) or n_ctx <= 0):
            raise SettingsError(f"Invalid setting n_ctx={n_ctx!r}: it must be a whole number of tokens above 0.")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        path = parts.path.rstrip("/")
        self._prefix = path[:-3] if path.endswith("/v1") else path  # accept .../v1 too
        self.base_url = f"{parts.scheme}://{parts.netloc}{self._prefix}"
        self.model = model
        self.timeout_s = float(timeout_s)
        self.api_key = api_key
        self._n_ctx_given = n_ctx
        self.n_ctx = n_ctx or 4096
        self._loaded = False
        self._tokenize_path: str | None = None  # which tokenize endpoint works; "" = none, None = not tried
        self._stats = GenerationStats()

    @property
    def model_id(self) -> str:
        return f"{self.base_url}#{self.model or 'default'}"

    @property
    def last_stats(self) -> GenerationStats:
        return self._stats

    # ------------------------------------------------------------- HTTP

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
        return cls(self._host, self._port, timeout=timeout)

    def _headers(self) -> dict:
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _unreachable(self, exc: BaseException, error=ModelError) -> SemcoderError:
        reason = "connection refused" if isinstance(exc, ConnectionRefusedError) else (
            "timed out" if isinstance(exc, (socket.timeout, TimeoutError)) else f"{type(exc).__name__}: {exc}"
        )
        return error(f"Cannot reach the model server at {self.base_url} ({reason}).", hint=_START_HINT)

    def _http_error(self, status: int, body: bytes, what: str) -> SemcoderError:
        detail = _error_detail(body)
        if status in (401, 403):
            return ModelError(f"The model server at {self.base_url} refused {what} (HTTP {status}): {detail}", hint="Check the API key setting.")
        lowered = detail.lower()
        if status == 400 and "context" in lowered and any(w in lowered for w in ("exceed", "too long", "tokens", "window")):
            return PromptTooLongError(f"The model server at {self.base_url} says the prompt does not fit its context: {detail}", hint="Shorten the code sent with the prompt or start the server with a larger context.")
        return GenerationError(f"The model server at {self.base_url} answered {what} with HTTP {status}: {detail}")

    def _request_json(self, method: str, path: str, body: dict | None = None, timeout: float | None = None):
        conn = self._connection(timeout or self.timeout_s)
        try:
            conn.request(method, self._prefix + path, body=json.dumps(body) if body is not None else None, headers=self._headers())
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise self._unreachable(exc) from None
        finally:
            conn.close()
        if response.status != 200:
            raise self._http_error(response.status, data, f"{method} {path}")
        try:
            return json.loads(data)
        except ValueError:
            raise GenerationError(f"The model server at {self.base_url} sent something that is not JSON for {path}.") from None

    # ------------------------------------------------------------- Engine API

    def load(self, progress: ProgressCallback | None = None) -> None:
        """Check that the server answers, and learn its model name and context size."""
        if self._loaded:
            return
        if progress:
            progress(0.0, f"connecting to {self.base_url}")
        models = self._request_json("GET", "/v1/models", timeout=min(self.timeout_s, 10))
        names = [m.get("id") for m in models.get("data", []) if isinstance(m, dict)]
        if self.model is None and names:
            self.model = names[0]
        elif self.model is not None and names and self.model not in names:
            log.warning("server %s lists models %s, not %s; sending it anyway", self.base_url, names, self.model)
        if self._n_ctx_given is None:
            self.n_ctx = self._server_context_size() or self.n_ctx
        self._loaded = True
        if progress:
            progress(1.0, f"connected to {self.base_url} ({self.model})")

    def _server_context_size(self) -> int | None:
        # llama-server reports it under /props; other servers do not say.
        try:
            props = self._request_json("GET", "/props", timeout=min(self.timeout_s, 10))
            n_ctx = props.get("default_generation_settings", {}).get("n_ctx") or props.get("n_ctx")
            return int(n_ctx) if n_ctx else None
        except (SemcoderError, ValueError, TypeError, AttributeError):
            return None

    def count_tokens(self, text: str) -> int:
        """Exact when the server has a tokenize endpoint (llama-server: /tokenize,
        llama_cpp.server: /extras/tokenize); otherwise an estimate of 1 token per 3 bytes."""
        self.load()
        if self._tokenize_path == "":  # known: this server cannot tokenize
            return len(text.encode("utf-8")) // 3 + 1
        candidates = [self._tokenize_path] if self._tokenize_path else ["/tokenize", "/extras/tokenize"]
        for path in candidates:
            # llama-server reads "content"/"add_special", vLLM "prompt"; llama_cpp.server
            # has its own endpoint taking "input".
            body = {"content": text, "prompt": text, "add_special": True} if path == "/tokenize" else {"input": text, "model": self.model}
            try:
                tokens = self._request_json("POST", path, body)["tokens"]
            except (SemcoderError, KeyError, TypeError):
                continue
            self._tokenize_path = path
            return len(tokens)
        self._tokenize_path = ""
        log.info("%s has no tokenize endpoint: token counts are estimates", self.base_url)
        return len(text.encode("utf-8")) // 3 + 1

    def stream(
        self,
        prompt: str,
        params: GenerationParams = GenerationParams(),
        cancel: CancelToken | None = None,
    ) -> Iterator[str]:
        check_generation_params(params)
        self.load()
        stats = GenerationStats()
        self._stats = stats
        n_prompt = self.count_tokens(prompt)
        stats.prompt_tokens = stats.evaluated_tokens = n_prompt
        if self._tokenize_path and n_prompt >= self.n_ctx:
            raise PromptTooLongError(
                f"The prompt needs {n_prompt} tokens but the server's context holds {self.n_ctx}.",
                hint="Shorten the code sent with the prompt or start the server with a larger context.",
            )
        body = {
            "prompt": prompt,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "min_p": 0.0,
            "stream": True,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        if self.model:
            body["model"] = self.model
        events: queue.SimpleQueue = queue.SimpleQueue()
        closing = threading.Event()
        conn = self._connection(self.timeout_s)
        started = time.perf_counter()
        reader = threading.Thread(target=self._read_events, args=(conn, body, events, closing), name="remote-engine-reader", daemon=True)
        reader.start()
        stop_filter = StopFilter(params.stop)
        finish = "length"
        # A cancel wakes this thread through the queue (as in LlamaCppEngine): no polling timer.
        unregister = cancel.on_cancel(lambda: events.put(("cancelled", None))) if cancel is not None else None
        try:
            while True:
                kind, value = events.get()
                if cancel is not None and cancel.cancelled:
                    finish = "cancelled"
                    break
                if kind == "error":
                    stats.finish_reason = "error"
                    raise value
                if kind == "done":
                    finish = value or finish
                    break
                if stats.time_to_first_token_s is None:
                    stats.time_to_first_token_s = time.perf_counter() - started
                stats.generated_tokens += 1
                stats.generation_s = time.perf_counter() - started
                shown = stop_filter.feed(value)
                if shown:
                    yield shown
                if stop_filter.stopped:
                    finish = "stop"
                    break
            if finish != "cancelled" and not stop_filter.stopped:
                tail = stop_filter.flush()
                if tail:
                    yield tail
        finally:
            if unregister is not None:
                unregister()
            closing.set()
            _close(conn)  # closing the stream is how a remote generation is cancelled
            stats.generation_s = time.perf_counter() - started
            if finish == "cancelled" or (cancel is not None and cancel.cancelled):
                stats.cancelled = True
                finish = "cancelled"
                if cancel.cancelled_at is not None:
                    stats.cancel_latency_s = time.perf_counter() - cancel.cancelled_at
            if stats.finish_reason != "error":
                stats.finish_reason = finish

    def _read_events(self, conn: http.client.HTTPConnection, body: dict, events: queue.SimpleQueue, closing: threading.Event) -> None:
        """Runs on the reader thread: SSE lines -> ("text", delta) / ("done", reason) / ("error", exc)."""
        try:
            conn.request("POST", self._prefix + "/v1/completions", body=json.dumps(body), headers=self._headers())
            response = conn.getresponse()
            if response.status != 200:
                events.put(("error", self._http_error(response.status, response.read(), "the completion request")))
                return
            finish = None
            finished = False
            for raw in response:
                line = raw.decode("utf-8", errors="replace").strip()
                if not line.startswith("data:"):
                    continue  # blank separators, comments, "event:" lines
                data = line[5:].strip()
                if data == "[DONE]":
                    finished = True
                    break
                chunk = json.loads(data)
                if "error" in chunk:
                    err = chunk["error"]
                    message = err.get("message", str(err)) if isinstance(err, dict) else str(err)
                    events.put(("error", GenerationError(f"The model server at {self.base_url} failed while generating: {message}")))
                    return
                choice = (chunk.get("choices") or [{}])[0]
                text = choice.get("text") or ""
                if text:
                    events.put(("text", text))
                finish = choice.get("finish_reason") or finish
            if not finished and finish is None:
                # The server hit an error after it had already answered 200 (llama_cpp.server
                # does this for a prompt longer than its context): say so, do not show "".
                events.put(("error", GenerationError(
                    f"The model server at {self.base_url} ended the stream without finishing the answer.",
                    hint="Its log says why; a prompt longer than the server's context is a common cause (set n_ctx to match the server).",
                )))
                return
            events.put(("done", finish))
        except Exception as exc:
            if closing.is_set():  # we closed the stream ourselves: nobody is listening
                return
            if isinstance(exc, ValueError):
                events.put(("error", GenerationError(f"The model server at {self.base_url} sent an event that is not JSON.")))
            elif isinstance(exc, (OSError, http.client.HTTPException)):
                events.put(("error", self._unreachable(exc, GenerationError)))
            else:
                events.put(("error", GenerationError(f"Reading the stream from {self.base_url} failed: {type(exc).__name__}: {exc}")))

    def close(self) -> None:
        self._loaded = False


def _close(conn: http.client.HTTPConnection) -> None:
    sock = conn.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)  # wakes the reader thread blocked in recv()
        except OSError:
            pass
    conn.close()


def _error_detail(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:300] or "(no details)"
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data))
        if isinstance(err, dict):
            return str(err.get("message", err))[:300]
        return str(err)[:300]
    return text[:300]
