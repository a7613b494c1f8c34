"""RemoteEngine against a real OpenAI-compatible server: `python -m llama_cpp.server`
running the tiny model on 127.0.0.1, started and ended by these tests."""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from semcoder_inference.engine import CancelToken, Engine, GenerationParams
from semcoder_inference.errors import GenerationError, ModelError, PromptTooLongError, SettingsError
from semcoder_inference.llama_engine import LlamaCppEngine
from semcoder_inference.remote_engine import RemoteEngine

SERVER_CTX = 512
PROMPT = "def add(a, b):\n    return a + b\n\nassert add(1, 2) == "


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(model_path, log_path):
    port = _free_port()
    log_file = open(log_path, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", str(SERVER_CTX), "--n_threads", "1"],
        stdout=log_file, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(url + "/v1/models", timeout=2) as r:
                    if r.status == 200:
                        return proc, log_file, url
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
    except BaseException:
        _stop_server(proc, log_file)
        raise


def _stop_server(proc, log_file):
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=3)  # a server stuck in the deadlock above ignores SIGTERM
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)
    log_file.close()


@pytest.fixture(scope="module")
def server(tiny_model, tmp_path_factory):
    proc, log_file, url = _start_server(tiny_model.gguf_q8_0, tmp_path_factory.mktemp("llama-server") / "server.log")
    yield url
    _stop_server(proc, log_file)


@pytest.fixture
def own_server(tiny_model, tmp_path):
    """A server for one test. llama_cpp.server 0.3.36 can deadlock after a client closes a
    stream early (curl shows the same: its producer blocks on a full channel while holding
    the model lock), so tests that cancel do not share a server with the others."""
    proc, log_file, url = _start_server(tiny_model.gguf_q8_0, tmp_path / "server.log")
    yield url
    _stop_server(proc, log_file)


@pytest.fixture
def remote(server):
    return RemoteEngine(server, n_ctx=SERVER_CTX, timeout_s=30)


def test_streams_from_a_real_server_and_matches_the_local_engine(remote, tiny_model):
    assert isinstance(remote, Engine)
    params = GenerationParams(max_tokens=12, temperature=0.0)
    deltas = list(remote.stream(PROMPT, params))
    assert len(deltas) >= 2 and all(deltas)
    stats = remote.last_stats
    assert stats.generated_tokens >= 2 and stats.finish_reason == "length"
    assert stats.time_to_first_token_s is not None
    local = LlamaCppEngine(str(tiny_model.gguf_q8_0), n_ctx=SERVER_CTX)
    try:
        # Same model, same greedy decoding: same text, whichever side runs it.
        assert "".join(deltas) == "".join(local.stream(PROMPT, params))
        assert remote.count_tokens(PROMPT) == local.count_tokens(PROMPT)
    finally:
        local.close()
    assert remote.model and remote.model_id.startswith(remote.base_url)


def test_stop_strings(remote):
    full = "".join(remote.stream(PROMPT, GenerationParams(max_tokens=30, temperature=0.0)))
    stop = full[8:12]
    cut = "".join(remote.stream(PROMPT, GenerationParams(max_tokens=30, temperature=0.0, stop=(stop,))))
    assert cut == full[: full.find(stop)]
    assert remote.last_stats.finish_reason == "stop"


def test_cancel_closes_the_stream(own_server):
    remote = RemoteEngine(own_server, n_ctx=SERVER_CTX, timeout_s=30)
    cancel = CancelToken()
    got = []
    for delta in remote.stream(PROMPT, GenerationParams(max_tokens=400, temperature=1.0, seed=3), cancel=cancel):
        got.append(delta)
        if len(got) == 3:
            cancel.cancel()
    stats = remote.last_stats
    assert stats.cancelled and stats.finish_reason == "cancelled"
    assert len(got) == 3
    assert stats.cancel_latency_s is not None and stats.cancel_latency_s < 0.5


def test_cancel_from_another_thread_while_waiting(tiny_model, tmp_path):
    """Cancel while the caller is blocked waiting for the next event: it must not wait for
    the server. A server that accepts the request and then says nothing stands in for a
    slow one."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    engine = RemoteEngine(f"http://127.0.0.1:{listener.getsockname()[1]}", n_ctx=SERVER_CTX, timeout_s=30)
    engine._loaded = True  # skip /v1/models: this fake server never answers
    engine._tokenize_path = None
    engine.count_tokens = lambda text: len(text) // 3 + 1
    cancel = CancelToken()
    timer = threading.Timer(0.3, cancel.cancel)
    timer.start()
    started = time.perf_counter()
    try:
        assert list(engine.stream(PROMPT, GenerationParams(max_tokens=50), cancel=cancel)) == []
    finally:
        timer.join()
        listener.close()
    assert engine.last_stats.finish_reason == "cancelled"
    assert time.perf_counter() - started < 2
    assert engine.last_stats.cancel_latency_s < 0.2


def test_prompt_too_long(remote):
    with pytest.raises(PromptTooLongError, match="context holds 512"):
        next(remote.stream(PROMPT * 60, GenerationParams(max_tokens=4)))


def test_server_error_after_200_is_reported(server):
    # Without knowing the server's context, the client sends the long prompt; llama_cpp.server
    # answers 200 and then breaks off the stream. That must not look like an empty answer.
    blind = RemoteEngine(server, timeout_s=30)
    with pytest.raises(GenerationError, match="ended the stream without finishing"):
        list(blind.stream(PROMPT * 60, GenerationParams(max_tokens=4)))


def test_connection_refused_is_a_clear_error():
    engine = RemoteEngine(f"http://127.0.0.1:{_free_port()}", timeout_s=5)
    with pytest.raises(ModelError) as info:
        engine.load()
    message = str(info.value)
    assert "Cannot reach the model server" in message and "connection refused" in message
    assert "llama_cpp.server" in message


class _ErrorHandler(http.server.BaseHTTPRequestHandler):
    """A server that refuses everything with 401, like one that wants an API key."""

    def _answer(self):
        body = json.dumps({"error": {"message": "invalid api key"}}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


def test_http_errors_are_explained():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ErrorHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        engine = RemoteEngine(f"http://127.0.0.1:{httpd.server_address[1]}/v1", api_key="wrong")
        with pytest.raises(ModelError) as info:
            engine.load()
        assert "HTTP 401" in str(info.value) and "invalid api key" in str(info.value) and "API key" in str(info.value)
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize("url", ["", "127.0.0.1:8000", "ftp://host/x"])
def test_invalid_url_setting(url):
    with pytest.raises(SettingsError, match="base_url"):
        RemoteEngine(url)


def test_base_url_with_v1_suffix_is_accepted(server):
    engine = RemoteEngine(server + "/v1/", n_ctx=SERVER_CTX)
    assert engine.base_url == server
    assert "".join(engine.stream(PROMPT, GenerationParams(max_tokens=2, temperature=0.0)))


# ------------------------------------------------------------------ a scripted fake server
# Each test picks the fake server's behaviour with the first part of the URL path:
# http://127.0.0.1:PORT/<mode>/v1/...  It records the last completion request's body.


def _sse(obj) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def _chunk(text, finish=None) -> bytes:
    return _sse({"choices": [{"text": text, "index": 0, "finish_reason": finish}]})


class _FakeHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    bodies: list = []
    release = threading.Event()  # set at teardown: ends the "hang" modes

    def log_message(self, *args):
        pass

    def _send(self, code, body: bytes, ctype="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, parts, delay=0.0):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for part in parts:
            self.wfile.write(part)
            self.wfile.flush()
            if delay:
                self.release.wait(delay)

    def _mode(self):
        mode, _, rest = self.path.lstrip("/").partition("/")
        return mode, "/" + rest

    def do_GET(self):
        mode, rest = self._mode()
        if rest == "/v1/models":
            if mode == "models_list":
                return self._send(200, b"[]")
            if mode == "models_null":
                return self._send(200, b'{"data": null}')
            if mode == "models_html":
                return self._send(200, b"<html><body>Sign in</body></html>", "text/html")
            if mode == "models_hang":
                self.release.wait(10)
                return
            return self._send(200, json.dumps({"data": [{"id": "fake-model"}]}).encode())
        if rest == "/props" and mode == "props_inf":
            return self._send(200, b'{"default_generation_settings": {"n_ctx": Infinity}, "n_ctx": -5}')
        self._send(404, b"not found", "text/plain")

    def do_POST(self):
        mode, rest = self._mode()
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if rest == "/tokenize":
            if mode == "tokens_int":
                return self._send(200, b'{"tokens": 5}')
            return self._send(404, b"not found", "text/plain")
        if rest != "/v1/completions":
            return self._send(404, b"not found", "text/plain")
        type(self).bodies.append(body)
        if mode == "ok":
            return self._stream([_chunk("a"), _chunk("b"), _chunk("", "length"), b"data: [DONE]\n\n"])
        if mode == "hang":  # accepts the request, then says nothing (a server reading a long prompt)
            self.release.wait(10)
            return
        if mode == "slow_start":  # the first token comes after 2 s, then the rest at once
            self.release.wait(2)
            return self._stream([_chunk("late "), _chunk("answer", "stop"), b"data: [DONE]\n\n"])
        if mode == "stall":  # one token, then nothing
            return self._stream([_chunk("a"), b""], delay=10)
        if mode == "html200":
            return self._send(200, b"<!DOCTYPE html><html><body>proxy login</body></html>", "text/html")
        if mode == "nonstream":
            return self._send(200, json.dumps({"choices": [{"text": "whole answer", "finish_reason": "stop"}]}).encode())
        if mode == "no_finish":  # ends properly with [DONE] but never says why it stopped
            return self._stream([_chunk("abc"), b"data: [DONE]\n\n"])
        if mode == "usage":  # vLLM with stream_options.include_usage: a last chunk without choices
            return self._stream([_chunk("ab"), _chunk("cd", "length"),
                                 _sse({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}}),
                                 b"data: [DONE]\n\n"])
        if mode == "strict":  # a server that rejects fields it does not know
            unknown = sorted(set(body) & {"top_k", "min_p", "repeat_penalty", "stream_options"})
            if unknown:
                return self._send(422, json.dumps({"detail": [{"loc": ["body", unknown[0]], "msg": "extra fields not permitted"}]}).encode())
            return self._stream([_chunk("fine", "stop"), b"data: [DONE]\n\n"])
        if mode == "choices_str":
            return self._stream([_sse({"choices": "abc"}), b"data: [DONE]\n\n"])
        if mode == "list_chunk":
            return self._stream([b"data: [1, 2]\n\n", b"data: [DONE]\n\n"])
        self._send(404, b"not found", "text/plain")


@pytest.fixture
def fake():
    """Base URL of the fake server; the fixture returns a function mode -> URL."""
    _FakeHandler.bodies = []
    _FakeHandler.release = threading.Event()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeHandler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield lambda mode: f"http://127.0.0.1:{httpd.server_address[1]}/{mode}"
    finally:
        _FakeHandler.release.set()
        httpd.shutdown()
        httpd.server_close()


QUICK = GenerationParams(max_tokens=8)


def test_a_server_slow_to_start_answering_is_waited_for(fake):
    # timeout_s limits the wait between events; the first token may take longer (the
    # server reads the prompt first). Before, this was "Cannot reach the model server".
    engine = RemoteEngine(fake("slow_start"), timeout_s=1)
    assert engine.first_token_timeout_s > 60
    assert "".join(engine.stream("p", QUICK)) == "late answer"
    assert engine.last_stats.time_to_first_token_s >= 1.5


def test_a_server_that_does_not_answer_in_time_is_not_called_unreachable(fake):
    engine = RemoteEngine(fake("hang"), timeout_s=0.5, first_token_timeout_s=1)
    engine.load()  # the server answers /v1/models: it is running
    started = time.monotonic()
    with pytest.raises(GenerationError) as info:
        list(engine.stream("p", QUICK))
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert "did not answer the completion request within 1 s" in message
    assert "first_token_timeout_s" in message and "running" in message
    assert "Cannot reach" not in message and "Start one with" not in message
    assert engine.last_stats.finish_reason == "error"


def test_a_stream_that_stalls_names_the_wait_between_tokens(fake):
    engine = RemoteEngine(fake("stall"), timeout_s=1)
    got = []
    with pytest.raises(GenerationError) as info:
        for delta in engine.stream("p", QUICK):
            got.append(delta)
    assert got == ["a"]
    message = str(info.value)
    assert "did not answer the next part of its answer within 1 s" in message and "timeout_s" in message
    assert "Cannot reach" not in message


def test_a_slow_model_list_is_not_called_unreachable(fake):
    engine = RemoteEngine(fake("models_hang"), timeout_s=1)
    with pytest.raises(ModelError) as info:
        engine.load()
    message = str(info.value)
    assert "did not answer GET /v1/models within 1 s" in message and "Cannot reach" not in message


@pytest.mark.parametrize("mode, shown", [("models_list", "[]"), ("models_null", '{"data": null}'), ("models_html", "an HTML page")])
def test_an_odd_model_list_is_a_model_error(fake, mode, shown):
    with pytest.raises(ModelError) as info:
        RemoteEngine(fake(mode), timeout_s=5).load()
    message = str(info.value)
    assert shown in message and "does not look like" in message and "/v1/models" in message


@pytest.mark.parametrize("url, fragment", [
    ("http://127.0.0.1:99999", "port"),
    ("http://127.0.0.1:0", "port"),
    ("http://127.0.0.1:80x", "port"),
    ("http://[::1", "base_url"),
    ("http://127.0.0.1:8000/my server", "spaces"),
])
def test_malformed_urls_are_settings_errors(url, fragment):
    with pytest.raises(SettingsError) as info:
        RemoteEngine(url)
    assert fragment in str(info.value) and "base_url" in str(info.value)


@pytest.mark.parametrize("kwargs, setting", [
    ({"api_key": "secret\nX-Injected: 1"}, "api_key"),
    ({"api_key": "clé"}, "api_key"),
    ({"timeout_s": float("nan")}, "timeout_s"),
    ({"timeout_s": float("inf")}, "timeout_s"),
    ({"first_token_timeout_s": 0}, "first_token_timeout_s"),
    ({"n_ctx": True}, "n_ctx"),
    ({"model": 3}, "model"),
])
def test_bad_engine_settings_are_settings_errors(kwargs, setting):
    with pytest.raises(SettingsError) as info:
        RemoteEngine("http://127.0.0.1:8000", **kwargs)
    assert setting in str(info.value)
    assert "secret" not in str(info.value)  # an API key is never echoed


def test_odd_props_and_tokenize_answers_are_ignored(fake):
    engine = RemoteEngine(fake("props_inf"), timeout_s=5)
    engine.load()
    assert engine.n_ctx == 4096  # Infinity and -5 are not context sizes
    counter = RemoteEngine(fake("tokens_int"), timeout_s=5)
    assert counter.count_tokens("abcdef") == 3  # {"tokens": 5} is not a token list: estimate


@pytest.mark.parametrize("mode", ["choices_str", "list_chunk"])
def test_events_that_are_not_completion_chunks(fake, mode):
    with pytest.raises(GenerationError, match="not a completion chunk"):
        list(RemoteEngine(fake(mode), timeout_s=5).stream("p", QUICK))


@pytest.mark.parametrize("mode, kind", [("html200", "an HTML page"), ("nonstream", "a single JSON answer")])
def test_an_answer_that_is_not_an_event_stream(fake, mode, kind):
    with pytest.raises(GenerationError) as info:
        list(RemoteEngine(fake(mode), timeout_s=5).stream("p", QUICK))
    message = str(info.value)
    assert kind in message and "does not look like an OpenAI-compatible streaming endpoint" in message
    assert "ended the stream" not in message and "context" not in message


def test_no_finish_reason_is_not_invented(fake):
    engine = RemoteEngine(fake("no_finish"), timeout_s=5)
    assert "".join(engine.stream("p", QUICK)) == "abc"
    assert engine.last_stats.finish_reason == ""


def test_token_counts_come_from_the_servers_usage(fake):
    engine = RemoteEngine(fake("usage"), timeout_s=5)
    assert "".join(engine.stream("p", QUICK)) == "abcd"
    stats = engine.last_stats
    assert stats.generated_tokens == 5 and stats.prompt_tokens == 7 and stats.finish_reason == "length"
    assert stats.extra["generated_tokens_counted"] == "server"
    plain = RemoteEngine(fake("ok"), timeout_s=5)
    assert "".join(plain.stream("p", QUICK)) == "ab"
    assert plain.last_stats.generated_tokens == 2 and plain.last_stats.extra["generated_tokens_counted"] == "chunks"


def test_the_request_samples_like_the_local_engine(fake):
    from semcoder_inference.llama_engine import MIN_P, TOP_K

    engine = RemoteEngine(fake("ok"), timeout_s=5)
    list(engine.stream("p", GenerationParams(max_tokens=8, temperature=0.5, top_p=0.9, seed=4)))
    body = _FakeHandler.bodies[-1]
    assert body["top_k"] == TOP_K == 40 and body["min_p"] == MIN_P and body["repeat_penalty"] == 1.0
    assert body["temperature"] == 0.5 and body["top_p"] == 0.9 and body["seed"] == 4
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_a_server_that_refuses_the_extra_fields_is_asked_without_them(fake):
    engine = RemoteEngine(fake("strict"), timeout_s=5)
    assert "".join(engine.stream("p", QUICK)) == "fine"
    assert "top_k" not in _FakeHandler.bodies[-1]
    assert "".join(engine.stream("p", QUICK)) == "fine"  # remembered: one request this time
    assert len(_FakeHandler.bodies) == 3
