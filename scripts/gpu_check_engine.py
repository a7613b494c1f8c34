"""CUDA offload through LlamaCppEngine, for a llama-cpp-python built with CUDA as the README's
"GPU builds" says (its flags included; docs/engines.md says why):
for each tiny GGUF, 128 greedy tokens with n_gpu_layers=0 and -1, whether the text is the
same, and how long each took.

    python scripts/gpu_check_engine.py        # from the repository's root, after the tests
                                               # have built .cache/tiny-models
"""
import time
from pathlib import Path

import llama_cpp

from semcoder_inference.engine import GenerationParams
from semcoder_inference.llama_engine import LlamaCppEngine

print("llama_supports_gpu_offload:", llama_cpp.llama_supports_gpu_offload(), flush=True)
root = Path(".cache/tiny-models/bpe-v1")
for q in ("f16", "q8_0", "q4_k_m"):
    outs = {}
    for layers in (0, -1):
        engine = LlamaCppEngine(str(root / f"model-{q}.gguf"), n_ctx=1024, n_gpu_layers=layers, verbose=(layers == -1 and q == "f16"))
        engine.load()
        for _ in range(2):  # the second run is timed
            start = time.time()
            text = "".join(engine.stream("def f(xs):\n    out = []\n", GenerationParams(max_tokens=128, temperature=0.0)))
            elapsed = time.time() - start
        outs[layers] = (text, engine.last_stats.generated_tokens, round(elapsed * 1000, 1))
        engine.close()
    print(q, "same greedy text on CPU and GPU:", outs[0][0] == outs[-1][0],
          "| tokens, ms: CPU", outs[0][1:], "GPU", outs[-1][1:], "|", repr(outs[0][0][:50]), repr(outs[-1][0][:50]), flush=True)
