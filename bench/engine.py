"""Engine benchmark: one command, one table.

    .venv/bin/python bench/engine.py [--threads N] [--runs 5] [--tokens 64]

On a random-weight model shaped like a 1.3B code model (hidden 2048, 24 layers, vocab
32256, Q4_K_M; built once and cached under .cache/bench/), in one run it measures:
  (a) streaming decode tokens/s through LlamaCppEngine vs raw llama_cpp.Llama on the same
      prompt, runs alternated so machine noise hits both alike (target ratio >= 0.97);
  (b) the share of prompt tokens a second prompt sharing the function source evaluates
      (target <= 20%), counted from what llama.cpp actually evaluated;
  (c) cancellation latency (cancel from another thread at random moments) in token times
      (target <= 2);
  (d) decode tokens/s as a fraction of the memory-bandwidth bound: bytes of weights read
      per token vs read bandwidth measured here with numpy.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH_CACHE, log, median, print_table  # noqa: E402

from semcoder_inference.engine import CancelToken, GenerationParams  # noqa: E402
from semcoder_inference.formats import forward_prompt  # noqa: E402
from semcoder_inference.llama_engine import TOP_K, MIN_P, LlamaCppEngine  # noqa: E402
from semcoder_inference.model_spec import read_gguf_header  # noqa: E402

SHAPE = dict(hidden=2048, layers=24, heads=16, vocab=32256, intermediate=5504)

FUNCTION = '''\
def summarize_orders(orders, discount_threshold=100.0, tax_rate=0.08):
    """Group orders by customer and compute totals with discounts and tax."""
    totals = {}
    counts = {}
    for order in orders:
        customer = order["customer"]
        amount = order["qty"] * order["price"]
        if amount > discount_threshold:
            amount = amount * 0.9
        totals[customer] = totals.get(customer, 0.0) + amount
        counts[customer] = counts.get(customer, 0) + 1
    report = []
    for customer in sorted(totals):
        subtotal = round(totals[customer], 2)
        tax = round(subtotal * tax_rate, 2)
        average = round(subtotal / counts[customer], 2)
        label = "big" if subtotal > 500 else "small"
        report.append((customer, subtotal, tax, average, label))
    best = max(report, key=lambda row: row[1]) if report else None
    return {"rows": report, "best": best, "customers": len(report)}
'''
CALL_1 = 'summarize_orders([{"customer": "ann", "qty": 3, "price": 40.0}, {"customer": "bob", "qty": 1, "price": 5.5}])'
CALL_2 = 'summarize_orders([{"customer": "cy", "qty": 10, "price": 60.0}], discount_threshold=50.0)'


def ensure_bench_model() -> tuple[Path, str]:
    """The cached Q4_K_M file, and which builder made it."""
    root = BENCH_CACHE / "random-1.3b"
    q4 = root / "model-q4_k_m.gguf"
    if q4.exists():
        return q4, (root / "BUILDER").read_text().strip() if (root / "BUILDER").exists() else "cached"
    root.mkdir(parents=True, exist_ok=True)
    log("building the random 1.3B-shaped model (once; about 1-2 minutes) ...")
    try:
        from semcoder_training.tiny import build_random_llama
    except ImportError:
        build_random_llama = None
    if build_random_llama is not None:
        built = build_random_llama(root, **SHAPE, quantize_to=("q4_k_m",), progress=True)
        builder = "semcoder_training.tiny.build_random_llama"
        path = built.quantized["q4_k_m"]
        f16 = built.gguf_f16
    else:  # the training extra is missing: write it with the gguf library directly
        from common import build_random_llama_gguf, quantize_gguf

        f16 = build_random_llama_gguf(root / "model-f16.gguf", hidden=SHAPE["hidden"], layers=SHAPE["layers"],
                                      heads=SHAPE["heads"], ff=SHAPE["intermediate"], vocab=SHAPE["vocab"])
        path = quantize_gguf(f16, q4, 15)
        builder = "bench/common.build_random_llama_gguf"
    if path != q4:
        os.replace(path, q4)
    Path(f16).unlink(missing_ok=True)  # 2.5 GiB we no longer need
    (root / "BUILDER").write_text(builder + "\n")
    return q4, builder


def read_bandwidth_gbs(threads: int, size_mib: int = 1024, repeats: int = 3) -> float:
    """Best sustained read rate over a 1 GiB array: several cheap numpy reductions (sum,
    max, dot), on 1 thread and on `threads` threads (numpy releases the GIL in them), best
    of all. The highest rate found is the most conservative bound for (d)."""
    import numpy as np

    data = np.ones(size_mib * 1024 * 1024 // 8, dtype=np.float64)
    best = 0.0
    for n in sorted({1, threads}):
        parts = np.array_split(data, n)
        with ThreadPoolExecutor(n) as pool:
            for reduce in (np.sum, np.max, lambda x: np.dot(x, x)):
                for _ in range(repeats):
                    start = time.perf_counter()
                    list(pool.map(reduce, parts))
                    best = max(best, data.nbytes / (time.perf_counter() - start) / 1e9)
    del data
    return best


def time_stream(deltas) -> tuple[int, float, float]:
    """(chunks, seconds from the call to the stream's end, time to first chunk) as a client
    sees them. The whole call is timed, not first-to-last chunk: llama-cpp-python's
    create_completion holds text back at times (stop-string and UTF-8 checks), which would
    shorten its first-to-last span and flatter it."""
    start = time.perf_counter()
    first = None
    n = 0
    for _ in deltas:
        if first is None:
            first = time.perf_counter()
        n += 1
    end = time.perf_counter()
    return n, end - start, (first - start) if first else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=min(os.cpu_count() or 2, 8))
    parser.add_argument("--runs", type=int, default=5, help="alternated runs per side for (a)")
    parser.add_argument("--tokens", type=int, default=64, help="tokens generated per run")
    parser.add_argument("--model", help="use this GGUF instead of the cached 1.3B-shaped model (for quick checks)")
    args = parser.parse_args()

    import llama_cpp

    model_path, builder = (Path(args.model), "given") if args.model else ensure_bench_model()
    info = read_gguf_header(model_path)
    log(f"model: {model_path} ({info.quant_type}, {info.file_size / 2**30:.2f} GiB, built by {builder})")

    prompt_1 = forward_prompt(FUNCTION, CALL_1).text
    prompt_2 = forward_prompt(FUNCTION, CALL_2).text
    greedy = GenerationParams(max_tokens=args.tokens, temperature=0.0)

    engine = LlamaCppEngine(str(model_path), n_ctx=2048, n_threads=args.threads)
    engine.load()
    raw = llama_cpp.Llama(model_path=str(model_path), n_ctx=2048, n_threads=args.threads, verbose=False)

    def raw_stream():
        for chunk in raw.create_completion(prompt_1, max_tokens=args.tokens, temperature=0.0, top_p=greedy.top_p,
                                           top_k=TOP_K, min_p=MIN_P, repeat_penalty=1.0, stream=True):
            text = chunk["choices"][0]["text"]
            if text:
                yield text

    # (a) alternate engine and raw runs; each side's prompt is cached after its first run,
    # so the whole call is (almost all) decoding: tokens over the call's wall time.
    log("(a) streaming throughput, alternating engine and raw llama_cpp ...")
    list(engine.stream(prompt_1, greedy))
    list(raw_stream())  # warm both (page cache, prompt KV)
    engine_rates, raw_rates, engine_tokens = [], [], []
    for run in range(args.runs):
        order = [("engine", lambda: engine.stream(prompt_1, greedy)), ("raw", raw_stream)]
        if run % 2:
            order.reverse()
        for name, make in order:
            n, span, _ = time_stream(make())
            if name == "engine":
                tokens = engine.last_stats.generated_tokens
                engine_tokens.append(tokens)
                engine_rates.append(tokens / span)
            else:
                # Raw chunks are tokens, except multi-byte characters held back; use the
                # engine's token count for the same greedy text (same model, same decoding).
                raw_rates.append((engine_tokens[-1] if engine_tokens else n) / span)
    raw.close()
    del raw
    ratio = median(engine_rates) / median(raw_rates)

    # (b) prompt reuse: a second call on the same function.
    log("(b) KV-cache reuse for a second prompt on the same function ...")
    list(engine.stream(prompt_1, GenerationParams(max_tokens=8, temperature=0.0)))
    first = engine.last_stats
    list(engine.stream(prompt_2, GenerationParams(max_tokens=8, temperature=0.0)))
    second = engine.last_stats
    evaluated_share = second.evaluated_tokens / second.prompt_tokens

    # (c) cancellation from another thread at random moments during decoding.
    log("(c) cancellation latency ...")
    token_time = 1.0 / median(engine_rates)
    latencies, stream_latencies = [], []  # model thread free again / stream ended, in token times
    rng = random.Random(7)
    for _ in range(8):
        cancel = CancelToken()
        delay = second.time_to_first_token_s + rng.uniform(3, 12) * token_time
        timer = threading.Timer(delay, cancel.cancel)
        timer.start()
        list(engine.stream(prompt_2, GenerationParams(max_tokens=400, temperature=0.8, seed=rng.randrange(1 << 30)), cancel=cancel))
        timer.join()
        stats = engine.last_stats
        engine.count_tokens("x")  # queued behind the cancelled job: returns once the model thread is free
        if stats.cancelled and stats.cancel_latency_s is not None:
            # In token times of this run (the machine's speed drifts between runs).
            run_token_time = 1.0 / stats.extra.get("decode_tokens_per_s", 1.0 / token_time)
            stream_latencies.append(stats.cancel_latency_s / run_token_time)
            latencies.append(stats.extra["worker_stop_latency_s"] / run_token_time)
    engine.close()

    # (d) memory-bandwidth bound: every weight is read once per token, except the token
    # embedding table, of which one row is looked up.
    log("(d) memory bandwidth ...")
    bandwidth = read_bandwidth_gbs(args.threads)
    weight_bytes = sum(b for name, b in info.tensor_bytes.items() if name != "token_embd.weight")
    bound = bandwidth * 1e9 / weight_bytes
    decode_rate = median(engine_rates)

    rows = [
        ["(a) engine streaming tokens/s (median)", f"{median(engine_rates):.2f}", "", ""],
        ["(a) raw llama_cpp streaming tokens/s (median)", f"{median(raw_rates):.2f}", "", ""],
        ["(a) engine / raw", f"{ratio:.3f}", ">= 0.97", "PASS" if ratio >= 0.97 else "FAIL"],
        ["(b) 1st prompt: tokens, evaluated, TTFT", f"{first.prompt_tokens}, {first.evaluated_tokens}, {first.time_to_first_token_s:.2f} s", "", ""],
        ["(b) 2nd prompt: tokens, evaluated, TTFT", f"{second.prompt_tokens}, {second.evaluated_tokens}, {second.time_to_first_token_s:.2f} s", "", ""],
        ["(b) 2nd prompt evaluated share", f"{evaluated_share:.1%}", "<= 20%", "PASS" if evaluated_share <= 0.20 else "FAIL"],
        ["(c) cancel -> model thread free, token times (median / max)", f"{median(latencies):.2f} / {max(latencies):.2f}" if latencies else "n/a", "<= 2", "PASS" if latencies and max(latencies) <= 2 else "FAIL"],
        ["(c) cancel -> stream ended, token times (median / max)", f"{median(stream_latencies):.3f} / {max(stream_latencies):.3f}" if stream_latencies else "n/a", "<= 2", "PASS" if stream_latencies and max(stream_latencies) <= 2 else "FAIL"],
        ["(c) token time", f"{token_time * 1000:.1f} ms", "", ""],
        ["(d) read bandwidth (numpy, best of sum/max/dot)", f"{bandwidth:.1f} GB/s", "", ""],
        ["(d) weight bytes read per token", f"{weight_bytes / 2**20:.0f} MiB", "", ""],
        ["(d) bandwidth bound tokens/s", f"{bound:.1f}", "", ""],
        ["(d) decode tokens/s / bound", f"{decode_rate / bound:.1%}", "(report)", ""],
    ]
    print_table(
        f"bench/engine: {model_path.name} ({info.quant_type}, {info.file_size / 2**30:.2f} GiB, "
        f"{args.threads} threads, {args.runs} alternated runs x {args.tokens} tokens; "
        f"GPU offload available: {bool(llama_cpp.llama_supports_gpu_offload())})",
        ["metric", "value", "target", "result"],
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
