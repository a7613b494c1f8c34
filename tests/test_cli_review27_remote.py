"""RemoteEngine against a local fake OpenAI-compatible server (review 27): max_tokens is
enforced by the engine itself, and its messages are not self-contradictory, never echo a
password, and end a sentence before the hint."""

from __future__ import annotations

import http.server
import json
import threading
import time

import pytest

from semcoder_inference.engine import GenerationParams
from semcoder_inference.errors import ModelError, SettingsError
from semcoder_inference.remote_engine import RemoteEngine


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status: int, body: str, content_type: str = "application/json") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self):
        mode, _, rest = self.path.lstrip("/").partition("/")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if mode == "s401":
            return self._send(401, '{"error": "unauthorized"}')
        if rest.startswith("v1/models"):
            if mode == "badjson":
                return self._send(200, "{not json")
            return self._send(200, json.dumps({"object": "list", "data": [{"id": "fake"}]}))
        if rest.startswith("v1/completions") and mode == "endless":
            self.server.requests.append(json.loads(body))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            try:  # ignores max_tokens: streams until the client hangs up
                for _ in range(100_000):
                    self.wfile.write(b'data: {"choices": [{"text": "x", "index": 0, "finish_reason": null}]}\n\n')
                    self.wfile.flush()
                    time.sleep(0.001)
            except OSError:
                pass
            self.close_connection = True
            return None
        return self._send(404, "no")

    do_GET = do_POST = _route


@pytest.fixture
def fake():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _url(server, mode: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/{mode}"


def test_max_tokens_is_enforced_against_a_server_that_ignores_it(fake):
    engine = RemoteEngine(_url(fake, "endless"), n_ctx=4096, timeout_s=10)
    result: dict = {}

    def run():
        result["text"] = "".join(engine.stream("def f():", GenerationParams(max_tokens=20)))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "the stream never ended"
    assert fake.requests and fake.requests[0]["max_tokens"] == 20
    assert result["text"] == "x" * 20
    assert engine.last_stats.finish_reason == "length" and engine.last_stats.generated_tokens == 20


def test_a_model_list_that_is_not_json_is_described_plainly(fake):
    with pytest.raises(ModelError) as info:
        RemoteEngine(_url(fake, "badjson")).load()
    message = str(info.value)
    assert "not valid JSON" in message and "'{not json'" in message
    assert "a single JSON answer" not in message


def test_a_url_with_credentials_is_refused_without_echoing_the_password():
    with pytest.raises(SettingsError) as info:
        RemoteEngine("http://user:s3cret@127.0.0.1:8000")
    message = str(info.value)
    assert "s3cret" not in message and "user:***@127.0.0.1:8000" in message
    assert "API key" in message


def test_a_hint_follows_a_full_sentence(fake):
    with pytest.raises(ModelError) as info:
        RemoteEngine(_url(fake, "s401")).load()
    assert "unauthorized. Check the API key setting." in str(info.value)
