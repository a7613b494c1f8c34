"""End to end on CPU: data from real runs -> LoRA on the tiny model (loss goes down) -> merge
-> GGUF -> Q8_0 and Q4_K_M -> loaded by the engine -> the language server hovers with it."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO_ROOT

pytestmark = pytest.mark.slow

RECIPE = REPO_ROOT / "training" / "recipes" / "tiny_cpu.yaml"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, tiny_model):
    from semcoder_training.data.build import BuildConfig, build
    from semcoder_training.export_run import export_run
    from semcoder_training.train import load_config, train

    root = tmp_path_factory.mktemp("e2e")
    build(BuildConfig(out_dir=root / "data", generated_seeds=8, workers=2, progress=False, holdout=0.0))
    summary = train(load_config(RECIPE, [f"data={root / 'data'}", f"output_dir={root / 'run'}", "max_steps=8",
                                         "save_every=4", "max_seq_len=768", "threads=2"]))
    export_run(root / "run", root / "model-q4_k_m.gguf", "q4_k_m")
    return {"root": root, "summary": summary}


def test_loss_decreases(pipeline):
    losses = [h["loss"] for h in pipeline["summary"]["history"]]
    assert len(losses) == 8 and losses[-1] < losses[0] - 0.1


def test_cli_export_q8_0_with_provenance(pipeline, tiny_model):
    import gguf

    root = pipeline["root"]
    proc = subprocess.run([sys.executable, "-m", "semcoder_inference.cli", "export", str(root / "run"),
                           "--out", str(root / "model-q8_0.gguf"), "--quant", "q8_0", "--no-progress"],
                          capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in ("model-q8_0.gguf", "model-q4_k_m.gguf"):
        reader = gguf.GGUFReader(str(root / name))
        fields = {k: f for k, f in reader.fields.items() if k.startswith("semcoder.provenance.")}
        text = {k: bytes(f.parts[-1]).decode("utf-8", "replace") for k, f in fields.items() if k != "semcoder.provenance.step"}
        assert text["semcoder.provenance.base_model"] == str(tiny_model.hf_dir)
        assert str(root / "data") in text["semcoder.provenance.data"]
        assert text["semcoder.provenance.recipe_path"].endswith("tiny_cpu.yaml")
        assert json.loads(text["semcoder.provenance.recipe"])["method"] == "lora"
        assert "checkpoint-000008" in text["semcoder.provenance.checkpoint"]
    # the LoRA really was merged: the attention weights differ from the base model's
    tuned = {t.name: t for t in gguf.GGUFReader(str(root / "model-q8_0.gguf")).tensors}
    base = {t.name: t for t in gguf.GGUFReader(str(tiny_model.gguf_q8_0)).tensors}
    assert not np.array_equal(np.asarray(tuned["blk.0.attn_q.weight"].data), np.asarray(base["blk.0.attn_q.weight"].data))
    assert np.array_equal(np.asarray(tuned["token_embd.weight"].data), np.asarray(base["token_embd.weight"].data))


def test_engine_loads_and_generates(pipeline):
    from semcoder_inference.engine import GenerationParams
    from semcoder_inference.formats import forward_prompt
    from semcoder_inference.llama_engine import LlamaCppEngine

    engine = LlamaCppEngine(str(pipeline["root"] / "model-q4_k_m.gguf"), n_ctx=2048, n_threads=2)
    try:
        prompt = forward_prompt("def f(x):\n    return x + 1\n", "f(1)").text
        text = "".join(engine.stream(prompt, GenerationParams(max_tokens=24, temperature=0.0)))
        assert text and engine.last_stats.generated_tokens > 0
    finally:
        engine.close()


async def test_language_server_hovers_with_the_trained_model(pipeline, tmp_path):
    import asyncio

    from lsp_helpers import copy_demo, hover, line_of, open_document, running_server

    demo = copy_demo(tmp_path)
    path = demo / "shapes.py"
    text = path.read_text()
    options = {"model": {"path": str(pipeline["root"] / "model-q4_k_m.gguf"), "maxTokens": 32, "threads": 2},
               "execution": {"enabled": True}}
    async with running_server(tmp_path, init_options=options, root=demo) as client:
        uri = open_document(client, path)
        line = line_of(text, "assert rectangle_area(3, 4)")
        column = text.splitlines()[line].index("rectangle_area") + 2
        value = ""
        for _ in range(240):  # hover again until the prediction has finished (up to ~2 min)
            value = await hover(client, uri, line, column) or ""
            if "#### Predicted by SemCoder" in value and "in progress" not in value:
                break
            await asyncio.sleep(0.5)
        assert "#### Predicted by SemCoder" in value and "in progress" not in value, value
        assert "No model configured" not in value and "(failed)" not in value
        assert "#### Actual run" in value and "returned `12`" in value
