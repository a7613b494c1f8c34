"""semcoder-lsp with a model: streamed predictions, cancellation, load progress, failures.

Deterministic content comes from the server's ReplayEngine test hook
(SEMCODER_REPLAY_SCRIPT); streaming, cancellation and load progress also run on the real
tiny GGUF through llama.cpp.
"""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types

from lsp_helpers import (
    copy_demo,
    hover,
    line_of,
    open_document,
    replay_env,
    request,
    running_server,
    wait_for,
)

MONOLOGUE_RIGHT = """1. The function `rectangle_area` is called with `width = 3` and `height = 4`. [L5]
2. At [L6], `area = 12`.
3. At [L7], the function returns `area`, which is `12`.
[/MONOLOGUE]
[ANSWER]
assert rectangle_area(3, 4) == 12
[/ANSWER]
"""

MONOLOGUE_WRONG = MONOLOGUE_RIGHT.replace("`area = 12`", "`area = 7`").replace(
    "which is `12`", "which is `7`").replace("== 12", "== 7")


async def test_trace_streams_partials_and_matches_reality(tmp_path):
    demo = copy_demo(tmp_path)
    path = demo / "shapes.py"
    text = path.read_text()
    area_line = line_of(text, "area = width * height")
    async with running_server(tmp_path, env=replay_env(tmp_path, MONOLOGUE_RIGHT),
                              init_options={"execution": {"enabled": True}}, root=demo) as client:
        uri = open_document(client, path)
        result = await request(client, "semcoder/trace", {
            "textDocument": {"uri": uri}, "function": "rectangle_area", "call": "rectangle_area(3, 4)",
            "partialResultToken": "p1", "workDoneToken": "w1"})
        partials = client.partials["p1"]
        deltas = "".join(p.get("monologueDelta", "") for p in partials)
        assert "`area = 12`" in deltas
        steps = [s for p in partials for s in p.get("steps", [])]
        assert [s["lines"] for s in steps][:3] == [[area_line - 1], [area_line], [area_line + 1]]
        states = [s for p in partials for s in p.get("lineStates", [])]
        assert {"line": area_line, "values": {"area": "12"}, "source": "predicted"} in states
        assert any("actual" in p for p in partials)
        assert [w["kind"] for w in client.work_done["w1"]][0] == "begin"
        assert client.work_done["w1"][-1]["kind"] == "end"
        assert result["predicted"]["status"] == "complete" and result["predicted"]["output"] == "12"
        assert result["actual"]["status"] == "ok"
        assert result["differences"] == []
        assert "Prediction matches the actual run" in result["markdown"]


async def test_differences_between_prediction_and_reality_are_shown(tmp_path):
    demo = copy_demo(tmp_path)
    path = demo / "shapes.py"
    text = path.read_text()
    async with running_server(tmp_path, env=replay_env(tmp_path, MONOLOGUE_WRONG),
                              init_options={"execution": {"enabled": True}}, root=demo) as client:
        uri = open_document(client, path)
        line = line_of(text, "assert rectangle_area(3, 4)")
        value = await hover(client, uri, line, 10)
        assert "#### Prediction differs from the actual run" in value
        assert "result: predicted `7`, actual `12`" in value
        assert f"line {line_of(text, 'area = width') + 1}, `area`: predicted `7`, actual `12`" in value


async def test_hover_shows_progress_then_more(tmp_path):
    demo = copy_demo(tmp_path)
    path = demo / "shapes.py"
    text = path.read_text()
    long_script = "\n".join(f"{i}. Thinking about step {i} of the area computation." for i in range(1, 40))
    long_script += "\n" + MONOLOGUE_RIGHT
    env = replay_env(tmp_path, long_script, SEMCODER_REPLAY_DELAY_S="0.02")
    async with running_server(tmp_path, env=env, root=demo) as client:
        uri = open_document(client, path)
        line = line_of(text, "def rectangle_area")
        first = await hover(client, uri, line, 5)
        assert "(in progress…)" in first and "hover again" in first
        await asyncio.sleep(0.5)
        second = await hover(client, uri, line, 5)
        assert len(second) > len(first)
        for _ in range(100):
            final = await hover(client, uri, line, 5)
            if "in progress" not in final:
                break
            await asyncio.sleep(0.2)
        assert "returns `12`" in final
        # inlay hints carry the predicted values, marked as predicted
        hints = await client.text_document_inlay_hint_async(types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=60, character=0))))
        assert any(h.label == "≈ area = 12" and h.position.line == line + 1 for h in hints)
        assert client.inlay_refreshes >= 1


async def test_results_are_cached_on_disk_across_restarts(tmp_path):
    demo = copy_demo(tmp_path)
    path = demo / "shapes.py"
    env = replay_env(tmp_path, MONOLOGUE_RIGHT, SEMCODER_REPLAY_DELAY_S="0.01")
    params = {"function": "rectangle_area", "call": "rectangle_area(3, 4)", "partialResultToken": "c"}
    async with running_server(tmp_path, env=env, root=demo) as client:
        uri = open_document(client, path)
        first = await request(client, "semcoder/trace", {"textDocument": {"uri": uri}, **params})
        assert first["predicted"]["status"] == "complete"
        assert len(client.partials["c"]) > 5  # really generated
    files = list((tmp_path / "xdg-cache" / "semcoder-lsp").rglob("*.json"))
    assert files, "the prediction was written to the cache directory"
    async with running_server(tmp_path, env=env, root=demo) as client:
        uri = open_document(client, path)
        second = await request(client, "semcoder/trace", {"textDocument": {"uri": uri}, **params})
        assert second["predicted"]["monologue"] == first["predicted"]["monologue"]
        assert "c" not in client.partials  # served from the disk cache: nothing generated


async def test_model_failing_mid_stream_is_explained(tmp_path):
    demo = copy_demo(tmp_path)
    path = demo / "shapes.py"
    text = path.read_text()
    env = replay_env(tmp_path, MONOLOGUE_RIGHT, SEMCODER_REPLAY_FAIL_AFTER="6")
    async with running_server(tmp_path, env=env, root=demo) as client:
        uri = open_document(client, path)
        result = await request(client, "semcoder/trace", {
            "textDocument": {"uri": uri}, "function": "rectangle_area", "partialResultToken": "f"})
        assert result["predicted"]["status"] == "error"
        assert "stopped unexpectedly" in result["predicted"]["message"]
        value = await hover(client, uri, line_of(text, "def rectangle_area"), 5)
        assert "(failed)" in value and "stopped unexpectedly" in value
        # the server is still up
        value = await hover(client, uri, line_of(text, "def perimeter"), 5)
        assert "No known call" in value


@pytest.mark.parametrize("kind", ["missing", "corrupt"])
async def test_missing_or_corrupt_model(tmp_path, kind):
    demo = copy_demo(tmp_path)
    path = demo / "shapes.py"
    text = path.read_text()
    model = tmp_path / "model.gguf"
    if kind == "corrupt":
        model.write_bytes(b"GGUF" + b"\x00garbage" * 100)
    async with running_server(tmp_path, init_options={"model": {"path": str(model)},
                                                        "execution": {"enabled": True}}, root=demo) as client:
        await wait_for(lambda: any(m.type == types.MessageType.Error for m in client.messages))
        error = next(m.message for m in client.messages if m.type == types.MessageType.Error)
        assert "model.gguf" in error
        assert any(s["state"] == "error" for s in client.statuses)
        uri = open_document(client, path)
        value = await hover(client, uri, line_of(text, "def rectangle_area"), 5)
        assert "returned `12`" in value  # real traces still work
        assert "model.gguf" in value  # and the prediction part says what is wrong


@pytest.mark.slow
async def test_tiny_gguf_load_progress_streaming_and_cancel(tmp_path, tiny_model):
    demo = copy_demo(tmp_path)
    path = demo / "shapes.py"
    options = {"model": {"path": str(tiny_model.gguf_q8_0), "maxTokens": 3000, "temperature": 0.8,
                         "threads": 1}}
    async with running_server(tmp_path, init_options=options, root=demo) as client:
        await wait_for(lambda: any(s["state"] == "ready" for s in client.statuses), timeout=120)
        # The status notification and the work-done "end" are separate messages: wait for both.
        await wait_for(lambda: any(v.get("kind") == "end" for vs in client.work_done.values() for v in vs),
                       timeout=30)
        tokens = list(client.work_done)
        assert tokens, "model loading reported work-done progress"
        kinds = [v["kind"] for v in client.work_done[tokens[0]]]
        assert kinds[0] == "begin" and kinds[-1] == "end" and "report" in kinds
        # The status notification carries the load percentage too, for a client's status bar.
        loading = [s["percentage"] for s in client.statuses if s["state"] == "loading" and "percentage" in s]
        assert loading and loading == sorted(loading) and loading[-1] == 100
        uri = open_document(client, path)
        loop = asyncio.get_running_loop()
        token, cancelled_at = await cancel_a_streaming_trace(client, uri)
        count = len(client.partials[token])
        await asyncio.sleep(1.0)
        # generation stopped: nothing more streams on the cancelled token
        assert len(client.partials[token]) <= count + 2
        # and the model worker is free: a new request streams right away
        result = await asyncio.wait_for(request(client, "semcoder/trace", {
            "textDocument": {"uri": uri}, "function": "rectangle_area", "call": "rectangle_area(1, 2)",
            "partialResultToken": "u"}), 120)
        assert result["predicted"]["status"] in ("complete",)
        assert client.partials["u"]
        assert loop.time() - cancelled_at < 120


async def cancel_a_streaming_trace(client, uri, tries: int = 5) -> tuple[str, float]:
    """Start a trace on the tiny model, see it stream, cancel it; return its partial-result
    token and when the cancel was sent.

    The tiny model samples from random weights, so now and then it picks its end-of-text
    token early and the answer is complete before the cancel reaches the server (which then
    logs a cancel for an unknown request). Such a try must have ended normally, and another
    is made with another call (the finished one is cached); at least one of `tries` must be
    cancelled while it streams.
    """
    loop = asyncio.get_running_loop()
    for attempt in range(tries):
        token, msg_id = f"t{attempt}", f"trace-cancel-me-{attempt}"
        pending = asyncio.ensure_future(client.protocol.send_request_async("semcoder/trace", {
            "textDocument": {"uri": uri}, "function": "perimeter", "call": f"perimeter([1, {attempt + 2}])",
            "partialResultToken": token}, msg_id=msg_id))
        await wait_for(lambda: len(client.partials.get(token, [])) >= 5 or pending.done(), timeout=120)
        if not pending.done():
            counts = [p["tokens"] for p in client.partials[token] if "tokens" in p]
            assert counts and counts == sorted(counts) and counts[-1] >= 3  # the engine's token count
            client.protocol.notify("$/cancelRequest", types.CancelParams(id=msg_id))
            cancelled_at = loop.time()
        try:
            result = await asyncio.wait_for(pending, 30)
        except Exception as error:
            assert getattr(error, "code", None) == -32800, error  # RequestCancelled
            return token, cancelled_at
        # The model ended its answer first: a normal, finished prediction.
        assert result["predicted"]["status"] == "complete", result["predicted"]
    raise AssertionError(f"the tiny model finished each of {tries} answers before it could be cancelled")
