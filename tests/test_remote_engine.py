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
