"""RemoteEngine: a model served elsewhere through an OpenAI-compatible completions API.

For users whose GPU is on another machine: llama.cpp's `llama-server`,
`python -m llama_cpp.server` and vLLM all serve `POST /v1/completions` with
`stream: true` (server-sent events). Standard library HTTP only, no new dependencies.

A background thread reads the event stream into a queue; the caller's thread polls that
queue and the CancelToken, and cancels by closing the connection, which also tells the
server to stop generating. So a cancel takes effect within a few milliseconds even while
the server is still working on the next token.

Two waits are limited separately: `first_token_timeout_s` from sending a completion request
to its first event (the server may be reading a long prompt on a CPU, or finishing another
client's request first: minutes), and `timeout_s` for connecting, for the small requests
(`/v1/models`, `/tokenize`) and between two events of a stream that has started.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import queue
import re
import socket
import threading
import time
from typing import Iterator
from urllib.parse import urlsplit

from .engine import CancelToken, GenerationParams, GenerationStats, ProgressCallback
from .errors import GenerationError, ModelError, PromptTooLongError, SemcoderError, SettingsError
from .llama_engine import MIN_P, TOP_K
from .stop_filter import StopFilter
from .validation import check_generation_params

log = logging.getLogger("semcoder.remote")

_START_HINT = (
    "Start one with `python -m llama_cpp.server --model MODEL.gguf --host 127.0.0.1 --port 8000` "
    "or `llama-server -m MODEL.gguf`, or fix the server URL setting."
)
_URL_HINT = "Point the server URL setting at the server's base address, such as http://127.0.0.1:8000 (the engine adds /v1/...)."

# The default wait for a completion's first event. A 6.7B model on a CPU server reads a
# 4,000-token prompt in one to three minutes, and llama_cpp.server runs one request at a
# time, so a request may also wait for another client's answer: 60 s (the wait between
# events) would call a busy server dead.
DEFAULT_FIRST_TOKEN_TIMEOUT_S = 300.0

# Sampling fields that are not in the OpenAI API but that llama.cpp's llama-server,
# llama_cpp.server and vLLM accept, sent so that a remote model samples as LlamaCppEngine
# does (llama_cpp.server's own defaults are min_p 0.05 and repeat_penalty 1.1), and the
# request for usage numbers at the end of the stream. A strict server that rejects one of
# them (HTTP 400/422 naming it) is asked again without them.
_OPTIONAL_FIELDS = ("top_k", "min_p", "repeat_penalty", "stream_options")

_BAD_URL_CHARS = re.compile(r"[\x00-\x20\x7f]")  # what http.client refuses in a request path
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value) -> int | None:
    """A positive whole number sent by a server (4096 or 4096.0), else None."""
    if isinstance(value, bool) or not _is_number(value) or value != int(value) or value <= 0:
        return None
    return int(value)


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
        first_token_timeout_s: float = DEFAULT_FIRST_TOKEN_TIMEOUT_S,
    ) -> None:
        parts, port = _parse_url(base_url)
        if not _is_number(timeout_s) or timeout_s <= 0:
            raise SettingsError(f"Invalid setting timeout_s={timeout_s!r}: it must be a number of seconds above 0.")
        if not _is_number(first_token_timeout_s) or first_token_timeout_s <= 0:
            raise SettingsError(f"Invalid setting first_token_timeout_s={first_token_timeout_s!r}: it must be a number of seconds above 0.")
        if n_ctx is not None and (not isinstance(n_ctx, int) or isinstance(n_ctx, bool) or n_ctx <= 0):
            raise SettingsError(f"Invalid setting n_ctx={n_ctx!r}: it must be a whole number of tokens above 0.")
        if model is not None and (not isinstance(model, str) or not model.strip()):
            raise SettingsError(f"Invalid setting model={model!r}: it must be the name of a model the server lists, or unset.")
        if api_key is not None:
            # http.client sends header values as Latin-1 and refuses line breaks; say so here
            # (without echoing the key) instead of failing inside a request.
            if not isinstance(api_key, str) or not api_key.isascii() or _CONTROL_CHARS.search(api_key):
                raise SettingsError("Invalid setting api_key: it must be plain ASCII text without line breaks or control characters.")
            api_key = api_key.strip() or None
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = port
        path = parts.path.rstrip("/")
        self._prefix = path[:-3] if path.endswith("/v1") else path  # accept .../v1 too
        self.base_url = f"{parts.scheme}://{parts.netloc}{self._prefix}"
        self.model = model
        self.timeout_s = float(timeout_s)
        # Never shorter than the wait between events.
        self.first_token_timeout_s = max(float(first_token_timeout_s), self.timeout_s)
        self.api_key = api_key
        self._n_ctx_given = n_ctx
        self.n_ctx = n_ctx or 4096
        self._loaded = False
        self._tokenize_path: str | None = None  # which tokenize endpoint works; "" = none, None = not tried
        self._send_optional = True  # False once the server refused one of _OPTIONAL_FIELDS
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
        """Connecting failed: nothing listens there (or a firewall drops the connection)."""
        reason = "connection refused" if isinstance(exc, ConnectionRefusedError) else (
            "timed out" if isinstance(exc, (socket.timeout, TimeoutError)) else f"{type(exc).__name__}: {exc}"
        )
        return error(f"Cannot reach the model server at {self.base_url} ({reason}).", hint=_START_HINT)

    def _broken(self, exc: BaseException, what: str, waited_s: float, setting: str, error=GenerationError) -> SemcoderError:
        """The server accepted the connection, then did not answer in time or hung up."""
        if isinstance(exc, (socket.timeout, TimeoutError)):
            named = setting
            if setting == "first_token_timeout_s":
                why = "It may still be reading a long prompt or finishing another client's request"
                cure = ", or use a faster server or a shorter prompt"
                named += " (semcoder.model.remoteTimeoutSeconds in the editor)"
            else:
                why, cure = "It may be overloaded or stuck", ""
            return error(
                f"The model server at {self.base_url} is running but did not answer {what} within {waited_s:g} s.",
                hint=f"{why}; raise the remote engine's {named} setting (now {waited_s:g} s){cure}.",
            )
        if isinstance(exc, http.client.RemoteDisconnected):
            reason = "it closed the connection without answering"
        else:
            reason = f"the connection broke ({type(exc).__name__}: {exc})" if str(exc) else f"the connection broke ({type(exc).__name__})"
        return error(
            f"The model server at {self.base_url} accepted {what} but {reason}.",
            hint="Its log says why (it may have crashed or restarted); a proxy in between can do this too.",
        )

    def _http_error(self, status: int, body: bytes, what: str, error=GenerationError) -> SemcoderError:
        detail = _error_detail(body)
        if status in (401, 403):
            return ModelError(f"The model server at {self.base_url} refused {what} (HTTP {status}): {detail}", hint="Check the API key setting.")
        lowered = detail.lower()
        if status == 400 and "context" in lowered and any(w in lowered for w in ("exceed", "too long", "tokens", "window")):
            return PromptTooLongError(f"The model server at {self.base_url} says the prompt does not fit its context: {detail}", hint="Shorten the code sent with the prompt or start the server with a larger context.")
        hint = _URL_HINT if status in (404, 405) else None  # no such endpoint there
        return error(f"The model server at {self.base_url} answered {what} with HTTP {status}: {detail}", hint=hint)

    def _request_json(self, method: str, path: str, body: dict | None = None, error=GenerationError):
        # Connecting gives up after 10 s at most (nothing listening is said quickly); the
        # answer may take timeout_s.
        conn = self._connection(min(self.timeout_s, 10))
        what = f"{method} {path}"
        try:
            try:
                conn.connect()
            except (OSError, http.client.HTTPException) as exc:
                raise self._unreachable(exc) from None
            conn.sock.settimeout(self.timeout_s)
            try:
                conn.request(method, self._prefix + path, body=json.dumps(body) if body is not None else None, headers=self._headers())
                response = conn.getresponse()
                data = response.read()
                content_type = response.getheader("Content-Type", "") or ""
            except (OSError, http.client.HTTPException) as exc:
                raise self._broken(exc, what, self.timeout_s, "timeout_s", error) from None
        finally:
            conn.close()
        if response.status != 200:
            raise self._http_error(response.status, data, what, error)
        try:
            return json.loads(data)
        except (ValueError, RecursionError):
            raise error(
                f"The model server at {self.base_url} answered {what} with {_describe_non_json(data, content_type)}: "
                "the URL does not look like an OpenAI-compatible server.",
                hint=_URL_HINT,
            ) from None

    # ------------------------------------------------------------- Engine API

    def load(self, progress: ProgressCallback | None = None) -> None:
        """Check that the server answers, and learn its model name and context size."""
        if self._loaded:
            return
        if progress:
            progress(0.0, f"connecting to {self.base_url}")
        models = self._request_json("GET", "/v1/models", error=ModelError)
        data = models.get("data") if isinstance(models, dict) else None
        if not isinstance(data, list):
            shown = _shorten(models)
            raise ModelError(
                f"The model server at {self.base_url} answered GET /v1/models with {shown}, not the model list "
                'an OpenAI-compatible server sends ({"data": [...]}): the URL does not look like one.',
                hint=_URL_HINT,
            )
        names = [m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]
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
            props = self._request_json("GET", "/props")
        except SemcoderError:
            return None
        if not isinstance(props, dict):
            return None
        settings = props.get("default_generation_settings")
        n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else None
        return _whole(n_ctx) or _whole(props.get("n_ctx"))

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
                answer = self._request_json("POST", path, body)
            except SemcoderError:
                continue
            tokens = answer.get("tokens") if isinstance(answer, dict) else None
            if not isinstance(tokens, list):
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
            "stream": True,
        }
        if self._send_optional:
            body.update(top_k=TOP_K, min_p=MIN_P, repeat_penalty=1.0, stream_options={"include_usage": True})
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        if self.model:
            body["model"] = self.model
        events: queue.SimpleQueue = queue.SimpleQueue()
        closing = threading.Event()
        links: list[http.client.HTTPConnection | socket.socket] = []  # what the reader opened, for closing
        started = time.perf_counter()
        reader = threading.Thread(target=self._read_events, args=(links, body, events, closing), name="remote-engine-reader", daemon=True)
        reader.start()
        stop_filter = StopFilter(params.stop)
        finish = ""  # what the server said; "" when it did not say
        usage = None
        chunks = 0
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
                if kind == "usage":
                    usage = value
                    continue
                if kind == "done":
                    finish = value or ""
                    break
                if chunks >= params.max_tokens:
                    # The server sends more than max_tokens (it ignores the field, or counts
                    # differently): each text event is one token here, as in the stats.
                    finish = "length"
                    break
                if stats.time_to_first_token_s is None:
                    stats.time_to_first_token_s = time.perf_counter() - started
                chunks += 1
                stats.generated_tokens = chunks
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
            _close_all(links)  # closing the stream is how a remote generation is cancelled
            stats.generation_s = time.perf_counter() - started
            _apply_usage(stats, usage, chunks)
            if finish == "cancelled" or (cancel is not None and cancel.cancelled):
                stats.cancelled = True
                finish = "cancelled"
                if cancel.cancelled_at is not None:
                    stats.cancel_latency_s = time.perf_counter() - cancel.cancelled_at
            if stats.finish_reason != "error":
                stats.finish_reason = finish

    def _read_events(self, links: list, body: dict, events: queue.SimpleQueue, closing: threading.Event) -> None:
        """Runs on the reader thread: SSE lines -> ("text", delta) / ("usage", dict) /
        ("done", reason or None) / ("error", exc)."""
        try:
            for attempt in range(2):
                conn = self._connection(min(self.timeout_s, 10))  # connecting: as in _request_json
                links.append(conn)
                try:
                    conn.connect()
                except (OSError, http.client.HTTPException) as exc:
                    if not closing.is_set():
                        events.put(("error", self._unreachable(exc, GenerationError)))
                    return
                # The socket itself: an HTTP/1.0 answer takes it away from `conn`.
                sock = conn.sock
                links.append(sock)
                if closing.is_set():  # cancelled while connecting
                    _close_all(links)
                    return
                sock.settimeout(self.first_token_timeout_s)
                try:
                    conn.request("POST", self._prefix + "/v1/completions", body=json.dumps(body), headers=self._headers())
                    response = conn.getresponse()
                except (OSError, http.client.HTTPException) as exc:
                    if not closing.is_set():
                        events.put(("error", self._broken(exc, "the completion request", self.first_token_timeout_s, "first_token_timeout_s")))
                    return
                if response.status == 200:
                    break
                data = response.read()
                refused = _refused_optional_field(response.status, data, body)
                if attempt == 0 and refused and not closing.is_set():
                    log.warning("%s refuses the field %r; asking again without the optional sampling fields", self.base_url, refused)
                    self._send_optional = False
                    body = {k: v for k, v in body.items() if k not in _OPTIONAL_FIELDS}
                    conn.close()
                    continue
                events.put(("error", self._http_error(response.status, data, "the completion request")))
                return
            self._read_stream(sock, response, events)
        except Exception as exc:
            if closing.is_set():  # we closed the stream ourselves: nobody is listening
                return
            events.put(("error", GenerationError(f"Reading the stream from {self.base_url} failed: {type(exc).__name__}: {exc}")))

    def _read_stream(self, sock: socket.socket, response: http.client.HTTPResponse, events: queue.SimpleQueue) -> None:
        content_type = response.getheader("Content-Type", "") or ""
        is_sse = "event-stream" in content_type.lower()
        finish = None
        finished = False
        seen_data = False
        waiting = ("the completion request", self.first_token_timeout_s, "first_token_timeout_s")
        try:
            for raw in response:
                line = raw.decode("utf-8", errors="replace").strip()
                if not line or line.startswith((":", "event:", "id:", "retry:")):
                    continue  # blank separators, comments, other SSE fields
                if not line.startswith("data:"):
                    if is_sse:
                        continue  # a field this client does not use
                    events.put(("error", self._not_a_stream(raw, content_type)))
                    return
                if not seen_data:
                    seen_data = True
                    # The server has started answering: from now on, each wait is for the next event.
                    sock.settimeout(self.timeout_s)
                    waiting = ("the next part of its answer", self.timeout_s, "timeout_s")
                data = line[5:].strip()
                if data == "[DONE]":
                    finished = True
                    break
                try:
                    chunk = json.loads(data)
                except (ValueError, RecursionError):
                    events.put(("error", GenerationError(f"The model server at {self.base_url} sent an event that is not JSON: {data[:120]}")))
                    return
                if isinstance(chunk, dict) and "error" in chunk:
                    err = chunk["error"]
                    message = err.get("message", str(err)) if isinstance(err, dict) else str(err)
                    events.put(("error", GenerationError(f"The model server at {self.base_url} failed while generating: {message}")))
                    return
                parsed = _parse_chunk(chunk)
                if parsed is None:
                    events.put(("error", GenerationError(
                        f"The model server at {self.base_url} sent an event that is not a completion chunk: {data[:120]}",
                        hint="The URL should be an OpenAI-compatible server's base address; this engine reads POST /v1/completions streams.",
                    )))
                    return
                text, reason, usage = parsed
                if usage:
                    events.put(("usage", usage))
                if text:
                    events.put(("text", text))
                finish = reason or finish
        except (OSError, http.client.HTTPException) as exc:
            what, waited, setting = waiting
            events.put(("error", self._broken(exc, what, waited, setting)))
            return
        if not seen_data and not is_sse:
            events.put(("error", self._not_a_stream(b"", content_type)))
            return
        if not finished and finish is None:
            # The server hit an error after it had already answered 200 (llama_cpp.server
            # does this for a prompt longer than its context): say so, do not show "".
            events.put(("error", GenerationError(
                f"The model server at {self.base_url} ended the stream without finishing the answer.",
                hint="Its log says why; a prompt longer than the server's context is a common cause (set n_ctx to match the server).",
            )))
            return
        events.put(("done", finish))

    def _not_a_stream(self, start: bytes, content_type: str) -> GenerationError:
        return GenerationError(
            f"The model server at {self.base_url} answered the completion request with {_describe_body(start, content_type)} "
            "instead of an event stream: the URL does not look like an OpenAI-compatible streaming endpoint.",
            hint=_URL_HINT + " A proxy's login page answers this way too.",
        )

    def close(self) -> None:
        self._loaded = False


def _parse_url(base_url) -> tuple:
    def bad(why: str) -> SettingsError:
        shown = _redacted(base_url) if isinstance(base_url, str) else base_url
        return SettingsError(f"Invalid setting base_url={shown!r}: {why}")

    example = "it must be an http:// or https:// URL such as http://127.0.0.1:8000."
    if not isinstance(base_url, str):
        raise bad(example)
    try:
        parts = urlsplit(base_url.strip())
    except ValueError as exc:  # "Invalid IPv6 URL"
        raise bad(f"{exc}; {example}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad(example)
    if parts.username is not None or parts.password is not None:
        # Never sent (http.client does not turn them into a header), and echoed in every
        # message that names the server: refused, without repeating the password.
        raise bad("it holds a user name or password, which this engine does not send; give the server's "
                  "address without them, and the key in the API key setting (sent as a Bearer token).")
    try:
        port = parts.port
    except ValueError:
        raise bad("its port must be a whole number from 1 to 65535.") from None
    if port == 0:
        raise bad("its port must be a whole number from 1 to 65535.")
    if _BAD_URL_CHARS.search(base_url.strip()):
        raise bad("it contains spaces or control characters.")
    return parts, port or (443 if parts.scheme == "https" else 80)


def _parse_chunk(chunk) -> tuple[str, str | None, dict | None] | None:
    """(text, finish_reason, usage) of one completion chunk, or None if it is not one."""
    if not isinstance(chunk, dict):
        return None
    usage = chunk.get("usage")
    usage = dict(usage, timings=chunk.get("timings")) if isinstance(usage, dict) else None
    choices = chunk.get("choices")
    if not choices:  # vLLM's usage chunk has no choices
        return "", None, usage
    if not isinstance(choices, list) or not isinstance(choices[0], dict):
        return None
    choice = choices[0]
    text = choice.get("text")
    if text is None and "delta" in choice:
        return None  # a chat completion stream, not /v1/completions
    if text is not None and not isinstance(text, str):
        return None
    reason = choice.get("finish_reason")
    return text or "", reason if isinstance(reason, str) and reason else None, usage


def _apply_usage(stats: GenerationStats, usage: dict | None, chunks: int) -> None:
    """Token counts from the server's usage numbers when it sent them, else the chunk count."""
    completion = _whole(usage.get("completion_tokens")) if usage else None
    if completion is None and usage and usage.get("completion_tokens") == 0:
        completion = 0
    if completion is None:
        stats.generated_tokens = chunks
        stats.extra["generated_tokens_counted"] = "chunks"
        return
    stats.generated_tokens = completion
    stats.extra["generated_tokens_counted"] = "server"
    prompt = _whole(usage.get("prompt_tokens"))
    if prompt is not None:
        stats.prompt_tokens = stats.evaluated_tokens = prompt
    timings = usage.get("timings")
    if isinstance(timings, dict):  # llama-server: prompt tokens evaluated and served from its cache
        evaluated, cached = timings.get("prompt_n"), timings.get("cache_n")
        if isinstance(evaluated, int) and isinstance(cached, int) and evaluated >= 0 and cached >= 0:
            stats.evaluated_tokens, stats.reused_tokens = evaluated, cached


def _refused_optional_field(status: int, body: bytes, sent: dict) -> str | None:
    """The optional field a 400/422 answer complains about, if any."""
    if status not in (400, 422):
        return None
    text = body.decode("utf-8", errors="replace")
    for name in _OPTIONAL_FIELDS:
        if name in sent and name in text:
            return name
    return None


def _shorten(value) -> str:
    try:
        text = json.dumps(value)
    except (ValueError, TypeError, RecursionError):
        text = type(value).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def _describe_body(start: bytes, content_type: str) -> str:
    head = start.lstrip()[:200].lower()
    kind = content_type.split(";")[0].strip().lower()
    if head.startswith((b"<!doctype", b"<html", b"<")) or kind == "text/html":
        return "an HTML page"
    if head.startswith(b"{") or kind == "application/json":
        return "a single JSON answer (not streamed)"
    if not head:
        return f"an empty {kind} answer" if kind else "an empty answer"
    return f"{kind} content" if kind else "content of no declared type"


def _describe_non_json(body: bytes, content_type: str) -> str:
    """What an answer that should have been JSON, and is not, is."""
    described = _describe_body(body, content_type)
    if described.startswith("a single JSON answer"):  # it looks like JSON, or says it is, but does not parse
        shown = body.decode("utf-8", errors="replace").strip()[:40]
        return f"a body that is not valid JSON (it starts {shown!r})" if shown else "an empty body"
    return described + ", not JSON"


def _redacted(url: str) -> str:
    """`url` without the password (or token) of its user part: http://user:***@host."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, path = rest.partition("/")
    if "@" not in netloc:
        return url
    userinfo, _, host = netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    shown = f"{user}:***" if ":" in userinfo else "***"
    return f"{scheme}://{shown}@{host}{slash}{path}"


def _close_all(links: list) -> None:
    for link in list(links):
        if isinstance(link, socket.socket):
            try:
                link.shutdown(socket.SHUT_RDWR)  # wakes the reader thread blocked in recv()
            except OSError:
                pass
        link.close()


def _error_detail(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return text[:300] or "(no details)"
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data))
        if isinstance(err, dict):
            return str(err.get("message", err))[:300]
        return str(err)[:300]
    return text[:300]
