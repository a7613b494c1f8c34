"""`model.remoteUrl`: the server streams predictions from an OpenAI-compatible server
(llama-cpp-python's own server with the tiny GGUF, on 127.0.0.1)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from lsp_helpers import copy_demo, open_document, request, running_server, wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
async def test_remote_engine_streams_predictions(tmp_path, tiny_model):
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(tiny_model.gguf_q8_0),
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2) as reply:
                    json.load(reply)
                break
            except OSError:
                assert server.poll() is None, "llama_cpp.server exited"
                assert time.monotonic() < deadline, "llama_cpp.server did not start"
                time.sleep(0.3)
        demo = copy_demo(tmp_path)
        options = {"model": {"remoteUrl": f"http://127.0.0.1:{port}", "maxTokens": 40}}
        async with running_server(tmp_path, init_options=options, root=demo) as client:
            await wait_for(lambda: any(s["state"] in ("ready", "error") for s in client.statuses), 60)
            assert [s for s in client.statuses if s["state"] == "ready"], client.statuses
            uri = open_document(client, demo / "shapes.py")
            result = await request(client, "semcoder/trace", {
                "textDocument": {"uri": uri}, "function": "rectangle_area", "call": "rectangle_area(2, 5)",
                "partialResultToken": "remote"})
            assert result["predicted"]["status"] == "complete"
            assert result["predicted"]["modelId"].startswith(f"http://127.0.0.1:{port}")
            streamed = "".join(p.get("monologueDelta", "") for p in client.partials["remote"])
            assert streamed and streamed == result["predicted"]["monologue"]
    finally:
        server.terminate()
        server.wait(timeout=20)


async def test_a_remote_server_slow_to_its_first_token_is_waited_for_as_the_setting_says(tmp_path):
    """`model.remoteTimeoutSeconds` is how long the server may take to its first token (a
    CPU server reads a long prompt for minutes): past it, the prediction says the server is
    running but did not answer, and names the setting, not "cannot reach the server"."""
    import http.server
    import threading

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # /v1/models: the server is there
            body = json.dumps({"data": [{"id": "slow"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):  # a completion: read the prompt, then say nothing for a while
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.endswith("/completions"):
                time.sleep(4)
            self.send_response(404)  # (no /tokenize, no /props)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        options = {"model": {"remoteUrl": f"http://127.0.0.1:{httpd.server_address[1]}", "remoteTimeoutSeconds": 1}}
        async with running_server(tmp_path, init_options=options) as client:
            uri = open_document(client, tmp_path / "f.py", "def f(x):\n    return x + 1\n")
            result = await request(client, "semcoder/trace", {"textDocument": {"uri": uri}, "function": "f",
                                                              "call": "f(1)"})
            message = result["predicted"]["message"]
            assert "is running but did not answer" in message and "within 1 s" in message, message
    finally:
        httpd.shutdown()
